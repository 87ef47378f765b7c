"""Helpers shared by the ticket tests: a ticket types file, calendars and a movable clock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub

H = 3600

TYPES: dict[str, Any] = {
    "support": {
        "name": "Support",
        "default_priority": "normal",
        "sla": {"first_response": "4h", "resolution": "8h"},
    },
    "complaint": {
        "name": "Complaint",
        "default_priority": "urgent",
        "sla": {"first_response": "1h", "resolution": "1d"},
    },
    "idea": {"name": "Idea", "default_priority": "low", "sla": {"first_response": "2d"}},
    "chat": "A chat with no SLA",
    "rich": {
        "name": "Rich",
        "fields": {
            "product": {"type": "choice", "choices": ["web", "api"], "required": True},
            "count": {"type": "integer"},
            "amount": {"type": "number"},
            "urgent": {"type": "boolean"},
            "since": {"type": "date"},
            "version": {"type": "string"},
        },
    },
}

OFFICE = {
    "timezone": "UTC",
    "working_hours": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@dataclass
class Clock:
    """A clock the tests move by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def make_hub(
    db_url: str,
    tmp_path: Path,
    *,
    calendar: dict[str, Any] | None = None,
    types: dict[str, Any] | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> Hub:
    """A Hub on ``db_url`` with the test ticket types loaded and one customer (ID 1)."""
    if calendar is not None:
        settings["calendar_file"] = write_json(tmp_path / "calendar.json", calendar)
    hub = Hub(Settings(database_url=db_url, actor="tester", **settings))
    hub.load_ticket_types(write_json(tmp_path / "types.json", types or TYPES))
    hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
    if clock is not None:
        hub.set_clock(clock)
    return hub
