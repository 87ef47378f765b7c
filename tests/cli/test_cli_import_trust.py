"""Issue 16 through the real CLI: what an import, validate and revert show and exit with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customer_flow.cli.main import app


@pytest.fixture
def run(db_url: str) -> object:
    runner = CliRunner()

    def invoke(*args: str) -> object:
        return runner.invoke(app, ["--db", db_url, "--region", "US", *args])

    return invoke


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8", newline="")
    return path


BROKEN_JSONL = (
    '{"ID":1,"Name":"Ana J","Email":"ana.j@acme.io"}\n'
    "[1,2]\n"
    '"just a string"\n'
    '{"ID": 2, "Name": "Bad\n'
    '{"ID":3,"Name":"Cy J","Email":"cy.j@acme.io"}\n'
)


class TestImportShowsEverything:
    def test_broken_json_lines_are_shown_as_rejects(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """The report counts the broken lines in the rows read and lists them as bad_json."""
        path = write(tmp_path, "b.jsonl", BROKEN_JSONL)
        result = run("import", str(path), "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["rows_read"], report["blank_rows"], report["rejected"]) == (5, 0, 3)
        result = run("import", str(write(tmp_path, "c.jsonl", BROKEN_JSONL)), "--dry-run")
        assert "bad_json" in result.stderr
        assert "0 imported + 0 updated + 2 unchanged + 3 rejected = 5 rows read" in result.stderr


class TestSmallThings:
    def test_a_header_only_file_exits_1_saying_no_rows(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        result = run("import", str(write(tmp_path, "h.csv", "Name,Email\n")))
        assert result.exit_code == 1
        assert result.stderr.startswith("error: h.csv: no rows")
        assert json.loads(run("imports", "list", "--json").stdout) == []

    def test_an_unreadable_file_is_one_line_and_exit_1(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A folder, a missing file and an encoding that is not a text encoding: one line on
        stderr, exit 1, as for any rejected operation."""
        path = write(tmp_path, "a.csv", "Name\nAna\n")
        for args in (
            [str(tmp_path)],
            [str(tmp_path / "missing.csv")],
            [str(path), "--encoding", "base64"],
        ):
            result = run("import", *args)
            assert (result.exit_code, len(result.stderr.splitlines())) == (1, 1), result.stderr
            assert result.stderr.startswith("error: ")

    def test_a_mistyped_db_creates_nothing(self, tmp_path: Path) -> None:
        """Only init or --create makes a database: any other command on a path with none
        exits 1 saying so, and creates nothing."""
        runner = CliRunner()
        missing = tmp_path / "nowhere" / "x.db"
        result = runner.invoke(app, ["--db", str(missing), "customers", "list"])
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: no database at {missing}; run `customer-flow init` to create one\n"
        )
        assert not missing.parent.exists()
        result = runner.invoke(app, ["--db", str(missing), "--create", "customers", "list"])
        assert result.exit_code == 0 and missing.exists()
        other = tmp_path / "y.db"
        assert runner.invoke(app, ["--db", str(other), "init"]).exit_code == 0
        assert runner.invoke(app, ["--db", str(other), "customers", "list"]).exit_code == 0

    def test_validate_does_not_create_the_database(self, tmp_path: Path) -> None:
        """validate imports nothing: the --db file is neither created nor migrated."""
        db = tmp_path / "v.db"
        path = write(tmp_path, "a.csv", "Name,Email\nAna Lima,ana@x.io\n")
        result = CliRunner().invoke(app, ["--db", str(db), "validate", str(path), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["imported"] == 1
        assert not db.exists()


class TestRevertCommand:
    def test_revert_names_what_blocks_it_and_skip_changed_reverts_the_rest(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path
    ) -> None:
        """A ticket on an imported customer: revert exits 1 naming it; --skip-changed reverts
        the others and lists what stayed; the history of a removed customer stays."""
        run("init")
        path = write(tmp_path, "a.csv", "ID,Name,Email\n201,Ana Lima,ana@acme.io\n202,Bo Berg,\n")
        assert run("import", str(path)).exit_code == 0
        opened = run(
            "tickets", "open", "--customer", "201", "--type", "question", "--subject", "Hi"
        )
        assert opened.exit_code == 0, opened.output
        blocked = run("imports", "revert", "1")
        assert blocked.exit_code == 1
        assert "customer 201 (Ana Lima) has 1 ticket" in blocked.stderr
        assert "--skip-changed" in blocked.stderr
        done = run("imports", "revert", "1", "--skip-changed")
        assert done.exit_code == 0, done.output
        assert "import 1 partly reverted: 1 customers removed, 0 restored" in done.stderr
        assert "customer 201 (Ana Lima): has 1 ticket" in done.stderr
        history = run("customers", "history", "202", "--json")
        assert history.exit_code == 0, history.output
        entries = json.loads(history.stdout)
        assert [e["action"] for e in entries] == ["create", "revert"]
        assert entries[-1]["before"]["name"] == "Bo Berg"
        table = run("customers", "history", "201")
        assert "create (import 1)" in " ".join(table.stdout.split()), table.stdout
        shown = run("customers", "show", "202")
        assert shown.exit_code == 1 and "purged" not in shown.stderr
        assert "import 1 reverted" in shown.stderr
