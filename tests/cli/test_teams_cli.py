"""The ``teams`` commands and assignment through the CLI, on both databases: an assignee is an
active agent, teams give tickets out in turn, and every refusal is one line with exit 1."""

from __future__ import annotations

import json

import pytest
from test_tickets_cli import Cli, open_ticket

from customer_flow.cli.main import app
from customer_flow.core.config import Settings
from customer_flow.hub import Hub
from tickets_support import add_agent


@pytest.fixture
def cli(db_url: str) -> Cli:
    """The demo customers; agents ana and bo, a viewer vic and a disabled agent dan."""
    c = Cli(db_url)
    c.ok("init", "--demo")
    with Hub(Settings(database_url=db_url)) as hub:
        add_agent(hub, "ana")
        add_agent(hub, "bo")
        add_agent(hub, "vic", role="viewer")
        add_agent(hub, "dan", active=False)
    return c


class TestTeams:
    def test_add_members_and_list(self, cli: Cli) -> None:
        """A team with two members, listed with them; agents lists active agents only."""
        assert cli.ok("teams", "add", "billing", "--name", "Billing")["assignment"] == (
            "round_robin"
        )
        cli.ok("teams", "add-member", "billing", "ana")
        team = cli.ok("teams", "add-member", "billing", "bo@team.example")
        assert [m["email"] for m in team["members"]] == ["ana@team.example", "bo@team.example"]
        assert [t["key"] for t in cli.ok("teams", "list")] == ["billing"]
        assert [a["name"] for a in cli.ok("teams", "agents")] == ["ana", "bo"]
        team = cli.ok("teams", "remove-member", "billing", "ana")
        assert [m["name"] for m in team["members"]] == ["bo"]
        assert cli.ok("teams", "set", "billing", "--assignment", "none")["assignment"] == "none"

    def test_round_robin_through_open_and_assign(self, cli: Cli) -> None:
        """open --team and assign --team give tickets to the team's agents in turn."""
        cli.ok("teams", "add", "support")
        cli.ok("teams", "add-member", "support", "ana")
        cli.ok("teams", "add-member", "support", "bo")
        first = open_ticket(cli, "--team", "support")
        second = cli.ok("tickets", "assign", str(first["id"]), "--team", "support")
        assert [first["assignee"], second["assignee"]] == ["ana@team.example", "bo@team.example"]
        listed = cli.ok("tickets", "list", "--team", "support")
        assert [t["id"] for t in listed] == [first["id"]]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("tickets", "assign", "1", "vic"), "vic@team.example is a viewer"),
            (("tickets", "assign", "1", "dan"), "dan@team.example is disabled"),
            (("tickets", "assign", "1", "anna@team.pt"), "no user 'anna@team.pt'"),
            (("tickets", "assign", "1", "--team", "empty"), "team 'empty' has no active agents"),
            (("tickets", "assign", "1", "--team", "nope"), "no team 'nope'"),
            (("teams", "add", "Bad Key"), "key:"),
            (("teams", "add", "x", "--assignment", "random"), "assignment:"),
            (("teams", "add-member", "empty", "vic"), "is a viewer"),
        ],
    )
    def test_bad_input_is_one_line(self, cli: Cli, args: tuple[str, ...], message: str) -> None:
        """Each refusal names what is wrong; the ticket keeps its assignee."""
        cli.ok("teams", "add", "empty")
        open_ticket(cli, "--assignee", "ana")
        assert message in cli.fails(*args)
        assert cli.ok("tickets", "show", "1")["assignee"] == "ana@team.example"

    def test_assign_needs_someone_or_unassign(self, cli: Cli) -> None:
        """Neither an agent, a team nor --unassign is a usage error (exit 2)."""
        open_ticket(cli)
        cli.fails("tickets", "assign", "1", code=2)
        cli.fails("tickets", "assign", "1", "ana", "--unassign", code=2)

    def test_unmatched_assignees_report(self, cli: Cli) -> None:
        """A database that started with agents has nothing to report."""
        assert cli.ok("tickets", "unmatched-assignees") == []
        result = cli("tickets", "unmatched-assignees")
        assert "every assignee matched a user" in result.stderr


class TestQueueViews:
    def test_views_and_the_triage_columns(self, cli: Cli) -> None:
        """--view mine (the --actor's tickets), --view unassigned; the rows name the
        customer and which target falls due next."""
        open_ticket(cli, "--assignee", "ana")
        open_ticket(cli)
        result = cli.runner.invoke(
            app,
            ["--db", cli.db_url, "--actor", "ana@team.example", "tickets", "list", "--view",
             "mine", "--json"],
        )  # fmt: skip
        assert 0 == result.exit_code, result.stderr
        assert [1] == [t["id"] for t in json.loads(result.stdout)]
        assert [2] == [t["id"] for t in cli.ok("tickets", "list", "--view", "unassigned")]
        assert "Customer" in cli("tickets", "list").stdout
        listed = cli.ok("tickets", "list")
        assert ["first_response"] * 2 == [t["sla"]["next_due"] for t in listed]
        assert listed[0]["customer_name"]
        assert "view:" in cli.fails("tickets", "list", "--view", "everything")
