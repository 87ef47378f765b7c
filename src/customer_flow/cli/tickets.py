"""The ``tickets`` commands: a thin Typer sub-app over the Hub's ticket use cases.

Registered on the root app at the end of ``cli.py``; it shares its output helpers, exit codes
and error handling (a ``CustomerFlowError`` is one line on stderr and exit 1).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, fail, get_hub, out, print_json, say

if TYPE_CHECKING:  # --help imports no Pydantic: each command imports the models it parses
    from customer_flow.tickets.models import Ticket

__all__ = ["tickets_app"]

tickets_app = typer.Typer(
    no_args_is_help=True, help="Open, work and close tickets, with SLA targets and history."
)

TicketArg = Annotated[int, typer.Argument(help="The ticket's ID.", min=1)]
NoteOpt = Annotated[
    str | None, typer.Option("--note", help="A note for the audit log.", show_default=False)
]


def _pairs(pairs: list[str], option: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        values[key.strip()] = value
    return values


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else "—"


_STATE_STYLE = {
    "breached": "red",
    "at_risk": "yellow",
    "on_track": "green",
    "met": "green",
    "none": "dim",
}


def _state(ticket: Ticket) -> str:
    state = ticket.sla.state
    text = state.replace("_", " ") + (" (paused)" if ticket.sla.paused else "")
    return f"[{_STATE_STYLE[state]}]{text}[/]"


def _next_due(ticket: Ticket) -> datetime | None:
    """Whichever running SLA target falls due first."""
    return ticket.sla.next_due_at


_TARGET = {"first_response": "reply", "resolution": "resolve"}


def _due_cell(ticket: Ticket) -> str:
    """The next due time and which target it is: "12-07 14:00 reply"."""
    if ticket.sla.next_due_at is None or ticket.sla.next_due is None:
        return "—"
    return f"{_short_when(ticket.sla.next_due_at)} {_TARGET[ticket.sla.next_due]}"


def _short_when(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "—"


def _table(items: list[Ticket]) -> Table:
    table = Table()
    widest = max((len(str(t.id)) for t in items), default=2)
    table.add_column("ID", justify="right", style="cyan", no_wrap=True, min_width=widest)
    table.add_column("Status", no_wrap=True)
    table.add_column("Pri.", no_wrap=True)
    table.add_column("Customer", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("Subject", ratio=1, min_width=12)
    table.add_column("Assignee", overflow="ellipsis", no_wrap=True, max_width=10)
    table.add_column("SLA", max_width=10)
    table.add_column("Due UTC", no_wrap=True)
    for t in items:
        table.add_row(
            str(t.id),
            t.status,
            t.priority,
            t.customer_name or str(t.customer_id),
            t.subject,
            t.assignee or (f"team {t.team}" if t.team else "—"),
            _state(t),
            _due_cell(t),
        )
    return table


def _show(ticket: Ticket) -> None:
    from customer_flow.tickets.types import format_duration

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("Ticket", f"{ticket.id}: {ticket.subject}"),
        ("Customer", str(ticket.customer_id)),
        ("Type", ticket.type),
        ("Status", ticket.status),
        ("Priority", ticket.priority),
        ("Assignee", ticket.assignee or "—"),
        ("Team", ticket.team or "—"),
        ("Tags", ", ".join(ticket.tags) or "—"),
    ]
    rows += [(k, str(v)) for k, v in ticket.fields.items()]
    rows += [
        ("Opened", _when(ticket.created_at)),
        ("First response", _when(ticket.first_response_at)),
        ("Resolved", _when(ticket.resolved_at)),
        ("Closed", _when(ticket.closed_at)),
    ]
    for label, target in (
        ("SLA first response", ticket.sla.first_response),
        ("SLA resolution", ticket.sla.resolution),
    ):
        if target.target_seconds is None:
            rows.append((label, "no target"))
            continue
        text = f"{target.state.replace('_', ' ')}, due {_when(target.due_at)}"
        text += f" ({format_duration(target.target_seconds)} of business time)"
        if target.remaining_seconds is not None:
            left = target.remaining_seconds
            text += (
                f", {format_duration(left)} left"
                if left >= 0
                else f", {format_duration(-left)} late"
            )
        rows.append((label, text))
    if ticket.sla.paused:
        rows.append(("SLA clock", f"paused since {_when(ticket.paused_at)} (pending)"))
    for label, value in rows:
        table.add_row(label, value)
    out.print(table, markup=False)
    if ticket.description:
        out.print()
        out.print(ticket.description, markup=False, highlight=False)


@tickets_app.command("open")
def tickets_open(
    ctx: typer.Context,
    customer: Annotated[int, typer.Option("--customer", help="The customer's ID.", min=1)],
    type_key: Annotated[str, typer.Option("--type", help="The ticket type's key.")],
    subject: Annotated[str, typer.Option(help="A one-line summary.")],
    priority: Annotated[
        str | None,
        typer.Option(help="low, normal, high or urgent (default: the type's).", show_default=False),
    ] = None,
    description: Annotated[str, typer.Option(help="The full description.")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeatable.")] = None,
    assignee: Annotated[
        str | None,
        typer.Option(help="The agent who works on it (email or name).", show_default=False),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option(help="The team (default: the type's default team).", show_default=False),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="An extra field of the type, KEY=VALUE; repeatable."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a ticket for a customer; its SLA clock starts now."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import TicketCreate

    new = parse(
        TicketCreate,
        {
            "customer_id": customer,
            "type": type_key,
            "subject": subject,
            "priority": priority,
            "description": description,
            "tags": tag or [],
            "assignee": assignee,
            "team": team,
            "fields": _pairs(field or [], "--field"),
        },
    )
    ticket = get_hub(ctx).open_ticket(new)
    if as_json:
        print_json(ticket)
    else:
        due = _next_due(ticket)
        say(f"opened ticket {ticket.id}" + (f" (first due {_when(due)})" if due else ""))


@tickets_app.command("list")
def tickets_list(
    ctx: typer.Context,
    customer: Annotated[
        int | None, typer.Option("--customer", help="Only this customer's.", show_default=False)
    ] = None,
    type_key: Annotated[
        str | None, typer.Option("--type", help="Only this type.", show_default=False)
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only this status; repeatable (default: new, open, pending)."),
    ] = None,
    all_statuses: Annotated[bool, typer.Option("--all", help="Every status.")] = False,
    priority: Annotated[
        list[str] | None, typer.Option(help="Only this priority; repeatable.")
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Only this assignee's.", show_default=False)
    ] = None,
    unassigned: Annotated[bool, typer.Option("--unassigned", help="Only unassigned.")] = False,
    team: Annotated[str | None, typer.Option(help="Only this team's.", show_default=False)] = None,
    view: Annotated[
        str | None,
        typer.Option(
            help="A saved view: mine, unassigned, at_risk (at risk or breached) or my_team.",
            show_default=False,
        ),
    ] = None,
    sla: Annotated[
        str | None,
        typer.Option(
            "--sla",
            help="on_track, at_risk, breached or at_risk_or_breached.",
            show_default=False,
        ),
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Text in subject or description.", show_default=False)
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="id, due, customer, subject, status, priority, assignee, sla, created or "
            'updated; "-" before one for descending (-id: newest first).'
        ),
    ] = "id",
    limit: Annotated[int, typer.Option(help="How many per page.", min=1, max=1000)] = 50,
    after: Annotated[
        str | None,
        typer.Option(help="The cursor printed after the previous page.", show_default=False),
    ] = None,
    saved_view: Annotated[
        int | None,
        typer.Option(
            "--saved-view",
            help="A saved view's ID (`views list`): its filters and sort replace these.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List tickets, a page at a time: the open queue unless --status or --all."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import TicketQuery

    query = parse(
        TicketQuery,
        {
            "customer_id": customer,
            "type": type_key,
            "status": status or None,
            "all_statuses": all_statuses,
            "priority": priority or None,
            "assignee": assignee,
            "unassigned": unassigned,
            "team": team,
            "view": view,
            "sla": sla,
            "search": search,
            "sort": sort,
            "limit": limit,
            "after": after,
            "saved_view": saved_view,
        },
    )
    page = get_hub(ctx).list_tickets(query)
    if as_json:
        print_json(page.items)
    else:
        out.print(_table(page.items))
    if page.next:
        say(f"more: --after {page.next}")


@tickets_app.command("export")
def tickets_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="The file to write.", dir_okay=False)],
    format: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    view: Annotated[
        str | None,
        typer.Option(
            help="A saved view: mine, unassigned, at_risk or my_team.", show_default=False
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only this status; repeatable (default: new, open, pending)."),
    ] = None,
    all_statuses: Annotated[bool, typer.Option("--all", help="Every status.")] = False,
    team: Annotated[str | None, typer.Option(help="Only this team's.", show_default=False)] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Only this assignee's.", show_default=False)
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Text in subject or description.", show_default=False)
    ] = None,
    sort: Annotated[str, typer.Option(help="As for `tickets list`.")] = "id",
    as_json: JsonOpt = False,
) -> None:
    """Export the tickets a queue view selects (every page) as CSV or XLSX; spreadsheet
    formulas are defused as in `customer-flow export`."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import TicketQuery

    query = parse(
        TicketQuery,
        {
            "view": view,
            "status": status or None,
            "all_statuses": all_statuses,
            "team": team,
            "assignee": assignee,
            "search": search,
            "sort": sort,
        },
    )
    report = get_hub(ctx).export_tickets(out, query, format=format)
    if as_json:
        print_json(report)
    else:
        say(f"exported {report.rows:,} tickets to {out}")


@tickets_app.command("show")
def tickets_show(ctx: typer.Context, ticket_id: TicketArg, as_json: JsonOpt = False) -> None:
    """Show a ticket: its fields, SLA targets with due times, and its comments."""
    hub = get_hub(ctx)
    ticket = hub.get_ticket(ticket_id)
    comments = hub.list_comments(ticket_id)
    if as_json:
        data: dict[str, Any] = ticket.model_dump(mode="json")
        data["comments"] = [c.model_dump(mode="json") for c in comments]
        print_json(data)
        return
    _show(ticket)
    for c in comments:
        kind = "reply" if c.public else "note"
        who = f"{c.author}{' (customer)' if c.by_customer else ''}"
        out.print(f"\n[bold]{kind}[/] by {who} at {_when(c.created_at)}", highlight=False)
        out.print(c.body, markup=False, highlight=False)


@tickets_app.command("comment")
def tickets_comment(
    ctx: typer.Context,
    ticket_id: TicketArg,
    body: Annotated[str, typer.Argument(help="The text of the comment.")],
    note: Annotated[
        bool, typer.Option("--note", help="An internal note, not a public reply.")
    ] = False,
    by_customer: Annotated[
        bool, typer.Option("--by-customer", help="Written by the customer (e.g. by email).")
    ] = False,
    author: Annotated[
        str | None,
        typer.Option(
            help="With --by-customer: the customer who wrote it (default: --actor). An agent's"
            " reply or note is always by --actor.",
            show_default=False,
        ),
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(
            "--attach",
            help="A file to attach (repeatable); a public reply sends it to the customer.",
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
        ),
    ] = None,
    then: Annotated[
        str | None,
        typer.Option(
            "--then",
            help="pending or resolved: send and set pending, send and resolve (one step).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a public reply or, with --note, an internal note."""
    import mimetypes

    from customer_flow.core.models import parse
    from customer_flow.tickets.models import CommentCreate

    new = parse(
        CommentCreate,
        {
            "body": body,
            "public": not note,
            "by_customer": by_customer,
            "author": author,
            "set_status": then,
        },
    )
    hub = get_hub(ctx)
    files = []
    for path in attach or []:
        size = path.stat().st_size
        if size > hub.settings.mail_max_attachment_bytes:  # refused before it is read
            fail(f"{path}: {size:,} bytes, over the limit of "
                 f"{hub.settings.mail_max_attachment_bytes:,}")  # fmt: skip
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append((path.name, path.read_bytes(), ctype))
    comment = hub.add_comment(ticket_id, new, files=files)
    if as_json:
        print_json(comment)
    else:
        say(f"{'note' if note else 'reply'} {comment.id} added to ticket {ticket_id}")


@tickets_app.command("assign")
def tickets_assign(
    ctx: typer.Context,
    ticket_id: TicketArg,
    assignee: Annotated[
        str | None,
        typer.Argument(
            help="An active agent's email or name; leave out with --team or --unassign."
        ),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option(
            help="A team: alone, a round-robin team picks its next agent; with an ASSIGNEE, "
            "they must be in it.",
            show_default=False,
        ),
    ] = None,
    unassign: Annotated[
        bool, typer.Option("--unassign", help="Take it from its agent and team.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Give a ticket to an active agent, to a team, or to both; or take it back."""
    if (assignee is None and team is None) == (not unassign):
        raise typer.BadParameter("give an ASSIGNEE, --team or --unassign, not both or neither")
    ticket = get_hub(ctx).assign_ticket(ticket_id, assignee, team=team)
    if as_json:
        print_json(ticket)
        return
    held = [x for x in (ticket.assignee, ticket.team and f"team {ticket.team}") if x]
    say(f"ticket {ticket_id} " + (f"assigned to {', '.join(held)}" if held else "unassigned"))


def _bulk_ids(specs: list[str]) -> list[dict[str, Any]]:
    """``12``, ``1-5000`` or ``12@2026-12-06T10:00:00+00:00`` (the version seen) as items."""
    items: list[dict[str, Any]] = []
    for spec in specs:
        for part in spec.replace(",", " ").split():
            ident, _, seen = part.partition("@")
            low, dash, high = ident.partition("-")
            if not low.isdigit() or (dash and not high.isdigit()):
                raise typer.BadParameter(
                    f"expected ID, FIRST-LAST or ID@UPDATED_AT, got {part!r}", param_hint="IDS"
                )
            if dash:
                if seen:
                    raise typer.BadParameter(
                        f"{part!r}: a range cannot carry a version", param_hint="IDS"
                    )
                first, last = int(low), int(high)
                if last < first or last - first >= 10_000:
                    raise typer.BadParameter(
                        f"{part!r}: a range runs up, over at most 10,000 IDs", param_hint="IDS"
                    )
                items.extend({"id": i} for i in range(first, last + 1))
            else:
                items.append({"id": int(low), **({"updated_at": seen} if seen else {})})
    return items


@tickets_app.command("bulk")
def tickets_bulk(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="assign, status, priority or close.")],
    ids: Annotated[
        list[str],
        typer.Argument(
            help="Ticket IDs: 12, a range 1-5000, or 12@UPDATED_AT to skip the ticket if it "
            "changed since that version (as `tickets show --json` prints it)."
        ),
    ],
    assignee: Annotated[
        str | None, typer.Option(help="assign: an active agent's email or name.")
    ] = None,
    team: Annotated[str | None, typer.Option(help="assign: a team's key.")] = None,
    status: Annotated[str | None, typer.Option(help="status: the status to set.")] = None,
    priority: Annotated[str | None, typer.Option(help="priority: the priority to set.")] = None,
    note: NoteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change many tickets at once, in one transaction with one timeline entry per ticket.

    Tickets the change does not fit (already closed, changed since the version given, gone)
    are skipped and listed; an agent or team that is wrong for all refuses the whole action.
    Exit 0 when every ticket changed or was already so, 1 when some were skipped otherwise."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import TicketBulk

    bulk = parse(
        TicketBulk,
        {
            "action": action,
            "tickets": _bulk_ids(ids),
            "assignee": assignee,
            "team": team,
            "status": status,
            "priority": priority,
            "note": note,
        },
    )
    result = get_hub(ctx).bulk_tickets(bulk)
    if as_json:
        print_json(result)
    else:
        say(f"{len(result.changed):,} tickets changed, {len(result.skipped):,} skipped")
        for skip in result.skipped:
            say(f"  ticket {skip.id}: {skip.reason}")
    if any(s.code != "unchanged" for s in result.skipped):
        raise typer.Exit(1)


@tickets_app.command("unmatched-assignees")
def tickets_unmatched_assignees(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the free-text assignees the upgrade to agents (migration 0015) matched to no user:
    their tickets were left unassigned; give each to an agent with ``tickets assign``."""
    items = get_hub(ctx).unmatched_assignees()
    if as_json:
        print_json(items)
        return
    table = Table()
    for col in ("Ticket", "Was assigned to", "Why it was not mapped"):
        table.add_column(col)
    for u in items:
        table.add_row(str(u.ticket_id), u.assignee, u.reason)
    out.print(table)
    if not items:
        say("every assignee matched a user")


def _status_done(ticket: Ticket, as_json: bool) -> None:
    if as_json:
        print_json(ticket)
    else:
        say(f"ticket {ticket.id} is {ticket.status}")


@tickets_app.command("status")
def tickets_status(
    ctx: typer.Context,
    ticket_id: TicketArg,
    status: Annotated[str, typer.Argument(help="new, open, pending, resolved or closed.")],
    note: NoteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a ticket along its lifecycle (pending pauses the SLA clock)."""
    _status_done(
        get_hub(ctx).set_ticket_status(ticket_id, status.strip().lower(), note=note), as_json
    )


@tickets_app.command("close")
def tickets_close(
    ctx: typer.Context, ticket_id: TicketArg, note: NoteOpt = None, as_json: JsonOpt = False
) -> None:
    """Close a ticket."""
    _status_done(get_hub(ctx).close_ticket(ticket_id, note=note), as_json)


@tickets_app.command("reopen")
def tickets_reopen(
    ctx: typer.Context, ticket_id: TicketArg, note: NoteOpt = None, as_json: JsonOpt = False
) -> None:
    """Reopen a resolved or closed ticket."""
    _status_done(get_hub(ctx).reopen_ticket(ticket_id, note=note), as_json)


@tickets_app.command("update")
def tickets_update(
    ctx: typer.Context,
    ticket_id: TicketArg,
    subject: Annotated[str | None, typer.Option(show_default=False)] = None,
    description: Annotated[str | None, typer.Option(show_default=False)] = None,
    priority: Annotated[
        str | None, typer.Option(help="A new priority rescales running SLA targets.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Replace the tags; repeatable.", show_default=False)
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Set KEY=VALUE; KEY= removes it. Repeatable."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a ticket's subject, description, priority, tags or extra fields."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import TicketUpdate

    changes: dict[str, Any] = {}
    for key, value in (("subject", subject), ("description", description), ("priority", priority)):
        if value is not None:
            changes[key] = value
    if tag is not None:
        changes["tags"] = tag
    if field:
        changes["fields"] = {k: (v or None) for k, v in _pairs(field, "--field").items()}
    if not changes:
        raise typer.BadParameter(
            "give at least one of --subject, --description, --priority, --tag, --field"
        )
    ticket = get_hub(ctx).update_ticket(ticket_id, parse(TicketUpdate, changes))
    if as_json:
        print_json(ticket)
    else:
        say(f"updated ticket {ticket_id}")


@tickets_app.command("due")
def tickets_due(
    ctx: typer.Context,
    ticket_id: TicketArg,
    target: Annotated[str, typer.Option(help="first_response or resolution.")] = "resolution",
    as_json: JsonOpt = False,
) -> None:
    """Print when a ticket's SLA target falls due (an error if its type sets none)."""
    due = get_hub(ctx).ticket_due(ticket_id, target)
    if as_json:
        print_json({"ticket_id": ticket_id, "target": target, "due_at": due.isoformat()})
    else:
        out.print(due.isoformat(timespec="seconds"), markup=False, highlight=False)


@tickets_app.command("history")
def tickets_history(
    ctx: typer.Context,
    ticket_id: TicketArg,
    time_zone: Annotated[
        str,
        typer.Option("--tz", help="Show times in this IANA time zone, such as Europe/Lisbon."),
    ] = "UTC",
    as_json: JsonOpt = False,
) -> None:
    """A ticket's timeline: every change and comment, who and when, labelled as the ticket's
    page labels them ("Status: open → pending", "Clock paused")."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from rich.text import Text

    from customer_flow.core.history import action_label, changes, local

    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: no time zone named {time_zone!r}; use an IANA name such as Europe/Lisbon")
    entries = get_hub(ctx).ticket_history(ticket_id)
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"Timeline of ticket {ticket_id}")
    for col in ("When", "Who", "What", "Changes"):
        table.add_column(col)
    for e in entries:
        lines = []
        for c in changes(e, ("id",), zone):
            if c.before is not None and e.action != "create":
                lines.append(f"{c.label}: {c.before} → {c.after}")
            elif c.after is not None:
                lines.append(f"{c.label}: {c.after}")
            else:
                lines.append(c.label)
        if e.note:
            lines.append(f"({e.note})")
        cells = (local(e.at, zone), e.actor, action_label(e.action), "\n".join(lines))
        table.add_row(*(Text(c) for c in cells))
    out.print(table, highlight=False)


@tickets_app.command("purge")
def tickets_purge(ctx: typer.Context, ticket_id: TicketArg, as_json: JsonOpt = False) -> None:
    """Delete a closed ticket and its comments for good; its timeline stays."""
    ticket = get_hub(ctx).purge_ticket(ticket_id)
    if as_json:
        print_json(ticket)
    else:
        say(f"ticket {ticket_id} purged")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(tickets_app, name="tickets")
