"""The transactional outbox: a public reply's message is written in the reply's transaction
and sent later by the worker, which retries with backoff and never drops one.

A row is ``pending`` until due, then ``sent`` or ``failed``. Each message is sent at most once:
the worker marks it ``sending`` (committed, with a lease in ``next_attempt_at``) once its SMTP
session is open and before the message goes out. If the worker dies there, or the connection
is lost after the message was handed over, nobody knows whether the server took it: the
message becomes ``uncertain`` ("may have been sent"), said on its ticket and to admins, and is
sent again only when someone asks (``retry``), never by itself.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy import Connection, select, update

from customer_flow.core.errors import NotFoundError, StateError
from customer_flow.mail.models import RETRYABLE, OutgoingMail
from customer_flow.store.schema import mail_outbox

__all__ = [
    "LEASE",
    "SESSION_MESSAGES",
    "backoff",
    "claim",
    "compose",
    "enqueue",
    "expire_leases",
    "get",
    "list_outbox",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "mark_uncertain",
    "next_due",
    "reply_subject",
    "retry",
]

#: How long a worker may take to send a message it holds; past it, the worker is taken for dead
#: and the message for ``uncertain``.
LEASE = timedelta(minutes=10)
#: How many messages one SMTP session carries before the next opens: a server may limit the
#: messages of a connection, and answer 4xx past it.
SESSION_MESSAGES = 20


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
    row = conn.execute(select(mail_outbox).where(mail_outbox.c.id == mail_id)).first()
    if row is None:
        raise NotFoundError(f"no outgoing message {mail_id}", code="mail_not_found")
    return _to_mail(row)


def list_outbox(
    conn: Connection,
    *,
    ticket_id: int | None = None,
    statuses: tuple[str, ...] | None = None,
    limit: int = 100,
) -> list[OutgoingMail]:
    stmt = select(mail_outbox).order_by(mail_outbox.c.id.desc()).limit(limit)
    if ticket_id is not None:
        stmt = stmt.where(mail_outbox.c.ticket_id == ticket_id)
    if statuses is not None:
        stmt = stmt.where(mail_outbox.c.status.in_(statuses))
    return [_to_mail(r) for r in conn.execute(stmt)]


def next_due(conn: Connection, now: datetime) -> OutgoingMail | None:
    """The oldest pending message that is due, or None (nothing is taken: see ``claim``)."""
    row = conn.execute(
        select(mail_outbox)
        .where(mail_outbox.c.status == "pending", mail_outbox.c.next_attempt_at <= now)
        .order_by(mail_outbox.c.id)
        .limit(1)
    ).first()
    return None if row is None else _to_mail(row)


def claim(conn: Connection, mail_id: int, now: datetime) -> OutgoingMail | None:
    """Take a pending message to send it now: ``sending`` until ``LEASE`` from now, one more
    attempt. None when another worker took it first (the update finds it no longer pending:
    on PostgreSQL the second waits for the first's commit, then sees that)."""
    taken = conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status == "pending")
        .values(status="sending", next_attempt_at=now + LEASE, attempts=mail_outbox.c.attempts + 1)
    ).rowcount
    return get(conn, mail_id) if taken == 1 else None


def expire_leases(conn: Connection, now: datetime) -> list[OutgoingMail]:
    """Mark ``uncertain`` the messages whose worker died sending them (their lease ran out):
    the server may have taken them, so they are not sent again by themselves. Those marked."""
    stale = [
        _to_mail(r)
        for r in conn.execute(
            select(mail_outbox).where(
                mail_outbox.c.status == "sending", mail_outbox.c.next_attempt_at <= now
            )
        )
    ]
    for mail in stale:
        mark_uncertain(
            conn,
            mail.id,
            "the worker sending it stopped before the server's answer was recorded (after "
            f"{mail.created_at:%Y-%m-%d %H:%M} UTC): it may have been sent",
        )
    return [get(conn, m.id) for m in stale]


def mark_sent(conn: Connection, mail_id: int, now: datetime) -> None:
    # An ``uncertain`` message whose worker was only slow, not dead, is settled by its answer.
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status.in_(("sending", "uncertain")))
        .values(status="sent", sent_at=now, last_error=None)
    )


def mark_retry(conn: Connection, mail: OutgoingMail, error: str, now: datetime) -> None:
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail.id, mail_outbox.c.status == "sending")
        .values(status="pending", next_attempt_at=now + backoff(mail.attempts), last_error=error)
    )


def mark_failed(conn: Connection, mail_id: int, error: str) -> None:
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status == "sending")
        .values(status="failed", last_error=error)
    )


def mark_uncertain(conn: Connection, mail_id: int, error: str) -> None:
    """The message went to the server but its answer never came: it may have been sent."""
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status == "sending")
        .values(status="uncertain", last_error=error)
    )


def retry(conn: Connection, mail_id: int, now: datetime) -> OutgoingMail:
    """Send an ``uncertain`` or ``failed`` message again, with a fresh count of attempts (a
    person asked: they checked it did not arrive, or accept that it may arrive twice)."""
    current = get(conn, mail_id)
    if current.status not in RETRYABLE:
        raise StateError(
            f"message {mail_id} is {current.status}: only an uncertain or failed message is "
            "sent again",
            code="mail_not_retryable",
        )
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == mail_id, mail_outbox.c.status == current.status)
        .values(status="pending", next_attempt_at=now, attempts=0)
    )
    return get(conn, mail_id)


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
