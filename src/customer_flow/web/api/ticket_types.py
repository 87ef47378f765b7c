"""``/api/v1/ticket-types``: list, show, and (admin) replace from a ticket_types.json body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import WithJsonSchema

from customer_flow.tickets.models import TicketType, TicketTypeSync
from customer_flow.tickets.types import document_schema

from ..deps import UserHub, requires

__all__ = ["router"]

router = APIRouter(prefix="/ticket-types", tags=["ticket types"])


@router.get("", response_model=list[TicketType], summary="List ticket types")
def list_ticket_types(
    hub: UserHub,
    include_inactive: Annotated[bool, Query(description="Include inactive types.")] = False,
) -> list[TicketType]:
    return hub.list_ticket_types(include_inactive=include_inactive)


@router.get("/{key}", response_model=TicketType, summary="Get a ticket type")
def get_ticket_type(
    hub: UserHub, key: Annotated[str, Path(max_length=64, description="The type's key.")]
) -> TicketType:
    return hub.get_ticket_type(key)


@router.put(
    "",
    response_model=TicketTypeSync,
    dependencies=[requires("admin")],
    summary="Load a ticket_types.json (admin)",
)
def sync_ticket_types(
    hub: UserHub,
    document: Annotated[
        dict[str, Any],
        # The document's own schema, which the hub checks it against (with messages that
        # name the JSON path); Pydantic only checks that it is an object.
        WithJsonSchema(document_schema()),
        Body(description="The content of a ticket_types.json."),
    ],
) -> TicketTypeSync:
    """Make the stored types match the document; types missing from it are deactivated."""
    return hub.sync_ticket_types(document)
