"""The reports dashboard on both databases, over the fixed data set of ``reports_support``: the
API's JSON is the CLI's ``report --format json``, every CSV download is the CLI's ``--format csv
--table NAME``, and every number the page renders (tables, totals and the charts' data) is the
CLI's number. Bad periods are one clear message, never a server error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from customer_flow.cli.main import app as cli_app
from customer_flow.hub import Hub
from customer_flow.reports.models import Report
from customer_flow.users.models import UserCreate
from customer_flow.web.api.reports import TABLES as API_TABLES
from customer_flow.web.app import create_app
from customer_flow.web.pages.reports import cell
from reports_support import build

from .conftest import PASSWORD

PERIOD = {"since": "2026-11-02", "until": "2026-11-22"}
CLI_PERIOD = ["--since", "2026-11-02", "--until", "2026-11-22"]
TABLES = list(API_TABLES)


@dataclass
class Dash:
    hub: Hub
    client: TestClient
    headers: dict[str, dict[str, str]]
    db_url: str
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli_app, ["--db", self.db_url, "report", *args], env=self.env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout


@pytest.fixture
def dash(db_url: str, tmp_path: Path) -> Iterator[Dash]:
    hub = build(db_url, tmp_path)
    # The OWASP floor, as in conftest's web_settings: strong enough, quick for tests.
    hub.settings = hub.settings.model_copy(
        update={"password_memory_kib": 19456, "password_time_cost": 2}
    )
    headers = {}
    for role in ("admin", "agent", "viewer"):
        user = hub.add_user(
            UserCreate(email=f"{role}@team.example.org", role=role, password=PASSWORD)  # type: ignore[arg-type]
        )
        headers[role] = {"Authorization": f"Bearer {hub.create_token('t', user_id=user.id).token}"}
    env = {"CUSTOMER_FLOW_CALENDAR_FILE": str(tmp_path / "calendar.json")}
    yield Dash(hub, TestClient(create_app(hub=hub)), headers, db_url, env)
    hub.close()


class _Tables(HTMLParser):
    """Every ``<table data-table=NAME>`` of a page as rows of cell texts, the totals, and the
    charts' JSON data block."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.totals: dict[str, str] = {}
        self.charts_json = ""
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._total: str | None = None
        self._in_charts = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-table"):
            self._table = a["data-table"]
            self.tables.setdefault(self._table, [])  # type: ignore[arg-type]
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "dd" and a.get("data-total"):
            self._total = a["data-total"]
        elif tag == "script" and a.get("id") == "report-charts":
            self._in_charts = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "dd":
            self._total = None
        elif tag == "script":
            self._in_charts = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._total:
            self.totals[self._total] = self.totals.get(self._total, "") + data.strip()
        if self._in_charts:
            self.charts_json += data


def _parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    d.pop("generated_at")
    return d


class TestSameNumbersAsTheCli:
    def test_api_json_is_the_clis_json(self, dash: Dash) -> None:
        """GET /api/v1/reports with the CLI's options answers the CLI's --format json."""
        cli = _strip(json.loads(dash.cli(*CLI_PERIOD, "--format", "json")))
        for role in ("admin", "agent", "viewer"):
            r = dash.client.get("/api/v1/reports", params=PERIOD, headers=dash.headers[role])
            assert r.status_code == 200, r.text
            assert _strip(r.json()) == cli
        assert cli["totals"]["opened"] == 7  # the hand-computed figure of the data set

    @pytest.mark.parametrize("group_by", ["day", "month", "type", "priority", "assignee"])
    def test_every_grouping_matches(self, dash: Dash, group_by: str) -> None:
        cli = _strip(json.loads(dash.cli(*CLI_PERIOD, "--group-by", group_by, "--json")))
        r = dash.client.get(
            "/api/v1/reports",
            params={**PERIOD, "group_by": group_by},
            headers=dash.headers["viewer"],
        )
        assert _strip(r.json()) == cli
        assert cli["group_by"] == group_by

    def test_every_csv_download_is_the_clis_csv(self, dash: Dash) -> None:
        shown = json.loads(dash.cli(*CLI_PERIOD, "--format", "json"))
        every = set(Report.model_validate(shown).tables())
        assert every == set(TABLES), "the API must offer every table of the report"
        for table in TABLES:
            cli = dash.cli(*CLI_PERIOD, "--format", "csv", "--table", table)
            r = dash.client.get(
                f"/api/v1/reports/{table}.csv", params=PERIOD, headers=dash.headers["viewer"]
            )
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/csv")
            assert (
                f'filename="report-{table}-20261102-20261123.csv"'
                in (r.headers["content-disposition"])
            )
            assert r.text == cli, table
        # A hand-computed row: the total of the metrics table.
        metrics = dash.client.get(
            "/api/v1/reports/metrics.csv", params=PERIOD, headers=dash.headers["viewer"]
        ).text
        assert metrics.splitlines()[-1].startswith("total,7,5,2,20.0,4,1.25,2.35")

    def test_every_number_on_the_page_is_the_clis(self, dash: Dash) -> None:
        """The page's tables, totals and chart data, cell by cell, against the tables built
        from the CLI's JSON."""
        cli = Report.model_validate(json.loads(dash.cli(*CLI_PERIOD, "--format", "json")))
        expected = cli.tables()
        r = dash.client.get("/reports", params=PERIOD, headers=dash.headers["viewer"])
        assert r.status_code == 200
        page = _parse(r.text)
        shown = set(page.tables)
        assert shown == {
            "tickets",
            "times",
            "sla",
            "timeline",
            "sla_by_type",
            "resolution_time",
            "backlog_age",
            "top_customers",
            "customers",
            "data_quality",
        }
        for name in shown:
            headers, rows = expected[name]
            assert page.tables[name][0] == headers, name
            assert page.tables[name][1:] == [[cell(v) for v in row] for row in rows], name
            assert f'href="/api/v1/reports/{name}.csv?since=2026-11-02&amp;until=2026-11-22' in (
                r.text
            )
        assert page.totals == {
            "opened": "7",
            "resolved": "5",
            "backlog": "2",
            "sla": cell(cli.totals.sla.percent),
            "reopen_rate": "20.0",
        }
        charts = {c["id"]: c for c in json.loads(page.charts_json)}
        timeline_h, timeline = expected["timeline"]
        over_time = charts["tickets-over-time"]
        assert over_time["labels"] == [str(row[0]) for row in timeline]
        for series in over_time["series"]:
            column = timeline_h.index(series["label"])
            assert series["values"] == [row[column] for row in timeline]
        _, backlog = expected["backlog_age"]
        assert charts["backlog-age"]["series"][0]["values"] == [row[1] for row in backlog]
        _, sla = expected["sla_by_type"]
        assert charts["sla-by-type"]["labels"] == [row[0] for row in sla]
        assert set(charts) == {
            "tickets-over-time",
            "customer-growth",
            "sla-by-type",
            "resolution-time",
            "backlog-age",
        }
        assert r.text.count(">Download CSV</a>") >= len(charts) + 6

    def test_the_page_has_no_inline_script_and_a_strict_csp(self, dash: Dash) -> None:
        r = dash.client.get("/reports", params=PERIOD, headers=dash.headers["agent"])
        assert "script-src 'self'" in r.headers["content-security-policy"]
        scripts = [s for s in r.text.split("<script")[1:]]
        for s in scripts:
            tag = s.split(">", 1)[0]
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert '<script src="/static/chart.umd.min.js" defer></script>' in r.text
        assert dash.client.get("/static/chart.umd.min.js").status_code == 200
        assert dash.client.get("/static/reports.js").status_code == 200


class TestBadPeriods:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"since": "2026-11-20", "until": "2026-11-02"}, "at or after it ends"),
            ({"since": "yesterday"}, "expected a date like 2026-11-01"),
            ({"until": "0001-01-01"}, "outside the years 1900 to 9000"),
            ({"group_by": "colour"}, "unknown grouping"),
            ({"interval": "hour"}, "unknown step"),
        ],
    )
    def test_the_api_and_the_page_refuse_with_one_message(
        self, dash: Dash, params: dict[str, str], message: str
    ) -> None:
        viewer = dash.headers["viewer"]
        r = dash.client.get("/api/v1/reports", params=params, headers=viewer)
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        if "group_by" not in params and "interval" not in params:  # Literal: FastAPI's words
            assert message in r.json()["detail"]
        page = dash.client.get("/reports", params=params, headers=viewer)
        assert page.status_code == 422
        assert message in page.text
        assert 'role="alert"' in page.text and "<canvas" not in page.text

    def test_a_period_without_tickets_says_so_and_is_all_zeros(self, dash: Dash) -> None:
        params = {"since": "2025-01-01", "until": "2025-01-31"}
        r = dash.client.get("/api/v1/reports", params=params, headers=dash.headers["viewer"])
        assert r.json()["totals"]["opened"] == 0
        page = dash.client.get("/reports", params=params, headers=dash.headers["viewer"])
        assert page.status_code == 200
        assert "No tickets opened, resolved or waiting in this period." in page.text
        assert _parse(page.text).totals["opened"] == "0"

    def test_an_empty_database_shows_an_empty_report(self, db_url: str) -> None:
        with Hub.open(db_url, actor="tester") as hub:
            user = hub.add_user(
                UserCreate(email="v@team.example.org", role="viewer", password=PASSWORD)
            )
            token = hub.create_token("t", user_id=user.id).token
            client = TestClient(create_app(hub=hub))
            auth = {"Authorization": f"Bearer {token}"}
            r = client.get("/api/v1/reports", headers=auth)
            assert r.status_code == 200 and r.json()["totals"]["opened"] == 0
            page = client.get("/reports", headers=auth)
            assert page.status_code == 200 and "No tickets opened" in page.text
            assert client.get("/api/v1/reports/top_customers.csv", headers=auth).text == (
                "customer,name,opened,unresolved\n"
            )

    def test_an_unknown_table_is_404(self, dash: Dash) -> None:
        r = dash.client.get("/api/v1/reports/secrets.csv", headers=dash.headers["viewer"])
        assert r.status_code in (404, 422)

    def test_without_a_login_the_page_goes_to_login(self, dash: Dash) -> None:
        r = dash.client.get("/reports?since=2026-11-02", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=/reports")
        assert dash.client.get("/api/v1/reports").status_code == 401
