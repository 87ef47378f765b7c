"""``/api/v1/exports``: every customer as JSON or CSV, in one consistent read."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ...models import Customer
from ..deps import UserHub

__all__ = ["router"]

router = APIRouter(prefix="/exports", tags=["exports"])

COLUMNS = ["id", "name", "email", "phone", "extra", "warnings", "created_at", "updated_at"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas (CSV injection): a leading = + - @ gets a quote before it."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def customers_csv(items: list[Customer]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for c in items:
        writer.writerow(
            [
                c.id,
                _cell(c.name),
                _cell(c.email or ""),
                _cell(c.phone or ""),
                _cell(json.dumps(c.extra, ensure_ascii=False)) if c.extra else "",
                "; ".join(f"{w.field}: {w.code}" for w in c.warnings),
                c.created_at.isoformat(),
                c.updated_at.isoformat(),
            ]
        )
    return buffer.getvalue()


@router.get(
    "/customers",
    summary="Export every customer as JSON or CSV",
    responses={
        200: {
            "description": "The customers",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}}
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def export_customers(
    hub: UserHub,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
    trash: Annotated[bool, Query(description="Export the trash instead.")] = False,
) -> Response:
    items = hub.export_customers(trash=trash)
    name = "customers-trash" if trash else "customers"
    if format == "csv":
        return Response(
            customers_csv(items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    body = json.dumps([c.model_dump(mode="json") for c in items], ensure_ascii=False)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )
