"""The ticket queue through the Hub on both databases: filters and keyset pagination."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_flow.core.errors import ValidationError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate, TicketQuery
from tickets_support import Clock, make_hub, utc


@pytest.fixture
def qh(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    """Ten tickets of two customers, several types, priorities, assignees and statuses."""
    clock = Clock(utc(2026, 11, 30, 9))
    hub = make_hub(db_url, tmp_path, clock=clock)
    hub.add_customer(CustomerCreate(name="Bo Li", email="bo@li.pt"))
    rows = [
        # customer, type, priority, assignee, subject, description, status
        (1, "support", "normal", "ana", "Login fails", "", "new"),
        (1, "support", "high", "bo", "Password reset", "The LOGIN link is broken", "open"),
        (2, "complaint", None, None, "Rude reply", "", "pending"),
        (2, "idea", None, "ana", "Dark mode", "", "resolved"),
        (1, "chat", "low", None, "Hello 100%_done", "", "closed"),
        (2, "support", "urgent", "bo", "Invoice wrong", "", "open"),
        (1, "idea", None, None, "Export to CSV", "", "new"),
        (2, "support", "normal", "ana", "Slow pages", "", "open"),
        (1, "complaint", None, "bo", "Late delivery", "", "closed"),
        (2, "chat", None, None, "Quick question", "", "new"),
    ]
    for customer, kind, priority, assignee, subject, description, status in rows:
        t = hub.open_ticket(
            TicketCreate(
                customer_id=customer,
                type=kind,
                priority=priority,  # type: ignore[arg-type]
                assignee=assignee,
                subject=subject,
                description=description,
            )
        )
        if status != "new":
            hub.set_ticket_status(t.id, status)
        clock.advance(60)
    yield hub
    hub.close()


def ids(hub: Hub, **query: object) -> list[int]:
    return [t.id for t in hub.list_tickets(TicketQuery.model_validate(query)).items]


class TestFilters:
    def test_default_is_the_open_queue(self, qh: Hub) -> None:
        """With no status the queue holds new, open and pending tickets, oldest first."""
        assert ids(qh) == [1, 2, 3, 6, 7, 8, 10]

    def test_all_and_status(self, qh: Hub) -> None:
        """--all lists every status; a status list narrows it."""
        assert list(range(1, 11)) == ids(qh, all_statuses=True)
        assert ids(qh, status=["closed"]) == [5, 9]
        assert ids(qh, status=["pending", "resolved"]) == [3, 4]
        assert ids(qh, status=["new", "pending"]) == [1, 3, 7, 10]

    def test_customer_type_priority(self, qh: Hub) -> None:
        """Customer, type and priority filters, alone and together."""
        assert ids(qh, customer_id=1) == [1, 2, 7]
        assert ids(qh, type="support") == [1, 2, 6, 8]
        assert ids(qh, priority=["urgent"]) == [3, 6]
        assert ids(qh, priority=["urgent", "high"]) == [2, 3, 6]
        assert ids(qh, customer_id=2, type="support", priority=["normal"]) == [8]

    def test_assignee(self, qh: Hub) -> None:
        """By assignee, or unassigned."""
        assert ids(qh, assignee="ana") == [1, 8]
        assert ids(qh, unassigned=True) == [3, 7, 10]
        assert ids(qh, assignee="nobody") == []

    def test_text_in_subject_or_description(self, qh: Hub) -> None:
        """Search ignores case and looks in both subject and description."""
        assert ids(qh, search="login") == [1, 2]
        assert ids(qh, search="100%_", all_statuses=True) == [5]
        assert ids(qh, search="100%x", all_statuses=True) == []

    def test_unknown_type_or_cursor(self, qh: Hub) -> None:
        """A cursor not from this list is refused."""
        with pytest.raises(ValidationError, match="after: not a cursor"):
            qh.list_tickets(TicketQuery(after="garbage!"))

    @pytest.mark.parametrize(
        ("sort", "value", "row_id"),
        [("id", None, 2**64), ("-id", None, 1.5), ("due", None, 1), ("due", 7, 1)],
    )
    def test_a_forged_cursor_is_refused(
        self, qh: Hub, sort: str, value: object, row_id: object
    ) -> None:
        forged = base64.urlsafe_b64encode(json.dumps([value, row_id]).encode()).decode()
        with pytest.raises(ValidationError, match="after: not a cursor"):
            qh.list_tickets(TicketQuery(sort=sort, after=forged))  # type: ignore[arg-type]


class TestPagination:
    @pytest.mark.parametrize("sort", ["id", "-id", "due"])
    def test_pages_cover_everything_once_in_order(self, qh: Hub, sort: str) -> None:
        """Walking pages of 3 visits every ticket once, in the same order as one big page."""
        whole = qh.list_tickets(TicketQuery(all_statuses=True, sort=sort, limit=100)).items  # type: ignore[arg-type]
        seen: list[int] = []
        after = None
        while True:
            page = qh.list_tickets(
                TicketQuery(all_statuses=True, sort=sort, limit=3, after=after)  # type: ignore[arg-type]
            )
            seen += [t.id for t in page.items]
            if page.next is None:
                break
            after = page.next
        assert [t.id for t in whole] == seen
        assert len(set(seen)) == 10

    def test_due_sort_puts_the_most_urgent_first(self, qh: Hub) -> None:
        """The due sort orders by the next running due time; tickets with none, or paused,
        come last. Ticket 1 (first response 4h, opened 09:00) is due first, at 13:00."""
        items = qh.list_tickets(TicketQuery(sort="due")).items
        dues = []
        for t in items:
            fr, res = t.sla.first_response, t.sla.resolution
            due = fr.due_at if fr.due_at and fr.met_at is None else res.due_at
            dues.append(None if t.sla.paused else due)
        assert (1, utc(2026, 11, 30, 13, 0)) == (items[0].id, dues[0])
        running = [d for d in dues if d is not None]
        assert sorted(running) == running
        assert dues[len(running) :] == [None, None]
        # The pending complaint, then the chat (no target), by ID.
        assert [t.id for t in items[len(running) :]] == [3, 10]
