"""Dependencies shared by the API and the pages: the Hub, the login behind a request, and the
role gate. Used as ``Annotated`` aliases, as in FastAPI's full-stack template::

    def list_customers(hub: UserHub, ...) -> Page[Customer]: ...

A request is authenticated by a Bearer token (API clients) or by the session cookie (the
browser). With the cookie, a state-changing request must also carry the session's CSRF token
(the ``X-CSRF-Token`` header, or the ``csrf_token`` form field on pages).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from customer_flow.core.errors import AuthenticationError, PermissionDeniedError
from customer_flow.users.models import User

from ..hub import ROLES, Hub
from .security import SAFE_METHODS

__all__ = [
    "SECURE_SESSION_COOKIE",
    "SESSION_COOKIE",
    "Auth",
    "CurrentAuth",
    "HubDep",
    "UserHub",
    "client_address",
    "get_hub",
    "is_secure",
    "requires",
    "session_cookie",
    "session_id_of",
]

SESSION_COOKIE = "cf_session"
#: The session cookie's name over https: the browser then only takes it Secure, for the whole
#: site (Path=/) and from this host alone (no Domain), so a sibling subdomain cannot set one.
SECURE_SESSION_COOKIE = "__Host-cf_session"


def is_secure(request: Request) -> bool:
    """Whether cookies are Secure: the setting, else whether the request came over https (as
    a trusted proxy reports it, see ``app.py``)."""
    configured: bool | None = request.app.state.hub.settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def session_cookie(request: Request) -> str:
    """The session cookie's name for this request (``__Host-`` over https)."""
    return SECURE_SESSION_COOKIE if is_secure(request) else SESSION_COOKIE


def session_id_of(request: Request) -> str | None:
    """The session id the request's cookie carries, if any."""
    return request.cookies.get(session_cookie(request)) or None


def client_address(request: Request) -> str | None:
    """The client's address: the peer's, or the one a trusted proxy names (``app.py``)."""
    return request.client.host if request.client else None


# Dependencies that do no I/O are ``async``: FastAPI runs them on the event loop instead of
# sending each through the thread pool (a measurable cost under 20 concurrent clients).


async def get_hub(request: Request) -> Hub:
    """The app's Hub, acting as nobody in particular (for logging in)."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


@dataclass(frozen=True)
class Auth:
    """Who made the request, and how."""

    user: User
    via: Literal["token", "session"]
    hub: Hub
    csrf_token: str | None = None
    #: The session's id (the cookie), when the request came with one.
    session_id: str | None = None


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


def authenticate(request: Request, hub: Hub) -> Auth:
    """The user behind the request's Bearer token or session cookie; 401 without one."""
    cached: Auth | None = getattr(request.state, "auth", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationError("use 'Authorization: Bearer <token>'", code="bad_token")
        user = hub.authenticate_token(secret.strip())
        auth = Auth(user=user, via="token", hub=hub.for_user(user))
    else:
        session_id = session_id_of(request)
        if not session_id:
            raise AuthenticationError("not logged in", code="no_session")
        user, csrf = hub.authenticate_session(session_id)
        auth = Auth(
            user=user,
            via="session",
            hub=hub.for_user(user),
            csrf_token=csrf,
            session_id=session_id,
        )
    request.state.auth = auth
    return auth


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer cf_…`")


def api_auth(
    request: Request,
    hub: HubDep,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Auth:
    """The API's login check: a Bearer token, or the session cookie plus the CSRF header."""
    auth = authenticate(request, hub)
    if (
        auth.via == "session"
        and request.method not in SAFE_METHODS
        and not csrf_ok(auth.csrf_token, request.headers.get("x-csrf-token"))
    ):
        raise PermissionDeniedError("missing or wrong X-CSRF-Token header", code="csrf")
    return auth


CurrentAuth = Annotated[Auth, Depends(api_auth)]


async def user_hub(auth: CurrentAuth) -> Hub:
    """The Hub acting as the logged-in user, with their role."""
    return auth.hub


UserHub = Annotated[Hub, Depends(user_hub)]


def requires(permission: str) -> Any:
    """A route dependency refusing a role without ``permission`` before the body is read (so a
    viewer's POST gets 403 whatever it sends). The Hub checks again; this only answers early."""

    async def check(auth: CurrentAuth) -> None:
        if permission not in ROLES[auth.user.role]:
            raise PermissionDeniedError(
                f"{auth.user.email} ({auth.user.role}) may not {permission}", code="forbidden"
            )

    return Depends(check)
