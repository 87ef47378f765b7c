"""``/ticket-types``: the ticket types with their SLA targets and fields."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from customer_flow.tickets.types import format_duration

from .common import PageAuth, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/ticket-types")
def ticket_types_page(request: Request, auth: PageAuth) -> Response:
    types = auth.hub.list_ticket_types(include_inactive=True)
    return render(
        request,
        "ticket_types.html",
        {"types": types, "duration": format_duration},
        auth=auth,
    )
