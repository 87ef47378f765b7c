"""Keyset pagination cursors, shared by every list (customers, tickets, ...).

A cursor is the sort value and the ID of the last row of a page, as URL-safe base64 JSON. It is
opaque to users; a cursor that does not decode, or holds what no page of the list ends with (a
sort value of another type, a NUL, an ID past 64 bits), is a ``ValidationError`` on ``after``:
forged, it would otherwise reach the database as a value it cannot compare or store (a 500).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Literal

from customer_flow.core.errors import ValidationError
from customer_flow.core.times import aware

__all__ = ["SortValue", "decode_cursor", "encode_cursor"]

#: What a list sorts by: its ID (the cursor's value then goes unused), text, or a time.
SortValue = Literal["id", "text", "timestamp", "number"]
_MAX_ID = 2**63 - 1


def encode_cursor(value: Any, row_id: int) -> str:
    """The cursor that continues after the row with ``value`` (its sort key) and ``row_id``."""
    if isinstance(value, datetime):
        value = aware(value).isoformat()  # type: ignore[union-attr]
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: SortValue = "id") -> tuple[Any, int]:
    """The sort value and ID in ``cursor``, of a list sorted by ``sort`` (by ID: no value)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        if sort == "timestamp":
            value = aware(datetime.fromisoformat(value))
        elif sort == "text" and not (isinstance(value, str) and "\x00" not in value):
            raise TypeError("the sort value is not text (PostgreSQL's has no NUL)")
        elif sort == "number" and not _is_int(value):
            raise TypeError("the sort value is not a number")
        elif sort == "id":
            value = None
        if not (_is_int(row_id) and 0 < row_id <= _MAX_ID):
            raise ValueError("not an ID")
        return value, row_id
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationError(
            "after: not a cursor from this list", field="after", code="bad_cursor"
        ) from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
