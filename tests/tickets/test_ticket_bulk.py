"""Bulk actions (issue 17, item 5) on SQLite and PostgreSQL: one transaction, one timeline
entry per ticket changed; a ticket changed meanwhile is skipped, never overwritten; a value
wrong for all refuses the whole action; 5,000 tickets in one action."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_flow.core.errors import PermissionDeniedError, ValidationError
from customer_flow.hub import Hub
from customer_flow.store.schema import audit_log, tickets
from customer_flow.teams.models import TeamCreate
from customer_flow.tickets.bulk import CHUNK
from customer_flow.tickets.models import TicketBulk, TicketCreate, TicketUpdate
from tickets_support import Clock, add_agent, agent_key, make_hub, utc


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 11, 30, 9))


@pytest.fixture
def bh(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    hub = make_hub(db_url, tmp_path, clock=clock)
    yield hub
    hub.close()


def opened(hub: Hub, **kw: Any) -> int:
    new = {"customer_id": 1, "type": "support", "subject": "s", **kw}
    return hub.open_ticket(TicketCreate.model_validate(new)).id


def bulk(hub: Hub, ids: list[int], **kw: Any) -> Any:
    return hub.bulk_tickets(TicketBulk.model_validate({"tickets": [{"id": i} for i in ids], **kw}))


def entries(hub: Hub, action: str) -> int:
    with hub.store.read() as conn:
        return int(conn.execute(
            select(func.count()).select_from(audit_log).where(
                audit_log.c.entity == "ticket", audit_log.c.action == action
            )
        ).scalar_one())  # fmt: skip


class TestBulk:
    def test_each_action_changes_every_ticket_with_one_entry_each(
        self, bh: Hub, clock: Clock
    ) -> None:
        """Assign, status, priority and close: every ticket changes, one entry each."""
        made = [opened(bh) for _ in range(3)]
        clock.advance(60)
        done = bulk(bh, made, action="assign", assignee="ana")
        assert made == done.changed and [] == done.skipped
        assert 3 == entries(bh, "assign")
        assert {agent_key("ana")} == {bh.get_ticket(i).assignee for i in made}
        assert made == bulk(bh, made, action="status", status="pending").changed
        assert {"pending"} == {bh.get_ticket(i).status for i in made}
        assert made == bulk(bh, made, action="priority", priority="urgent").changed
        assert {"urgent"} == {bh.get_ticket(i).priority for i in made}
        assert 3 == entries(bh, "update")
        assert made == bulk(bh, made, action="close", note="spring clean").changed
        assert {"closed"} == {bh.get_ticket(i).status for i in made}

    def test_tickets_the_change_does_not_fit_are_skipped_and_reported(self, bh: Hub) -> None:
        """Already closed, already so, or gone: skipped with a reason; the others change."""
        a, b, c = opened(bh), opened(bh), opened(bh)
        bh.close_ticket(b)
        bh.update_ticket(c, TicketUpdate(priority="high"))
        done = bulk(bh, [a, b, 999_999], action="close")
        assert [a] == done.changed
        assert {b: "status_unchanged", 999_999: "ticket_not_found"} == {
            s.id: s.code for s in done.skipped
        }
        assert [] == bulk(bh, [c], action="priority", priority="high").changed

    def test_a_ticket_changed_meanwhile_is_skipped_not_overwritten(
        self, bh: Hub, clock: Clock
    ) -> None:
        """The version the agent saw no longer matches: that ticket keeps the other's change."""
        a, b = opened(bh), opened(bh)
        seen = {i: bh.get_ticket(i).updated_at for i in (a, b)}
        clock.advance(30)
        bh.as_actor(agent_key("bo"), "agent").assign_ticket(b, "bo")  # meanwhile
        clock.advance(30)
        done = bh.bulk_tickets(TicketBulk.model_validate({
            "action": "assign", "assignee": "ana",
            "tickets": [{"id": i, "updated_at": seen[i].isoformat()} for i in (a, b)],
        }))  # fmt: skip
        assert [a] == done.changed
        assert [(b, "changed_meanwhile")] == [(s.id, s.code) for s in done.skipped]
        assert agent_key("bo") == bh.get_ticket(b).assignee

    @pytest.mark.parametrize(
        ("who", "code"),
        [
            ("ghost", "assignee_unknown"),
            ("viewer", "assignee_not_agent"),
            ("gone", "assignee_disabled"),
        ],
    )
    def test_an_agent_who_cannot_work_tickets_refuses_the_whole_action(
        self, bh: Hub, who: str, code: str
    ) -> None:
        """A viewer, a disabled user or an unknown name: 422, and no ticket changes."""
        add_agent(bh, "viewer", role="viewer")
        add_agent(bh, "gone", active=False)
        made = [opened(bh) for _ in range(2)]
        with pytest.raises(ValidationError) as caught:
            bulk(bh, made, action="assign", assignee=who)
        assert (caught.value.field, caught.value.code) == ("assignee", code)
        assert {None} == {bh.get_ticket(i).assignee for i in made}
        assert 0 == entries(bh, "assign")

    def test_a_team_with_no_agents_refuses_the_whole_action(self, bh: Hub) -> None:
        bh.add_team(TeamCreate(key="empty", assignment="round_robin"))
        made = [opened(bh) for _ in range(2)]
        with pytest.raises(ValidationError, match="no active agents"):
            bulk(bh, made, action="assign", team="empty")
        assert {None} == {bh.get_ticket(i).team for i in made}

    def test_a_round_robin_team_shares_the_tickets_out(self, bh: Hub) -> None:
        bh.add_team(TeamCreate(key="desk", assignment="round_robin"))
        bh.add_team_member("desk", "ana")
        bh.add_team_member("desk", "bo")
        made = [opened(bh) for _ in range(4)]
        assert made == bulk(bh, made, action="assign", team="desk").changed
        held = [bh.get_ticket(i).assignee for i in made]
        assert 2 == held.count(agent_key("ana")) == held.count(agent_key("bo"))

    def test_a_viewer_may_not(self, bh: Hub) -> None:
        made = [opened(bh)]
        with pytest.raises(PermissionDeniedError):
            bulk(bh.as_actor("vic", "viewer"), made, action="close")

    def test_status_needs_a_status(self, bh: Hub) -> None:
        with pytest.raises(ValidationError, match="status"):
            bulk(bh, [opened(bh)], action="status")

    def test_more_tickets_than_one_in_list_binds_in_one_action(self, bh: Hub, clock: Clock) -> None:
        """More IDs than old SQLite binds at once (999) and than one ``IN`` list takes: three
        chunks, the last one partial; all change, one entry each. (It had 5,000 tickets, ten
        chunks: the same checks, 20 s on SQLite and 90 s on a busy PostgreSQL.)"""
        n = 2 * CHUNK + 1
        assert n > 999
        first = opened(bh)
        with bh.store.write() as conn:
            row = dict(conn.execute(select(tickets).where(tickets.c.id == first)).mappings().one())
            for generated in ("id", "status_rank", "priority_rank", "assignee_key"):
                row.pop(generated)
            conn.execute(tickets.insert(), [dict(row) for _ in range(n - 1)])
            made = [
                int(i) for i in conn.execute(select(tickets.c.id).order_by(tickets.c.id)).scalars()
            ]
        assert n == len(made)
        clock.advance(60)
        done = bulk(bh, made, action="priority", priority="high")
        assert n == len(done.changed) and [] == done.skipped
        assert n == entries(bh, "update")
        with bh.store.read() as conn:
            assert {"high"} == set(conn.execute(select(tickets.c.priority)).scalars())
