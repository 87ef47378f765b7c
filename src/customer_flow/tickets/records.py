"""Tickets: the rules a ticket keeps, its lifecycle, its comments and its SLA clock.

Every function works on a connection inside the caller's transaction (the Hub owns it), takes
the instant ``now`` from the Hub's clock, and writes its audit entry on the same connection: a
ticket's timeline is its audit history. The queue (listing and filters) is in ``ticket_queue``,
the SLA columns and state of a row in ``ticket_sla``, the field rules in ``ticket_rules``.

Lifecycle::

    new ──► open ──► pending ──► resolved ──► closed
     │        ▲  ◄──────┘  │         │  ▲        │
     └────────┴── (any of new, open, pending may resolve or close) ─┘
              └───────────── reopen ◄───────────┘ (from resolved or closed)

SLA (see ``sla.py`` for the arithmetic): targets are scaled and stored when the ticket opens;
the clock pauses while pending and, after a reopen, for the time the ticket sat resolved; due
and at-risk instants are recomputed whenever the pauses change, and kept as columns so that the
queue can filter on the SLA state in SQL and reports can read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from customer_flow.core.errors import NotFoundError, StateError, ValidationError
from customer_flow.core.models import PRIORITIES
from customer_flow.customers import records as customers
from customer_flow.duplicates import merge as merging
from customer_flow.reports import rollup as report_rollup
from customer_flow.store import audit
from customer_flow.store.schema import OPEN_STATUSES, audit_log, ticket_comments, tickets
from customer_flow.tickets import calendar as sla
from customer_flow.tickets import types as ticket_types
from customer_flow.tickets.models import (
    Comment,
    CommentCreate,
    Ticket,
    TicketCreate,
    TicketStatus,
    TicketUpdate,
)
from customer_flow.tickets.rules import clean_assignee, clean_fields, clean_subject, clean_tags
from customer_flow.tickets.sla import NO_DUE, sla_values, targets, to_ticket

__all__ = [
    "ENTITY",
    "NO_DUE",
    "TRANSITIONS",
    "add_comment",
    "assign",
    "close_for_customer",
    "count_for_customer",
    "create",
    "get",
    "history",
    "list_comments",
    "purge",
    "set_status",
    "to_ticket",
    "update_ticket",
]

ENTITY = "ticket"
#: Allowed status changes. "open" from resolved or closed is a reopen.
TRANSITIONS: dict[str, tuple[TicketStatus, ...]] = {
    "new": ("open", "pending", "resolved", "closed"),
    "open": ("pending", "resolved", "closed"),
    "pending": ("open", "resolved", "closed"),
    "resolved": ("open", "closed"),
    "closed": ("open",),
}


# -- reading -------------------------------------------------------------------------------


def was_purged(conn: Connection, ticket_id: int) -> bool:
    found = conn.execute(
        select(audit_log.c.id).where(
            audit_log.c.entity == ENTITY,
            audit_log.c.entity_id == str(ticket_id),
            audit_log.c.action == "purge",
        )
    ).first()
    return found is not None


def _row(conn: Connection, ticket_id: int, *, lock: bool = False) -> Any:
    """The ticket's row; with ``lock``, locked until the transaction ends (PostgreSQL: two
    agents replying at once must not both stamp the first response; SQLite's writes are
    serialised by BEGIN IMMEDIATE already)."""
    stmt = select(tickets).where(tickets.c.id == ticket_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        if was_purged(conn, ticket_id):
            raise NotFoundError(f"ticket {ticket_id} was purged", field="id", code="ticket_purged")
        raise NotFoundError(f"no ticket with ID {ticket_id}", field="id", code="ticket_not_found")
    return row


def get(
    conn: Connection, ticket_id: int, policy: sla.SlaPolicy, now: datetime, *, detail: bool = True
) -> Ticket:
    """One ticket, with its SLA state as of ``now``."""
    return to_ticket(_row(conn, ticket_id), policy, now, detail=detail)


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    data = ticket.model_dump(mode="json", exclude={"sla", "updated_at", "created_at"})
    data["first_response_due_at"] = _iso(ticket.sla.first_response.due_at)
    data["resolution_due_at"] = _iso(ticket.sla.resolution.due_at)
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def history(conn: Connection, ticket_id: int) -> list[Any]:
    """Every change to a ticket (its timeline), oldest first; a purged ticket's stays."""
    entries = audit.history(conn, ENTITY, ticket_id)
    if not entries:
        _row(conn, ticket_id)
    return entries


def list_comments(conn: Connection, ticket_id: int, *, include_notes: bool = True) -> list[Comment]:
    _row(conn, ticket_id)
    stmt = select(ticket_comments).where(ticket_comments.c.ticket_id == ticket_id)
    if not include_notes:
        stmt = stmt.where(ticket_comments.c.public.is_(True))
    rows = conn.execute(stmt.order_by(ticket_comments.c.id)).mappings()
    return [Comment.model_validate({**r, "created_at": audit.aware(r["created_at"])}) for r in rows]


def _apply(
    conn: Connection,
    ticket_id: int,
    before_row: Any,
    values: dict[str, Any],
    policy: sla.SlaPolicy,
    now: datetime,
    *,
    actor: str,
    action: str,
    note: str | None = None,
    resla: bool = False,
    recompute: tuple[str, ...] = (),
) -> Ticket:
    """Write ``values`` (and, with ``resla``, fresh SLA columns), then the audit entry."""
    before = to_ticket(before_row, policy, now)
    if resla:
        state = {**dict(before_row._mapping), **values}
        values = {**values, **sla_values(policy, state, recompute)}
    values["updated_at"] = now
    conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))
    after_row = _row(conn, ticket_id)
    report_rollup.mark(conn, before_row._mapping, after_row._mapping)
    after = to_ticket(after_row, policy, now)
    audit.record(
        conn,
        actor=actor,
        action=action,
        entity=ENTITY,
        entity_id=ticket_id,
        before=_snapshot(before),
        after=_snapshot(after),
        note=note,
        at=now,
    )
    return after


# -- writing -------------------------------------------------------------------------------


def create(
    conn: Connection, new: TicketCreate, policy: sla.SlaPolicy, now: datetime, *, actor: str
) -> Ticket:
    """Open a ticket for a live customer, of an active type."""
    customer = customers.get(conn, new.customer_id)
    if customer.in_trash:
        raise StateError(
            f"customer {customer.id} is in the trash: restore it before you open a ticket for it",
            code="customer_in_trash",
        )
    ttype = ticket_types.get(conn, new.type)
    if not ttype.active:
        raise StateError(
            f"type: ticket type {ttype.key!r} is inactive: new tickets cannot use it",
            field="type",
            code="ticket_type_inactive",
        )
    priority = new.priority or ttype.default_priority
    values: dict[str, Any] = {
        "customer_id": customer.id,
        "type_key": ttype.key,
        "subject": clean_subject(new.subject),
        "description": new.description.strip(),
        "priority": priority,
        "status": "new",
        "is_open": True,
        "tags": clean_tags(new.tags),
        "assignee": clean_assignee(new.assignee),
        "team": new.team,
        "fields": clean_fields(ttype, new.fields),
        "created_at": now,
        "updated_at": now,
        "first_response_at": None,
        "resolved_at": None,
        "closed_at": None,
        "paused_at": None,
        "paused_seconds": 0,
        "reopened_count": 0,
        **targets(policy, ttype, priority),
    }
    values.update(sla_values(policy, values))
    inserted = conn.execute(tickets.insert().values(**values)).inserted_primary_key
    ticket_id = int(inserted[0])  # type: ignore[index]
    row = _row(conn, ticket_id)
    report_rollup.mark(conn, None, row._mapping)
    created = to_ticket(row, policy, now)
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity=ENTITY,
        entity_id=ticket_id,
        before=None,
        after=_snapshot(created),
        at=now,
    )
    return created


def update_ticket(
    conn: Connection,
    ticket_id: int,
    changes: TicketUpdate,
    policy: sla.SlaPolicy,
    now: datetime,
    *,
    actor: str,
) -> Ticket:
    """Change subject, description, priority, tags or extra fields. A new priority rescales
    the targets that are still running."""
    row = _row(conn, ticket_id, lock=True)
    m = row._mapping
    given = changes.model_fields_set
    values: dict[str, Any] = {}
    if "subject" in given:
        values["subject"] = clean_subject(changes.subject)
    if "description" in given:
        values["description"] = (changes.description or "").strip()
    if "tags" in given:
        values["tags"] = clean_tags(changes.tags or [])
    if "fields" in given and changes.fields is not None:
        ttype = ticket_types.get(conn, m["type_key"])
        merged = {k: v for k, v in {**(m["fields"] or {}), **changes.fields}.items()}
        values["fields"] = clean_fields(ttype, {k: v for k, v in merged.items() if v is not None})
    resla = False
    if "priority" in given and changes.priority is not None:
        if changes.priority not in PRIORITIES:  # pragma: no cover - the model checks it
            raise ValidationError(f"priority: unknown priority {changes.priority!r}")
        values["priority"] = changes.priority
        if changes.priority != m["priority"]:
            ttype = ticket_types.get(conn, m["type_key"])
            fresh = targets(policy, ttype, changes.priority)
            # A target already met keeps the size it was judged by.
            if m["first_response_at"] is None:
                values["first_response_target"] = fresh["first_response_target"]
            if m["resolved_at"] is None:
                values["resolution_target"] = fresh["resolution_target"]
            resla = True
    values = {k: v for k, v in values.items() if m[k] != v}
    if not values:
        return to_ticket(row, policy, now)
    return _apply(
        conn, ticket_id, row, values, policy, now, actor=actor, action="update", resla=resla
    )


def assign(
    conn: Connection,
    ticket_id: int,
    assignee: str | None,
    team: str | None,
    policy: sla.SlaPolicy,
    now: datetime,
    *,
    actor: str,
) -> Ticket:
    """Give a ticket to an agent (their email key, checked by the caller) and a team, or to
    nobody with None for both."""
    row = _row(conn, ticket_id, lock=True)
    values = {"assignee": clean_assignee(assignee), "team": team}
    if all(row._mapping[k] == v for k, v in values.items()):
        return to_ticket(row, policy, now)
    return _apply(conn, ticket_id, row, values, policy, now, actor=actor, action="assign")


def set_status(
    conn: Connection,
    ticket_id: int,
    status: str,
    policy: sla.SlaPolicy,
    now: datetime,
    *,
    actor: str,
    note: str | None = None,
) -> Ticket:
    """Move a ticket to ``status`` if the lifecycle allows it; pause or resume its SLA clock."""
    row = _row(conn, ticket_id, lock=True)
    m = row._mapping
    current = m["status"]
    if status not in TRANSITIONS:
        raise ValidationError(
            f"status: unknown status {status!r}; use {', '.join(TRANSITIONS)}",
            field="status",
            code="status_unknown",
        )
    allowed = TRANSITIONS[current]
    if status == current:
        raise StateError(f"ticket {ticket_id} is already {status}", code="status_unchanged")
    if status not in allowed:
        raise StateError(
            f"ticket {ticket_id}: cannot go from {current} to {status}; "
            f"allowed from {current}: "
            + ", ".join(
                f"{a} (reopen)" if current in ("resolved", "closed") and a == "open" else a
                for a in allowed
            ),
            code="transition_not_allowed",
        )
    reopen = current in ("resolved", "closed") and status == "open"
    if reopen:
        customer = customers.get(conn, m["customer_id"])
        if customer.in_trash:
            raise StateError(
                f"customer {customer.id} is in the trash: restore it before you reopen "
                f"ticket {ticket_id}",
                code="customer_in_trash",
            )
    cal = policy.calendar
    values: dict[str, Any] = {"status": status, "is_open": status in OPEN_STATUSES}
    paused = int(m["paused_seconds"])
    if current == "pending":  # the clock resumes: the pause is added up
        paused += round(cal.between(audit.aware(m["paused_at"]), now))  # type: ignore[arg-type]
        values["paused_at"] = None
    if status == "pending":
        values["paused_at"] = now
    if reopen:  # the time spent resolved does not count against the team
        paused += round(cal.between(audit.aware(m["resolved_at"]), now))  # type: ignore[arg-type]
        values.update(resolved_at=None, closed_at=None, reopened_count=m["reopened_count"] + 1)
    if status == "resolved":
        values["resolved_at"] = now
    if status == "closed":
        values["closed_at"] = now
        if m["resolved_at"] is None:
            values["resolved_at"] = now
    # Reports (issue 6): the business time to resolve, net of pauses, kept with the ticket.
    if reopen:
        values["resolution_seconds"] = None
    elif "resolved_at" in values:
        spent = round(cal.between(audit.aware(m["created_at"]), now))  # type: ignore[arg-type]
        values["resolution_seconds"] = max(0, spent - paused)
    values["paused_seconds"] = paused
    return _apply(
        conn,
        ticket_id,
        row,
        values,
        policy,
        now,
        actor=actor,
        action="reopen" if reopen else "status",
        note=note,
        resla=True,
    )


def add_comment(
    conn: Connection,
    ticket_id: int,
    new: CommentCreate,
    policy: sla.SlaPolicy,
    now: datetime,
    *,
    actor: str,
) -> tuple[Comment, Ticket]:
    """Add a public reply or an internal note.

    The first public reply by an agent sets ``first_response_at`` (and opens a new ticket);
    a customer's reply to a pending ticket puts it back to open, which resumes the clock.
    """
    row = _row(conn, ticket_id, lock=True)
    m = row._mapping
    body = new.body.strip()
    if not body:
        raise ValidationError("body: a comment needs some text", field="body", code="body_missing")
    if new.by_customer and not new.public:
        raise ValidationError(
            "public: a customer's comment is always public", field="public", code="note_by_customer"
        )
    author = customers.collapse(new.author or "")
    if author and not new.by_customer:
        raise ValidationError(
            "author: only a customer's comment names its author; an agent's comment is by the"
            " signed-in user",
            field="author",
            code="author_not_customer",
        )
    author = author or actor
    inserted = conn.execute(
        ticket_comments.insert().values(
            ticket_id=ticket_id,
            author=author,
            public=new.public,
            by_customer=new.by_customer,
            body=body,
            created_at=now,
        )
    ).inserted_primary_key
    comment_id = int(inserted[0])  # type: ignore[index]
    comment = Comment(
        id=comment_id,
        ticket_id=ticket_id,
        author=author,
        public=new.public,
        by_customer=new.by_customer,
        body=body,
        created_at=now,
    )
    audit.record(
        conn,
        actor=actor,
        action="comment" if new.public else "note",
        entity=ENTITY,
        entity_id=ticket_id,
        before=None,
        after=comment.model_dump(mode="json", exclude={"created_at"}),
        at=now,
    )
    agent_reply = new.public and not new.by_customer
    if agent_reply and m["first_response_at"] is None:
        first: dict[str, Any] = {
            "first_response_at": now,
            "first_response_paused_seconds": m["paused_seconds"],
        }
        if m["paused_at"] is not None:
            # Answered while pending: settle the pause so far, so the reply is judged against
            # a due time that does not count the paused part.
            pause = round(policy.calendar.between(audit.aware(m["paused_at"]), now))  # type: ignore[arg-type]
            first.update(
                paused_seconds=m["paused_seconds"] + pause,
                first_response_paused_seconds=m["paused_seconds"] + pause,
                paused_at=now,
            )
        # Reports (issue 6): the business time to the first reply, net of pauses.
        spent = round(policy.calendar.between(audit.aware(m["created_at"]), now))  # type: ignore[arg-type]
        first["first_response_seconds"] = max(
            0, spent - first.get("paused_seconds", m["paused_seconds"])
        )
        _apply(
            conn,
            ticket_id,
            row,
            first,
            policy,
            now,
            actor=actor,
            action="first_response",
            note=f"first public reply (comment {comment_id})",
            resla=True,
            recompute=("first_response",),
        )
    if agent_reply and m["status"] == "new":
        set_status(conn, ticket_id, "open", policy, now, actor=actor, note="an agent replied")
    elif new.by_customer and m["status"] == "pending":
        set_status(conn, ticket_id, "open", policy, now, actor=actor, note="the customer replied")
    else:
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated_at=now))
    return comment, get(conn, ticket_id, policy, now)


def purge(
    conn: Connection, ticket_id: int, policy: sla.SlaPolicy, now: datetime, *, actor: str
) -> Ticket:
    """Delete a ticket and its comments for good; its ID is never reused, its timeline stays."""
    row = _row(conn, ticket_id, lock=True)
    current = to_ticket(row, policy, now)
    conn.execute(ticket_comments.delete().where(ticket_comments.c.ticket_id == ticket_id))
    conn.execute(tickets.delete().where(tickets.c.id == ticket_id))
    report_rollup.mark(conn, row._mapping, None)
    audit.record(
        conn,
        actor=actor,
        action="purge",
        entity=ENTITY,
        entity_id=ticket_id,
        before=_snapshot(current),
        after=None,
        at=now,
    )
    return current


# -- integrity with customers --------------------------------------------------------------


def count_for_customer(conn: Connection, customer_id: int, *, unclosed_only: bool = False) -> int:
    """How many tickets a customer has (with ``unclosed_only``, those not closed)."""
    stmt = select(func.count()).select_from(tickets).where(tickets.c.customer_id == customer_id)
    if unclosed_only:
        stmt = stmt.where(tickets.c.status != "closed")
    return int(conn.execute(stmt).scalar_one())


def close_for_customer(
    conn: Connection,
    customer_id: int,
    policy: sla.SlaPolicy,
    now: datetime,
    *,
    actor: str,
    note: str,
) -> list[int]:
    """Close every ticket of a customer that is not closed yet; returns their IDs."""
    ids = [
        int(i)
        for i in conn.execute(
            select(tickets.c.id)
            .where(tickets.c.customer_id == customer_id, tickets.c.status != "closed")
            .order_by(tickets.c.id)
        ).scalars()
    ]
    for ticket_id in ids:
        set_status(conn, ticket_id, "closed", policy, now, actor=actor, note=note)
    return ids


def purge_for_customer(
    conn: Connection, customer_id: int, policy: sla.SlaPolicy, now: datetime, *, actor: str
) -> list[int]:
    """Purge every ticket of a customer; returns their IDs."""
    ids = [
        int(i)
        for i in conn.execute(
            select(tickets.c.id).where(tickets.c.customer_id == customer_id).order_by(tickets.c.id)
        ).scalars()
    ]
    for ticket_id in ids:
        purge(conn, ticket_id, policy, now, actor=actor)
    return ids


# -- merging customers -------------------------------------------------------------------------
# A merge moves the merged customers' tickets to the survivor; an unmerge moves exactly those
# tickets back. Each move is on the ticket's timeline, in the merge's transaction.


def _move_tickets(conn: Connection, from_id: int, to_id: int, actor: str) -> list[Any]:
    """Move a merged customer's tickets to the survivor. Each is remembered with the
    ``updated_at`` it had and the time of the move, so that an unmerge can give it back."""
    rows = conn.execute(
        select(tickets.c.id, tickets.c.updated_at).where(tickets.c.customer_id == from_id)
    ).all()
    if not rows:
        return []
    stamp = _repoint(
        conn, [r.id for r in rows], from_id, to_id, actor, "moved by a merge of customers"
    )
    return [
        {"id": r.id, "updated_at": _iso(r.updated_at), "moved_at": stamp.isoformat()} for r in rows
    ]


def _move_tickets_back(conn: Connection, moved: list[Any], from_id: int, actor: str) -> None:
    """Move tickets back to the customer an unmerge restores. A ticket that nobody changed since
    the merge gets back the ``updated_at`` it had before it, so the undo is exact; one changed
    since keeps that change's time. (Merges made before this remembered bare IDs.)"""
    kept = {int(m["id"]): m for m in moved if isinstance(m, dict)}
    ids = [int(m["id"]) if isinstance(m, dict) else int(m) for m in moved]
    rows = conn.execute(
        select(tickets.c.id, tickets.c.customer_id, tickets.c.updated_at).where(
            tickets.c.id.in_(ids)
        )
    )
    for row in rows.all():  # a ticket purged since is simply gone
        untouched = row.id in kept and _iso(audit.aware(row.updated_at)) == kept[row.id]["moved_at"]
        _repoint(conn, [row.id], row.customer_id, from_id, actor, "moved back by an unmerge")
        if untouched:
            restored = datetime.fromisoformat(kept[row.id]["updated_at"])
            conn.execute(update(tickets).where(tickets.c.id == row.id).values(updated_at=restored))


def _repoint(
    conn: Connection, ids: list[int], from_id: int, to_id: int, actor: str, note: str
) -> datetime:
    stamp = audit.now()
    conn.execute(
        update(tickets).where(tickets.c.id.in_(ids)).values(customer_id=to_id, updated_at=stamp)
    )
    for ticket_id in ids:
        audit.record(
            conn,
            actor=actor,
            action="move",
            entity=ENTITY,
            entity_id=ticket_id,
            before={"customer_id": from_id},
            after={"customer_id": to_id},
            note=note,
            at=stamp,
        )
    return stamp


merging.register_repointer("tickets", move=_move_tickets, move_back=_move_tickets_back)
