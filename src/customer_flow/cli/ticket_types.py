"""``customer-flow ticket-types``: the ticket types of ticket_types.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, get_hub, out, print_json, say

types_app = typer.Typer(no_args_is_help=True, help="The ticket types of ticket_types.json.")


# -- ticket types --------------------------------------------------------------------------


@types_app.command("list")
def types_list(
    ctx: typer.Context,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include inactive types.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the ticket types."""
    from customer_flow.tickets.types import format_duration

    types = get_hub(ctx).list_ticket_types(include_inactive=include_inactive)
    if as_json:
        print_json(types)
        return
    table = Table()
    table.add_column("Key", no_wrap=True, style="cyan")
    table.add_column("Name")
    table.add_column("Priority", no_wrap=True)
    table.add_column("1st reply", no_wrap=True)
    table.add_column("Resolve", no_wrap=True)
    table.add_column("Fields", overflow="fold")
    table.add_column("Active", no_wrap=True)
    for t in types:
        table.add_row(
            t.key,
            t.name,
            t.default_priority,
            format_duration(t.sla["first_response"]) if "first_response" in t.sla else "—",
            format_duration(t.sla["resolution"]) if "resolution" in t.sla else "—",
            ", ".join(t.fields) or "—",
            "yes" if t.active else "no",
        )
    out.print(table)


@types_app.command("show")
def types_show(ctx: typer.Context, key: str, as_json: JsonOpt = False) -> None:
    """Show one ticket type with its SLA targets and extra fields."""
    from customer_flow.tickets.types import format_duration

    t = get_hub(ctx).get_ticket_type(key)
    if as_json:
        print_json(t)
        return
    out.print(f"[bold]{t.key}[/]: {t.name}" + ("" if t.active else " [red](inactive)[/]"))
    if t.description:
        out.print(t.description, markup=False)
    out.print(f"default priority: {t.default_priority}")
    for target, seconds in t.sla.items():
        out.print(f"SLA {target.replace('_', ' ')}: {format_duration(seconds)}")
    for fname, spec in t.fields.items():
        req = " (required)" if spec.get("required") else ""
        choices = f": {', '.join(spec['choices'])}" if spec.get("choices") else ""
        out.print(f"field {fname}: {spec['type']}{req}{choices}", markup=False)


@types_app.command("validate")
def types_validate(
    path: Annotated[Path, typer.Argument(help="The ticket_types.json to check.")],
) -> None:
    """Check a ticket_types.json and list every problem, without loading it."""
    from customer_flow.hub import Hub

    types = Hub.check_ticket_types_file(path)
    say(f"{path.name}: ok, {len(types)} ticket types")


@types_app.command("load")
def types_load(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The ticket_types.json to load.")],
    as_json: JsonOpt = False,
) -> None:
    """Sync a ticket_types.json into the database. Types missing from it are deactivated."""
    report = get_hub(ctx).load_ticket_types(path)
    if as_json:
        print_json(report)
        return
    say(
        f"{path.name}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deactivated)} deactivated"
    )


def register(app: typer.Typer) -> None:
    """Add ``ticket-types`` to the root app."""
    app.add_typer(types_app, name="ticket-types")
