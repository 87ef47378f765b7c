"""``/login`` and ``/logout``.

Logging in always issues a new session id (and ends the one the browser had), so a session id
planted before login is worthless. Over https the cookie is ``__Host-cf_session``, else
``cf_session`` (``deps.py``). Failed logins are throttled per account and client address: the
page then answers 429 with ``Retry-After``. The login form itself is protected by a double-submit
token: a random cookie that the form must echo.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from customer_flow.core.errors import (
    AuthenticationError,
    CustomerFlowError,
    PermissionDeniedError,
    TooManyAttemptsError,
)

from ...hub import Hub
from ..deps import (
    HubDep,
    client_address,
    csrf_ok,
    is_secure,
    session_cookie,
    session_id_of,
)
from .common import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "cf_login_csrf"
#: How long a throttled login waits before its 429 is sent (at most its Retry-After). Measured
#: with 20 clients posting wrong passwords in a loop from one address (one server process):
#: answered at once, they got ~200 429s a second, and another user's writes took a median of
#: 260-420 ms instead of 10-18 ms (benchmarks/bench_login_flood.py).
THROTTLED_PAUSE = 1.0


def safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://...``."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/customers"


def _login_page(
    request: Request,
    *,
    next_url: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"next": next_url, "email": email, "error": error, "login_csrf": token},
        status_code=status,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/login",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    hub: HubDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/customers",
) -> Response:
    """Log in. A throttled attempt is answered after a pause (``THROTTLED_PAUSE``) spent on
    the event loop, holding no thread: a client hammering the form in a loop then asks a few
    times a second, not hundreds, and leaves the process's time to other users."""
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        raise PermissionDeniedError("the login form has expired; reload the page", code="csrf")
    response, pause = await run_in_threadpool(
        _login, request, hub, email, password, safe_next(next)
    )
    if pause:
        await asyncio.sleep(pause)
    return response


def _login(
    request: Request, hub: Hub, email: str, password: str, next_url: str
) -> tuple[Response, float]:
    """The login itself (database and argon2: in a worker thread); the response, and how
    long to wait before sending it."""
    try:
        session = hub.login(email, password, client=client_address(request))
    except AuthenticationError as exc:
        return _login_page(
            request, next_url=next_url, email=email, error=exc.message, status=401
        ), 0
    except TooManyAttemptsError as exc:
        page = _login_page(
            request,
            next_url=next_url,
            email=email,
            error=exc.message,
            status=exc.http_status,
            headers={"Retry-After": str(exc.retry_after)},
        )
        return page, min(float(exc.retry_after), THROTTLED_PAUSE)
    except CustomerFlowError as exc:
        return _login_page(
            request, next_url=next_url, email=email, error=exc.message, status=exc.http_status
        ), 0
    old = session_id_of(request)
    if old:
        hub.logout(old)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        session_cookie(request),
        session.session_id,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
        max_age=int(hub.settings.session_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response, 0


@router.get("/logout")
def logout_form(request: Request, hub: HubDep) -> Response:
    """A page with a logout button (logging out is a POST, like every change)."""
    from .common import page_auth

    auth = page_auth(request, hub)
    return render(request, "logout.html", {}, auth=auth)


@router.post("/logout")
def logout(
    request: Request,
    hub: HubDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    session_id = session_id_of(request)
    if session_id:
        try:
            _, expected = hub.authenticate_session(session_id)
        except AuthenticationError:
            expected = None
        if expected is not None:
            if not csrf_ok(expected, csrf_token):
                raise PermissionDeniedError("missing or wrong CSRF token", code="csrf")
            hub.logout(session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        session_cookie(request),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )
    return response
