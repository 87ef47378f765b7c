"""The queue for triage (issue 17) on SQLite and PostgreSQL: the saved views ("My tickets",
"Unassigned", "At risk or breached", "My team") combine with the filters and keep keyset
paging; every row names its customer and its next due time, and which target that is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.teams.models import TeamCreate
from customer_flow.tickets.models import CommentCreate, TicketCreate, TicketQuery
from tickets_support import Clock, agent_key, make_hub, utc


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 11, 30, 9))


@pytest.fixture
def vh(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    """Customer 1 "Ana Lima", customer 2 "Bo Li"; team "desk" (ana, none) and "l2" (bo)."""
    hub = make_hub(db_url, tmp_path, clock=clock)
    hub.add_customer(CustomerCreate(name="Bo Li", email="bo@li.pt"))
    hub.add_team(TeamCreate(key="desk", assignment="none"))
    hub.add_team_member("desk", "ana")
    hub.add_team(TeamCreate(key="l2", assignment="none"))
    hub.add_team_member("l2", "bo")
    yield hub
    hub.close()


def opened(hub: Hub, **kw: Any) -> int:
    new = {"customer_id": 1, "type": "support", "subject": "s", **kw}
    return hub.open_ticket(TicketCreate.model_validate(new)).id


def ids(hub: Hub, **query: Any) -> list[int]:
    return [t.id for t in hub.list_tickets(TicketQuery.model_validate(query)).items]


class TestViews:
    def test_my_tickets_is_the_acting_users(self, vh: Hub) -> None:
        """ "mine" is the acting user's tickets: the web's signed-in email, or the name the
        CLI's actor gives; an actor who is no user has none."""
        a = opened(vh, assignee="ana")
        opened(vh, assignee="bo")
        assert [a] == ids(vh.as_actor(agent_key("ana"), "agent"), view="mine")
        assert [a] == ids(vh.as_actor("ana", "agent"), view="mine")
        assert [] == ids(vh.as_actor("nobody", "agent"), view="mine")

    def test_unassigned_and_my_team_and_at_risk(self, vh: Hub, clock: Clock) -> None:
        """Each view narrows the open queue; they combine with other filters."""
        free = opened(vh)
        desk = opened(vh, team="desk")
        l2 = opened(vh, team="l2", customer_id=2)
        assert [free, desk, l2] == ids(vh, view="unassigned")
        ana = vh.as_actor(agent_key("ana"), "agent")
        assert [desk] == ids(ana, view="my_team")
        assert [] == ids(vh.as_actor("vic", "viewer"), view="my_team")
        assert [l2] == ids(vh, view="unassigned", customer_id=2)
        clock.advance(3.5 * 3600)  # support: first reply due in 4h, at risk after 3h
        late = opened(vh)
        assert [free, desk, l2] == ids(vh, view="at_risk")
        clock.advance(3600)  # the first three are now breached; the new one on track
        assert [free, desk, l2] == ids(vh, view="at_risk", sort="due")
        assert late not in ids(vh, view="at_risk")

    def test_views_page_by_keyset(self, vh: Hub) -> None:
        """A view pages like any filter: every ticket once, in order."""
        made = [opened(vh, team="desk") for _ in range(5)]
        ana = vh.as_actor(agent_key("ana"), "agent")
        seen: list[int] = []
        after = None
        while True:
            page = ana.list_tickets(TicketQuery(view="my_team", limit=2, after=after))
            seen += [t.id for t in page.items]
            if page.next is None:
                break
            after = page.next
        assert made == seen


class TestTriageColumns:
    def test_customer_name_and_the_next_due_target(self, vh: Hub, clock: Clock) -> None:
        """The first reply falls due first (4h < 8h), then, once replied to, the resolution;
        the list names the customer."""
        tid = opened(vh, customer_id=2)
        [t] = vh.list_tickets().items
        assert ("Bo Li", "first_response") == (t.customer_name, t.sla.next_due)
        assert t.sla.first_response.due_at == t.sla.next_due_at
        clock.advance(600)
        vh.add_comment(tid, CommentCreate(body="on it"))
        [t] = vh.list_tickets().items
        assert ("resolution", t.sla.resolution.due_at) == (t.sla.next_due, t.sla.next_due_at)

    def test_no_target_no_next_due(self, vh: Hub) -> None:
        opened(vh, type="chat")
        [t] = vh.list_tickets().items
        assert (None, None) == (t.sla.next_due, t.sla.next_due_at)
