"""The audit log: every change to data writes one entry, in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from customer_flow.core.models import AuditEntry
from customer_flow.core.times import aware, now
from customer_flow.store.schema import audit_log

__all__ = ["aware", "history", "now", "record"]


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    note: str | None = None,
    at: datetime | None = None,
) -> None:
    """Write one audit entry on ``conn``, inside the caller's transaction."""
    conn.execute(
        audit_log.insert().values(
            at=at or now(),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
            note=note,
        )
    )


def history(conn: Connection, entity: str, entity_id: str | int) -> list[AuditEntry]:
    """Every entry for one record, oldest first."""
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.entity == entity, audit_log.c.entity_id == str(entity_id))
        .order_by(audit_log.c.id)
    ).mappings()
    return [AuditEntry.model_validate({**r, "at": aware(r["at"])}) for r in rows]
