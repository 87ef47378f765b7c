"""The transactional outbox: a public reply's message is written in the reply's transaction
and sent later by the worker, which retries with backoff and never drops one.

A row is ``pending`` until due, ``sending`` while a worker holds it (until its lease in
``next_attempt_at`` runs out: a worker killed mid-send leaves it to the next), then ``sent``
or ``failed``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy import Connection, and_, select, update

from customer_flow.mail.models import OutgoingMail
from customer_flow.store.schema import mail_outbox

__all__ = [
    "LEASE",
    "backoff",
    "claim_next",
    "compose",
    "enqueue",
    "get",
    "list_outbox",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "release",
    "reply_subject",
]

#: How long a worker holds a message it is sending before another may take it.
LEASE = timedelta(minutes=10)


def reply_subject(ticket_id: int, subject: str) -> str:
    """``Re: <subject> [#id]``: the token finds the ticket when the headers do not."""
    return f"Re: {subject} [#{ticket_id}]"[:400]


def backoff(attempts: int) -> timedelta:
    """The wait before the next try: 1, 2, 4, ... minutes, at most 2 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 120))


def _to_mail(row: Any) -> OutgoingMail:
    return OutgoingMail.model_validate(dict(row._mapping))


def enqueue(
    conn: Connection,
    *,
    ticket_id: int,
    comment_id: int | None,
    to_address: str,
    subject: str,
    body: str,
    html: str | None = None,
    kind: str = "reply",
    domain: str,
    in_reply_to: str | None,
    references: list[str],
    now: datetime,
) -> OutgoingMail:
    """Write a message to send, in the caller's transaction."""
    message_id = f"cf.{ticket_id}.{comment_id or 0}.{secrets.token_hex(8)}@{domain}"
    inserted = conn.execute(
        mail_outbox.insert().values(
            ticket_id=ticket_id,
            comment_id=comment_id,
            to_address=to_address,
            subject=subject,
            body=body,
            html=html,
            kind=kind,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=" ".join(f"<{r}>" for r in references) or None,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    ).inserted_primary_key
    return get(conn, int(inserted[0]))  # type: ignore[index]


def get(conn: Connection, mail_id: int) -> OutgoingMail:
    return _to_mail(conn.execute(select(mail_outbox).where(mail_outbox.c.id == mail_id)).one())


def list_outbox(
    conn: Connection, *, ticket_id: int | None = None, limit: int = 100
) -> list[OutgoingMail]:
    stmt = select(mail_outbox).order_by(mail_outbox.c.id.desc()).limit(limit)
    if ticket_id is not None:
        stmt = stmt.where(mail_outbox.c.ticket_id == ticket_id)
    return [_to_mail(r) for r in conn.execute(stmt)]


def claim_next(conn: Connection, now: datetime) -> OutgoingMail | None:
    """Take the oldest message due (pending, or sending with its lease run out) and hold it
    for ``LEASE``; None when nothing is due."""
    due = and_(
        mail_outbox.c.status.in_(("pending", "sending")), mail_outbox.c.next_attempt_at <= now
    )
    stmt = select(mail_outbox.c.id).where(due).order_by(mail_outbox.c.id).limit(1)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    found = conn.execute(stmt).scalar()
    if found is None:
        return None
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == found)
        .values(status="sending", next_attempt_at=now + LEASE, attempts=mail_outbox.c.attempts + 1)
    )
    return get(conn, int(found))


def mark_sent(conn: Connection, mail_id: int, now: datetime) -> None:
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status == "sending")
        .values(status="sent", sent_at=now, last_error=None)
    )


def mark_retry(conn: Connection, mail: OutgoingMail, error: str, now: datetime) -> None:
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail.id, mail_outbox.c.status == "sending")
        .values(status="pending", next_attempt_at=now + backoff(mail.attempts), last_error=error)
    )


def release(conn: Connection, mail: OutgoingMail, error: str, now: datetime) -> None:
    """Give a message back untried (the server, not the message, was at fault): its attempt
    does not count, and it is due again in a minute."""
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail.id, mail_outbox.c.status == "sending")
        .values(
            status="pending",
            next_attempt_at=now + timedelta(minutes=1),
            attempts=mail_outbox.c.attempts - 1,
            last_error=error,
        )
    )


def mark_failed(conn: Connection, mail_id: int, error: str) -> None:
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status == "sending")
        .values(status="failed", last_error=error)
    )


def compose(mail: OutgoingMail, sender: str, sender_name: str, now: datetime) -> EmailMessage:
    """The message as it goes out: threading headers, the ticket token in the subject."""
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = mail.to_address
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{mail.message_id}>"
    if mail.in_reply_to:
        msg["In-Reply-To"] = f"<{mail.in_reply_to}>"
    if mail.references:
        msg["References"] = mail.references
    # Tell auto-responders to stay quiet, and say it is no bulk mail.
    msg["Auto-Submitted"] = "no"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(mail.body)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg
