"""The report rollup and the percentile picks, on SQLite and PostgreSQL.

The rollup is a cache of counts: after any sequence of ticket changes, recounting the days they
marked must give exactly the rows a rebuild from scratch gives, and a report must not depend on
whether the marked days were recounted yet (a report counts them from the tickets itself). The
percentiles must equal the textbook ones (``statistics``, linear interpolation, as
``percentile_cont``) for durations spread over many histogram buckets, by every route SQL takes
to pick them.
"""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import statistics
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.reports import metrics as reports
from customer_flow.reports import rollup as report_rollup
from customer_flow.reports.models import Report, ReportQuery
from customer_flow.store.schema import report_days, report_dirty, tickets
from customer_flow.tickets.models import CommentCreate, TicketCreate, TicketUpdate
from reports_support import NOW, SINCE, UNTIL, build
from tickets_support import Clock, make_hub, utc

H = 3600


@pytest.fixture
def data(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    hub = build(db_url, tmp_path)
    yield hub
    hub.close()


def rollup(hub: Hub) -> list[tuple[Any, ...]]:
    with hub.store.read() as conn:
        return sorted(tuple(r) for r in conn.execute(select(report_days)))


def assert_rollup_is_exact(hub: Hub) -> None:
    """Recounting the marked days gives what counting everything again gives."""
    hub.refresh_report_rollup()
    with hub.store.read() as conn:
        assert report_rollup.dirty_days(conn) == []
    recounted = rollup(hub)
    hub.rebuild_report_rollup()
    assert recounted == rollup(hub)
    assert recounted, "the data set has events to count"


def numbers(report: Report) -> dict[str, Any]:
    dumped = report.model_dump(mode="json")
    dumped.pop("generated_at")
    return dumped


QUERIES = [
    ReportQuery(since=SINCE, until=UNTIL),
    ReportQuery(
        since=SINCE + timedelta(hours=13), until=UNTIL - timedelta(hours=5), group_by="day"
    ),
    ReportQuery(since=SINCE, until=NOW, group_by="type"),
    ReportQuery(since=utc(2026, 10, 1), until=NOW, group_by="assignee"),
    ReportQuery(since=utc(2026, 11, 9, 10), until=utc(2026, 11, 9, 12), group_by="priority"),
]


class TestKeptCurrent:
    def test_every_kind_of_ticket_change_keeps_the_rollup_exact(self, data: Hub) -> None:
        """The data set opens, answers, pauses, resolves, reopens and closes tickets; then
        priority, assignee, another reopen, a purge and a forced customer delete."""
        assert_rollup_is_exact(data)
        data.set_clock(lambda: NOW)
        changes = [  # (change, whether it changes a count). Ticket IDs: T3 is 2, T2 is 3.
            (lambda: data.update_ticket(4, TicketUpdate(priority="urgent")), True),
            (lambda: data.assign_ticket(4, "bob"), True),
            (lambda: data.assign_ticket(3, None), True),
            (lambda: data.reopen_ticket(1), True),
            (lambda: data.set_ticket_status(1, "resolved"), True),
            (lambda: data.set_ticket_status(6, "open"), True),
            (lambda: data.add_comment(6, CommentCreate(body="at last")), True),
            (lambda: data.close_ticket(5), False),  # resolved already: only closed_at changes
            (lambda: data.purge_ticket(5), True),
            (lambda: data.delete_customer(3, force=True), True),
        ]
        for i, (change, counts) in enumerate(changes):
            change()
            with data.store.read() as conn:
                assert bool(report_rollup.dirty_days(conn)) == counts, i
            assert_rollup_is_exact(data)

    def test_a_change_the_rollup_does_not_count_marks_nothing(self, data: Hub) -> None:
        data.refresh_report_rollup()
        data.set_clock(lambda: NOW)
        data.update_ticket(4, TicketUpdate(subject="renamed", tags=["x"]))
        data.add_comment(4, CommentCreate(body="a note", public=False))
        data.add_comment(1, CommentCreate(body="a second reply"))  # not the first
        with data.store.read() as conn:
            assert report_rollup.dirty_days(conn) == []

    @pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.group_by}")
    def test_marked_days_are_counted_from_the_tickets(self, data: Hub, query: ReportQuery) -> None:
        """Before any report, every day of the data set is marked: the report counts them from
        the tickets. The same report after the recount, and after a rebuild, is the same."""
        with data.store.read() as conn:
            assert len(report_rollup.dirty_days(conn)) > 5
            live = reports.build_report(conn, query, now=NOW, calendar={})
        assert data.refresh_report_rollup() > 5
        with data.store.read() as conn:
            assert report_rollup.dirty_days(conn) == []
            rolled = reports.build_report(conn, query, now=NOW, calendar={})
        assert numbers(live) == numbers(rolled)
        data.rebuild_report_rollup()
        assert numbers(data.report(query))["totals"] == numbers(rolled)["totals"]

    def test_a_busy_sqlite_database_is_reported_on_without_waiting(
        self, data: Hub, db_url: str
    ) -> None:
        """Another writer holds the lock: the report does not recount (it would wait) but
        counts the marked days itself, and they stay marked for a later report."""
        if not db_url.startswith("sqlite"):
            pytest.skip("PostgreSQL never waits to begin")
        expected = numbers(data.report(QUERIES[0]))
        data.set_clock(lambda: NOW)
        data.reopen_ticket(1)
        data.set_ticket_status(1, "resolved")
        other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            busy = numbers(data.report(QUERIES[0]))
            with data.store.read() as conn:
                assert report_rollup.dirty_days(conn)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert busy["totals"]["opened"] == expected["totals"]["opened"] == 7
        assert busy["totals"]["resolved"] == expected["totals"]["resolved"] - 1  # T1 moved
        assert numbers(data.report(QUERIES[0])) == busy
        with data.store.read() as conn:
            assert report_rollup.dirty_days(conn) == []

    def test_tickets_written_behind_its_back_are_counted_once_the_rollup_is_rebuilt(
        self, data: Hub
    ) -> None:
        data.refresh_report_rollup()
        with data.store.write() as conn:
            conn.execute(update(tickets).where(tickets.c.id == 4).values(type_key="complaint"))
        by_type = {g.key: g.opened for g in data.report(QUERIES[2]).groups}
        assert by_type["complaint"] == 1  # the rollup does not know
        data.rebuild_report_rollup()
        by_type = {g.key: g.opened for g in data.report(QUERIES[2]).groups}
        assert by_type["complaint"] == 2

    def test_a_report_reads_one_snapshot(self, data: Hub) -> None:
        """The rollup, its marks and the tickets as of one instant: PostgreSQL's report
        transaction is REPEATABLE READ (SQLite's reads always are snapshots)."""
        with data.store.read(snapshot=True) as conn:
            if conn.dialect.name == "postgresql":
                level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
                assert level == "repeatable read"
        with data.store.read() as conn:
            if conn.dialect.name == "postgresql":
                level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
                assert level == "read committed"

    def test_the_cli_rebuilds_on_request(self, data: Hub, db_url: str) -> None:
        data.refresh_report_rollup()
        with data.store.write() as conn:
            conn.execute(update(tickets).where(tickets.c.id == 4).values(priority="urgent"))
        args = ["--db", db_url, "report", "--group-by", "priority", "--since", "2026-11-02"]
        shown = CliRunner().invoke(app, [*args, "--until", "2026-11-22", "--json"])
        assert {g["key"]: g["opened"] for g in json.loads(shown.stdout)["groups"]}["urgent"] == 1
        shown = CliRunner().invoke(app, [*args, "--until", "2026-11-22", "--json", "--rebuild"])
        assert shown.exit_code == 0, shown.stderr
        assert {g["key"]: g["opened"] for g in json.loads(shown.stdout)["groups"]}["urgent"] == 2

    def test_an_empty_rollup_with_tickets_is_rebuilt_by_the_next_report(self, data: Hub) -> None:
        """As after a bulk load that bypassed the tickets module."""
        data.refresh_report_rollup()
        with data.store.write() as conn:
            conn.execute(report_days.delete())
            conn.execute(report_dirty.delete())
        assert data.report(QUERIES[0]).totals.opened == 7


# -- percentiles over many buckets ---------------------------------------------------------------


def _textbook(values: list[int]) -> tuple[float, float]:
    """Median and p90 with linear interpolation between the nearest ranks."""
    if len(values) == 1:
        return float(values[0]), float(values[0])
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8]
    return float(statistics.median(values)), float(p90)


@pytest.fixture
def spread(db_url: str, tmp_path: Path) -> Iterator[tuple[Hub, list[dict[str, Any]]]]:
    """120 tickets whose durations and instants are then set at random (written behind the
    tickets module's back, so the rollup is rebuilt): durations from seconds to weeks, with
    ties, over many histogram buckets; instants over three weeks."""
    clock = Clock(utc(2026, 11, 2, 9))
    hub = make_hub(db_url, tmp_path, clock=clock)
    rng = random.Random(6)
    people = ["ana", "bob", None]
    rows = []
    for i in range(120):
        ticket = hub.open_ticket(
            TicketCreate(
                customer_id=1,
                type=rng.choice(["support", "complaint", "chat"]),
                subject=f"t{i}",
                assignee=rng.choice(people),
            )
        )
        created = utc(2026, 11, 2) + timedelta(seconds=rng.randint(0, 20 * 86400))
        values: dict[str, Any] = {"created_at": created}
        if rng.random() < 0.9:
            spent = rng.choice([rng.randint(0, 900), rng.randint(0, 30 * H), 4 * H])
            values["first_response_at"] = created + timedelta(seconds=spent + 60)
            values["first_response_seconds"] = spent
        if rng.random() < 0.8:
            spent = rng.choice([rng.randint(0, 3 * H), rng.randint(0, 21 * 86400), 9 * H])
            values["resolved_at"] = created + timedelta(seconds=spent + 3600)
            values["resolution_seconds"] = spent
            values["status"] = "resolved"
            values["is_open"] = False
        with hub.store.write() as conn:
            conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**values))
        rows.append({"type": ticket.type, "assignee": ticket.assignee, **values})
    hub.rebuild_report_rollup()
    clock.now = NOW + timedelta(days=30)
    yield hub, rows
    hub.close()


def _expected(
    rows: list[dict[str, Any]], key: Any, since: Any, until: Any
) -> dict[tuple[str, str], tuple[int, float, float]]:
    out: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        for metric, at, value in (
            ("first_response", "first_response_at", "first_response_seconds"),
            ("resolution", "resolved_at", "resolution_seconds"),
        ):
            if r.get(at) is not None and since <= r[at] < until:
                for k in (key(r, r[at]), "total"):
                    out.setdefault((metric, k), []).append(r[value])
    return {k: (len(v), *_textbook(v)) for k, v in out.items()}


def _shown(report: Report) -> dict[tuple[str, str], tuple[int, float, float]]:
    out = {}
    for g in [*report.groups, report.totals]:
        for metric in ("first_response", "resolution"):
            d = getattr(g, metric)
            if d.count:
                out[(metric, g.key)] = (d.count, d.median_seconds, d.p90_seconds)
    return out


GROUPINGS: dict[str, Any] = {
    "week": lambda r, at: (at.date() - timedelta(days=at.weekday())).isoformat(),
    "day": lambda r, at: at.date().isoformat(),
    "type": lambda r, at: r["type"],
    "assignee": lambda r, at: r["assignee"] or "(unassigned)",
}


class TestPercentiles:
    @pytest.mark.parametrize("group_by", list(GROUPINGS))
    @pytest.mark.parametrize("route", ["walk", "scan"])
    def test_they_are_the_textbook_ones_by_every_route(
        self,
        spread: tuple[Hub, list[dict[str, Any]]],
        group_by: str,
        route: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Per group and in total, for a period with partial days at both ends. ``walk``:
        along the duration indexes; ``scan``: sorting within the period (SQLite's two routes;
        PostgreSQL sorts one array per group either way)."""
        hub, rows = spread
        if route == "walk":
            monkeypatch.setattr(reports, "_WALK_SHARE", 0.0)
            monkeypatch.setattr(report_rollup, "bucket_totals", lambda *a: {})
        else:
            monkeypatch.setattr(reports, "_WALK_SHARE", 2.0)
            monkeypatch.setattr(
                report_rollup, "bucket_totals", lambda *a: {k: 10**9 for k in _keys()}
            )
        since, until = utc(2026, 11, 3, 7, 30), utc(2026, 11, 20, 16)
        report = hub.report(ReportQuery(since=since, until=until, group_by=group_by))  # type: ignore[arg-type]
        expected = _expected(rows, GROUPINGS[group_by], since, until)
        shown = _shown(report)
        assert set(shown) == set(expected)
        for k, (n, median, p90) in expected.items():
            assert shown[k][0] == n, k
            assert shown[k][1:] == (pytest.approx(median), pytest.approx(p90)), k
        assert len(expected) >= 8


def _keys() -> list[str]:
    return [report_rollup.bucket_key(i) for i in range(len(report_rollup.DURATION_BOUNDS))]


class TestOddNames:
    def test_no_one_can_be_assigned_as_unassigned(self, data: Hub) -> None:
        """The report names "no assignee" "(unassigned)". An assignee is a user's email now
        (issue 17), so no ticket can be given to someone called that: the group holds only
        the tickets nobody has."""
        from customer_flow.core.errors import ValidationError

        data.set_clock(lambda: NOW)
        with pytest.raises(ValidationError, match="no user '\\(unassigned\\)'"):
            data.assign_ticket(1, "(unassigned)")
        r = data.report(ReportQuery(since=SINCE, until=UNTIL, group_by="assignee"))
        nobody = next(g for g in r.groups if g.key == "(unassigned)")
        assert (nobody.opened, nobody.resolved) == (1, 1)


class TestDurationBuckets:
    def test_bounds_are_increasing_and_a_tenth_apart(self) -> None:
        bounds = report_rollup.DURATION_BOUNDS
        assert bounds[:2] == (0, 60) and bounds[-1] >= 400 * 86400
        assert all(b > a for a, b in itertools.pairwise(bounds))
        assert all(b <= round(a * 1.1) + 1 for a, b in itertools.pairwise(bounds[1:]))

    def test_a_customer_added_does_not_touch_the_rollup(self, hub: Hub) -> None:
        hub.add_customer(CustomerCreate(name="Ana"))
        with hub.store.read() as conn:
            assert report_rollup.dirty_days(conn) == []
