"""Bulk actions on tickets: the versions the tickets stand at, read in bounded chunks.

A bulk action names up to ``MAX_BULK`` tickets. SQLite allows 32,766 bound parameters in a
statement (999 before 3.32), and PostgreSQL's planner slows with very long ``IN`` lists, so
the ticket IDs are read ``CHUNK`` at a time; on PostgreSQL the rows are locked as they are read
(``FOR UPDATE``), so that nobody changes them between the check and the change. The change
itself is made ticket by ticket by ``records`` (one audit entry each), in the Hub's one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from customer_flow.core.times import aware
from customer_flow.store.schema import tickets

__all__ = ["CHUNK", "Version", "chunks", "same_version", "versions"]

#: How many IDs one ``IN`` list binds.
CHUNK = 500


def chunks(ids: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    """``ids`` in lists of at most ``size``."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclass(frozen=True)
class Version:
    """What a bulk action checks a ticket against: its version and the values it may set."""

    updated_at: datetime
    assignee: str | None
    team: str | None
    priority: str


def versions(conn: Connection, ids: list[int]) -> dict[int, Version]:
    """Each existing ticket's version (``updated_at``) and current values, locked on
    PostgreSQL; a purged or unknown ID is missing from the answer."""
    found: dict[int, Version] = {}
    c = tickets.c
    for part in chunks(ids):
        stmt = select(c.id, c.updated_at, c.assignee, c.team, c.priority).where(c.id.in_(part))
        for row in conn.execute(stmt.with_for_update()):
            found[int(row.id)] = Version(
                updated_at=aware(row.updated_at),  # type: ignore[arg-type]
                assignee=row.assignee,
                team=row.team,
                priority=row.priority,
            )
    return found


def same_version(seen: datetime, stored: datetime) -> bool:
    """Whether the version a caller saw is the stored one (a naive time is taken as UTC)."""
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return seen == stored
