"""Agents' notifications by email: each user's choices, and a record of every one sent, unique
per user and event, so that none goes out twice (a retried job, two workers)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, delete, select

from customer_flow.store.schema import notification_settings, notifications_sent

__all__ = ["DEFAULTS", "EVENTS", "Event", "claim", "enabled_for", "set_choices", "wanted_by"]

Event = Literal["new_ticket", "assigned", "customer_replied", "sla_at_risk", "sla_breached"]
#: Each event and whether a user gets it before choosing.
DEFAULTS: dict[str, bool] = {
    "new_ticket": False,
    "assigned": True,
    "customer_replied": True,
    "sla_at_risk": False,
    "sla_breached": True,
}
EVENTS = tuple(DEFAULTS)


def enabled_for(conn: Connection, user_id: int) -> dict[str, bool]:
    """A user's choices, every event named (the default where they chose nothing)."""
    rows = conn.execute(
        select(notification_settings.c.event, notification_settings.c.enabled).where(
            notification_settings.c.user_id == user_id
        )
    )
    chosen = {r.event: bool(r.enabled) for r in rows if r.event in DEFAULTS}
    return {event: chosen.get(event, default) for event, default in DEFAULTS.items()}


def set_choices(conn: Connection, user_id: int, choices: dict[str, bool]) -> dict[str, bool]:
    for event, enabled in choices.items():
        conn.execute(
            delete(notification_settings).where(
                notification_settings.c.user_id == user_id,
                notification_settings.c.event == event,
            )
        )
        conn.execute(
            notification_settings.insert().values(user_id=user_id, event=event, enabled=enabled)
        )
    return enabled_for(conn, user_id)


def wanted_by(conn: Connection, user_ids: list[int], event: str) -> list[int]:
    """Which of ``user_ids`` want ``event``."""
    return [u for u in user_ids if enabled_for(conn, u)[event]]


def claim(conn: Connection, user_id: int, event_key: str, now: datetime) -> bool:
    """Record that ``user_id`` is told of ``event_key``; False when they were already."""
    found = conn.execute(
        select(notifications_sent.c.id).where(
            notifications_sent.c.user_id == user_id,
            notifications_sent.c.event_key == event_key[:200],
        )
    ).first()
    if found is not None:
        return False
    conn.execute(
        notifications_sent.insert().values(
            user_id=user_id, event_key=event_key[:200], created_at=now
        )
    )
    return True
