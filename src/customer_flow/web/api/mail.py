"""``/api/v1/mail``: the mail servers (admin: list, add or replace, remove, test; the same Hub
calls as ``customer-flow mail``), the messages read and sent, and each user's notification
choices.

Passwords never travel through the API: a server names the environment variable or the file
that holds its password on the machine that fetches and sends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from customer_flow.jobs.failures import JobFailure
from customer_flow.mail.models import (
    InboundMessage,
    MailAccount,
    MailAccountCreate,
    OutboxStatus,
    OutgoingMail,
)

from ..deps import UserHub, requires

__all__ = ["router"]

router = APIRouter(prefix="/mail", tags=["mail"])

UserId = Annotated[int, Path(ge=1, le=2**53, description="The user's ID.")]
MailId = Annotated[int, Path(ge=1, le=2**53, description="The message's ID (the outbox's).")]
AccountName = Annotated[str, Path(max_length=64, description="The mail server's name.")]


class MailCheckResult(BaseModel):
    """One mail server (or the templates) as the test found it."""

    name: str
    kind: str = Field(description="`imap`, `smtp`, or `templates`.")
    ok: bool
    message: str = Field(description="What worked, or what failed (never a password).")


class NotificationChoices(BaseModel):
    """Which notifications a user gets by email; an event left out keeps its choice."""

    model_config = ConfigDict(extra="forbid")

    new_ticket: StrictBool | None = None
    assigned: StrictBool | None = None
    customer_replied: StrictBool | None = None
    sla_at_risk: StrictBool | None = None
    sla_breached: StrictBool | None = None


class Notifications(BaseModel):
    """A user's notification choices, every event named."""

    new_ticket: bool
    assigned: bool
    customer_replied: bool
    sla_at_risk: bool
    sla_breached: bool


@router.get(
    "/accounts",
    response_model=list[MailAccount],
    dependencies=[requires("admin")],
    summary="The mail servers (admin)",
)
def list_accounts(hub: UserHub) -> list[MailAccount]:
    """IMAP mailboxes and the SMTP server; where each password is read from, never the
    password."""
    return hub.list_mail_accounts()


@router.post(
    "/accounts",
    response_model=MailAccount,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("admin")],
    summary="Add a mail server, or replace the one of that name (admin)",
)
def save_account(hub: UserHub, body: MailAccountCreate) -> MailAccount:
    """An IMAP mailbox (`kind: imap`, read for tickets) or the SMTP server (`kind: smtp`).
    The password is never sent: `password_env` names an environment variable, or
    `password_file` a file, on the machines that fetch and send (a `password` field is
    refused)."""
    return hub.save_mail_account(body)


@router.delete(
    "/accounts/{name}",
    response_model=MailAccount,
    dependencies=[requires("admin")],
    summary="Forget a mail server (admin)",
)
def remove_account(hub: UserHub, name: AccountName) -> MailAccount:
    """What it read and sent stays."""
    return hub.remove_mail_account(name)


@router.post(
    "/test",
    response_model=list[MailCheckResult],
    dependencies=[requires("admin")],
    summary="Log in to every mail server and render the templates (admin)",
)
def test_mail(hub: UserHub) -> list[MailCheckResult]:
    """What `customer-flow mail test` does: each IMAP mailbox is opened and the SMTP server
    logged in to (nothing is sent), and the admin's templates are rendered; each says what
    failed."""
    return [MailCheckResult(**vars(c)) for c in hub.test_mail_settings()]


@router.get(
    "/job-failures",
    response_model=list[JobFailure],
    dependencies=[requires("admin")],
    summary="The background jobs that failed after their retries (admin)",
)
def job_failures(hub: UserHub) -> list[JobFailure]:
    """Mail fetch and send, and imports started from the web: each job the worker gave up on,
    newest first (the last 100), with its last error; what `customer-flow worker failures`
    lists."""
    return hub.list_job_failures()


@router.get("/inbound", response_model=list[InboundMessage], summary="The messages read")
def list_inbound(hub: UserHub) -> list[InboundMessage]:
    """The last 100 messages read from the mailboxes, newest first, and what became of each."""
    return hub.list_inbound_mail()


@router.get("/outbox", response_model=list[OutgoingMail], summary="The messages sent and to send")
def list_outbox(
    hub: UserHub,
    statuses: Annotated[
        list[OutboxStatus] | None,
        Query(alias="status", max_length=5, description="Only these statuses (repeatable)."),
    ] = None,
) -> list[OutgoingMail]:
    """The last 100, newest first, with their status, attempts and last error. `uncertain`:
    handed to the server, whose answer never came (a worker died, a connection was lost): it
    may have been sent, and is sent again only by `POST /mail/outbox/{id}/retry`."""
    return hub.list_outbox(statuses=tuple(statuses) if statuses else None)


@router.post(
    "/outbox/{mail_id}/retry",
    response_model=OutgoingMail,
    dependencies=[requires("write")],
    summary="Send again a message that may have been sent, or that failed",
)
def retry_outbox(hub: UserHub, mail_id: MailId) -> OutgoingMail:
    """An `uncertain` or `failed` message becomes `pending`, due at once, with a fresh count
    of attempts (409 for any other status). An uncertain one may reach its reader twice:
    check first that it did not arrive."""
    return hub.retry_mail(mail_id)


@router.get(
    "/notifications/{user_id}",
    response_model=Notifications,
    summary="A user's notification choices (themself or an admin)",
)
def get_notifications(hub: UserHub, user_id: UserId) -> Notifications:
    return Notifications.model_validate(hub.notification_choices(user_id))


@router.put(
    "/notifications/{user_id}",
    response_model=Notifications,
    summary="Change a user's notification choices (themself or an admin)",
)
def set_notifications(hub: UserHub, user_id: UserId, body: NotificationChoices) -> Notifications:
    changes = {k: v for k, v in body.model_dump().items() if v is not None}
    return Notifications.model_validate(hub.set_notification_choices(user_id, changes))
