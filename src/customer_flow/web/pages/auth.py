"""``/login`` and ``/logout``.

Logging in always issues a new session id (and ends the one the browser had), so a session id
planted before login is worthless. The login form itself is protected by a double-submit
token: a random cookie that the form must echo.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from customer_flow.core.errors import AuthenticationError, CustomerFlowError, PermissionDeniedError

from ..deps import SESSION_COOKIE, HubDep, csrf_ok
from .common import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "cf_login_csrf"


def _secure(request: Request) -> bool:
    configured: bool | None = request.app.state.hub.settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://...``."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/customers"


def _login_page(
    request: Request, *, next_url: str, email: str = "", error: str | None = None, status: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"next": next_url, "email": email, "error": error, "login_csrf": token},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    hub: HubDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/customers",
) -> Response:
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        raise PermissionDeniedError("the login form has expired; reload the page", code="csrf")
    try:
        session = hub.login(email, password)
    except AuthenticationError as exc:
        return _login_page(
            request, next_url=safe_next(next), email=email, error=exc.message, status=401
        )
    except CustomerFlowError as exc:
        return _login_page(
            request,
            next_url=safe_next(next),
            email=email,
            error=exc.message,
            status=exc.http_status,
        )
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        hub.logout(old)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
        max_age=int(hub.settings.session_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


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
    session_id = request.cookies.get(SESSION_COOKIE)
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
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
