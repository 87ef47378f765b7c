"""The ``teams`` commands: agents, teams of them and how a team gives out its tickets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, get_hub, out, print_json, say

if TYPE_CHECKING:  # --help imports no Pydantic: each command imports the models it parses
    from customer_flow.teams.models import Agent, Team

__all__ = ["teams_app"]

teams_app = typer.Typer(
    no_args_is_help=True,
    help="Agents and teams: who works tickets, and round-robin assignment per team.",
)

TeamArg = Annotated[str, typer.Argument(help="The team's key, such as billing.")]
AgentArg = Annotated[str, typer.Argument(help="An agent's email, or a name only one user has.")]
AssignmentOpt = Annotated[
    str | None,
    typer.Option(
        help="round_robin (the next active agent gets each new ticket) or none.",
        show_default=False,
    ),
]


def _team_table(items: list[Team]) -> Table:
    table = Table()
    for col in ("Team", "Name", "Assignment", "Members"):
        table.add_column(col)
    for t in items:
        members = ", ".join(m.email for m in t.members) or "—"
        table.add_row(t.key, t.name, t.assignment.replace("_", "-"), members)
    return table


def _agent_table(items: list[Agent]) -> Table:
    table = Table()
    for col in ("Email", "Name"):
        table.add_column(col)
    for a in items:
        table.add_row(a.email, a.name or "—")
    return table


def _done(team: Team, as_json: bool, message: str) -> None:
    if as_json:
        print_json(team)
    else:
        say(message)


@teams_app.command("agents")
def teams_agents(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List who can be given tickets: active users whose role is agent or admin."""
    items = get_hub(ctx).list_agents()
    if as_json:
        print_json(items)
    else:
        out.print(_agent_table(items))


@teams_app.command("list")
def teams_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the teams with their members."""
    items = get_hub(ctx).list_teams()
    if as_json:
        print_json(items)
    else:
        out.print(_team_table(items))


@teams_app.command("show")
def teams_show(ctx: typer.Context, team: TeamArg, as_json: JsonOpt = False) -> None:
    """Show one team."""
    found = get_hub(ctx).get_team(team)
    if as_json:
        print_json(found)
    else:
        out.print(_team_table([found]))


@teams_app.command("add")
def teams_add(
    ctx: typer.Context,
    team: TeamArg,
    name: Annotated[str, typer.Option(help="A display name (default: the key).")] = "",
    assignment: AssignmentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a team (round-robin unless --assignment none)."""
    values = {"key": team, "name": name}
    if assignment is not None:
        values["assignment"] = assignment
    from customer_flow.core.models import parse
    from customer_flow.teams.models import TeamCreate

    created = get_hub(ctx).add_team(parse(TeamCreate, values))
    _done(created, as_json, f"added team {created.key} ({created.assignment})")


@teams_app.command("set")
def teams_set(
    ctx: typer.Context,
    team: TeamArg,
    name: Annotated[str | None, typer.Option(help="A new display name.")] = None,
    assignment: AssignmentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a team or change how it assigns tickets."""
    from customer_flow.core.models import parse
    from customer_flow.teams.models import TeamUpdate

    changes = parse(
        TeamUpdate,
        {k: v for k, v in {"name": name, "assignment": assignment}.items() if v is not None},
    )
    changed = get_hub(ctx).update_team(team, changes)
    _done(changed, as_json, f"team {changed.key}: {changed.name} ({changed.assignment})")


@teams_app.command("add-member")
def teams_add_member(
    ctx: typer.Context, team: TeamArg, agent: AgentArg, as_json: JsonOpt = False
) -> None:
    """Put an active agent in a team."""
    changed = get_hub(ctx).add_team_member(team, agent)
    _done(changed, as_json, f"team {changed.key} has {len(changed.members)} member(s)")


@teams_app.command("remove-member")
def teams_remove_member(
    ctx: typer.Context, team: TeamArg, agent: AgentArg, as_json: JsonOpt = False
) -> None:
    """Take someone out of a team; the tickets they hold stay theirs."""
    changed = get_hub(ctx).remove_team_member(team, agent)
    _done(changed, as_json, f"team {changed.key} has {len(changed.members)} member(s)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(teams_app, name="teams")
