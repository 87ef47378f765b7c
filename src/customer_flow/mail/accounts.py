"""The mail servers' settings: IMAP mailboxes and the SMTP server, kept in the database.

Passwords are never stored, only where to find one (an environment variable's name or a
file's path); the door that runs a fetch reads it and hands it over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from customer_flow.core.errors import NotFoundError, ValidationError
from customer_flow.core.times import aware
from customer_flow.mail.models import MailAccount, MailAccountCreate
from customer_flow.store import audit
from customer_flow.store.schema import mail_accounts

__all__ = ["DEFAULT_PORTS", "get", "list_accounts", "remove", "save", "smtp_account"]

ENTITY = "mail_account"
DEFAULT_PORTS = {("imap", "tls"): 993, ("imap", "starttls"): 143,
                 ("smtp", "tls"): 465, ("smtp", "starttls"): 587}  # fmt: skip


def _to_account(row: Any) -> MailAccount:
    data = dict(row._mapping)
    data["updated_at"] = aware(data["updated_at"])  # SQLite hands back a naive UTC time
    return MailAccount.model_validate(data)


def list_accounts(conn: Connection, kind: str | None = None) -> list[MailAccount]:
    stmt = select(mail_accounts).order_by(mail_accounts.c.kind, mail_accounts.c.name)
    if kind is not None:
        stmt = stmt.where(mail_accounts.c.kind == kind)
    return [_to_account(r) for r in conn.execute(stmt)]


def get(conn: Connection, name: str) -> MailAccount:
    row = conn.execute(select(mail_accounts).where(mail_accounts.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no mail account named {name!r}", code="mail_account_not_found")
    return _to_account(row)


def smtp_account(conn: Connection) -> MailAccount | None:
    """The active SMTP server, or None when replies are not sent by mail."""
    row = conn.execute(
        select(mail_accounts)
        .where(mail_accounts.c.kind == "smtp", mail_accounts.c.active.is_(True))
        .order_by(mail_accounts.c.name)
    ).first()
    return None if row is None else _to_account(row)


def save(
    conn: Connection, new: MailAccountCreate, now: datetime, *, actor: str, known_types: set[str]
) -> MailAccount:
    """Add a mail account or replace the one of that name."""
    if (new.password_env is None) == (new.password_file is None):
        raise ValidationError(
            "password: name exactly one of password_env (an environment variable) or "
            "password_file (a file holding it)",
            field="password_env",
            code="mail_password_source",
        )
    if "@" not in new.address:
        raise ValidationError(f"address: {new.address!r} is no email address", field="address")
    if new.kind == "imap":
        if new.default_type is None:
            raise ValidationError(
                "default_type: a mailbox needs the type of the tickets it opens",
                field="default_type",
            )
        if new.default_type not in known_types:
            raise ValidationError(
                f"default_type: no ticket type {new.default_type!r}", field="default_type"
            )
    elif new.default_type is not None:
        raise ValidationError("default_type: only a mailbox opens tickets", field="default_type")
    if new.kind == "smtp" and new.active:
        others = [a.name for a in list_accounts(conn, "smtp") if a.active and a.name != new.name]
        if others:
            raise ValidationError(
                f"an active SMTP server is already set ({others[0]}): remove it first",
                field="kind",
                code="smtp_exists",
            )
    values = new.model_dump()
    values["address"] = new.address.strip().lower()
    values["port"] = new.port or DEFAULT_PORTS[(new.kind, new.security)]
    values["updated_at"] = now
    before = conn.execute(select(mail_accounts).where(mail_accounts.c.name == new.name)).first()
    if before is not None:
        conn.execute(delete(mail_accounts).where(mail_accounts.c.name == new.name))
    conn.execute(mail_accounts.insert().values(**values))
    saved = get(conn, new.name)
    audit.record(
        conn,
        actor=actor,
        action="update" if before is not None else "create",
        entity=ENTITY,
        entity_id=new.name,
        before=None if before is None else _to_account(before).model_dump(mode="json"),
        after=saved.model_dump(mode="json"),
        at=now,
    )
    return saved


def remove(conn: Connection, name: str, now: datetime, *, actor: str) -> MailAccount:
    current = get(conn, name)
    conn.execute(delete(mail_accounts).where(mail_accounts.c.name == name))
    audit.record(
        conn,
        actor=actor,
        action="delete",
        entity=ENTITY,
        entity_id=name,
        before=current.model_dump(mode="json"),
        after=None,
        at=now,
    )
    return current
