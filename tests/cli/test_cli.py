"""The CLI on both databases: commands, --json, exit codes, and one-line errors on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customer_flow.cli.main import app

runner = CliRunner()


class Cli:
    """Runs ``customer-flow --db URL ...`` in-process and checks the exit code."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def __call__(self, *args: str, code: int = 0):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, ["--db", self.db_url, "--actor", "cli-test", *args])
        assert code == result.exit_code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stderr + result.stdout
        return result

    def json(self, *args: str):  # type: ignore[no-untyped-def]
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


class TestCustomers:
    def test_add_show_list_update_history(self, cli: Cli) -> None:
        added = cli.json(
            "customers",
            "add",
            "--name",
            " ana  lima",
            "--email",
            "Ana@Lima.PT",
            "--phone",
            "(415) 555-2671",
            "--extra",
            "city=Porto",
        )
        assert (
            added["name"],
            added["email"],
            added["phone"],
            added["extra"],
        ) == ("ana lima", "Ana@lima.pt", "+14155552671", {"city": "Porto"})
        shown = cli.json("customers", "show", str(added["id"]))
        assert added == shown
        assert [added["id"]] == [c["id"] for c in cli.json("customers", "list", "--search", "LIMA")]
        cli("customers", "update", str(added["id"]), "--name", "Ana Lima", "--phone", "")
        after = cli.json("customers", "show", str(added["id"]))
        assert (after["name"], after["phone"]) == ("Ana Lima", None)
        history = cli.json("customers", "history", str(added["id"]))
        assert [e["action"] for e in history] == ["create", "update"]
        assert {"cli-test"} == {e["actor"] for e in history}

    def test_extra_attributes_past_the_limits_are_one_line_exit_1(self, cli: Cli) -> None:
        """Issue 15: extra attributes are bounded here as in the API."""
        many = [a for i in range(101) for a in ("--extra", f"k{i}=v")]
        too_many = "error: extra: 101 attributes; a customer has at most 100\n"
        result = cli("customers", "add", "--name", "Bo", "--email", "bo@x.io", *many, code=1)
        assert too_many == result.stderr
        key = "k" * 101 + "=v"
        result = cli(
            "customers", "add", "--name", "Bo", "--email", "b@x.io", "--extra", key, code=1
        )
        assert 1 == len(result.stderr.splitlines())
        added = cli.json("customers", "add", "--name", "Bo", "--email", "bo@x.io", *many[2:])
        result = cli("customers", "update", str(added["id"]), "--extra", "one=more", code=1)
        assert too_many == result.stderr

    def test_table_output_and_messages_on_stderr(self, cli: Cli) -> None:
        result = cli("customers", "add", "--name", "Bo", "--email", "bo@x.io")
        assert result.stdout == "" and "added customer 1" in result.stderr
        listing = cli("customers", "list").stdout
        assert "Bo" in listing and "bo@x.io" in listing

    def test_the_seed_row_is_accepted_with_warnings_on_stderr(self, cli: Cli) -> None:
        result = cli(
            "customers",
            "add",
            "--id",
            "1",
            "--name",
            "John Doe",
            "--email",
            "johndoe@example.com",
            "--phone",
            "555-1234",
        )
        assert "warning: customer 1: phone:" in result.stderr
        assert "warning: customer 1: email:" in result.stderr
        shown = cli("customers", "show", "1").stdout
        assert "local number with no area code" in shown

    def test_trash_restore_purge(self, cli: Cli) -> None:
        cli("customers", "add", "--name", "Bo", "--email", "bo@x.io")
        cli("customers", "delete", "1")
        assert cli.json("customers", "list") == []
        assert [c["id"] for c in cli.json("customers", "list", "--trash")] == [1]
        cli("customers", "restore", "1")
        cli("customers", "delete", "1")
        assert "purged" in cli("customers", "purge", "1").stderr
        cli("customers", "show", "1", code=1)

    def test_paging_prints_the_next_cursor_on_stderr(self, cli: Cli) -> None:
        for i in range(3):
            cli("customers", "add", "--name", f"P{i}", "--email", f"p{i}@x.io")
        first = cli("customers", "list", "--limit", "2", "--json")
        assert [c["id"] for c in json.loads(first.stdout)] == [1, 2]
        cursor = first.stderr.split("--after", 1)[1].strip()
        assert [
            c["id"] for c in cli.json("customers", "list", "--limit", "2", "--after", cursor)
        ] == [3]


class TestErrors:
    """Bad input: exit 1, one line on stderr naming the field, nothing changed."""

    @pytest.fixture(autouse=True)
    def _one_customer(self, cli: Cli) -> None:
        cli("customers", "add", "--id", "5", "--name", "Ana", "--email", "ana@x.io")

    @pytest.mark.parametrize(
        ("args", "needle"),
        [
            (
                ["customers", "add", "--name", "B", "--email", "ANA@X.IO"],
                "email: ANA@x.io is already used by customer 5",
            ),
            (
                ["customers", "add", "--name", "B", "--email", "not-an-email"],
                "email: 'not-an-email'",
            ),
            (
                ["customers", "add", "--name", "B", "--email", "b@x.io", "--phone", "abc"],
                "phone: 'abc'",
            ),
            (
                ["customers", "add", "--name", "B", "--email", "b@x.io", "--id", "5"],
                "id: 5 is already used",
            ),
            (["customers", "add", "--name", " ", "--email", "b@x.io"], "name:"),
            (["customers", "purge", "999"], "no customer with ID 999"),
            (["customers", "show", "999"], "no customer with ID 999"),
            (["customers", "list", "--after", "garbage"], "after:"),
            (["ticket-types", "show", "nope"], "no ticket type 'nope'"),
        ],
    )
    def test_rejected_operations(self, cli: Cli, args: list[str], needle: str) -> None:
        result = cli(*args, code=1)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
        assert [c["id"] for c in cli.json("customers", "list")] == [5]

    def test_changing_a_customer_in_the_trash(self, cli: Cli) -> None:
        cli("customers", "delete", "5")
        for args in (["update", "5", "--name", "X"], ["delete", "5"]):
            result = cli("customers", *args, code=1)
            assert "customer 5 is in the trash" in result.stderr
        assert cli.json("customers", "show", "5")["name"] == "Ana"

    @pytest.mark.parametrize(
        "args",
        [
            ["customers", "add", "--name", "X"],  # --email missing
            ["customers", "show", "abc"],
            ["customers", "show"],
            ["customers", "list", "--limit", "0"],
            ["customers", "update", "5"],  # nothing to change
            ["customers", "add", "--name", "X", "--email", "x@y.io", "--extra", "novalue"],
            ["no-such-command"],
        ],
    )
    def test_usage_errors_exit_2(self, cli: Cli, args: list[str]) -> None:
        cli(*args, code=2)


class TestTicketTypes:
    def test_init_list_show(self, cli: Cli) -> None:
        cli("init")
        keys = [t["key"] for t in cli.json("ticket-types", "list")]
        assert "billing" in keys and len(keys) == 6
        billing = cli.json("ticket-types", "show", "billing")
        assert billing["sla"] == {"first_response": 14400, "resolution": 172800}
        assert "4h" in cli("ticket-types", "show", "billing").stdout

    def test_validate_lists_every_problem_and_exits_1(self, cli: Cli, tmp_path: Path) -> None:
        bad = tmp_path / "ticket_types.json"
        bad.write_text(
            json.dumps(
                {
                    "a": {"name": "A", "sla": {"first_response": True}},
                    "b": {"name": "B", "colour": "red"},
                }
            )
        )
        result = cli("ticket-types", "validate", str(bad), code=1)
        lines = result.stderr.strip().splitlines()
        assert lines[:1] == [
            "error: ticket_types.json: $.a.sla.first_response: "
            'expected a duration like "4h", got true',
        ]
        assert len(lines) == 2 and "$.b.colour: unknown key" in lines[1]

    def test_validate_ok(self, cli: Cli, examples: Path) -> None:
        result = cli("ticket-types", "validate", str(examples / "ticket_types.json"))
        assert "ok, 6 ticket types" in result.stderr

    def test_load_deactivates_missing_types(self, cli: Cli, tmp_path: Path, examples: Path) -> None:
        cli("ticket-types", "load", str(examples / "ticket_types.json"))
        small = tmp_path / "t.json"
        small.write_text('{"question": "General question"}')
        report = cli.json("ticket-types", "load", str(small))
        assert len(report["deactivated"]) == 5 and report["updated"] == ["question"]
        assert [t["key"] for t in cli.json("ticket-types", "list")] == ["question"]
        assert len(cli.json("ticket-types", "list", "--all")) == 6


class TestDatabaseErrors:
    def test_unreachable_postgres_is_one_line_naming_the_host(self) -> None:
        result = runner.invoke(
            app, ["--db", "postgresql://postgres@127.0.0.1:1/x", "customers", "list"]
        )
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert (
            len(lines) == 1
            and "127.0.0.1:1" in lines[0]
            and lines[0].startswith("error: cannot open")
        )

    def test_help_needs_no_database(self) -> None:
        result = runner.invoke(
            app, ["--db", "postgresql://postgres@127.0.0.1:1/x", "customers", "--help"]
        )
        assert result.exit_code == 0 and "add" in result.stdout


class TestEntryPoints:
    def test_python_dash_m_runs_the_cli(self, tmp_path: Path) -> None:
        env = {**os.environ, "CUSTOMER_FLOW_DATABASE_URL": str(tmp_path / "m.db")}
        proc = subprocess.run(
            [sys.executable, "-m", "customer_flow", "init", "--demo", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["customers_added"] == [1, 2]

    def test_console_script_reports_errors_without_traceback(self, tmp_path: Path) -> None:
        script = Path(sys.executable).parent / "customer-flow"
        env = {**os.environ, "CUSTOMER_FLOW_DATABASE_URL": str(tmp_path / "s.db")}
        proc = subprocess.run(
            [str(script), "customers", "show", "9"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        # A database that is not there is not created by a mistyped path (only init does).
        assert (proc.returncode, proc.stderr, proc.stdout) == (
            1,
            f"error: no database at {tmp_path / 's.db'}; run `customer-flow init` to create one\n",
            "",
        )
        assert not (tmp_path / "s.db").exists()

    def test_every_command_has_help_text(self) -> None:
        """Docstrings are the --help text: a command without one fails this test."""
        import typer.main

        group = typer.main.get_command(app)
        missing = []

        def walk(cmd, path):  # type: ignore[no-untyped-def]
            for name, sub in getattr(cmd, "commands", {}).items():
                if not (sub.help or "").strip():
                    missing.append(" ".join([*path, name]))
                walk(sub, [*path, name])

        walk(group, [])
        assert missing == []


class TestHistoryAfterAMerge:
    def test_each_entry_says_which_customer_it_is_about(self, cli: Cli) -> None:
        cli("customers", "add", "--name", "Ana Lima", "--email", "ana@lima.pt")
        cli("customers", "add", "--name", "Rui Costa", "--email", "rui@costa.pt")
        plain = cli("customers", "history", "1").stdout
        assert "Customer" not in plain and "(merged)" not in plain
        cli("duplicates", "merge", "1", "2")
        shown = cli("customers", "history", "1").stdout
        assert "Customer" in shown
        rows = [line for line in shown.splitlines() if "create" in line]
        assert 2 == len(rows), shown
        assert any("2 (merged)" in r for r in rows) and any("(merged)" not in r for r in rows)
