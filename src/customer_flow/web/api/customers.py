"""``/api/v1/customers``: create, read, update, trash, restore, purge, history and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from customer_flow.core.models import CURSOR, AuditEntry, Page
from customer_flow.customers.models import (
    Customer,
    CustomerCreate,
    CustomerQuery,
    CustomerSort,
    CustomerUpdate,
)

from ..deps import UserHub, requires

__all__ = ["router"]

router = APIRouter(prefix="/customers", tags=["customers"])

CustomerId = Annotated[int, Path(ge=1, le=2**53, description="The customer's ID.")]
AllowDuplicate = Annotated[
    bool,
    Query(
        description="Save it even if it looks like a live customer (409 `possible_duplicate` "
        "otherwise); it keeps a `possible_duplicate` warning naming them, for review."
    ),
]


@router.get("", response_model=Page[Customer], summary="List or search customers")
def list_customers(
    hub: UserHub,
    search: Annotated[
        str | None, Query(max_length=300, description="Text in name, email or phone.")
    ] = None,
    trash: Annotated[bool, Query(description="List the trash instead.")] = False,
    with_warnings: Annotated[bool, Query(description="Only customers with warnings.")] = False,
    sort: Annotated[
        CustomerSort,
        Query(description="id, name or created; prefix - to reverse."),
    ] = "id",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    after: Annotated[
        Annotated[Annotated[str, CURSOR] | None, CURSOR],
        Query(max_length=500, description="The `next` cursor of the previous page."),
    ] = None,
) -> Response:
    """A page of customers, by keyset: pass the returned `next` as `after` for the next one."""
    query = CustomerQuery(
        search=search,
        trash=trash,
        with_warnings=with_warnings,
        sort=sort,
        limit=limit,
        after=after,
    )
    # Serialised once, straight from the Hub's validated models (the hot path of the API).
    return Response(hub.list_customers(query).model_dump_json(), media_type="application/json")


@router.post(
    "",
    response_model=Customer,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Create a customer",
)
def create_customer(
    hub: UserHub, body: CustomerCreate, allow_duplicate: AllowDuplicate = False
) -> Customer:
    """Create a customer; its ID is the one given or the next free one.

    A customer that looks like a live one is refused with 409 `possible_duplicate`, naming the
    `candidates` and why; send `allow_duplicate=true` to create it anyway (it keeps a
    `possible_duplicate` warning naming them, for review)."""
    return hub.add_customer(body, allow_duplicate=allow_duplicate)


@router.get("/{customer_id}", response_model=Customer, summary="Get a customer")
def get_customer(hub: UserHub, customer_id: CustomerId) -> Customer:
    """One customer, live or in the trash."""
    return hub.get_customer(customer_id)


@router.patch(
    "/{customer_id}",
    response_model=Customer,
    dependencies=[requires("write")],
    summary="Change a customer",
)
def update_customer(
    hub: UserHub,
    customer_id: CustomerId,
    body: CustomerUpdate,
    allow_duplicate: AllowDuplicate = False,
) -> Customer:
    """Change the fields that are present in the body; `null` clears email or phone. A change
    that makes it look like another live customer is refused with 409 `possible_duplicate`
    unless `allow_duplicate=true`."""
    return hub.update_customer(customer_id, body, allow_duplicate=allow_duplicate)


@router.delete(
    "/{customer_id}",
    response_model=Customer,
    dependencies=[requires("write")],
    summary="Move a customer to the trash",
)
def delete_customer(hub: UserHub, customer_id: CustomerId) -> Customer:
    """Move a customer to the trash; `restore` brings it back."""
    return hub.delete_customer(customer_id)


@router.post(
    "/{customer_id}/restore",
    response_model=Customer,
    dependencies=[requires("write")],
    summary="Restore a customer from the trash",
)
def restore_customer(hub: UserHub, customer_id: CustomerId) -> Customer:
    return hub.restore_customer(customer_id)


@router.post(
    "/{customer_id}/purge",
    response_model=Customer,
    dependencies=[requires("purge")],
    summary="Delete a customer in the trash for good (admin)",
)
def purge_customer(hub: UserHub, customer_id: CustomerId) -> Customer:
    """Delete for good; the ID is never reused and the history stays."""
    return hub.purge_customer(customer_id)


@router.get(
    "/{customer_id}/history", response_model=list[AuditEntry], summary="A customer's history"
)
def customer_history(hub: UserHub, customer_id: CustomerId) -> list[AuditEntry]:
    """Every change to the customer, oldest first; a customer purged, or removed by reverting
    its import, keeps its history (404 for an ID that never was a customer)."""
    return hub.customer_history(customer_id)
