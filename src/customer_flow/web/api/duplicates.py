"""``/api/v1/duplicates`` and ``/api/v1/merges``: find likely duplicate customers (clusters with
a score and the evidence per field), merge them with per-field picks, mark a pair "not a
duplicate" (remembered: ``find`` leaves it out from then on), list merges and undo one.

The same Hub methods as ``customer-flow duplicates find|merge|unmerge|merges|dismiss``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from customer_flow.core.models import Spec
from customer_flow.customers.models import Customer
from customer_flow.duplicates.models import DuplicateReport, Merge, MergeResult

from ..deps import UserHub, requires

__all__ = ["DismissRequest", "MergeRequest", "merges", "router"]

router = APIRouter(prefix="/duplicates", tags=["duplicates"])
merges = APIRouter(prefix="/merges", tags=["duplicates"])

CustomerRef = Annotated[int, Field(ge=1, le=2**53)]
MergeId = Annotated[int, Path(ge=1, le=2**53, description="The merge's number.")]
#: ``merge``: the keys of ``take`` are fields of the customer (``MERGE_FIELDS``) or ``extra.KEY``.
Take = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=200)], CustomerRef],
    Spec.of(
        propertyNames={
            "minLength": 1,
            "maxLength": 200,
            "pattern": "^(name|email|phone|extra\\..+)$",
        }
    ),
]
#: ``fields.check_fields``: an attribute name, not one of those always compared.
FieldName = Annotated[
    str,
    Spec.of(
        pattern="^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        **{"not": {"pattern": "^([nN][aA][mM][eE]|[eE][mM][aA][iI][lL]|[pP][hH][oO][nN][eE])$"}},
    ),
]


class MergeRequest(BaseModel):
    """Fold ``others`` into ``keep``. ``take`` picks, per field (``name``, ``email``, ``phone``
    or ``extra.KEY``), the customer whose value survives; every other field keeps the most
    recent non-empty value."""

    model_config = ConfigDict(extra="forbid")

    keep: CustomerRef
    others: list[CustomerRef] = Field(
        min_length=1,
        max_length=100,
        description="The customers folded into `keep`; `keep` itself may not be one of them.",
    )
    take: Take = Field(
        default_factory=dict,
        max_length=100,
        description="Field -> the customer whose value it takes: `keep` or one of `others`.",
    )


class DismissRequest(BaseModel):
    """Two customers that are not the same person."""

    model_config = ConfigDict(extra="forbid")

    a: CustomerRef
    b: CustomerRef = Field(description="Another customer than `a`.")


@router.get("", response_model=DuplicateReport, summary="Find likely duplicate customers")
def find_duplicates(
    hub: UserHub,
    threshold: Annotated[
        float | None,
        Query(gt=0, lt=1, description="Match probability to link a pair. Default: the model's."),
    ] = None,
    field: Annotated[
        list[FieldName] | None,
        Query(
            max_length=20,
            description="Extra attributes to compare too (repeatable): attribute names "
            "(letters, digits, _), not name, email or phone, which are always compared.",
        ),
    ] = None,
    auto_fields: Annotated[
        bool,
        Query(
            description="Compare the extra attributes recognised as identifying (date of "
            "birth, postcode, address, suburb, state, ID number, under their usual keys) when "
            "at least 5 % (or 1,000) of the customers have one. false: name, email, phone and "
            "`field` only."
        ),
    ] = True,
) -> DuplicateReport:
    """Clusters of live customers linked by pairs at or above the threshold, each pair with its
    probability and, per field, the level it fell in, its match weight and its verdict
    (`agrees`, `disagrees`, `missing`). Pairs marked "not a duplicate" are left out. `fields`
    lists the fields compared and why; `fields_not_compared` the identifying attributes too
    few customers have. The check on entry then scores with the model this used."""
    return hub.find_duplicates(threshold=threshold, fields=field or [], auto_fields=auto_fields)


@router.post(
    "/merge",
    response_model=MergeResult,
    dependencies=[requires("write")],
    summary="Merge customers into one",
)
def merge_customers(hub: UserHub, body: MergeRequest) -> MergeResult:
    """Tickets, history and extra attributes move to `keep`; the others go to the trash with a
    pointer to it. `POST /merges/{id}/undo` reverses it exactly."""
    return hub.merge_customers(body.keep, list(body.others), take=dict(body.take))


@router.post(
    "/dismiss",
    response_model=list[Customer],
    dependencies=[requires("write")],
    summary='Mark two customers "not a duplicate"',
)
def dismiss_duplicate(hub: UserHub, body: DismissRequest) -> list[Customer]:
    """Remembered: `find` and the checks on entry leave the pair out from now on."""
    return list(hub.dismiss_duplicate(body.a, body.b))


@merges.get("", response_model=list[Merge], summary="List merges")
def list_merges(
    hub: UserHub,
    customer_id: Annotated[
        int | None, Query(ge=1, le=2**53, description="Only merges this customer survived.")
    ] = None,
) -> list[Merge]:
    """Every merge, newest first, with what it moved and whether it was undone."""
    return hub.list_merges(customer_id)


@merges.get("/{merge_id}", response_model=Merge, summary="Get a merge")
def get_merge(hub: UserHub, merge_id: MergeId) -> Merge:
    return hub.get_merge(merge_id)


@merges.post(
    "/{merge_id}/undo",
    response_model=MergeResult,
    dependencies=[requires("write")],
    summary="Undo a merge",
)
def unmerge(hub: UserHub, merge_id: MergeId) -> MergeResult:
    """Put every record of the merge back exactly as it was; refused (409) if one of them
    changed since."""
    return hub.unmerge_customers(merge_id)
