"""The ticket queue: filtered, keyset-paginated lists of tickets, fast at a million rows.

Every filter is a plain SQL condition, the SLA state included: due and at-risk instants are
columns, so "breached" is ``due < coalesce(met_at, paused_at, now)``, the same rule
``sla.target_state`` applies in Python. Pages are cut by keyset (``WHERE (key, id) > cursor``),
never by OFFSET, so page 1,000 costs what page 1 costs. The indexes that serve each filter are
declared with the ``tickets`` table in ``schema.py``:

- the open queue by ID or by due time: ``(is_open, id)``, ``(is_open, queue_due_at, id)``;
- one customer's tickets: ``(customer_id, id)``;
- by type, assignee, team or priority within the open queue: ``(<column>, is_open, id)``;
- by status: ``(status, id)``;
- the open queue sorted by status, priority or assignee: ``(is_open, <rank>, id)`` on the
  columns the database computes from the row (``status_rank``, ``priority_rank``,
  ``assignee_key``), so no write has to keep them.

The SLA state depends on the time, so it cannot be a column: the SLA sort reads one state at a
time (``_sla_rows``), each a condition an index serves, by ID within it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)

from customer_flow.core.errors import ValidationError
from customer_flow.core.models import Page
from customer_flow.core.paging import SortValue, decode_cursor, encode_cursor
from customer_flow.customers import records as customers
from customer_flow.store.schema import OPEN_STATUSES, tickets
from customer_flow.store.schema import customers as customers_table
from customer_flow.tickets import calendar as sla
from customer_flow.tickets.models import Ticket, TicketQuery
from customer_flow.tickets.sla import to_ticket

__all__ = ["list_tickets", "sla_condition"]

t = tickets.c


def _clock(now: datetime, name: str = "sla_now") -> Any:
    return bindparam(name, now, type_=DateTime(timezone=True))


def sla_condition(state: str, now: datetime, *, name: str = "sla_now") -> ColumnElement[bool]:
    """The SQL for "the ticket's SLA state is ``state``" as of ``now``.

    Mirrors ``tickets.to_ticket``: the first-response clock stops at the first response or the
    resolution, the resolution clock at the resolution, and both freeze while pending.
    """
    clock = func.coalesce(t.paused_at, _clock(now, name))
    fr_stop = func.coalesce(t.first_response_at, t.resolved_at, t.paused_at, _clock(now, name))
    res_stop = func.coalesce(t.resolved_at, t.paused_at, _clock(now, name))
    breached = or_(
        and_(t.first_response_due_at.is_not(None), t.first_response_due_at < fr_stop),
        and_(t.resolution_due_at.is_not(None), t.resolution_due_at < res_stop),
    )
    fr_live = and_(
        t.first_response_at.is_(None), t.resolved_at.is_(None), t.first_response_due_at.is_not(None)
    )
    res_live = and_(t.resolved_at.is_(None), t.resolution_due_at.is_not(None))
    at_risk = or_(
        and_(fr_live, t.first_response_risk_at <= clock),
        and_(res_live, t.resolution_risk_at <= clock),
    )
    if state == "breached":
        return breached
    # Not breached implies queue_due_at >= now (paused tickets have the far-future value): a
    # range the (is_open, queue_due_at, id) index serves, so the breached backlog is skipped.
    ahead = t.queue_due_at >= _clock(now, name)
    if state == "at_risk":
        return and_(ahead, not_(breached), at_risk)
    if state == "on_track":
        return and_(ahead, not_(breached), not_(at_risk), or_(fr_live, res_live))
    raise ValidationError(
        f"sla: unknown state {state!r}; use on_track, at_risk or breached", field="sla"
    )


def _open_only(query: TicketQuery) -> bool:
    """Whether ``_filters`` holds ``is_open = 1`` itself (what ``ix_tickets_open_sla``, a
    partial index, needs to be usable)."""
    if query.status:
        statuses = set(query.status)
        return len(statuses) > 1 and statuses <= set(OPEN_STATUSES)
    return not query.all_statuses


def _on_open_sla_index(stmt: Any, conn: Connection, query: TicketQuery) -> Any:
    """On SQLite, ``stmt`` told to read ``ix_tickets_open_sla``: the open tickets not yet due,
    tested on the index, not read from the table one by one (which SQLite, with either index
    to choose from, would do). Only for the open queue, where the partial index applies."""
    if conn.dialect.name != "sqlite" or not _open_only(query):
        return stmt
    # The index's condition, word for word: "queue_due_at IS NOT NULL" (always true) keeps
    # every other query of the open queue off it, and SQLite does not infer it from ">=".
    stmt = stmt.where(t.queue_due_at.is_not(None))
    return stmt.with_hint(tickets, "INDEXED BY ix_tickets_open_sla", "sqlite")


def _filters(query: TicketQuery, now: datetime) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if query.status:
        statuses = sorted(set(query.status))
        if set(statuses) == set(OPEN_STATUSES):
            conds.append(t.is_open == true())
        elif len(statuses) == 1:
            conds.append(t.status == statuses[0])
        else:
            conds.append(t.status.in_(statuses))
            if set(statuses) <= set(OPEN_STATUSES):
                conds.append(t.is_open == true())  # lets the (x, is_open, id) indexes serve
    elif not query.all_statuses:
        conds.append(t.is_open == true())
    if query.customer_id is not None:
        conds.append(t.customer_id == query.customer_id)
    if query.type is not None:
        conds.append(t.type_key == query.type)
    if query.priority:
        priorities = sorted(set(query.priority))
        conds.append(
            t.priority == priorities[0] if len(priorities) == 1 else t.priority.in_(priorities)
        )
    if query.unassigned:
        conds.append(t.assignee.is_(None))
    elif query.assignee is not None:
        name = customers.collapse(query.assignee).lower()
        conds.append(t.assignee == name if name else false())
    if query.team is not None:
        conds.append(t.team == query.team)
    if query.teams is not None:
        conds.append(t.team.in_(query.teams) if query.teams else false())
    if query.sla == "at_risk_or_breached":
        conds.append(or_(sla_condition("at_risk", now), sla_condition("breached", now)))
    elif query.sla is not None:
        conds.append(sla_condition(query.sla, now))
    if query.search and query.search.strip():
        text = customers.collapse(query.search)
        conds.append(
            or_(
                t.subject.icontains(text, autoescape=True),
                t.description.icontains(text, autoescape=True),
            )
        )
    return conds


def _sla_rank(now: datetime) -> ColumnElement[Any]:
    """0 breached, 1 at risk, 2 on track, 3 no running target, as of ``now`` (the cursor
    pins it at the first page, so that a ticket whose state moves on is neither skipped nor
    listed twice)."""
    return case(
        (sla_condition("breached", now, name="sort_now"), 0),
        (sla_condition("at_risk", now, name="sort_now"), 1),
        (sla_condition("on_track", now, name="sort_now"), 2),
        else_=3,
    )


def _sla_segment(rank: int, now: datetime) -> ColumnElement[bool]:
    """The tickets of SLA rank ``rank`` as of ``now``, each a condition an index serves:
    breached ones are most of the open queue, read in ID order; every other rank lies in the
    range of due times not yet passed (``sla_condition``'s ``ahead``)."""
    if rank == 0:
        return sla_condition("breached", now, name="sort_now")
    if rank == 1:
        return sla_condition("at_risk", now, name="sort_now")
    if rank == 2:
        return sla_condition("on_track", now, name="sort_now")
    return and_(t.queue_due_at >= _clock(now, "sort_now"), _sla_rank(now) == 3)


def _sort_key(sort: str) -> tuple[Any, SortValue]:
    """The SQL the queue orders by for ``sort`` (without its "-"), and its cursor kind. The
    rank sorts read the computed columns (``schema.py``), which their indexes hold."""
    name = sort.lstrip("-")
    keys: dict[str, tuple[Any, SortValue]] = {
        "due": (t.queue_due_at, "timestamp"),
        "created": (t.created_at, "timestamp"),
        "updated": (t.updated_at, "timestamp"),
        "subject": (t.subject, "text"),
        "customer": (customers_table.c.name, "text"),
        "assignee": (t.assignee_key, "text"),
        "status": (t.status_rank, "number"),
        "priority": (t.priority_rank, "number"),
    }
    return keys[name]


def _sla_rows(
    conn: Connection,
    query: TicketQuery,
    stmt: Any,
    pinned: datetime,
    descending: bool,
    after: tuple[int, int] | None,
    wanted: int,
) -> list[Any]:
    """The SLA sort's page: each rank in turn (breached, at risk, on track, none; the other
    way round descending), by ID within it, from the cursor's rank and ID on, until
    ``wanted`` rows. One ``CASE`` over the whole queue would read and sort every open ticket
    for a page; a rank at a time, each query is a range of an index and stops at the page."""
    ranks = [3, 2, 1, 0] if descending else [0, 1, 2, 3]
    if after is not None:
        ranks = ranks[ranks.index(after[0]) :] if after[0] in ranks else []
    rows: list[Any] = []
    for rank in ranks:
        part = stmt.where(_sla_segment(rank, pinned))
        if after is not None and rank == after[0]:
            part = part.where(t.id < after[1] if descending else t.id > after[1])
        order = t.id.desc() if descending else t.id
        limit = wanted - len(rows)
        if rank > 0 and conn.dialect.name == "sqlite" and _open_only(query):
            # The range of due times not yet passed, tested on ix_tickets_open_sla: the IDs
            # of the page first (no table read for the thousands a rank may hold), then
            # their rows.
            ids = _on_open_sla_index(part, conn, query).with_only_columns(t.id)
            part = select(tickets).where(t.id.in_(ids.order_by(order).limit(limit)))
        part = part.add_columns(literal(rank, Integer()).label("sort_key"))
        rows.extend(conn.execute(part.order_by(order).limit(limit)).all())
        if len(rows) >= wanted:
            break
    return rows


def _walking_the_due_times(conn: Connection, page: Any) -> list[Any]:
    """The at-risk or on-track tickets by due time. PostgreSQL estimates a handful of them
    and reads all the open tickets not yet due from the heap by bitmap, to sort them; they
    come first in due order, so walking ``(is_open, queue_due_at, id)`` in order stops after
    a page. Bitmap scans are turned off for this one statement (SQLite reads its index)."""
    if conn.dialect.name != "postgresql":
        return list(conn.execute(page).all())
    conn.exec_driver_sql("SET enable_bitmapscan = off")
    try:
        return list(conn.execute(page).all())
    finally:
        conn.exec_driver_sql("RESET enable_bitmapscan")


def list_tickets(
    conn: Connection, query: TicketQuery, policy: sla.SlaPolicy, now: datetime
) -> Page[Ticket]:
    """A page of tickets matching ``query``, with their SLA states as of ``now``.

    Sorts (``TicketSort``): ``id`` (oldest first), ``-id`` (newest first), ``due`` (the next
    due time of a running clock first; tickets with none, or paused while pending, come
    last), and customer, subject, status, priority, assignee, SLA state, created and updated;
    each descending with "-". Every sort breaks ties by ID and pages by keyset on
    (key, ID), so each ticket is listed once however the pages are cut.
    """
    stmt = select(tickets).where(*_filters(query, now))
    if query.sla in ("at_risk", "on_track"):  # both lie in the range of due times not passed
        stmt = _on_open_sla_index(stmt, conn, query)
    descending = query.sort.startswith("-")
    name = query.sort.lstrip("-")
    pinned = now
    after_value: Any = None
    after_id = 0
    if query.after:
        if name == "sla":  # the cursor holds [rank, the instant the first page was cut at]
            pair, after_id = decode_cursor(query.after, sort="text")
            rank, _, stamp = pair.partition("@")
            try:
                after_value, pinned = int(rank), datetime.fromisoformat(stamp)
            except ValueError:
                raise ValidationError(
                    "after: not a cursor from this list", field="after", code="bad_cursor"
                ) from None
        else:
            kind: SortValue = "id" if name == "id" else _sort_key(name)[1]
            after_value, after_id = decode_cursor(query.after, sort=kind)
    key: Any
    if name == "id":
        order: list[Any] = [t.id.desc() if descending else t.id]
        if query.after:
            stmt = stmt.where(t.id < after_id if descending else t.id > after_id)
        rows = conn.execute(stmt.order_by(*order).limit(query.limit + 1)).all()
    elif name == "sla":
        cursor = (int(after_value), after_id) if query.after else None
        rows = _sla_rows(conn, query, stmt, pinned, descending, cursor, query.limit + 1)
    else:
        sort_value, kind = _sort_key(name)
        if name == "customer":
            stmt = stmt.join(customers_table, customers_table.c.id == t.customer_id)
        key = tuple_(sort_value, t.id)
        order = [sort_value.desc(), t.id.desc()] if descending else [sort_value, t.id]
        if query.after:
            types: dict[str, Any] = {
                "timestamp": DateTime(timezone=True),
                "number": Integer(),
                "text": String(),
            }
            bound = tuple_(bindparam("after_key", after_value, type_=types[kind]), after_id)
            stmt = stmt.where(key < bound if descending else key > bound)
        stmt = stmt.add_columns(sort_value.label("sort_key"))
        page = stmt.order_by(*order).limit(query.limit + 1)
        if name == "due" and query.sla in ("at_risk", "on_track") and _open_only(query):
            rows = _walking_the_due_times(conn, page)
        else:
            rows = conn.execute(page).all()
    items = [to_ticket(r, policy, now) for r in rows[: query.limit]]
    # The customers' names: one lookup by primary key for the page, never a join the planner
    # could drive from the customers' side.
    ids = sorted({t.customer_id for t in items})
    names = (
        dict(
            conn.execute(
                select(customers_table.c.id, customers_table.c.name).where(
                    customers_table.c.id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    items = [t.model_copy(update={"customer_name": names.get(t.customer_id)}) for t in items]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]._mapping
        value = None if name == "id" else last["sort_key"]
        if name == "sla":
            value = f"{value}@{pinned.isoformat()}"
        next_cursor = encode_cursor(value, last["id"])
    return Page[Ticket](items=items, next=next_cursor)
