"""``customer-flow report`` through the CLI on both databases: every format shows the Hub's
numbers, ``--plot`` writes readable chart files, and every bad input of the issue is one line
on stderr with exit 1."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from customer_flow.cli.main import app
from customer_flow.reports.models import ReportQuery
from reports_support import SINCE, UNTIL, build

PERIOD = ["--since", "2026-11-02", "--until", "2026-11-22"]  # a bare --until includes the day


class Cli:
    def __init__(self, db_url: str, env: dict[str, str] | None = None) -> None:
        self.db_url = db_url
        self.runner = CliRunner()
        self.env = env or {}

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--db", self.db_url, "report", *args], env=self.env)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def fails(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stdout == ""
        return result.stderr.strip()


@pytest.fixture
def data(db_url: str, tmp_path: Path) -> Any:
    hub = build(db_url, tmp_path)
    yield hub, Cli(db_url, {"CUSTOMER_FLOW_CALENDAR_FILE": str(tmp_path / "calendar.json")})
    hub.close()


class TestFormats:
    def test_json_is_the_hubs_report(self, data: Any) -> None:
        """The same numbers in every place: --format json equals Hub.report's JSON."""
        hub, cli = data
        shown = json.loads(cli.ok(*PERIOD, "--format", "json").stdout)
        expected = hub.report(ReportQuery(since=SINCE, until=UNTIL)).model_dump(mode="json")
        for d in (shown, expected):
            d.pop("generated_at")
        assert expected == shown
        assert shown["calendar"]["working_hours"]["mon"] == ["09:00-18:00"]
        assert json.loads(cli.ok(*PERIOD, "--json").stdout)["totals"]["opened"] == 7

    def test_csv_is_the_metrics_table_by_default_or_the_one_named(self, data: Any) -> None:
        _, cli = data
        rows = list(csv.reader(io.StringIO(cli.ok(*PERIOD, "--format", "csv").stdout)))
        assert rows[0][:5] == ["week", "opened", "resolved", "backlog", "reopen %"]
        assert rows[-1][:8] == ["total", "7", "5", "2", "20.0", "4", "1.25", "2.35"]
        assert len(rows) == 5
        quality = cli.ok(*PERIOD, "--format", "csv", "--table", "data_quality").stdout
        assert "valid email,2,50.0" in quality.splitlines()

    def test_csv_defuses_formula_names(self, data: Any) -> None:
        """A customer named like a spreadsheet formula is defused in the CSV, as in exports."""
        from customer_flow.customers.models import CustomerUpdate

        hub, cli = data
        top = next(iter(hub.report(ReportQuery(since=SINCE, until=UNTIL)).top_customers))
        hub.update_customer(top.id, CustomerUpdate(name='=HYPERLINK("http://x.example","hi")'))
        out = cli.ok(*PERIOD, "--format", "csv", "--table", "top_customers").stdout
        names = [row[1] for row in csv.reader(io.StringIO(out))][1:]
        assert '\'=HYPERLINK("http://x.example","hi")' in names
        assert not any(n.startswith(("=", "+", "-", "@")) for n in names)

    def test_markdown_has_every_table(self, data: Any) -> None:
        _, cli = data
        md = cli.ok(*PERIOD, "--group-by", "type", "--format", "markdown").stdout
        assert md.startswith("# Report 2026-11-02 00:00 – 2026-11-23 00:00 UTC, by type")
        assert "| support | 4 | 3 | 1 | 0.00 |" in md
        assert "| total | 7 | 5 | 2 | 20.00 |" in md
        for title in ("## Tickets", "## SLA compliance", "## Backlog age", "## Data quality"):
            assert title in md

    def test_rich_tables_by_default(self, data: Any) -> None:
        _, cli = data
        text = cli.ok(*PERIOD, "--group-by", "assignee").stdout
        assert "by assignee; business time in UTC" in text
        assert "(unassigned)" in text and "Top customers by tickets opened" in text
        assert "Ana Lima" in text

    def test_an_empty_database_prints_an_honest_empty_report(self, db_url: str) -> None:
        result = Cli(db_url).ok()
        assert "No tickets opened, resolved or waiting in this period." in result.stdout

    def test_a_period_with_no_tickets_says_so(self, data: Any) -> None:
        _, cli = data
        result = cli.ok("--since", "2026-10-01", "--until", "2026-10-14")
        assert "No tickets opened, resolved or waiting" in result.stdout


class TestPlots:
    def test_plot_writes_every_chart_as_png_and_svg(self, data: Any, tmp_path: Path) -> None:
        _, cli = data
        out = tmp_path / "charts" / "nov"
        result = cli.ok(*PERIOD, "--plot", str(out), "--format", "json")
        names = ["backlog_age", "customer_growth", "resolution_time", "sla_by_type",
                 "tickets_over_time"]  # fmt: skip
        assert sorted(f"{n}.{e}" for n in names for e in ("png", "svg")) == sorted(
            p.name for p in out.iterdir()
        )
        assert "wrote 10 chart files" in result.stderr
        assert json.loads(result.stdout)["totals"]["opened"] == 7  # stdout stays data
        png = (out / "tickets_over_time.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        svg = (out / "sla_by_type.svg").read_text()
        # Titles, units and axis labels are in the drawing.
        for text in ("SLA compliance by ticket type", "targets met (%", "ticket type"):
            assert text in svg

    def test_an_unwritable_plot_folder_is_one_line_and_writes_nothing(
        self, data: Any, tmp_path: Path
    ) -> None:
        _, cli = data
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        message = cli.fails(*PERIOD, "--plot", str(blocker / "charts"))
        assert message.startswith(f"error: plot: cannot write charts to {blocker / 'charts'}")


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--since", "2026-12-01", "--until", "2026-11-01"], "error: since: the period starts"),
            (["--since", "2026-11-02", "--until", "2026-11-01"], "give --since before --until"),
            (["--group-by", "year"], "error: group-by: unknown grouping 'year'; use day, week"),
            (["--since", "last tuesday"], "error: since: expected a date like 2026-11-01"),
            (["--format", "xml"], "error: format: unknown format 'xml'"),
            (["--table", "nope"], "error: table: unknown table 'nope'"),
            (["--interval", "year"], "error: interval: unknown step 'year'"),
        ],
    )
    def test_bad_input_is_one_line_and_exit_1(
        self, db_url: str, args: list[str], message: str
    ) -> None:
        assert message in Cli(db_url).fails(*args)

    def test_help_names_every_option_without_a_database(self) -> None:
        result = CliRunner().invoke(app, ["report", "--help"])
        assert result.exit_code == 0 and "--group-by" in result.stdout
