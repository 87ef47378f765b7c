"""``/api/v1/exports``: customers as a file, through the same export as ``customer-flow export``.

The route is a door to ``Hub.export_customers``: the same formats (CSV in the id.csv layout, JSON,
JSON Lines, XLSX, Parquet), the same filters as the customers list, and the same defusing of
spreadsheet formulas. The file is written to a temporary folder and streamed from there, so a
large export does not sit in memory; the folder goes when the response is sent.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from customer_flow.customers.models import CustomerQuery

from ..deps import UserHub
from .tickets import TicketFilters, ticket_filters

__all__ = ["router"]

router = APIRouter(prefix="/exports", tags=["exports"])

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}


@router.get(
    "/customers",
    summary="Export customers as CSV (id.csv layout), JSON, JSON Lines, XLSX or Parquet",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                **{
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for fmt, media in MEDIA_TYPES.items()
                    if fmt != "json"
                },
            },
        }
    },
)
def export_customers(
    hub: UserHub,
    format: Annotated[
        Literal["csv", "json", "jsonl", "xlsx", "parquet"], Query(description="The file format.")
    ] = "json",
    search: Annotated[str | None, Query(max_length=200, description="As in the list.")] = None,
    trash: Annotated[bool, Query(description="Export the trash instead.")] = False,
    with_warnings: Annotated[bool, Query(description="Only customers with warnings.")] = False,
) -> FileResponse:
    folder = Path(tempfile.mkdtemp(prefix="cf_export_"))
    name = f"customers{'-trash' if trash else ''}.{format}"
    try:
        query = CustomerQuery(search=search, trash=trash, with_warnings=with_warnings)
        hub.export_customers(folder / name, query, format=format)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        folder / name,
        media_type=MEDIA_TYPES[format],
        filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get(
    "/tickets",
    summary="Export tickets (the queue's filters, every page) as CSV or XLSX",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file",
            "content": {
                MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}
                for fmt in ("csv", "xlsx")
            },
        }
    },
)
def export_tickets(
    hub: UserHub,
    # The ticket list's filters and sort, from the one definition both routes use.
    filters: Annotated[TicketFilters, Depends(ticket_filters)],
    format: Annotated[Literal["csv", "xlsx"], Query(description="The file format.")] = "csv",
) -> FileResponse:
    """Columns: ID, customer, subject, type, status, priority, assignee, team, tags, SLA
    state, next due time and target, created, updated. CSV cells a spreadsheet would run as a
    formula get a leading apostrophe; XLSX stores text as text."""
    query = filters.query()
    folder = Path(tempfile.mkdtemp(prefix="cf_export_"))
    name = f"tickets.{format}"
    try:
        hub.export_tickets(folder / name, query, format=format)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        folder / name,
        media_type=MEDIA_TYPES[format],
        filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
