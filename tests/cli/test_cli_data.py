"""The import, imports, validate and export commands, through the real CLI."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import xlsx_support
from customer_flow.cli.main import app
from customer_flow.data.sorted_keys import SortedKeys


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


MESSY = (
    "Customer ID,Full Name,E-mail,Phone Number,City\n"
    '1,"SMITH, JOHN",John@EXAMPLE.org,(415) 555-0123,Boston\n'
    "2,Ana Lima,not-an-email,,Lisbon\n"
    "3,=cmd|' /C calc'!A0,x@y.io,,\n"
)


class TestImportCommand:
    def test_json_report_balances(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """--json prints the report on stdout; the counts add up to the rows read."""
        path = write(tmp_path, "m.csv", MESSY)
        result = run("import", str(path), "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["imported"], report["rejected"], report["rows_read"]) == (2, 1, 3)
        assert {k: report["cleaning"][k] for k in ("name_order", "name_case")} == {
            "name_order": 1,
            "name_case": 1,
        }
        rejects = (tmp_path / "m.rejects.csv").read_text().splitlines()
        assert rejects[0].startswith("row,column,code,message,Customer ID")
        assert rejects[1].startswith("2,E-mail,email_invalid,")

    def test_summary_table_and_balance_line(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """Without --json a summary goes to stderr, ending with the balance, and no progress
        bar is drawn when stderr is not a terminal."""
        result = run("import", str(write(tmp_path, "m.csv", MESSY)))
        assert result.exit_code == 0
        assert result.stdout == ""
        assert "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read" in result.stderr
        assert "importing:" not in result.stderr

    def test_max_errors_exceeded_exits_1_and_imports_nothing(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """Exit code 1 when more rows than --max-errors are rejected; nothing is stored."""
        result = run("import", str(write(tmp_path, "m.csv", MESSY)), "--max-errors", "0")
        assert result.exit_code == 1
        assert "nothing was imported" in result.stderr
        listed = run("customers", "list", "--json")
        assert json.loads(listed.stdout) == []

    def test_dry_run_and_map(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """--dry-run writes nothing; --map maps an unusual header."""
        path = write(tmp_path, "w.csv", "Who,Digits\nAna,415 555 0123\n")
        result = run(
            "import", str(path), "--dry-run", "--map", "Who=Name", "--map", "Digits=Phone", "--json"
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["imported"] == 1
        assert json.loads(run("customers", "list", "--json").stdout) == []

    def test_bad_input_gives_one_line_and_exit_1(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """An empty file, a binary file: a one-line error, exit 1, no traceback."""
        for name, content in (("e.csv", b""), ("p.csv", b"\x89PNG\r\n\x1a\n" + bytes(300))):
            path = tmp_path / name
            path.write_bytes(content)
            result = run("import", str(path))
            assert result.exit_code == 1
            assert result.stderr.startswith("error: ")
            assert "Traceback" not in result.output

    def test_a_full_disk_mid_import_is_one_line_and_leaves_nothing(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The disk fills up while the import remembers its rows (its temporary files): one
        line, exit 1, no traceback, and nothing imported."""

        def full(self: SortedKeys, rows: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(SortedKeys, "add", full)
        result = run("import", str(write(tmp_path, "a.csv", "Name,Email\nAna,ana@mail.pt\n")))
        assert result.exit_code == 1
        assert result.stderr == "error: [Errno 28] No space left on device\n"
        monkeypatch.undo()
        assert json.loads(run("customers", "list", "--json").stdout) == []
        assert json.loads(run("imports", "list", "--json").stdout) == []

    def test_bad_on_conflict_is_a_usage_error(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """An unknown --on-conflict value exits 2."""
        result = run("import", str(write(tmp_path, "a.csv", "Name\nA\n")), "--on-conflict", "merge")
        assert result.exit_code == 2


class TestImportsCommands:
    def test_list_and_revert(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """imports list shows the batch; imports revert N undoes it."""
        run("import", str(write(tmp_path, "a.csv", "Name\nAna\nBo\n")))
        batches = json.loads(run("imports", "list", "--json").stdout)
        assert [(b["status"], b["imported"]) for b in batches] == [("imported", 2)]
        result = run("imports", "revert", str(batches[0]["id"]))
        assert result.exit_code == 0
        assert "2 customers removed" in result.stderr
        assert json.loads(run("customers", "list", "--json").stdout) == []
        again = run("imports", "revert", str(batches[0]["id"]))
        assert again.exit_code == 1
        assert "already reverted" in again.stderr


class TestValidateCommand:
    def test_per_rule_counts_and_first_failing_rows(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """validate reports counts per rule with percentages and the failing rows; it imports
        nothing."""
        result = run("validate", str(write(tmp_path, "m.csv", MESSY)))
        assert result.exit_code == 0
        assert "email_invalid" in result.stderr
        assert "33.3" in result.stderr
        assert "2 valid + 1 rejected = 3 rows read" in result.stderr
        assert json.loads(run("customers", "list", "--json").stdout) == []


class TestExportCommand:
    def test_export_to_stdout_neutralises_formulas(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """export - writes CSV to stdout; formula-like cells get an apostrophe unless --raw;
        an E.164 phone is a number, not a formula, and stays as it is."""
        run("import", str(write(tmp_path, "m.csv", MESSY)))
        safe = run("export", "-")
        assert safe.exit_code == 0
        assert "'=cmd" in safe.stdout
        assert ",+14155550123," in safe.stdout
        raw = run("export", "-", "--raw")
        assert "\n3,=cmd" in raw.stdout

    def test_unknown_export_format_is_a_usage_error(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """--format must be one of csv, json, jsonl, xlsx, parquet: exit 2 otherwise."""
        assert run("export", str(tmp_path / "x.xml"), "--format", "xml").exit_code == 2

    def test_export_filters_and_formats(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """--search filters like customers list; --format jsonl writes one object a line."""
        run("import", str(write(tmp_path, "m.csv", MESSY)))
        out = tmp_path / "o.jsonl"
        result = run("export", str(out), "--format", "jsonl", "--search", "smith")
        assert result.exit_code == 0, result.output
        lines = out.read_text().splitlines()
        assert [json.loads(line)["name"] for line in lines] == ["John Smith"]


class TestXlsxBomb:
    @pytest.mark.parametrize("command", ["import", "validate"])
    def test_a_bomb_is_one_line_and_exit_1_in_bounded_memory(
        self, db_url: str, xlsx_bomb: Path, tmp_path: Path, command: str
    ) -> None:
        """A 1 MB XLSX that unpacks to 1 GiB (openpyxl took a server to 22.7 GB with one):
        one line on stderr, exit 1, and the process's memory hardly moves."""
        args = ["--db", db_url, command, str(xlsx_bomb)]
        proc, grew = xlsx_support.run_measured(
            f"sys.argv = ['customer-flow', *{args!r}]\nmain()",
            # The import path's libraries are loaded on first use (tests/cli/test_cli_startup.py):
            # load them first, so that what is measured is the file, not the imports.
            warm="from customer_flow.cli.main import main\n"
            "import customer_flow.hub, customer_flow.data.imports, customer_flow.data.xlsx",
            tmp_path=tmp_path,
        )
        assert 1 == proc.returncode, proc.stderr[-2000:]
        [line] = proc.stderr.splitlines()
        assert line.startswith("error: bomb.xlsx: part xl/sharedStrings.xml unpacks to 1,073,7")
        assert grew < 100, f"peak memory grew {grew:.0f} MB"
