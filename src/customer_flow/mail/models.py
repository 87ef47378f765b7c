"""The mail schemas: a mail server's settings, a parsed message, and what fetch and send did."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RETRYABLE",
    "Attachment",
    "FetchReport",
    "InboundMessage",
    "MailAccount",
    "MailAccountCreate",
    "OutboxStatus",
    "OutgoingMail",
    "ParsedMail",
    "SendReport",
]

Kind = Literal["imap", "smtp"]
Security = Literal["tls", "starttls"]
#: An outgoing message's status. ``uncertain``: handed to the server, whose answer never came;
#: it may have been sent, and is sent again only when someone asks (``customer-flow mail retry``).
OutboxStatus = Literal["pending", "sending", "sent", "failed", "uncertain"]
#: What a manual retry may take back to ``pending`` (and what admins are shown to look at).
RETRYABLE: tuple[OutboxStatus, ...] = ("uncertain", "failed")


class MailAccountCreate(BaseModel):
    """A mail server: an IMAP mailbox read for tickets, or the SMTP server replies go out on.

    The password is never stored: name the environment variable (``password_env``) or the
    file (``password_file``) that holds it. Unknown fields (a ``password``) are refused."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Kind
    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "tls"
    username: str = Field(min_length=1, max_length=320)
    password_env: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The environment variable that holds the password; give this or "
        "`password_file`, not both.",
    )
    password_file: str | None = Field(
        default=None, max_length=1000, description="The file that holds the password."
    )
    address: str = Field(
        min_length=3, max_length=320, description="An email address (the mailbox's, or the sender)."
    )
    folder: str = Field(default="INBOX", min_length=1, max_length=200)
    default_type: str | None = Field(
        default=None,
        max_length=64,
        description="A mailbox's: the ticket type it opens (an existing one); an SMTP server "
        "has none.",
    )
    ca_file: str | None = Field(default=None, max_length=1000)
    active: bool = Field(default=True, description="At most one SMTP server is active.")


class MailAccount(MailAccountCreate):
    port: int
    updated_at: datetime


class Attachment(BaseModel):
    """An attachment as the message names it (the file itself is not kept yet)."""

    filename: str
    content_type: str
    size: int


class ParsedMail(BaseModel):
    """What a ticket needs of a message: read with the stdlib ``email`` package."""

    sender: str | None
    sender_name: str
    to: list[str] = Field(default_factory=list)
    subject: str
    message_id: str | None
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    #: Why no ticket may come of it (an auto-reply, a bounce, a list), or None.
    automatic: str | None = None
    #: The text to show: the text part, or the sanitised HTML's text; whole.
    text: str
    #: The HTML part sanitised by nh3 (no script, no remote images), or None.
    html: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    #: Problems met reading it (a part that would not decode, ...), for the log.
    defects: list[str] = Field(default_factory=list)


class InboundMessage(BaseModel):
    """A message read from a mailbox, and what became of it."""

    id: int
    mailbox: str
    uidvalidity: int
    uid: int
    message_id: str | None
    sender: str | None
    subject: str
    outcome: Literal["ticket", "comment", "ignored", "rate_limited", "duplicate"]
    reason: str
    ticket_id: int | None
    comment_id: int | None
    size: int
    received_at: datetime


class OutgoingMail(BaseModel):
    """A message in the outbox."""

    id: int
    ticket_id: int
    comment_id: int | None
    to_address: str
    subject: str
    kind: Literal["reply", "notification"] = "reply"
    body: str
    html: str | None = None
    message_id: str
    in_reply_to: str | None
    references: str | None
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class FetchReport(BaseModel):
    """What one fetch did, per outcome, and the problems it met (a server down, a flood)."""

    read: int = 0
    tickets: list[int] = Field(default_factory=list)
    comments: list[int] = Field(default_factory=list)
    ignored: int = 0
    duplicates: int = 0
    rate_limited: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class SendReport(BaseModel):
    """What one pass over the outbox did (``configured``: an SMTP server is set)."""

    configured: bool = True
    sent: list[int] = Field(default_factory=list)
    retrying: list[int] = Field(default_factory=list)
    failed: list[int] = Field(default_factory=list)
    #: Messages that may have been sent (their worker died, or the connection was lost after
    #: they were handed over): not sent again by themselves.
    uncertain: list[int] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
