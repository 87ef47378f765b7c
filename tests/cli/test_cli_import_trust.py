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
