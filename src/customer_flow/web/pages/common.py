"""What every page shares: the Jinja2 environment (autoescape on), the login check for pages,
and the CSRF check for forms.

A page without a session sends the browser to ``/login`` (an HTMX request gets an
``HX-Redirect`` header instead, so the whole page moves, not a fragment).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup

from customer_flow.core import history
from customer_flow.core.errors import (
    AuthenticationError,
    CustomerFlowError,
    PermissionDeniedError,
    ValidationError,
)

from ...hub import ROLES, Hub
from ..deps import Auth, HubDep, authenticate, csrf_ok

__all__ = [
    "LoginRequired",
    "PageAuth",
    "check_form_csrf",
    "form_error",
    "render",
    "templates",
    "user_zone",
]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
    auto_reload=False,
)
templates.globals["action_label"] = history.action_label


def user_zone(user: Any) -> tzinfo:
    """The signed-in user's time zone (``users.time_zone``), else UTC; a name the system's
    time zone data no longer knows is UTC too."""
    name = getattr(user, "time_zone", None)
    if name:
        with suppress(ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(name)
    return UTC


@pass_context
def _changes(ctx: Any, entry: Any, skip: tuple[str, ...] = ()) -> list[history.Change]:
    return history.changes(entry, skip, user_zone(ctx.get("user")))


@pass_context
def _when(ctx: Any, value: datetime | None, empty: str = "—") -> Markup | str:
    """A time as the pages show it: to the minute in the user's zone, in a ``<time>`` whose
    hover (``title``) and ``datetime`` hold the full instant in ISO 8601 (UTC)."""
    if value is None:
        return empty
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    full = value.astimezone(UTC).isoformat()
    shown = history.local(value, user_zone(ctx.get("user")))
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(full, shown)


templates.globals["changes"] = _changes
templates.filters["when"] = _when


class LoginRequired(Exception):
    """Raised by a page that needs a session; the app answers with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


def page_auth(request: Request, hub: HubDep) -> Auth:
    """The session behind a page request; without one, off to the login page."""
    try:
        auth = authenticate(request, hub)
    except AuthenticationError:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target) from None
    return auth


PageAuth = Annotated[Auth, Depends(page_auth)]


def check_form_csrf(auth: Auth, form: Any) -> None:
    """A state-changing form must carry the session's CSRF token."""
    if auth.via == "session" and not csrf_ok(auth.csrf_token, form.get("csrf_token")):
        raise PermissionDeniedError(
            "the form has expired or came from another site; reload the page", code="csrf"
        )


def can(auth: Auth, permission: str) -> bool:
    return permission in ROLES[auth.user.role]


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    auth: Auth | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    base = {
        "request": request,
        "user": auth.user if auth else None,
        "csrf_token": auth.csrf_token if auth else None,
        "can_write": bool(auth and can(auth, "write")),
        "is_admin": bool(auth and can(auth, "admin")),
    }
    html = templates.get_template(name).render({**base, **context})
    return HTMLResponse(html, status_code=status_code, headers=headers)


def acting(auth: Auth) -> Hub:
    return auth.hub


def form_error(
    exc: CustomerFlowError, on_form: Callable[[str], str | None]
) -> tuple[dict[str, str] | None, str | None]:
    """Where a refused form shows the core's error: beside the form's field that
    ``on_form(exc.field)`` names, without the ``field:`` prefix; when it names none, above the
    form, whole. Returns ``(errors, error)``, one of them ``None``."""
    field = on_form(exc.field) if exc.field else None
    if field is None:
        return None, exc.message
    message = exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message
    return {field: message}, None


#: The media types of the files the pages' export buttons give.
EXPORT_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_file(name: str, fmt: str, write: Callable[[Path], object]) -> Response:
    """Run ``write`` into a file in a temporary folder and send it as a download, streamed
    from disk (memory stays flat); the folder goes when the response is sent, or at once
    when the export fails (its error goes on to the error page)."""
    import shutil
    import tempfile

    from fastapi.responses import FileResponse
    from starlette.background import BackgroundTask

    if fmt not in EXPORT_MEDIA:
        raise ValidationError(f"format: choose {' or '.join(EXPORT_MEDIA)}", field="format")
    folder = Path(tempfile.mkdtemp(prefix="cf_export_"))
    path = folder / f"{name}.{fmt}"
    try:
        write(path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=EXPORT_MEDIA[fmt],
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
