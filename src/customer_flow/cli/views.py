"""The ``views`` commands: queues saved under a name (filters and sort), personal or shared.

List a view's tickets with ``tickets list --saved-view ID``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, get_hub, out, print_json, say

__all__ = ["views_app"]

views_app = typer.Typer(
    no_args_is_help=True, help="Saved views of the ticket queue: filters and sort under a name."
)


@views_app.command("list")
def views_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The saved views you see: shared ones, and --actor's own."""
    items = get_hub(ctx).list_saved_views()
    if as_json:
        print_json(items)
        return
    table = Table()
    for col in ("ID", "Title", "Shared", "Owner", "Filters and sort"):
        table.add_column(col)
    for v in items:
        table.add_row(
            str(v.id), v.title, "yes" if v.shared else "no", v.owner or "—",
            json.dumps(v.query, ensure_ascii=False),
        )  # fmt: skip
    out.print(table)


@views_app.command("add")
def views_add(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="The view's name.")],
    status: Annotated[list[str] | None, typer.Option(help="A status; repeatable.")] = None,
    all_statuses: Annotated[bool, typer.Option("--all", help="Every status.")] = False,
    priority: Annotated[list[str] | None, typer.Option(help="A priority; repeatable.")] = None,
    assignee: Annotated[str | None, typer.Option(help="An agent.", show_default=False)] = None,
    unassigned: Annotated[bool, typer.Option("--unassigned", help="Only unassigned.")] = False,
    team: Annotated[str | None, typer.Option(help="A team.", show_default=False)] = None,
    type_key: Annotated[
        str | None, typer.Option("--type", help="A ticket type.", show_default=False)
    ] = None,
    view: Annotated[
        str | None,
        typer.Option(
            help="A built-in view: mine, unassigned, at_risk, my_team.", show_default=False
        ),
    ] = None,
    sla: Annotated[str | None, typer.Option(help="An SLA state.", show_default=False)] = None,
    search: Annotated[str | None, typer.Option(help="Text.", show_default=False)] = None,
    sort: Annotated[str, typer.Option(help="As for `tickets list`.")] = "id",
    shared: Annotated[bool, typer.Option("--shared", help="Everyone sees it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Save a view of the queue: these filters and this sort under TITLE."""
    from customer_flow.core.models import parse
    from customer_flow.tickets.models import SavedViewCreate

    query = {
        "status": status or None, "all_statuses": all_statuses, "priority": priority or None,
        "assignee": assignee, "unassigned": unassigned, "team": team, "type": type_key,
        "view": view, "sla": sla, "search": search, "sort": sort,
    }  # fmt: skip
    given = {k: v for k, v in query.items() if v not in (None, False)}
    new = parse(SavedViewCreate, {"title": title, "query": given, "shared": shared})
    saved = get_hub(ctx).add_saved_view(new)
    if as_json:
        print_json(saved)
    else:
        say(f"saved view {saved.id} ({saved.title}); list it with `tickets list --saved-view "
            f"{saved.id}`")  # fmt: skip


@views_app.command("delete")
def views_delete(
    ctx: typer.Context,
    view_id: Annotated[int, typer.Argument(help="The view's ID.", min=1)],
    as_json: JsonOpt = False,
) -> None:
    """Delete a saved view."""
    gone = get_hub(ctx).delete_saved_view(view_id)
    if as_json:
        print_json(gone)
    else:
        say(f"saved view {gone.id} deleted")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(views_app, name="views")
