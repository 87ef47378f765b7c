"""Merging customers moves their tickets to the survivor; unmerging moves exactly those back."""

from __future__ import annotations

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate, TicketUpdate


@pytest.fixture
def pair(hub: Hub) -> tuple[int, int]:
    hub.init()
    keep = hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
    other = hub.add_customer(
        CustomerCreate(name="Lima, Ana", email="ana.lima@work.io"), allow_duplicate=True
    )
    return keep.id, other.id


class TestMergeMovesTickets:
    def test_the_survivor_gets_the_tickets_and_unmerge_gives_them_back(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        keep, other = pair
        mine = hub.open_ticket(TicketCreate(customer_id=keep, type="question", subject="Mine"))
        theirs = hub.open_ticket(TicketCreate(customer_id=other, type="question", subject="Theirs"))
        result = hub.merge_customers(keep, [other])
        assert (keep, keep) == (
            hub.get_ticket(mine.id).customer_id,
            hub.get_ticket(theirs.id).customer_id,
        )
        moved = [e for e in hub.ticket_history(theirs.id) if e.action == "move"]
        assert [({"customer_id": other}, {"customer_id": keep}, "tester")] == [
            (e.before, e.after, e.actor) for e in moved
        ]
        hub.unmerge_customers(result.merge.id)
        assert (keep, other) == (
            hub.get_ticket(mine.id).customer_id,
            hub.get_ticket(theirs.id).customer_id,
        )

    def test_a_ticket_opened_on_the_survivor_after_the_merge_stays(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        keep, other = pair
        hub.open_ticket(TicketCreate(customer_id=other, type="question", subject="Before"))
        result = hub.merge_customers(keep, [other])
        later = hub.open_ticket(TicketCreate(customer_id=keep, type="question", subject="After"))
        hub.unmerge_customers(result.merge.id)
        assert keep == hub.get_ticket(later.id).customer_id

    def test_unmerge_gives_an_untouched_ticket_its_updated_at_back(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        keep, other = pair
        theirs = hub.open_ticket(TicketCreate(customer_id=other, type="question", subject="Theirs"))
        before = hub.get_ticket(theirs.id).updated_at
        result = hub.merge_customers(keep, [other])
        assert before != hub.get_ticket(theirs.id).updated_at
        hub.unmerge_customers(result.merge.id)
        assert before == hub.get_ticket(theirs.id).updated_at

    def test_a_ticket_changed_after_the_merge_keeps_that_change_s_time(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        keep, other = pair
        theirs = hub.open_ticket(TicketCreate(customer_id=other, type="question", subject="Theirs"))
        before = hub.get_ticket(theirs.id).updated_at
        result = hub.merge_customers(keep, [other])
        hub.update_ticket(theirs.id, TicketUpdate(subject="Changed after the merge"))
        changed = hub.get_ticket(theirs.id).updated_at
        hub.unmerge_customers(result.merge.id)
        after = hub.get_ticket(theirs.id)
        assert (other, "Changed after the merge") == (after.customer_id, after.subject)
        assert before != after.updated_at and changed <= after.updated_at
