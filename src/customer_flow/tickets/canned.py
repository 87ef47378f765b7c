"""Canned replies: text snippets with placeholders that agents insert in a reply.

A placeholder is a dotted name in braces, ``{customer.name}``; the known ones are
``PLACEHOLDERS``. Anything that looks like one but is not known is refused when the reply is
saved (``check``), so a typo never reaches a customer as ``{custmer.name}``. Other braces (a
lone ``{``, ``{ }``, JSON) are plain text. Personal or shared: ``owned``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from customer_flow.core.errors import ValidationError
from customer_flow.core.times import aware
from customer_flow.store import audit
from customer_flow.store.schema import canned_replies, users
from customer_flow.tickets import owned
from customer_flow.tickets.models import CannedCreate, CannedReply, CannedUpdate
from customer_flow.tickets.owned import Who, check_sharing, load, require_change, visible

__all__ = [
    "ENTITY", "PLACEHOLDERS", "check", "create", "get", "list_for", "remove", "render",
    "update_reply",
]  # fmt: skip

ENTITY = "canned_reply"
WHAT = "canned reply"
#: Every placeholder a canned reply may use, with what it becomes.
PLACEHOLDERS: dict[str, str] = {
    "customer.name": "the customer's name",
    "customer.first_name": "the first word of the customer's name",
    "customer.email": "the customer's email",
    "customer.phone": "the customer's phone",
    "ticket.id": "the ticket's number",
    "ticket.subject": "the ticket's subject",
    "ticket.status": "the ticket's status",
    "ticket.priority": "the ticket's priority",
    "ticket.type": "the ticket's type",
    "agent.name": "your name (the agent replying)",
    "agent.first_name": "the first word of your name",
    "agent.email": "your email",
}
#: What looks like a placeholder: a dotted name in braces, spaces allowed inside.
PATTERN = re.compile(r"\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}")


def check(body: str) -> None:
    """Refuse a body that names a placeholder not in ``PLACEHOLDERS``, naming the first."""
    if not body.strip():
        raise ValidationError("body: a canned reply needs some text", field="body")
    for name in PATTERN.findall(body):
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValidationError(
                f"body: unknown placeholder {{{name}}}; use one of {known}",
                field="body",
                code="placeholder_unknown",
            )


def render(body: str, values: dict[str, str]) -> str:
    """``body`` with each placeholder replaced by its value (an empty one when unknown)."""
    return PATTERN.sub(lambda m: values.get(m.group(1), ""), body)


def _title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValidationError("title: a canned reply needs a title", field="title")
    return cleaned


def _owners(conn: Connection, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(users.c.id, users.c.email).where(users.c.id.in_(sorted(ids))))
    return {int(r.id): str(r.email) for r in rows}


def _to_reply(row: Any, owners: dict[int, str]) -> CannedReply:
    m = row._mapping
    return CannedReply(
        id=m["id"],
        title=m["title"],
        body=m["body"],
        shared=m["shared"],
        owner=owners.get(m["owner_id"]) if m["owner_id"] is not None else None,
        created_at=aware(m["created_at"]),
        updated_at=aware(m["updated_at"]),
    )


def _one(conn: Connection, row: Any) -> CannedReply:
    owner = row._mapping["owner_id"]
    return _to_reply(row, _owners(conn, {owner} if owner is not None else set()))


def list_for(conn: Connection, who: Who) -> list[CannedReply]:
    """The canned replies ``who`` sees (shared and their own), by title; at most 500."""
    rows = conn.execute(
        select(canned_replies)
        .where(visible(canned_replies, who))
        .order_by(canned_replies.c.title, canned_replies.c.id)
        .limit(500)
    ).all()
    owners = _owners(conn, {r.owner_id for r in rows if r.owner_id is not None})
    return [_to_reply(r, owners) for r in rows]


def get(conn: Connection, reply_id: int, who: Who) -> CannedReply:
    return _one(conn, load(conn, canned_replies, reply_id, who, WHAT))


def _snapshot(reply: CannedReply) -> dict[str, Any]:
    return reply.model_dump(mode="json", exclude={"created_at", "updated_at"})


def create(
    conn: Connection, new: CannedCreate, who: Who, now: datetime, *, actor: str
) -> CannedReply:
    check_sharing(new.shared, who, WHAT)
    check(new.body)
    inserted = conn.execute(
        canned_replies.insert().values(
            title=_title(new.title),
            body=new.body.strip(),
            shared=new.shared,
            owner_id=who.user_id,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key
    reply = get(conn, int(inserted[0]), who)  # type: ignore[index]
    audit.record(
        conn, actor=actor, action="create", entity=ENTITY, entity_id=reply.id,
        before=None, after=_snapshot(reply), at=now,
    )  # fmt: skip
    return reply


def update_reply(
    conn: Connection, reply_id: int, changes: CannedUpdate, who: Who, now: datetime, *, actor: str
) -> CannedReply:
    row = load(conn, canned_replies, reply_id, who, WHAT)
    require_change(row, who, WHAT)
    before = _one(conn, row)
    values: dict[str, Any] = {}
    if changes.title is not None:
        values["title"] = _title(changes.title)
    if changes.body is not None:
        check(changes.body)
        values["body"] = changes.body.strip()
    if changes.shared is not None and changes.shared != before.shared:
        check_sharing(changes.shared, who, WHAT)
        values["shared"] = changes.shared
        if not changes.shared and row._mapping["owner_id"] is None:
            check_sharing(False, Who(None, who.admin), WHAT)
    return owned.change(
        conn, canned_replies, before, values, lambda: get(conn, reply_id, who), _snapshot, now,
        entity=ENTITY, actor=actor,
    )  # fmt: skip


def remove(conn: Connection, reply_id: int, who: Who, now: datetime, *, actor: str) -> CannedReply:
    row = load(conn, canned_replies, reply_id, who, WHAT)
    require_change(row, who, WHAT)
    return owned.remove(
        conn, canned_replies, _one(conn, row), _snapshot, now, entity=ENTITY, actor=actor
    )
