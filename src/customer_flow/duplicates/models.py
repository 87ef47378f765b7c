"""The duplicate schemas: candidates, evidence per field, clusters, merges."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from customer_flow.customers.models import Customer

# -- duplicates (dedupe.py, merging.py) ----------------------------------------------------------


Verdict = Literal["agrees", "disagrees", "missing", "neutral"]
#: A verdict in words.
VERDICTS: dict[str, str] = {
    "agrees": "agrees",
    "disagrees": "disagrees",
    "missing": "missing on one side",
    "neutral": "no evidence",
}
#: How each of the model's comparisons is named to a person (another attribute: its name).
FIELD_WORDS: dict[str, str] = {
    "first_name": "first name",
    "last_name": "surname",
    "email": "email",
    "phone": "phone",
    "dob": "date of birth",
    "postcode": "postcode",
    "address": "address",
    "suburb": "suburb",
    "state": "state",
    "id_number": "ID number",
}


class FieldEvidence(BaseModel):
    """How one field of a pair compared: the level it fell in, its match weight (log2 of the
    Bayes factor: above 0 the field says "same", below 0 "different") and that verdict in a
    word: ``agrees``, ``disagrees``, ``missing`` (one side has no value: no evidence) or
    ``neutral`` (a weight of 0)."""

    level: str
    weight: float
    verdict: Verdict = "neutral"


class DuplicateCandidate(BaseModel):
    """A live customer that looks like another one, with the reasons why: the model's
    probability that they are one person, the evidence per field, and the same in words."""

    id: int
    name: str
    email: str | None = None
    phone: str | None = None
    reasons: list[str] = Field(default_factory=list)
    probability: float | None = None
    explanation: dict[str, FieldEvidence] = Field(default_factory=dict)


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
    #: What a recognised attribute is: ``date of birth``, ``postcode``, ``address``, ``suburb``,
    #: ``state`` or ``ID number``.
    kind: str | None = None
    #: Live customers with a value, and their share of all live customers.
    values: int
    share: float
    why: str


class DuplicateReport(BaseModel):
    """What ``duplicates find`` found, and which fields it compared."""

    customers: int
    pairs_compared: int
    threshold: float
    trained: bool
    #: Where m and u came from: ``shipped`` (the defaults in the package), ``u`` (u estimated
    #: by random sampling on this database, m shipped) or ``full`` (u by sampling, m by EM).
    training: Literal["shipped", "u", "full"] = "shipped"
    seconds: float = 0.0
    training_seconds: float = 0.0
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
    "FIELD_WORDS",
    "VERDICTS",
    "ComparedField",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicatePair",
    "DuplicateReport",
    "FieldEvidence",
    "Merge",
    "MergeResult",
    "Verdict",
]
