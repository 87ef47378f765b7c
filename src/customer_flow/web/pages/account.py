"""``/account/password``: change my password (every role); ``/account/time-zone``: the zone my
pages show times in.

The form asks for the current password, the new one twice, and whether to revoke my API tokens
too; it works without JavaScript and carries the session's CSRF token like every form. The
change ends my other sessions and keeps this one (``Hub.set_password``). A wrong current
password counts as a failed login and is throttled like one (429 with ``Retry-After``).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from customer_flow.core.errors import CustomerFlowError, TooManyAttemptsError

from ..deps import client_address
from .common import PageAuth, check_form_csrf, form_error, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
FIELDS = ("current_password", "password", "password_confirm")
# Long enough for any password the rules allow (1,024 characters), bounded all the same.
Secret = Annotated[str, Form(max_length=4096)]


def _page(
    request: Request,
    auth: Any,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    revoke_tokens: bool = False,
    done: Any = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"errors": errors or {}, "error": error, "revoke_tokens": revoke_tokens, "done": done}
    return render(
        request,
        "account/password.html",
        context,
        auth=auth,
        status_code=status_code,
        headers=headers,
    )


@router.get("/account/password")
def password_form(request: Request, auth: PageAuth) -> Response:
    return _page(request, auth)


@router.post("/account/password")
def change_password(
    request: Request,
    auth: PageAuth,
    current_password: Secret = "",
    password: Secret = "",
    password_confirm: Secret = "",
    revoke_tokens: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    revoke = bool(revoke_tokens)
    if password != password_confirm:
        differ = {"password_confirm": "the two new passwords differ"}
        return _page(request, auth, errors=differ, revoke_tokens=revoke, status_code=422)
    try:
        done = auth.hub.set_password(
            auth.user.id,
            password,
            current_password=current_password,
            revoke_tokens=revoke,
            keep_session=auth.session_id,
            client=client_address(request),
        )
    except CustomerFlowError as exc:
        found, error = form_error(exc, lambda f: f if f in FIELDS else None)
        retry = exc.retry_after if isinstance(exc, TooManyAttemptsError) else None
        return _page(
            request,
            auth,
            errors=found,
            error=error,
            revoke_tokens=revoke,
            status_code=exc.http_status,
            headers={"Retry-After": str(retry)} if retry else None,
        )
    return _page(request, auth, done=done)


# -- my time zone (issue 17) -------------------------------------------------------------------


def _zones() -> list[str]:
    from zoneinfo import available_timezones

    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def _zone_page(
    request: Request,
    auth: Any,
    *,
    value: str | None = None,
    error: str | None = None,
    done: bool = False,
    status_code: int = 200,
) -> Response:
    context = {
        "value": auth.user.time_zone or "" if value is None else value,
        "error": error,
        "done": done,
        "zones": _zones(),
    }
    return render(request, "account/time_zone.html", context, auth=auth, status_code=status_code)


@router.get("/account/time-zone")
def time_zone_form(request: Request, auth: PageAuth) -> Response:
    return _zone_page(request, auth)


@router.post("/account/time-zone")
def set_time_zone(
    request: Request,
    auth: PageAuth,
    time_zone: Annotated[str, Form(max_length=100)] = "",
    detected: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Choose the zone my pages show times in (blank: UTC). ``detected=1`` is the browser's
    own zone, posted once by ``tz.js`` while none is set: it never replaces a chosen one and
    answers 204."""
    check_form_csrf(auth, {"csrf_token": csrf_token})
    try:
        changed = auth.hub.set_time_zone(
            auth.user.id, time_zone.strip() or None, only_if_unset=bool(detected)
        )
    except CustomerFlowError as exc:
        message = exc.message.split(": ", 1)[-1]
        if detected:
            return Response(message, status_code=exc.http_status, media_type="text/plain")
        return _zone_page(
            request, auth, value=time_zone, error=message, status_code=exc.http_status
        )
    if detected:
        return Response(status_code=204)
    return _zone_page(request, dataclasses.replace(auth, user=changed), done=True)
