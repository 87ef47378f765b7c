"""``/api/v1/users`` and ``/api/v1/tokens``: logins and API tokens.

Object checks (in the Hub): a user may see themself, change their own password (giving the
current one) and manage their own tokens; an admin may do all of it for anyone (another user's
password is reset, without theirs), and alone may list, add and disable users.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from customer_flow.core.models import NOT_BLANK
from customer_flow.users.models import PASSWORD, ApiToken, NewApiToken, User, UserCreate

from ..deps import CurrentAuth, UserHub, client_address, requires

__all__ = ["router", "tokens"]

router = APIRouter(prefix="/users", tags=["users"])
tokens = APIRouter(prefix="/tokens", tags=["tokens"])

UserId = Annotated[int, Path(ge=1, le=2**53, description="The user's ID.")]
TokenId = Annotated[int, Path(ge=1, le=2**53, description="The token's ID.")]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, PASSWORD] = Field(
        description=(
            "The new password: 8 to 1024 characters, never truncated; not one of the 3,000 "
            "most common passwords, and without the user's email."
        )
    )
    current_password: str | None = Field(
        default=None,
        max_length=4096,
        description=(
            "Your current password: required to change your own (a wrong one is a 403 "
            "`wrong_password`, counted and throttled like a failed login). Not used when an "
            "admin resets another user's password."
        ),
    )
    revoke_tokens: bool = Field(
        default=False, description="Also revoke every API token of the user."
    )


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "agent", "viewer"] = Field(
        description="The new role; the last active admin keeps theirs (409 `last_admin`)."
    )


class TimeZoneChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: str | None = Field(
        max_length=64,
        description="An IANA time zone name (`Europe/Lisbon`, `UTC`) the system knows; an "
        "unknown one is a 422 `time_zone_unknown`. null: back to UTC.",
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, NOT_BLANK] = Field(max_length=200, description="What the token is for.")
    expires_at: datetime | None = Field(
        default=None, description="When it stops working: a time in the future."
    )
    user_id: int | None = Field(
        default=None, ge=1, le=2**53, description="Whose token (admin only; default: yours)."
    )


@router.get("", response_model=list[User], dependencies=[requires("admin")], summary="List users")
def list_users(hub: UserHub) -> list[User]:
    return hub.list_users()


@router.post(
    "",
    response_model=User,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("admin")],
    summary="Add a user (admin)",
)
def add_user(hub: UserHub, body: UserCreate) -> User:
    return hub.add_user(body)


@router.get("/me", response_model=User, summary="The logged-in user")
def me(auth: CurrentAuth) -> User:
    return auth.user


@router.get("/{user_id}", response_model=User, summary="Get a user (yourself, or admin)")
def get_user(hub: UserHub, user_id: UserId) -> User:
    return hub.get_user(user_id)


@router.post(
    "/{user_id}/disable",
    response_model=User,
    dependencies=[requires("admin")],
    summary="Disable a user (admin)",
)
def disable_user(hub: UserHub, user_id: UserId) -> User:
    """Their sessions end at once and their tokens stop working."""
    return hub.disable_user(user_id)


@router.put(
    "/{user_id}/role",
    response_model=User,
    dependencies=[requires("admin")],
    summary="Change a user's role (admin)",
)
def set_role(hub: UserHub, user_id: UserId, body: RoleChange) -> User:
    """admin, agent or viewer. The last active admin cannot lose the role."""
    return hub.set_role(user_id, body.role)


@router.put(
    "/{user_id}/time-zone",
    response_model=User,
    summary="Set the time zone pages show a user's times in (yours, or admin)",
)
def set_time_zone(hub: UserHub, user_id: UserId, body: TimeZoneChange) -> User:
    return hub.set_time_zone(user_id, body.time_zone)


@router.put(
    "/{user_id}/password",
    response_model=User,
    summary="Change your password (with current_password), or reset another user's (admin)",
)
def set_password(
    request: Request, auth: CurrentAuth, user_id: UserId, body: PasswordChange
) -> User:
    """Your own account: give `current_password`; your other sessions end (the one making
    the call, when it is a browser session, stays).

    Another user's account (admins only): a password reset, audited as `reset_password`;
    all their sessions end and their failed logins are forgotten.

    With `revoke_tokens: true`, every API token of the user is revoked too, the one making
    the call included."""
    changed = auth.hub.set_password(
        user_id,
        body.password,
        current_password=body.current_password,
        revoke_tokens=body.revoke_tokens,
        keep_session=auth.session_id,
        client=client_address(request),
    )
    return changed.user


@tokens.get("", response_model=list[ApiToken], summary="List API tokens")
def list_tokens(
    hub: UserHub,
    user_id: Annotated[
        int | None, Query(ge=1, le=2**53, description="Whose tokens (admin: anyone's).")
    ] = None,
) -> list[ApiToken]:
    """Your tokens; an admin sees everyone's, or one user's with `user_id`."""
    return hub.list_tokens(user_id)


@tokens.post(
    "",
    response_model=NewApiToken,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token",
)
def create_token(hub: UserHub, body: TokenCreate) -> NewApiToken:
    """The secret `token` is in this response only; store it now."""
    return hub.create_token(body.name, expires_at=body.expires_at, user_id=body.user_id)


@tokens.delete("/{token_id}", response_model=ApiToken, summary="Revoke an API token")
def revoke_token(hub: UserHub, token_id: TokenId) -> ApiToken:
    """Your own token, or anyone's if you are an admin; it stops working at once."""
    return hub.revoke_token(token_id)
