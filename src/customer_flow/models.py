"""Pydantic schemas shared by the hub and its three doors (CLI, API, pages).

A family per entity, as in FastAPI's full-stack template: ``CustomerCreate`` for input,
``CustomerUpdate`` for partial changes, ``Customer`` for what is read back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditEntry",
    "Customer",
    "CustomerCreate",
    "CustomerQuery",
    "CustomerUpdate",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicatePair",
    "DuplicateReport",
    "FieldEvidence",
    "Merge",
    "MergeResult",
    "Page",
    "Priority",
    "RecordWarning",
    "TicketType",
    "TicketTypeSync",
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


class DuplicateReport(BaseModel):
    """What ``duplicates find`` found."""

    customers: int
    pairs_compared: int
    threshold: float
    trained: bool
    seconds: float = 0.0
    blocking_seconds: float = 0.0
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
