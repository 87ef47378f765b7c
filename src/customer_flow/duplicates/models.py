"""The duplicate schemas: candidates, evidence per field, clusters, merges."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from customer_flow.customers.models import Customer

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


__all__ = [
    "ComparedField",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicatePair",
    "DuplicateReport",
    "FieldEvidence",
    "Merge",
    "MergeResult",
]
