"""``/users``: user admin for admins (issue 17): the list, add a user, change a role, disable,
reset a password. Thin doors to ``Hub.list_users``, ``add_user``, ``set_role``,
``disable_user`` and ``set_password`` (a reset, since it is someone else's); the Hub checks
the admin role again. Every form works without JavaScript and carries the CSRF token; a refusal
is shown on the page with its status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from customer_flow.core.errors import CustomerFlowError, PermissionDeniedError
from customer_flow.core.models import parse
from customer_flow.users.models import UserCreate

from ..deps import Auth
from .common import PageAuth, check_form_csrf, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
UserId = Annotated[int, Path(ge=1, le=2**53)]
Text = Annotated[str, Form(max_length=320)]
Secret = Annotated[str, Form(max_length=4096)]


def _page(
    request: Request,
    auth: Auth,
    *,
    error: str | None = None,
    done: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if auth.user.role != "admin":
        raise PermissionDeniedError("only an admin manages users", code="forbidden")
    context = {
        "users": auth.hub.list_users(),
        "error": error,
        "done": done,
        "values": values or {"email": "", "name": "", "role": "agent"},
        "roles": ("admin", "agent", "viewer"),
    }
    return render(request, "users/list.html", context, auth=auth, status_code=status_code)


@router.get("/users")
def users_page(request: Request, auth: PageAuth) -> Response:
    return _page(request, auth)


@router.post("/users")
def add_user(
    request: Request,
    auth: PageAuth,
    email: Text = "",
    name: Text = "",
    role: Annotated[str, Form(max_length=20)] = "agent",
    password: Secret = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    values = {"email": email, "name": name, "role": role}
    try:
        new = parse(UserCreate, {**values, "password": password})
        auth.hub.add_user(new)
    except CustomerFlowError as exc:
        return _page(request, auth, error=exc.message, values=values, status_code=exc.http_status)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/role")
def change_role(
    request: Request,
    auth: PageAuth,
    user_id: UserId,
    role: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    try:
        auth.hub.set_role(user_id, role)
    except CustomerFlowError as exc:
        return _page(request, auth, error=exc.message, status_code=exc.http_status)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/disable")
def disable(
    request: Request,
    auth: PageAuth,
    user_id: UserId,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    try:
        auth.hub.disable_user(user_id)
    except CustomerFlowError as exc:
        return _page(request, auth, error=exc.message, status_code=exc.http_status)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/password")
def reset_password(
    request: Request,
    auth: PageAuth,
    user_id: UserId,
    password: Secret = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    try:
        done = auth.hub.set_password(user_id, password)
    except CustomerFlowError as exc:
        return _page(request, auth, error=exc.message, status_code=exc.http_status)
    message = f"password of {done.user.email} reset; {done.sessions_ended} session(s) ended"
    return _page(request, auth, done=message)
