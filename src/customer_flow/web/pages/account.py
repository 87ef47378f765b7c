"""``/account/password``: change my password (every role).

The form asks for the current password, the new one twice, and whether to revoke my API tokens
too; it works without JavaScript and carries the session's CSRF token like every form. The
change ends my other sessions and keeps this one (``Hub.set_password``). A wrong current
password counts as a failed login and is throttled like one (429 with ``Retry-After``).
"""

from __future__ import annotations

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
