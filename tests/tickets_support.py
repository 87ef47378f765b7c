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


#: The agents every test hub has (issue 17: an assignee is a user who may work tickets).
AGENTS = ("ana", "bo", "bob")


def agent_key(name: str) -> str:
    """The assignee key (the lower-cased email) of an agent ``add_agent`` made."""
    return f"{name.lower().replace(' ', '.')}@team.example"


def add_agent(hub: Hub, name: str, *, role: str = "agent", active: bool = True) -> str:
    """A user named ``name`` with the email ``agent_key(name)``, written straight to the store
    (no password hashing: these users never log in). Returns the assignee key."""
    from sqlalchemy import update

    from customer_flow.store.schema import users as users_table
    from customer_flow.users import accounts
    from customer_flow.users.models import UserCreate

    new = UserCreate(email=agent_key(name), name=name, role=role, password="x" * 12)  # type: ignore[arg-type]
    with hub.store.write() as conn:
        user = accounts.create(conn, new, password_hash="-", actor="tester")
        if not active:
            conn.execute(
                update(users_table).where(users_table.c.id == user.id).values(active=False)
            )
    return agent_key(name)


def make_hub(
    db_url: str,
    tmp_path: Path,
    *,
    calendar: dict[str, Any] | None = None,
    types: dict[str, Any] | None = None,
    clock: Clock | None = None,
    agents: tuple[str, ...] = AGENTS,
    **settings: Any,
) -> Hub:
    """A Hub on ``db_url`` with the test ticket types loaded, one customer (ID 1) and the
    ``agents`` (named as given, emails from ``agent_key``)."""
    if calendar is not None:
        settings["calendar_file"] = write_json(tmp_path / "calendar.json", calendar)
    hub = Hub(Settings(database_url=db_url, actor="tester", **settings))
    for name in agents:
        add_agent(hub, name)
    hub.load_ticket_types(write_json(tmp_path / "types.json", types or TYPES))
    hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
    if clock is not None:
        hub.set_clock(clock)
    return hub
