"""Keyset pagination cursors, shared by every list (customers, tickets, ...).

A cursor is the sort value and the ID of the last row of a page, as URL-safe base64 JSON. It is
opaque to users; a cursor that does not decode is a ``ValidationError`` on ``after``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from customer_flow.core.errors import ValidationError
from customer_flow.core.times import aware

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(value: Any, row_id: int) -> str:
    """The cursor that continues after the row with ``value`` (its sort key) and ``row_id``."""
    if isinstance(value, datetime):
        value = aware(value).isoformat()  # type: ignore[union-attr]
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, timestamp: bool = False) -> tuple[Any, int]:
    """The sort value and ID in ``cursor``; ``timestamp`` when the sort key is a datetime."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        if timestamp:
            value = aware(datetime.fromisoformat(value))
        return value, int(row_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationError(
            "after: not a cursor from this list", field="after", code="bad_cursor"
        ) from exc
