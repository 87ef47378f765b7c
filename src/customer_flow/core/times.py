"""Instants: everything stored is UTC, and every datetime the app hands on is timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware", "now"]


def now() -> datetime:
    """The current time, timezone-aware UTC: the one clock every record is stamped with."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """Mark a naive datetime as UTC: SQLite hands back naive ones, and everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
