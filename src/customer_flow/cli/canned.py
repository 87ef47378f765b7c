"""The ``canned`` commands: canned replies (text with placeholders agents insert in a reply).

Personal replies belong to the user ``--actor`` names; shared ones everyone sees (the local
CLI acts as an admin, so it may share and change them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, get_hub, out, print_json, say, short

if TYPE_CHECKING:  # --help imports no Pydantic: each command imports the models it parses
    from customer_flow.tickets.models import CannedReply

__all__ = ["canned_app"]

canned_app = typer.Typer(
    no_args_is_help=True,
    help="Canned replies: text with placeholders such as {customer.name} and {ticket.id}.",
)

ReplyArg = Annotated[int, typer.Argument(help="The canned reply's ID.", min=1)]


def _done(reply: CannedReply, as_json: bool, message: str) -> None:
    if as_json:
        print_json(reply)
    else:
        say(message)


@canned_app.command("list")
def canned_list(
    ctx: typer.Context,
    ticket: Annotated[
        int | None,
        typer.Option(help="Fill the placeholders in for this ticket.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the canned replies you see (shared, and --actor's own); with --ticket, filled in."""
    hub = get_hub(ctx)
    if ticket is not None:
        rendered = hub.render_canned_replies(ticket)
        if as_json:
            print_json(rendered)
            return
        for filled in rendered:
            out.print(f"[bold]{filled.id}. {filled.title}[/]", highlight=False)
            out.print(filled.text, markup=False, highlight=False)
        return
    items = hub.list_canned_replies()
    if as_json:
        print_json(items)
        return
    table = Table()
    for col in ("ID", "Title", "Shared", "Owner", "Text"):
        table.add_column(col)
    for r in items:
        table.add_row(
            str(r.id), r.title, "yes" if r.shared else "no", r.owner or "—", short(r.body)
        )
    out.print(table)


@canned_app.command("placeholders")
def canned_placeholders() -> None:
    """The placeholders a canned reply may use, and what each becomes."""
    from customer_flow.tickets.canned import PLACEHOLDERS

    for name, meaning in PLACEHOLDERS.items():
        out.print(f"{{{name}}}\t{meaning}", markup=False, highlight=False)


@canned_app.command("add")
def canned_add(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="A short title.")],
    body: Annotated[str, typer.Argument(help="The text, with placeholders in braces.")],
    shared: Annotated[bool, typer.Option("--shared", help="Everyone sees it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Save a canned reply; an unknown placeholder is refused, naming it."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import CannedCreate

    new = parse(CannedCreate, {"title": title, "body": body, "shared": shared})
    reply = get_hub(ctx).add_canned_reply(new)
    _done(reply, as_json, f"canned reply {reply.id} saved")


@canned_app.command("edit")
def canned_edit(
    ctx: typer.Context,
    reply_id: ReplyArg,
    title: Annotated[str | None, typer.Option(help="A new title.", show_default=False)] = None,
    body: Annotated[str | None, typer.Option(help="A new text.", show_default=False)] = None,
    shared: Annotated[
        bool | None,
        typer.Option(
            "--shared/--personal", help="Share it, or make it personal.", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a canned reply's title, text or sharing."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import CannedUpdate

    given = {
        k: v for k, v in {"title": title, "body": body, "shared": shared}.items() if v is not None
    }
    reply = get_hub(ctx).update_canned_reply(reply_id, parse(CannedUpdate, given))
    _done(reply, as_json, f"canned reply {reply.id} saved")


@canned_app.command("delete")
def canned_delete(ctx: typer.Context, reply_id: ReplyArg, as_json: JsonOpt = False) -> None:
    """Delete a canned reply."""
    reply = get_hub(ctx).delete_canned_reply(reply_id)
    _done(reply, as_json, f"canned reply {reply.id} deleted")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(canned_app, name="canned")
