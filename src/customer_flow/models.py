"""Pydantic schemas shared by the hub and its three doors (CLI, API, pages).

A family per entity, as in FastAPI's full-stack template: ``CustomerCreate`` for input,
``CustomerUpdate`` for partial changes, ``Customer`` for what is read back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Customer",
    "CustomerCreate",
    "CustomerQuery",
    "CustomerUpdate",
    "LoginSession",
    "NewApiToken",
    "Page",
    "Priority",
    "RecordWarning",
    "TicketType",
    "TicketTypeSync",
    "User",
    "UserCreate",
    "parse",
]

T = TypeVar("T")

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


class RecordWarning(BaseModel):
    """A problem kept on a record that does not block it, with a stable code."""

    model_config = ConfigDict(frozen=True)

    field: str
    code: str
    message: str


class CustomerCreate(BaseModel):
    """What a new customer is made from. ``id`` is assigned when left out."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, ge=1, le=2**53)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    extra: dict[str, Any] = Field(default_factory=dict)


class CustomerUpdate(BaseModel):
    """A partial update: only the fields that are set change. ``None`` clears email or phone."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    extra: dict[str, Any] | None = None


class Customer(BaseModel):
    """A stored customer, as every door shows it."""

    id: int
    name: str
    email: str | None
    phone: str | None
    extra: dict[str, Any]
    warnings: list[RecordWarning]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def in_trash(self) -> bool:
        return self.deleted_at is not None


CustomerSort = Literal["id", "-id", "name", "-name", "created", "-created"]


class CustomerQuery(BaseModel):
    """How to list customers: search text, which set, sort order and a page."""

    search: str | None = None
    trash: bool = False
    with_warnings: bool = False
    sort: CustomerSort = "id"
    limit: int = Field(default=50, ge=1, le=1000)
    after: str | None = None


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; ``next`` is the cursor of the following page."""

    items: list[T]
    next: str | None = None


class AuditEntry(BaseModel):
    """One change: when, who, what, and the record before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None = None


class TicketType(BaseModel):
    """A ticket type from ticket_types.json, as stored. SLA targets are in seconds."""

    key: str
    name: str
    description: str = ""
    default_priority: Priority = "normal"
    sla: dict[str, int] = Field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    active: bool = True


class TicketTypeSync(BaseModel):
    """What loading a ticket_types.json changed."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    deactivated: list[str] = Field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Build ``model`` from ``data``, turning Pydantic's error into our one-line ValidationError."""
    from pydantic import ValidationError as PydanticValidationError

    from .errors import ValidationError

    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ValidationError(f"{field}: {first['msg']}", field=field) from exc


# -- users, sessions and API tokens (web issue) ---------------------------------------------

Role = Literal["admin", "agent", "viewer"]


class UserCreate(BaseModel):
    """A new login. The password is checked (8 characters or more) and hashed, never stored."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    role: Role = "agent"
    password: str = Field(repr=False)


class User(BaseModel):
    """A stored user, as every door shows it (never with the password hash)."""

    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    updated_at: datetime


class LoginSession(BaseModel):
    """A new login session: the cookie value is ``session_id``; it is shown only now."""

    session_id: str = Field(repr=False)
    csrf_token: str = Field(repr=False)
    user: User
    expires_at: datetime


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
