"""Every message read from a mailbox, once.

A message is claimed by inserting its row first, in the transaction that then opens its ticket
or adds its comment: the unique (mailbox, UIDVALIDITY, UID) key and the unique Message-ID make
a second reader of the same message fail (and roll back) instead of opening a second ticket,
and a fetch killed halfway leaves either both or neither.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from customer_flow.mail.models import InboundMessage, ParsedMail
from customer_flow.store.schema import mail_inbound, mail_outbox

__all__ = [
    "claim",
    "finish",
    "get",
    "is_known",
    "last_uid",
    "list_inbound",
    "message_key",
    "message_known",
    "original",
    "recent_count",
    "thread_ids",
    "thread_ticket",
]


def message_key(message_id: str) -> str:
    """The SHA-256 a Message-ID is looked up by (IDs may be up to 998 characters long)."""
    return hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


def last_uid(conn: Connection, mailbox: str, uidvalidity: int) -> int:
    """The highest UID read from ``mailbox`` under this UIDVALIDITY (0 for none)."""
    value = conn.execute(
        select(func.max(mail_inbound.c.uid)).where(
            mail_inbound.c.mailbox == mailbox, mail_inbound.c.uidvalidity == uidvalidity
        )
    ).scalar()
    return int(value or 0)


def is_known(conn: Connection, mailbox: str, uidvalidity: int, uid: int) -> bool:
    return (
        conn.execute(
            select(mail_inbound.c.id).where(
                mail_inbound.c.mailbox == mailbox,
                mail_inbound.c.uidvalidity == uidvalidity,
                mail_inbound.c.uid == uid,
            )
        ).first()
        is not None
    )


def message_known(conn: Connection, message_id: str) -> bool:
    """Whether a message with this Message-ID was read already (from any mailbox)."""
    return (
        conn.execute(
            select(mail_inbound.c.id).where(mail_inbound.c.message_key == message_key(message_id))
        ).first()
        is not None
    )


def claim(
    conn: Connection,
    mailbox: str,
    uidvalidity: int,
    uid: int,
    parsed: ParsedMail,
    raw: bytes | None,
    size: int,
    now: datetime,
    *,
    keep_message_id: bool,
) -> int:
    """Insert the message's row (its outcome is set by ``finish`` in the same transaction)."""
    inserted = conn.execute(
        mail_inbound.insert().values(
            mailbox=mailbox,
            uidvalidity=uidvalidity,
            uid=uid,
            message_id=parsed.message_id,
            message_key=message_key(parsed.message_id)
            if parsed.message_id and keep_message_id
            else None,
            sender=parsed.sender,
            subject=parsed.subject[:300],
            outcome="ignored",
            reason="",
            size=size,
            raw=raw,
            received_at=now,
        )
    ).inserted_primary_key
    return int(inserted[0])  # type: ignore[index]


def finish(
    conn: Connection,
    row_id: int,
    outcome: str,
    reason: str = "",
    *,
    ticket_id: int | None = None,
    comment_id: int | None = None,
) -> None:
    conn.execute(
        update(mail_inbound)
        .where(mail_inbound.c.id == row_id)
        .values(outcome=outcome, reason=reason, ticket_id=ticket_id, comment_id=comment_id)
    )


def recent_count(conn: Connection, sender: str, since: datetime) -> int:
    """How many of ``sender``'s messages became tickets or comments since ``since``."""
    return int(
        conn.execute(
            select(func.count()).where(
                mail_inbound.c.sender == sender,
                mail_inbound.c.received_at >= since,
                mail_inbound.c.outcome.in_(("ticket", "comment")),
            )
        ).scalar_one()
    )


def thread_ticket(conn: Connection, ids: list[str]) -> int | None:
    """The ticket a reply belongs to: the newest of the messages it names (In-Reply-To,
    References) that we sent, or else that we read and filed on a ticket."""
    if not ids:
        return None
    sent = conn.execute(
        select(mail_outbox.c.ticket_id)
        .where(mail_outbox.c.message_id.in_(ids), mail_outbox.c.kind == "reply")
        .order_by(mail_outbox.c.id.desc())
        .limit(1)
    ).scalar()
    if sent is not None:
        return int(sent)
    read = conn.execute(
        select(mail_inbound.c.ticket_id)
        .where(
            mail_inbound.c.message_key.in_([message_key(i) for i in ids]),
            mail_inbound.c.ticket_id.is_not(None),
        )
        .order_by(mail_inbound.c.id.desc())
        .limit(1)
    ).scalar()
    return None if read is None else int(read)


def thread_ids(
    conn: Connection, ticket_id: int, *, limit: int = 20
) -> tuple[str | None, list[str]]:
    """The ticket's thread for a new reply's headers: the customer's latest Message-ID (to
    answer) and the thread's IDs, oldest first, at most ``limit``."""
    inbound = conn.execute(
        select(mail_inbound.c.id, mail_inbound.c.received_at, mail_inbound.c.message_id)
        .where(mail_inbound.c.ticket_id == ticket_id, mail_inbound.c.message_id.is_not(None))
        .order_by(mail_inbound.c.id.desc())
        .limit(limit)
    ).all()
    outbound = conn.execute(
        select(mail_outbox.c.id, mail_outbox.c.created_at, mail_outbox.c.message_id)
        .where(mail_outbox.c.ticket_id == ticket_id, mail_outbox.c.kind == "reply")
        .order_by(mail_outbox.c.id.desc())
        .limit(limit)
    ).all()
    last_in = inbound[0].message_id if inbound else None
    both: list[Any] = sorted(
        [(r.received_at, 0, r.id, r.message_id) for r in inbound]
        + [(r.created_at, 1, r.id, r.message_id) for r in outbound],
        key=lambda t: (t[0].replace(tzinfo=None), t[1], t[2]),
    )
    references = [t[3] for t in both][-limit:]
    return last_in, references


_SHOWN = [c for c in mail_inbound.c if c.name not in ("raw", "message_key")]


def get(conn: Connection, row_id: int) -> InboundMessage:
    """One message read (without its original)."""
    row = conn.execute(select(*_SHOWN).where(mail_inbound.c.id == row_id)).one()
    return InboundMessage.model_validate(dict(row._mapping))


def list_inbound(
    conn: Connection, *, limit: int = 100, outcome: str | None = None
) -> list[InboundMessage]:
    """The messages read, newest first (without their originals)."""
    stmt = select(*_SHOWN).order_by(mail_inbound.c.id.desc()).limit(limit)
    if outcome is not None:
        stmt = stmt.where(mail_inbound.c.outcome == outcome)
    return [InboundMessage.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


def original(conn: Connection, row_id: int) -> bytes | None:
    """The message as it came, whole."""
    value = conn.execute(select(mail_inbound.c.raw).where(mail_inbound.c.id == row_id)).scalar()
    return None if value is None else bytes(value)
