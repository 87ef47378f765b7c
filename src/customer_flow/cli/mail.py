"""``customer-flow mail``: the mailboxes read for tickets, the SMTP server replies go out on,
fetching, sending and checking them. Passwords are never given on the command line: name an
environment variable (``--password-env``) or a file (``--password-file``) that holds one."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, fail, get_hub, out, print_json, say

mail_app = typer.Typer(
    no_args_is_help=True, help="Mail: mailboxes into tickets, replies out to customers."
)


class OutboxStatus(StrEnum):
    """``mail.models.OutboxStatus`` as Typer's choices (this module does not import the models
    until a command runs; tests/mail/test_mail_cli.py checks that the two agree)."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    uncertain = "uncertain"


Host = Annotated[str, typer.Option(help="The server's host name.")]
Port = Annotated[
    int | None,
    typer.Option(
        help="The port (default: 993/143 for IMAP, 465/587 for SMTP).", show_default=False
    ),
]
Security = Annotated[
    str, typer.Option(help="tls (implicit TLS) or starttls (plain, then STARTTLS).")
]
User = Annotated[str, typer.Option("--user", help="The login name.")]
PasswordEnv = Annotated[
    str | None,
    typer.Option(help="The environment variable that holds the password.", show_default=False),
]
PasswordFile = Annotated[
    str | None,
    typer.Option(help="A file that holds the password (its first line).", show_default=False),
]
Address = Annotated[str, typer.Option(help="Our address: the mailbox's own, or the From.")]
CaFile = Annotated[
    str | None,
    typer.Option(help="A CA bundle that signs the server's certificate (a private CA).",
                 show_default=False),
]  # fmt: skip


def _save(ctx: typer.Context, **values: Any) -> None:
    from customer_flow.core.models import parse
    from customer_flow.mail.models import MailAccountCreate

    account = get_hub(ctx).save_mail_account(parse(MailAccountCreate, values))
    say(f"saved {account.kind} {account.name}: {account.host}:{account.port} ({account.security})")


@mail_app.command("add-mailbox")
def add_mailbox(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name for the mailbox.")],
    host: Host,
    user: User,
    address: Address,
    ticket_type: Annotated[str, typer.Option("--type", help="The type of the tickets it opens.")],
    port: Port = None,
    security: Security = "tls",
    password_env: PasswordEnv = None,
    password_file: PasswordFile = None,
    folder: Annotated[str, typer.Option(help="The folder read.")] = "INBOX",
    ca_file: CaFile = None,
) -> None:
    """Add (or replace) an IMAP mailbox whose new messages become tickets."""
    _save(
        ctx, name=name, kind="imap", host=host, port=port, security=security, username=user,
        password_env=password_env, password_file=password_file, address=address, folder=folder,
        default_type=ticket_type, ca_file=ca_file,
    )  # fmt: skip


@mail_app.command("set-smtp")
def set_smtp(
    ctx: typer.Context,
    host: Host,
    user: User,
    address: Address,
    port: Port = None,
    security: Security = "starttls",
    password_env: PasswordEnv = None,
    password_file: PasswordFile = None,
    ca_file: CaFile = None,
    name: Annotated[str, typer.Option(help="A short name for the server.")] = "smtp",
) -> None:
    """Set the SMTP server that sends agents' public replies to customers."""
    _save(
        ctx, name=name, kind="smtp", host=host, port=port, security=security, username=user,
        password_env=password_env, password_file=password_file, address=address,
        ca_file=ca_file,
    )  # fmt: skip


@mail_app.command("list")
def list_accounts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the mail servers (passwords are never shown: only where they are read from)."""
    accounts = get_hub(ctx).list_mail_accounts()
    if as_json:
        print_json(accounts)
        return
    table = Table()
    for column in ("Name", "Kind", "Server", "User", "Address", "Type", "Password from"):
        table.add_column(column, overflow="fold")
    for a in accounts:
        source = f"${a.password_env}" if a.password_env else f"file {a.password_file}"
        table.add_row(
            a.name, a.kind, f"{a.host}:{a.port} {a.security}", a.username, a.address,
            a.default_type or "—", source,
        )  # fmt: skip
    out.print(table)


@mail_app.command("remove")
def remove(ctx: typer.Context, name: str) -> None:
    """Forget a mail server (what it read and sent stays)."""
    get_hub(ctx).remove_mail_account(name)
    say(f"removed {name}")


@mail_app.command("fetch")
def fetch(
    ctx: typer.Context,
    mailbox: Annotated[
        str | None, typer.Option(help="Only this mailbox.", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read the new messages of the mailboxes into tickets and comments (exit 1 when a
    server failed; what was read before stays filed)."""
    report = get_hub(ctx).fetch_mail(mailbox)
    if as_json:
        print_json(report)
    else:
        say(
            f"read {report.read}: {len(report.tickets)} new tickets, {len(report.comments)} "
            f"comments, {report.ignored} ignored (automatic or ours), {report.duplicates} "
            "already read"
        )
        for sender in report.rate_limited:
            say(f"rate-limited: {sender} sent too many messages; they were kept, not filed")
    if report.errors:
        for error in report.errors:
            say(f"error: {error}")
        raise typer.Exit(1)


@mail_app.command("send")
def send(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Send the outbox's messages that are due (exit 1 when something failed)."""
    report = get_hub(ctx).send_mail()
    if as_json:
        print_json(report)
    else:
        unsure = (
            f", {len(report.uncertain)} may have been sent (never sent again by themselves: "
            "mail retry ID)"
            if report.uncertain
            else ""
        )
        say(
            f"sent {len(report.sent)}, {len(report.retrying)} to retry, {len(report.failed)} "
            f"failed{unsure}"
        )
    if report.errors:
        for error in report.errors:
            say(f"error: {error}")
        raise typer.Exit(1)


@mail_app.command("test")
def test(ctx: typer.Context) -> None:
    """Log in to every mail server, render the admin's mail templates, and say what failed
    (exit 1 if anything did)."""
    hub = get_hub(ctx)
    checks = hub.test_mail()
    if not checks:
        fail("no mail server is set: mail add-mailbox, mail set-smtp")
    for check in checks:
        state = "ok" if check.ok else "FAILED"
        out.print(f"{check.kind} {check.name}: {state}: {check.message}", markup=False)
    problems = hub.check_mail_templates()
    for problem in problems:
        out.print(f"template: FAILED: {problem}", markup=False)
    if problems or not all(c.ok for c in checks):
        raise typer.Exit(1)


@mail_app.command("log")
def log(
    ctx: typer.Context,
    outcome: Annotated[
        str | None,
        typer.Option(help="Only ticket, comment, ignored, rate_limited or duplicate."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The messages read, newest first, and what became of each."""
    rows = get_hub(ctx).list_inbound_mail(limit=limit, outcome=outcome)
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("ID", "Mailbox", "From", "Subject", "Outcome", "Ticket"):
        table.add_column(column, overflow="fold")
    for m in rows:
        table.add_row(
            str(m.id), m.mailbox, m.sender or "—", m.subject, f"{m.outcome} {m.reason}".strip(),
            f"#{m.ticket_id}" if m.ticket_id else "—",
        )  # fmt: skip
    out.print(table)


@mail_app.command("outbox")
def outbox(
    ctx: typer.Context,
    ticket: Annotated[int | None, typer.Option(help="Only this ticket's.", min=1)] = None,
    status: Annotated[
        list[OutboxStatus] | None,
        typer.Option(help="Only messages of this status (repeatable).", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The messages to send and sent, newest first (``uncertain``: they may have been sent,
    and wait for ``mail retry``)."""
    statuses = tuple(s.value for s in status) if status else None
    rows = get_hub(ctx).list_outbox(ticket_id=ticket, statuses=statuses, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("ID", "Ticket", "To", "Status", "Tries", "Last error"):
        table.add_column(column, overflow="fold")
    for m in rows:
        table.add_row(
            str(m.id), f"#{m.ticket_id}", m.to_address, m.status, str(m.attempts),
            m.last_error or "",
        )  # fmt: skip
    out.print(table)


@mail_app.command("retry")
def retry(
    ctx: typer.Context,
    mail_id: Annotated[int, typer.Argument(help="The message's ID (mail outbox).", min=1)],
) -> None:
    """Send again a message that may have been sent (uncertain) or that failed. An uncertain
    one may reach its reader twice: check first that it did not arrive."""
    mail = get_hub(ctx).retry_mail(mail_id)
    say(f"message {mail.id} to {mail.to_address} (ticket #{mail.ticket_id}) is due again")


@mail_app.command("notifications")
def notifications(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The user's email.")],
    on: Annotated[
        list[str] | None,
        typer.Option("--on", help="Turn an event on (repeatable).", show_default=False),
    ] = None,
    off: Annotated[
        list[str] | None,
        typer.Option("--off", help="Turn an event off (repeatable).", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or change which notifications a user gets by email: new_ticket, assigned,
    customer_replied, sla_at_risk, sla_breached."""
    hub = get_hub(ctx)
    user = hub.find_user(email)
    changes = {event: True for event in on or []} | {event: False for event in off or []}
    choices = (
        hub.set_notification_choices(user.id, changes)
        if changes
        else hub.notification_choices(user.id)
    )
    if as_json:
        print_json(choices)
        return
    for event, enabled in choices.items():
        out.print(f"{event}: {'on' if enabled else 'off'}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``mail`` to the root app."""
    app.add_typer(mail_app, name="mail")
