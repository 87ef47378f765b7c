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
    "ComparedField",
    "Customer",
    "CustomerCreate",
    "CustomerQuery",
    "CustomerUpdate",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicatePair",
    "DuplicateReport",
    "FieldEvidence",
    "LoginSession",
    "Merge",
    "MergeResult",
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


# -- tickets ---------------------------------------------------------------------------------

__all__ += [
    "Comment",
    "CommentCreate",
    "SlaTarget",
    "Ticket",
    "TicketCreate",
    "TicketQuery",
    "TicketSla",
    "TicketStatus",
    "TicketUpdate",
]

TicketStatus = Literal["new", "open", "pending", "resolved", "closed"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "resolved", "closed")
SlaState = Literal["none", "on_track", "at_risk", "breached", "met"]
TicketSort = Literal["id", "-id", "due"]


class TicketCreate(BaseModel):
    """What a new ticket is made from. ``priority`` left out takes the type's default."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(ge=1)
    type: str = Field(max_length=64)
    subject: str = Field(max_length=300)
    description: str = Field(default="", max_length=100_000)
    priority: Priority | None = None
    tags: list[str] = Field(default_factory=list)
    assignee: str | None = Field(default=None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)


class TicketUpdate(BaseModel):
    """A partial change to a ticket's content; only the fields that are set change."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=100_000)
    priority: Priority | None = None
    tags: list[str] | None = None
    fields: dict[str, Any] | None = None


class SlaTarget(BaseModel):
    """One SLA target of a ticket: its size, when it falls due, and how it stands."""

    state: SlaState
    #: Business seconds after priority scaling; None when the type sets no such target.
    target_seconds: int | None = None
    due_at: datetime | None = None
    at_risk_at: datetime | None = None
    #: When the target was met (first response, resolution); None while the clock runs.
    met_at: datetime | None = None
    #: Business seconds used so far (pauses excluded), and what is left (negative when late).
    used_seconds: int | None = None
    remaining_seconds: int | None = None


class TicketSla(BaseModel):
    """A ticket's SLA: the worst state of its targets, and whether the clock is paused."""

    state: SlaState
    paused: bool
    paused_seconds: int
    first_response: SlaTarget
    resolution: SlaTarget


class Ticket(BaseModel):
    """A stored ticket, as every door shows it."""

    id: int
    customer_id: int
    type: str
    subject: str
    description: str
    priority: Priority
    status: TicketStatus
    tags: list[str]
    assignee: str | None
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    paused_at: datetime | None
    reopened_count: int
    sla: TicketSla


class CommentCreate(BaseModel):
    """A comment: a public reply (default) or an internal note, by an agent or the customer."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=100_000)
    public: bool = True
    by_customer: bool = False
    #: Who wrote a customer's comment (e.g. the name on their email). An agent's comment is
    #: always by the acting user, so naming another author is refused.
    author: str | None = Field(default=None, max_length=200)


class Comment(BaseModel):
    """A stored comment."""

    id: int
    ticket_id: int
    author: str
    public: bool
    by_customer: bool
    body: str
    created_at: datetime


class TicketQuery(BaseModel):
    """How to list tickets. With no ``status``, the open queue (new, open, pending)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int | None = None
    type: str | None = None
    status: list[TicketStatus] | None = None
    all_statuses: bool = False
    priority: list[Priority] | None = None
    assignee: str | None = None
    unassigned: bool = False
    sla: Literal["on_track", "at_risk", "breached"] | None = None
    search: str | None = None
    sort: TicketSort = "id"
    limit: int = Field(default=50, ge=1, le=1000)
    after: str | None = None


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


# -- duplicates (dedupe.py, merging.py) ----------------------------------------------------------


class DuplicateCandidate(BaseModel):
    """A live customer that looks like another one, with the reasons why."""

    id: int
    name: str
    email: str | None = None
    phone: str | None = None
    reasons: list[str] = Field(default_factory=list)


class FieldEvidence(BaseModel):
    """How one field of a pair compared: the level it fell in and its match weight (log2 of the
    Bayes factor: above 0 the field says "same", below 0 "different")."""

    level: str
    weight: float


class DuplicatePair(BaseModel):
    """Two customers the model scored, with the evidence per field."""

    a: int
    b: int
    probability: float
    weight: float
    explanation: dict[str, FieldEvidence]


class DuplicateCluster(BaseModel):
    """Customers linked by pairs at or above the threshold; ``score`` is the weakest link."""

    ids: list[int]
    score: float
    customers: list[DuplicateCandidate]
    pairs: list[DuplicatePair]


class ComparedField(BaseModel):
    """A field ``duplicates find`` compared (or an identifying extra attribute it left out),
    and why. ``source`` is ``built-in`` (name, email, phone: always), ``auto`` (an extra
    attribute recognised as identifying and present on enough live customers) or
    ``requested`` (``--field``)."""

    name: str
    source: Literal["built-in", "auto", "requested"]
    #: The ``extra`` keys it is read from (equal up to case and separators); none for built-ins.
    keys: list[str] = Field(default_factory=list)
    #: What a recognised attribute identifies: ``postcode``, ``address`` or ``date of birth``.
    kind: str | None = None
    #: Live customers with a value, and their share of all live customers.
    values: int
    share: float
    #: Whether an exact match weighs by how rare the shared value is (enough values).
    term_frequencies: bool = False
    why: str


class DuplicateReport(BaseModel):
    """What ``duplicates find`` found, and which fields it compared."""

    customers: int
    pairs_compared: int
    threshold: float
    trained: bool
    seconds: float = 0.0
    blocking_seconds: float = 0.0
    #: Whether identifying extra attributes were looked for (off: ``--no-auto-fields``).
    auto_fields: bool = True
    fields: list[ComparedField] = Field(default_factory=list)
    #: Recognised identifying attributes present on too few live customers to be compared.
    fields_not_compared: list[ComparedField] = Field(default_factory=list)
    clusters: list[DuplicateCluster]


class Merge(BaseModel):
    """One merge: the survivor, the customers folded into it, and whether it was undone."""

    id: int
    at: datetime
    actor: str
    survivor_id: int
    merged_ids: list[int]
    fields: dict[str, int] = Field(default_factory=dict)
    #: What re-pointers moved: {"tickets": {"<merged customer ID>": [ticket IDs]}}.
    moved: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    undone_at: datetime | None = None
    undone_by: str | None = None


class MergeResult(BaseModel):
    """A merge (or unmerge) and the customers as they are after it."""

    merge: Merge
    survivor: Customer
    others: list[Customer]
