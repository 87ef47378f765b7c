"""Every sort of the queue (issue 17, item 3) on SQLite and PostgreSQL: paged by keyset in
small pages, each ticket comes once, in the order of the column with ties broken by ID, both
ways; the SLA-state sort keeps its order across pages while the clock moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customer_flow.core.errors import ValidationError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import CommentCreate, TicketCreate, TicketQuery, TicketUpdate
from tickets_support import Clock, agent_key, make_hub, utc

STATUS = {"new": 0, "open": 1, "pending": 2, "resolved": 3, "closed": 4}
PRIORITY = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 11, 30, 9))


@pytest.fixture
def sh(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    hub = make_hub(db_url, tmp_path, clock=clock)
    for name in ("Zoe Zed", "Al Aa", "Mia Em"):
        hub.add_customer(CustomerCreate(name=name))
    subjects = ["b", "a", "c", "a", "b", "d", "a", "c", "e", "b", "a", "d"]
    for i, subject in enumerate(subjects):
        clock.advance(600)
        new = {
            "customer_id": 1 + i % 4, "type": ["support", "complaint", "idea", "chat"][i % 4],
            "subject": subject, "priority": ["low", "urgent", "normal", "high"][i % 3],
            "assignee": [None, "ana", "bo"][i % 3],
        }  # fmt: skip
        tid = hub.open_ticket(TicketCreate.model_validate(new)).id
        if i % 5 == 1:
            hub.set_ticket_status(tid, "pending")
        if i % 4 == 2:
            hub.add_comment(tid, CommentCreate(body="hi"))
        if i % 6 == 3:
            hub.update_ticket(tid, TicketUpdate(subject=subject.upper()))
    clock.advance(3 * 3600)  # some first replies now at risk or breached
    yield hub
    hub.close()


def walk(hub: Hub, sort: str, limit: int = 5) -> list[Any]:
    seen: list[Any] = []
    after = None
    while True:
        page = hub.list_tickets(TicketQuery(sort=sort, limit=limit, after=after))  # type: ignore[arg-type]
        seen.extend(page.items)
        if not page.next:
            return seen
        after = page.next


SLA = {"breached": 0, "at_risk": 1, "on_track": 2}


def key(sort: str, t: Any) -> Any:
    name = sort.lstrip("-")
    return {
        "due": lambda: t.sla.next_due_at or utc(9999, 12, 31),
        "created": lambda: t.created_at,
        "updated": lambda: t.updated_at,
        "subject": lambda: t.subject,
        "customer": lambda: t.customer_name,
        "assignee": lambda: t.assignee or "",
        "status": lambda: STATUS[t.status],
        "priority": lambda: PRIORITY[t.priority],
        "sla": lambda: SLA.get(t.sla.state, 3),
    }[name]()


SORTS = ["customer", "subject", "status", "priority", "assignee", "sla", "created", "updated"]


@pytest.mark.parametrize("sort", [*SORTS, *(f"-{s}" for s in SORTS)])
def test_every_sort_pages_by_keyset(sh: Hub, sort: str) -> None:
    everything = walk(sh, "id", limit=100)
    got = walk(sh, sort)
    assert sorted(t.id for t in everything) == sorted(t.id for t in got)  # each once
    expected = sorted(everything, key=lambda t: (key(sort, t), t.id), reverse=sort[0] == "-")
    assert [t.id for t in expected] == [t.id for t in got]


def test_due_sort_still_pages(sh: Hub) -> None:
    """The paused (pending) tickets come last, both ways round they are each listed once."""
    assert len(walk(sh, "due")) == len(walk(sh, "-due")) == len(walk(sh, "id", limit=100))


def test_the_sla_sort_holds_across_pages_while_the_clock_moves(sh: Hub, clock: Clock) -> None:
    first = sh.list_tickets(TicketQuery(sort="sla", limit=4))
    clock.advance(5 * 3600)  # states move on between pages
    rest: list[int] = []
    after = first.next
    while after:
        page = sh.list_tickets(TicketQuery(sort="sla", limit=4, after=after))
        rest.extend(t.id for t in page.items)
        after = page.next
    ids = [t.id for t in first.items] + rest
    assert sorted(ids) == sorted(t.id for t in walk(sh, "id", limit=100))


def test_a_cursor_of_another_sort_is_refused(sh: Hub) -> None:
    cursor = sh.list_tickets(TicketQuery(sort="subject", limit=2)).next
    with pytest.raises(ValidationError, match="not a cursor"):
        sh.list_tickets(TicketQuery(sort="priority", limit=2, after=cursor))
    assert agent_key("ana")
