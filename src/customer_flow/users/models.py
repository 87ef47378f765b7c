"""The user schemas: users, login sessions and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from customer_flow.core.models import EMAIL, Spec

# -- users, sessions and API tokens (web issue) ---------------------------------------------

Role = Literal["admin", "agent", "viewer"]
#: ``accounts.check_password_rule``: 8 to 1024 characters (``MIN_PASSWORD``, ``MAX_PASSWORD``).
PASSWORD = Spec.of(minLength=8, maxLength=1024)


class UserCreate(BaseModel):
    """A new login. The password is checked (8 characters or more, not a common one) and hashed,
    never stored."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, EMAIL] = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    role: Role = "agent"
    password: Annotated[str, PASSWORD] = Field(repr=False)


class User(BaseModel):
    """A stored user, as every door shows it (never with the password hash)."""

    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    updated_at: datetime
    #: The IANA time zone pages show times in (``Europe/Lisbon``); None: not chosen, UTC.
    time_zone: str | None = None


class LoginSession(BaseModel):
    """A new login session: the cookie value is ``session_id``; it is shown only now."""

    session_id: str = Field(repr=False)
    csrf_token: str = Field(repr=False)
    user: User
    expires_at: datetime


class PasswordChange(BaseModel):
    """What a password change did besides setting the password."""

    user: User
    #: ``reset``: an admin set another user's password; else the user changed their own.
    reset: bool
    sessions_ended: int
    tokens_revoked: int


class ApiToken(BaseModel):
    """An API token as listed: its ``prefix`` identifies it; the secret is never stored."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class NewApiToken(ApiToken):
    """A token just created: ``token`` is the secret, shown only this once."""

    token: str = Field(repr=False)


__all__ = [
    "ApiToken",
    "LoginSession",
    "NewApiToken",
    "PasswordChange",
    "Role",
    "User",
    "UserCreate",
]
