"""The full report at scale: ``Hub.report`` over 1,000,000 tickets and 100,000 customers.

The tickets come from ``bench_tickets``' generator (two years of tickets, mostly closed), loaded
by its ``_load`` with the customer count raised to ``BENCH_REPORT_CUSTOMERS`` (default 100,000);
``BENCH_REPORT_TICKETS`` (default 1,000,000) scales it down while developing. The generator keeps
a 24×7 calendar, so the business durations the tickets module would have stored are the elapsed
times; they are filled in with one UPDATE, the customers' creation instants are spread over the
two years so that customer growth has something to count, a third of the customers get a phone
(shared by a few customers each, so likely duplicates have something to count) and the
duplicate check's match keys are written. Tickets loaded in bulk bypass the tickets module, so
the report rollup is then counted from scratch (``Hub.rebuild_report_rollup``), as after any
bulk load; the time it takes is printed.

Each report is timed (median of ``BENCH_REPORT_REPS`` runs after a warm-up; the all-time ones run
once, cold) beside a floor measured in the same run: one bare full scan,
``SELECT count(*), min(created_at) FROM tickets``. Last, ``BENCH_REPORT_CHANGES`` open tickets
are closed through the Hub and the first report after them is timed (it recounts the days they
marked). Target: every report ≤ 2 s on SQLite; PostgreSQL is printed beside it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from customer_flow.core.config import Settings
from customer_flow.duplicates import find as dedupe
from customer_flow.hub import Hub
from customer_flow.reports.models import ReportQuery

from . import bench_tickets
from .run import Report

N = int(os.environ.get("BENCH_REPORT_TICKETS", "1000000"))
CUSTOMERS = int(os.environ.get("BENCH_REPORT_CUSTOMERS", "100000"))
REPS = int(os.environ.get("BENCH_REPORT_REPS", "3"))
#: Ticket changes made before the last timed report (``BENCH_REPORT_CHANGES``).
CHANGES = int(os.environ.get("BENCH_REPORT_CHANGES", "1000"))
TARGET_S = 2.0
NOW = bench_tickets.NOW
ALL_TIME = NOW - timedelta(days=731)


def _fill(url: str) -> None:
    """Durations as the tickets module stores them (24×7: elapsed seconds, no pauses), and
    customers created over the two years, some with a phone."""
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"

    def seconds(a: str, b: str) -> str:
        if sqlite:
            return f"CAST(ROUND((julianday({b}) - julianday({a})) * 86400) AS INTEGER)"
        return f"CAST(ROUND(EXTRACT(EPOCH FROM {b} - {a})) AS BIGINT)"

    span = 730 * 86400
    if sqlite:
        created = (
            f"strftime('%Y-%m-%d %H:%M:%S', '{ALL_TIME:%Y-%m-%d %H:%M:%S}', "
            f"'+' || ((id * 7919) % {span}) || ' seconds') || '.000000'"
        )
    else:
        created = (
            f"TIMESTAMPTZ '{ALL_TIME.isoformat()}' + ((id * 7919) % {span}) * INTERVAL '1 second'"
        )
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE tickets SET "
                f"first_response_seconds = {seconds('created_at', 'first_response_at')}, "
                f"resolution_seconds = {seconds('created_at', 'resolved_at')}"
            )
        )
        conn.execute(
            text(
                f"UPDATE customers SET created_at = {created}, "
                "phone = CASE WHEN id % 3 = 0 THEN '+1202555' || (1000 + id % 9000) END"
            )
        )
        # The duplicate check's keys, as an import writes them (the phones above repeat).
        dedupe.reindex(conn, list(range(1, CUSTOMERS + 1)), fresh=True)
    engine.dispose()


def _rollup(url: str) -> float:
    """Count the report rollup from the tickets, as after a bulk load (``rebuild``); returns
    the seconds it took. Then what a maintained database has after a bulk change: dead rows
    vacuumed, fresh statistics."""
    hub = Hub(Settings(database_url=url, actor="bench"))
    started = time.perf_counter()
    hub.rebuild_report_rollup()
    seconds = time.perf_counter() - started
    sqlite = hub.store.dialect == "sqlite"
    hub.close()
    engine = create_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE" if sqlite else "VACUUM ANALYZE"))
    engine.dispose()
    return seconds


def _median(fn: Callable[[], Any], reps: int) -> float:
    fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _measure(url: str, label: str, load: tuple[float, float]) -> tuple[list[str], float]:
    hub = Hub(Settings(database_url=url, actor="bench"))
    hub.set_clock(lambda: NOW)

    def floor() -> None:
        with hub.store.read() as conn:
            conn.execute(text("SELECT count(*), min(created_at) FROM tickets")).one()

    floor_s = _median(floor, REPS)
    day = timedelta(days=1)
    # (name, query, runs): the all-time reports read every ticket, so they run once.
    queries = [
        ("default: last 30 days, by week", ReportQuery(until=NOW), REPS),
        ("last 30 days, by day", ReportQuery(until=NOW, group_by="day"), REPS),
        ("last 30 days, by assignee", ReportQuery(until=NOW, group_by="assignee"), REPS),
        ("last 90 days, by week", ReportQuery(since=NOW - 90 * day, until=NOW), REPS),
        (
            "all time (2 years), by month",
            ReportQuery(since=ALL_TIME, until=NOW, group_by="month"),
            1,
        ),
        ("all time (2 years), by type", ReportQuery(since=ALL_TIME, until=NOW, group_by="type"), 1),
        (
            "all time (2 years), by assignee",
            ReportQuery(since=ALL_TIME, until=NOW, group_by="assignee"),
            1,
        ),
    ]
    load_seconds, rollup_seconds = load
    lines = [
        f"{N:,} tickets, {CUSTOMERS:,} customers, loaded in {load_seconds:.0f} s (of which "
        f"{rollup_seconds:.1f} s counting the report rollup from scratch); database "
        f"{_size(url)}. Load average before measuring: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores. `Hub.report` (every metric), median of {REPS} runs after a "
        f"warm-up (all-time: one run). Floor: `SELECT count(*), min(created_at) FROM tickets` "
        f"{floor_s * 1000:.0f} ms.",
        "",
        "| report | tickets opened | seconds | × floor | ≤ 2 s |",
        "|---|---:|---:|---:|:---:|",
    ]
    headline = 0.0
    for name, query, runs in queries:
        if runs == 1:
            t0 = time.perf_counter()
            opened = hub.report(query).totals.opened
            seconds = time.perf_counter() - t0
        else:
            seconds = _median(lambda query=query: hub.report(query), runs)  # type: ignore[misc]
            opened = hub.report(query).totals.opened
        headline = headline or seconds
        ok = "yes" if seconds <= TARGET_S else "**no**"
        lines.append(f"| {name} | {opened:,} | {seconds:.2f} | {seconds / floor_s:.0f}× | {ok} |")
    lines += ["", f"Default report on {label}: {headline:.2f} s (target ≤ {TARGET_S:.0f} s)."]
    lines += ["", _after_changes(hub, floor_s)]
    hub.close()
    return lines, headline


def _after_changes(hub: Hub, floor_s: float) -> str:
    """Close ``CHANGES`` open tickets through the Hub (each marks the days it touches), then
    time the first default report: it recounts the marked days into the rollup first."""
    with hub.store.read() as conn:
        ids = conn.execute(
            text("SELECT id FROM tickets WHERE is_open ORDER BY id LIMIT :n"), {"n": CHANGES}
        ).scalars()
        ids = list(ids)
    started = time.perf_counter()
    for ticket_id in ids:
        hub.close_ticket(ticket_id)
    per_change = (time.perf_counter() - started) / max(len(ids), 1)
    with hub.store.read() as conn:
        marked = conn.execute(text("SELECT count(DISTINCT day) FROM report_dirty")).scalar_one()
    t0 = time.perf_counter()
    hub.report(ReportQuery(until=NOW))
    seconds = time.perf_counter() - t0
    return (
        f"After closing {len(ids):,} open tickets through `Hub.close_ticket` "
        f"({per_change * 1000:.1f} ms each, marking {marked} days), the first default report "
        f"(which recounts those days into the rollup) took {seconds:.2f} s "
        f"({seconds / floor_s:.0f}× floor)."
    )


def _load(url: str) -> tuple[float, float]:
    """Load the data set; returns the seconds it took and, of them, the rollup's rebuild."""
    started = time.perf_counter()
    bench_tickets.CUSTOMERS = CUSTOMERS  # the generator and loader read it when called
    bench_tickets._load(url, N)
    _fill(url)
    rollup = _rollup(url)
    return time.perf_counter() - started, rollup


def _size(url: str) -> str:
    """The database's size on disk (tables and indexes)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            page = conn.execute(text("PRAGMA page_size")).scalar_one()
            total = conn.execute(text("PRAGMA page_count")).scalar_one() * page
        else:
            total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return f"{total / 1e6:,.0f} MB"


def run(report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="cf_bench_reports_") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        loaded = _load(url)
        lines, _ = _measure(url, "SQLite", loaded)
        report.section(f"Reports: SQLite, {N:,} tickets", lines)
    admin = create_engine(bench_tickets.PG_URL, isolation_level="AUTOCOMMIT")
    name = f"cf_bench_reports_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so rather than fail the whole run
        report.section("Reports: PostgreSQL", [f"skipped: PostgreSQL unreachable ({exc})"])
        admin.dispose()
        return
    try:
        url = (
            make_url(bench_tickets.PG_URL).set(database=name).render_as_string(hide_password=False)
        )
        loaded = _load(url)
        lines, _ = _measure(url, "PostgreSQL", loaded)
        report.section(f"Reports: PostgreSQL, {N:,} tickets", lines)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
