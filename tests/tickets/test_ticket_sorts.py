"""Every sort of the queue (issue 17, item 3) on SQLite and PostgreSQL: paged by keyset in
small pages, each ticket comes once, in the order of the column with ties broken by ID, both
ways; the SLA-state sort keeps its order across pages while the clock moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from customer_flow.core.errors import ValidationError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.store.schema import tickets
from customer_flow.tickets.models import (
    CommentCreate,
    TicketBulk,
    TicketCreate,
    TicketQuery,
    TicketUpdate,
)
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


def ranks_hold(hub: Hub) -> int:
    """Every ticket's rank columns agree with its status, priority and assignee."""
    c = tickets.c
    with hub.store.read() as conn:
        rows = conn.execute(
            select(c.status, c.priority, c.assignee, c.status_rank, c.priority_rank,
                   c.assignee_key)
        ).all()  # fmt: skip
    for r in rows:
        expected = (STATUS[r.status], PRIORITY[r.priority], r.assignee or "")
        assert expected == (r.status_rank, r.priority_rank, r.assignee_key), r
    return len(rows)


def test_the_rank_columns_follow_every_write(sh: Hub, clock: Clock) -> None:
    """Open, update, move through the lifecycle, assign and unassign, each bulk action, a
    customer merge (which moves tickets): the rank sorts' columns always say the row's
    values, and the sorts list the tickets by them."""
    assert 12 == ranks_hold(sh)
    sh.update_ticket(1, TicketUpdate(priority="urgent"))
    sh.set_ticket_status(2, "open")
    sh.set_ticket_status(3, "resolved")
    sh.set_ticket_status(3, "open")  # reopened
    sh.assign_ticket(4, "bo")
    sh.assign_ticket(5, None)
    sh.close_ticket(6)
    ranks_hold(sh)
    for change in [
        {"action": "assign", "assignee": "ana"},
        {"action": "priority", "priority": "low"},
        {"action": "status", "status": "pending"},
        {"action": "close"},
    ]:
        clock.advance(60)
        items = [{"id": i} for i in (7, 8, 9)]
        done = sh.bulk_tickets(TicketBulk.model_validate({"tickets": items, **change}))
        assert done.changed and not {7, 8, 9} - {*done.changed, *(s.id for s in done.skipped)}
        ranks_hold(sh)
    other = sh.add_customer(CustomerCreate(name="Ana Lima Two")).id
    new = {"customer_id": other, "type": "support", "subject": "m", "priority": "high"}
    sh.open_ticket(TicketCreate.model_validate(new))
    sh.merge_customers(1, [other])
    assert 13 == ranks_hold(sh)
    assert "urgent" == sh.list_tickets(TicketQuery(sort="priority", limit=1)).items[0].priority


def _page_statement(hub: Hub, query: TicketQuery) -> tuple[str, Any]:
    """The SQL ``list_tickets`` runs for ``query``'s page (not the customers' names)."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(hub.store.engine, "before_cursor_execute", record)
    try:
        hub.list_tickets(query)
    finally:
        event.remove(hub.store.engine, "before_cursor_execute", record)
    return next((s, p) for s, p in seen if "FROM tickets" in s and "LIMIT" in s)


@pytest.mark.parametrize("sort", ["status", "-status", "priority", "-priority", "assignee",
                                  "-assignee"])  # fmt: skip
def test_the_rank_sorts_walk_their_index(sh: Hub, sort: str) -> None:
    """A page of the open queue by status, priority or assignee, first or from a cursor, is a
    range of that sort's index in its order: no sort of the whole open queue. (PostgreSQL is
    told not to sort or scan the table where it can help it, as at scale it would choose.)"""
    column = {"status": "status_rank", "priority": "priority_rank", "assignee": "assignee_key"}
    index = f"ix_tickets_is_open_{column[sort.lstrip('-')]}_id"
    cursor = sh.list_tickets(TicketQuery(sort=sort, limit=2)).next  # type: ignore[arg-type]
    for after in (None, cursor):
        sql, params = _page_statement(sh, TicketQuery(sort=sort, limit=2, after=after))  # type: ignore[arg-type]
        with sh.store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
                plan = " | ".join(str(r[3]) for r in rows)
                assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                conn.exec_driver_sql("SET enable_sort = off")
                rows = conn.exec_driver_sql("EXPLAIN " + sql, params).all()
                plan = " | ".join(str(r[0]) for r in rows)
                assert index in plan and "Sort" not in plan, plan


def test_the_sla_sort_reads_one_rank_at_a_time(sh: Hub) -> None:
    """The SLA sort's first page, breached first, comes from the breached tickets by ID (the
    open queue's index in order), not from a sort of every open ticket by a CASE."""
    sql, params = _page_statement(sh, TicketQuery(sort="sla", limit=2))
    assert "CASE" not in sql
    with sh.store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            plan = " | ".join(str(r[3]) for r in rows)
            assert "TEMP B-TREE" not in plan, plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_sort = off")
            plan = " | ".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
            assert "Sort" not in plan, plan


@pytest.mark.parametrize(
    "query",
    [
        TicketQuery(sla="at_risk", sort="-id"),
        TicketQuery(sla="on_track", sort="due"),
        TicketQuery(sla="at_risk", status=["new", "open"]),
        TicketQuery(sort="-sla", limit=2),  # its first rank: no running target
    ],
)
def test_sqlite_tests_the_sla_state_on_the_open_tickets_index(sh: Hub, query: TicketQuery) -> None:
    """The at-risk and on-track filters, and the SLA sort past the breached tickets, read
    the open tickets not yet due from ix_tickets_open_sla (which holds every column their
    state is computed from), not each one's row from the table."""
    if sh.store.dialect != "sqlite":
        pytest.skip("PostgreSQL chooses by its statistics")
    sql, params = _page_statement(sh, query)
    assert "INDEXED BY ix_tickets_open_sla" in sql
    with sh.store.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    plan = " | ".join(str(r[3]) for r in rows)
    assert "USING INDEX ix_tickets_open_sla" in plan, plan


def test_a_closed_status_leaves_the_open_tickets_index_alone(sh: Hub) -> None:
    """Every status, or one status: no "is_open" in the query, so the partial index cannot
    serve it and is not named (SQLite would refuse the query)."""
    for query in [
        TicketQuery(sla="at_risk", all_statuses=True),
        TicketQuery(sla="on_track", status=["open"]),
        TicketQuery(sort="-sla", all_statuses=True),
    ]:
        sql, _ = _page_statement(sh, query)
        assert "INDEXED BY" not in sql
        sh.list_tickets(query)


def test_the_due_walk_leaves_the_connection_as_it_was(sh: Hub, clock: Clock) -> None:
    """At-risk or on-track tickets by due time: PostgreSQL's bitmap scans are off for that one
    statement only; the pooled connection has them back on after it, the page is right."""
    from customer_flow.tickets import queue

    expected = sorted(
        (t for t in walk(sh, "id", limit=100) if t.sla.state == "on_track"),
        key=lambda t: (t.sla.next_due_at or utc(9999, 12, 31), t.id),
    )
    with sh.store.read() as conn:
        page = queue.list_tickets(
            conn, TicketQuery(sla="on_track", sort="due"), sh.sla_policy, clock()
        )
        if conn.dialect.name == "postgresql":
            assert "on" == conn.exec_driver_sql("SHOW enable_bitmapscan").scalar_one()
    assert expected and [t.id for t in expected] == [t.id for t in page.items]
