"""The ``tickets`` commands through the CLI (CliRunner with --db), on both databases:
JSON shapes, exit codes, one-line errors on stderr, and every "bad input" of the issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from customer_flow.cli.main import app
from customer_flow.core.config import Settings
from customer_flow.hub import Hub
from tickets_support import AGENTS, add_agent


class Cli:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.runner = CliRunner()
        self.env: dict[str, str] = {}

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(
            app, ["--db", self.db_url, "--actor", "tester", *args], env=self.env
        )

    def ok(self, *args: str) -> Any:
        """Run a command with --json that must succeed; its parsed stdout."""
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def fails(self, *args: str, code: int = 1) -> str:
        """Run a command that must fail with ``code``; its stderr, one line for exit 1."""
        result = self(*args)
        assert code == result.exit_code, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        if code == 1:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert result.stdout == ""
        return result.stderr


@pytest.fixture
def cli(db_url: str) -> Cli:
    """A database with the demo customers and the agents ana, bo and bob."""
    c = Cli(db_url)
    c.ok("init", "--demo")
    with Hub(Settings(database_url=db_url)) as hub:
        for name in AGENTS:
            add_agent(hub, name)
    return c


def open_ticket(cli: Cli, *extra: str) -> dict[str, Any]:
    return cli.ok(  # type: ignore[no-any-return]
        "tickets", "open", "--customer", "1", "--type", "billing", "--subject", "Refund", *extra
    )


class TestCommands:
    def test_open_shape(self, cli: Cli) -> None:
        """open --json prints the ticket object with its SLA."""
        t = open_ticket(cli, "--priority", "high", "--description", "Charged twice")
        assert {"id": 1, "customer_id": 1, "type": "billing", "priority": "high"}.items() <= (
            t.items()
        )
        assert (t["status"], t["description"]) == ("new", "Charged twice")
        assert t["sla"]["first_response"]["target_seconds"] == 4 * 3600

    def test_open_message_without_json(self, cli: Cli) -> None:
        """Without --json a message goes to stderr and stdout stays empty."""
        result = cli("tickets", "open", "--customer", "1", "--type", "billing", "--subject", "x")
        assert (result.exit_code, result.stdout) == (0, "")
        assert "opened ticket 1" in result.stderr

    def test_fields_tags_assignee(self, cli: Cli) -> None:
        """--field, --tag and --assignee reach the ticket, typed."""
        t = open_ticket(cli, "--field", "amount=12.5", "--tag", "VIP", "--assignee", "bo")
        assert (t["fields"], t["tags"], t["assignee"]) == (
            {"amount": 12.5},
            ["vip"],
            "bo@team.example",
        )

    def test_list_is_an_array_with_filters(self, cli: Cli) -> None:
        """list --json prints an array; filters and --all work."""
        open_ticket(cli)
        open_ticket(cli, "--priority", "urgent")
        cli.ok("tickets", "close", "1")
        assert [t["id"] for t in cli.ok("tickets", "list")] == [2]
        assert [t["id"] for t in cli.ok("tickets", "list", "--all")] == [1, 2]
        assert [t["id"] for t in cli.ok("tickets", "list", "--priority", "urgent")] == [2]
        assert cli.ok("tickets", "list", "--sla", "breached") == []
        assert [t["id"] for t in cli.ok("tickets", "list", "--search", "REFUND")] == [2]

    def test_list_pages(self, cli: Cli) -> None:
        """--limit and the printed cursor page through the queue."""
        for _ in range(3):
            open_ticket(cli)
        first = cli("tickets", "list", "--limit", "2", "--json")
        cursor = first.stderr.strip().split("--after ")[1]
        assert [t["id"] for t in json.loads(first.stdout)] == [1, 2]
        assert [t["id"] for t in cli.ok("tickets", "list", "--after", cursor)] == [3]

    def test_only_a_customer_comment_names_its_author(self, cli: Cli) -> None:
        """--author names the customer who wrote it; an agent's reply is by --actor."""
        open_ticket(cli)
        message = cli.fails("tickets", "comment", "1", "Hello!", "--author", "Bo")
        assert "only a customer's comment names its author" in message
        theirs = cli.ok("tickets", "comment", "1", "Thanks", "--by-customer", "--author", "Bo")
        assert (theirs["author"], theirs["by_customer"]) == ("Bo", True)
        assert [c["body"] for c in cli.ok("tickets", "show", "1")["comments"]] == ["Thanks"]

    def test_comment_assign_status_close_reopen_show(self, cli: Cli) -> None:
        """The working commands, each printing the object it changed."""
        open_ticket(cli)
        note = cli.ok("tickets", "comment", "1", "internal", "--note")
        assert (note["public"], note["author"]) == (False, "tester")
        reply = cli.ok("tickets", "comment", "1", "Hello!")
        assert (reply["public"], reply["author"]) == (True, "tester")
        assert cli.ok("tickets", "assign", "1", "ana")["assignee"] == "ana@team.example"
        assert cli.ok("tickets", "assign", "1", "--unassign")["assignee"] is None
        assert cli.ok("tickets", "status", "1", "pending")["status"] == "pending"
        assert cli.ok("tickets", "close", "1")["status"] == "closed"
        reopened = cli.ok("tickets", "reopen", "1")
        assert (reopened["status"], reopened["reopened_count"]) == ("open", 1)
        shown = cli.ok("tickets", "show", "1")
        assert [c["body"] for c in shown["comments"]] == ["internal", "Hello!"]
        assert shown["first_response_at"] is not None
        actions = [e["action"] for e in cli.ok("tickets", "history", "1")]
        assert actions[:5] == ["create", "note", "comment", "first_response", "status"]
        assert actions[-1] == "reopen"

    def test_show_and_history_as_tables(self, cli: Cli) -> None:
        """Without --json, show and history print readable tables on stdout."""
        open_ticket(cli)
        cli("tickets", "comment", "1", "On it")
        shown = cli("tickets", "show", "1")
        assert shown.exit_code == 0
        assert "SLA first response" in shown.stdout and "On it" in shown.stdout
        history = cli("tickets", "history", "1").stdout
        assert "First response" in history and "first_response" not in history

    def test_history_is_labelled_like_the_page(self, cli: Cli) -> None:
        """The same labels as the ticket page, times in the zone asked for; a zone that does
        not exist is refused in one line."""
        open_ticket(cli)
        cli.ok("tickets", "status", "1", "pending")
        result = cli("tickets", "history", "1", "--tz", "Asia/Tokyo")
        assert result.exit_code == 0
        assert "Status: open → pending" in result.stdout or "Status: new → pending" in result.stdout
        assert "Clock paused" in result.stdout and "paused_at" not in result.stdout
        assert "JST" in result.stdout
        assert "time zone" in cli.fails("tickets", "history", "1", "--tz", "Mars/Olympus")

    def test_due(self, cli: Cli) -> None:
        """due prints the due instant of a target."""
        t = open_ticket(cli)
        due = cli.ok("tickets", "due", "1", "--target", "first_response")
        assert t["sla"]["first_response"]["due_at"] == due["due_at"].replace("+00:00", "Z")

    def test_update(self, cli: Cli) -> None:
        """update changes the subject and priority."""
        open_ticket(cli)
        t = cli.ok("tickets", "update", "1", "--subject", "Refund please", "--priority", "low")
        assert (t["subject"], t["priority"]) == ("Refund please", "low")


class TestBadInput:
    def test_missing_customer(self, cli: Cli) -> None:
        """A missing customer is one line, exit 1."""
        err = cli.fails("tickets", "open", "--customer", "9", "--type", "billing", "--subject", "s")
        assert "error: no customer with ID 9" in err

    def test_missing_type(self, cli: Cli) -> None:
        """A missing type is one line, exit 1."""
        err = cli.fails("tickets", "open", "--customer", "1", "--type", "nope", "--subject", "s")
        assert "error: no ticket type 'nope'" in err

    def test_inactive_type(self, cli: Cli, tmp_path: Path) -> None:
        """A type deactivated by loading a file without it takes no new tickets."""
        path = tmp_path / "types.json"
        path.write_text(json.dumps({"billing": "Billing question"}))
        cli.ok("ticket-types", "load", str(path))
        err = cli.fails(
            "tickets", "open", "--customer", "1", "--type", "complaint", "--subject", "s"
        )
        assert "ticket type 'complaint' is inactive" in err

    def test_closed_to_pending(self, cli: Cli) -> None:
        """closed → pending is refused naming the allowed transitions."""
        open_ticket(cli)
        cli.ok("tickets", "close", "1")
        err = cli.fails("tickets", "status", "1", "pending")
        assert "cannot go from closed to pending; allowed from closed: open (reopen)" in err

    def test_field_of_the_wrong_type(self, cli: Cli) -> None:
        """A field of the wrong type is named."""
        err = cli.fails(
            "tickets", "open", "--customer", "1", "--type", "billing", "--subject", "s",
            "--field", "amount=lots",
        )  # fmt: skip
        assert "fields.amount: expected a number, got 'lots'" in err

    def test_missing_required_field(self, cli: Cli) -> None:
        """A missing required field is named."""
        err = cli.fails(
            "tickets", "open", "--customer", "1", "--type", "technical_issue", "--subject", "s"
        )
        assert "fields.product: required for type technical_issue" in err

    def test_comment_on_purged_ticket(self, cli: Cli) -> None:
        """A comment on a purged ticket says it was purged."""
        open_ticket(cli)
        cli.ok("customers", "delete", "1", "--force")
        cli.ok("customers", "purge", "1", "--with-tickets")
        err = cli.fails("tickets", "comment", "1", "hello?")
        assert "error: ticket 1 was purged" in err

    def test_calendar_with_no_working_hours(self, cli: Cli, tmp_path: Path) -> None:
        """A calendar with no working hours is a clear config error."""
        path = tmp_path / "calendar.json"
        path.write_text(json.dumps({"timezone": "Europe/Lisbon", "working_hours": {}}))
        cli.env["CUSTOMER_FLOW_CALENDAR_FILE"] = str(path)
        err = cli.fails("tickets", "open", "--customer", "1", "--type", "billing", "--subject", "s")
        assert "calendar.json: no working hours" in err

    def test_due_of_a_ticket_with_no_sla(self, cli: Cli) -> None:
        """Asking for a due time the type does not set is an error."""
        cli.ok("tickets", "open", "--customer", "1", "--type", "feature_request", "--subject", "s")
        err = cli.fails("tickets", "due", "1")
        assert "ticket 1 has no resolution target: its type 'feature_request' sets none" in err

    def test_bad_priority_and_status(self, cli: Cli) -> None:
        """An unknown priority or status is a one-line error."""
        assert "priority" in cli.fails(
            "tickets", "open", "--customer", "1", "--type", "billing", "--subject", "s",
            "--priority", "asap",
        )  # fmt: skip
        open_ticket(cli)
        assert "unknown status 'done'" in cli.fails("tickets", "status", "1", "done")

    def test_usage_errors_exit_2(self, cli: Cli) -> None:
        """A missing option or a malformed --field is a usage error (exit 2)."""
        cli.fails("tickets", "open", "--customer", "1", "--type", "billing", code=2)
        cli.fails("tickets", "assign", "1", code=2)
        cli.fails(
            "tickets", "open", "--customer", "1", "--type", "billing", "--subject", "s",
            "--field", "amount", code=2,
        )  # fmt: skip


class TestCustomerIntegrityCli:
    def test_delete_refused_then_forced(self, cli: Cli) -> None:
        """customers delete names the open tickets; --force closes them."""
        open_ticket(cli)
        open_ticket(cli)
        err = cli.fails("customers", "delete", "1")
        assert "customer 1 has 2 open tickets" in err
        assert cli.ok("customers", "delete", "1", "--force")["deleted_at"] is not None
        assert [t["status"] for t in cli.ok("tickets", "list", "--customer", "1", "--all")] == [
            "closed",
            "closed",
        ]

    def test_purge_refused_without_with_tickets(self, cli: Cli) -> None:
        """customers purge is refused while tickets exist, unless --with-tickets."""
        open_ticket(cli)
        cli.ok("customers", "delete", "1", "--force")
        assert "--with-tickets" in cli.fails("customers", "purge", "1")
        cli.ok("customers", "purge", "1", "--with-tickets")
        assert cli.ok("tickets", "list", "--all") == []


class TestSlaSettingsCli:
    def test_priority_factors_from_the_environment(self, cli: Cli) -> None:
        """CUSTOMER_FLOW_SLA_PRIORITY_FACTORS (JSON) scales the targets: urgent × 0.5 turns the
        complaint type's 1h first response into 30 minutes."""
        cli.env["CUSTOMER_FLOW_SLA_PRIORITY_FACTORS"] = '{"urgent": 0.5}'
        t = cli.ok("tickets", "open", "--customer", "1", "--type", "complaint", "--subject", "s")
        assert (t["priority"], t["sla"]["first_response"]["target_seconds"]) == ("urgent", 1800)

    def test_bad_priority_factor_is_a_config_error(self, cli: Cli) -> None:
        """A factor for an unknown priority is a one-line error, exit 1."""
        cli.env["CUSTOMER_FLOW_SLA_PRIORITY_FACTORS"] = '{"critical": 0.5}'
        err = cli.fails("tickets", "list")
        assert "sla_priority_factors: unknown priority 'critical'" in err


class TestBulk:
    def test_bulk_close_a_range_and_report_skips(self, cli: Cli) -> None:
        """`tickets bulk` takes IDs and ranges; skipped tickets are listed and exit 1."""
        ids = [open_ticket(cli)["id"] for _ in range(3)]
        done = cli.ok("tickets", "bulk", "close", f"{ids[0]}-{ids[1]}")
        assert ids[:2] == done["changed"]
        result = cli("tickets", "bulk", "close", f"{ids[0]},{ids[2]}")
        assert 1 == result.exit_code
        assert f"ticket {ids[0]}: ticket {ids[0]} is already closed" in result.stderr
        assert "1 tickets changed, 1 skipped" in result.stderr

    def test_bulk_versions_and_bad_input(self, cli: Cli) -> None:
        t = open_ticket(cli)
        cli.ok("tickets", "assign", str(t["id"]), "bo")
        stale = f"{t['id']}@{t['updated_at']}"
        result = cli("tickets", "bulk", "priority", stale, "--priority", "urgent", "--json")
        assert 1 == result.exit_code
        done = json.loads(result.stdout)
        assert [] == done["changed"] and "changed_meanwhile" == done["skipped"][0]["code"]
        assert "assignee" in cli.fails(
            "tickets", "bulk", "assign", str(t["id"]), "--assignee", "zed"
        )
        cli.fails("tickets", "bulk", "close", "x1", code=2)
        assert "action" in cli.fails("tickets", "bulk", "explode", str(t["id"]))


class TestCanned:
    def test_add_list_edit_delete_and_fill_in(self, cli: Cli) -> None:
        """The local CLI (an admin acting as no user) keeps shared replies; as a user, its own."""
        assert "placeholder" in cli.fails("canned", "add", "Bad", "Dear {custmer.name}", "--shared")
        assert "belongs to a user" in cli.fails("canned", "add", "Mine", "x")
        made = cli.ok("canned", "add", "Hi", "Hi {customer.name}, #{ticket.id}", "--shared")
        t = open_ticket(cli)
        [filled] = cli.ok("canned", "list", "--ticket", str(t["id"]))
        assert filled["text"].endswith(f", #{t['id']}")
        cli.ok("canned", "edit", str(made["id"]), "--title", "Hello")
        assert ["Hello"] == [r["title"] for r in cli.ok("canned", "list")]
        cli.ok("canned", "delete", str(made["id"]))
        assert [] == cli.ok("canned", "list")
        cli.fails("canned", "delete", str(made["id"]))

    def test_comment_then_resolve(self, cli: Cli) -> None:
        t = open_ticket(cli)
        cli.ok("tickets", "comment", str(t["id"]), "Done", "--then", "resolved")
        assert "resolved" == cli.ok("tickets", "show", str(t["id"]))["status"]
        assert "set_status" in cli.fails("tickets", "comment", str(t["id"]), "x", "--then", "gone")


class TestExport:
    def test_export_csv_and_xlsx(self, cli: Cli, tmp_path: Path) -> None:
        t = open_ticket(cli, "--assignee", "bo")
        open_ticket(cli)
        out = tmp_path / "mine.csv"
        report = cli.ok("tickets", "export", str(out), "--assignee", "bo")
        assert 1 == report["rows"]
        assert out.read_text().splitlines()[1].startswith(f"{t['id']},")
        report = cli.ok("tickets", "export", str(tmp_path / "all.xlsx"), "--format", "xlsx")
        assert 2 == report["rows"] and (tmp_path / "all.xlsx").stat().st_size > 0
        bad = str(tmp_path / "x.pdf")
        assert "format" in cli.fails("tickets", "export", bad, "--format", "pdf")
        assert not (tmp_path / "x.pdf").exists()
