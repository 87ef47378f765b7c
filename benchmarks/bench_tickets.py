"""The ticket queue at scale: a page of the open queue with 1,000,000 tickets.

Generates ``BENCH_TICKETS`` tickets (default 1,000,000) for 10,000 customers, bulk-inserted with
``executemany`` on tuples (not Hub calls), on SQLite (a temporary file) and on PostgreSQL (a
database of its own, created and dropped here; ``CUSTOMER_FLOW_BENCH_PG_URL`` names the server,
default the local one). Then times ``Hub.list_tickets`` (SQL plus building the models) for pages
of 50 with several filters, and prints p50/p95 beside a floor measured in the same run: a bare
primary-key lookup ``SELECT * FROM tickets WHERE id = ?``. Target: p95 ≤ 50 ms on both.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text, true
from sqlalchemy.engine import make_url

from customer_flow.core.config import Settings, normalise_database_url
from customer_flow.hub import Hub, bundled_example
from customer_flow.store.engine import Store
from customer_flow.store.schema import tickets
from customer_flow.tickets.models import TicketQuery

from .run import Report

N = int(os.environ.get("BENCH_TICKETS", "1000000"))
REPS = int(os.environ.get("BENCH_TICKETS_REPS", "100"))
CUSTOMERS = 10_000
#: The agents (users since issue 17: a ticket's assignee is a user's lower-cased email).
AGENTS = [f"agent{i:02d}@team.test" for i in range(50)]
PG_URL = normalise_database_url(
    os.environ.get("CUSTOMER_FLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
TARGET_MS = 50.0
#: Which databases to run on (for development: BENCH_TICKETS_DBS=sqlite).
DBS = os.environ.get("BENCH_TICKETS_DBS", "sqlite,postgresql").split(",")
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
# (key, weight, default priority, first response s, resolution s)
TYPES = [
    ("question", 30, "low", 8 * 3600, 3 * 86400),
    ("billing", 20, "normal", 4 * 3600, 2 * 86400),
    ("technical_issue", 25, "high", 2 * 3600, 86400),
    ("bug_report", 10, "normal", 4 * 3600, 5 * 86400),
    ("feature_request", 10, "low", 2 * 86400, None),
    ("complaint", 5, "urgent", 3600, 86400),
]
STATUSES = [("new", 4), ("open", 6), ("pending", 3), ("resolved", 10), ("closed", 77)]
WORDS = [
    "login",
    "invoice",
    "refund",
    "slow",
    "error",
    "export",
    "password",
    "crash",
    "mobile",
    "report",
]
COLUMNS = [
    "customer_id", "type_key", "subject", "description", "priority", "status", "is_open",
    "tags", "assignee", "fields", "created_at", "updated_at", "first_response_at",
    "resolved_at", "closed_at", "paused_at", "paused_seconds", "reopened_count",
    "first_response_target", "first_response_due_at", "first_response_risk_at",
    "resolution_target", "resolution_due_at", "resolution_risk_at", "queue_due_at",
]  # fmt: skip
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)


def _rows(count: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Tickets oldest first over two years; old ones mostly closed, recent ones open."""
    rng = random.Random(seed)
    type_pick = [t for t in TYPES for _ in range(t[1])]
    span = timedelta(days=730).total_seconds()
    for i in range(count):
        created = NOW - timedelta(seconds=span * (1 - i / count) + 60)
        key, _, default, fr_target, res_target = rng.choice(type_pick)
        age_days = (NOW - created).days
        if age_days > 60:
            status = "closed" if rng.random() < 0.97 else rng.choice(["resolved", "open"])
        else:
            status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        priority = default if rng.random() < 0.7 else rng.choice(["low", "normal", "high"])
        is_open = status in ("new", "open", "pending")
        responded = status != "new" and rng.random() < 0.95
        first_response_at = created + timedelta(seconds=rng.randint(60, 6 * 3600))
        first_response_at = first_response_at if responded else None
        resolved_at = (
            created + timedelta(seconds=rng.randint(3600, 4 * 86400))
            if status in ("resolved", "closed")
            else None
        )
        closed_at = resolved_at + timedelta(days=2) if status == "closed" and resolved_at else None
        paused_at = created + timedelta(hours=1) if status == "pending" else None
        fr_due = created + timedelta(seconds=fr_target)
        fr_risk = created + timedelta(seconds=fr_target * 0.75)
        res_due = created + timedelta(seconds=res_target) if res_target else None
        res_risk = created + timedelta(seconds=res_target * 0.75) if res_target else None
        live = []
        if first_response_at is None and resolved_at is None:
            live.append(fr_due)
        if resolved_at is None and res_due is not None:
            live.append(res_due)
        if paused_at is not None:  # a paused clock has nothing falling due
            live = []
        word = rng.choice(WORDS)
        yield (
            rng.randint(1, CUSTOMERS),
            key,
            f"{word.capitalize()} problem #{i}",
            f"The customer reports a {word} issue with order {rng.randint(1000, 99999)}.",
            priority,
            status,
            is_open,
            "[]",
            rng.choice(AGENTS) if rng.random() < 0.8 else None,
            "{}",
            created,
            closed_at or resolved_at or first_response_at or created,
            first_response_at,
            resolved_at,
            closed_at,
            paused_at,
            0,
            0,
            fr_target,
            fr_due,
            fr_risk,
            res_target,
            res_due,
            res_risk,
            min(live) if live else NO_DUE,
        )


def _load(url: str, count: int) -> float:
    """Migrate, load the types, customers and tickets; returns the seconds it took."""
    started = time.perf_counter()
    Store(url).close()
    hub = Hub(Settings(database_url=url, actor="bench"))
    hub.load_ticket_types(bundled_example("ticket_types.json"))
    hub.close()
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"

    def stamp(value: datetime | None) -> Any:
        # SQLAlchemy's SQLite storage format; PostgreSQL takes the aware datetime itself.
        if value is None or not sqlite:
            return value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        when = stamp(NOW)
        cur.executemany(
            f"INSERT INTO customer_ids (id) VALUES ({mark})",
            [(i,) for i in range(1, CUSTOMERS + 1)],
        )
        cur.executemany(
            "INSERT INTO customers (id, name, email, email_key, phone, extra, warnings, "
            "warning_count, created_at, updated_at) VALUES "
            f"({', '.join([mark] * 10)})",
            [
                (i, f"Customer {i}", f"c{i}@shop.test", f"c{i}@shop.test", None, "{}", "[]", 0,
                 when, when)
                for i in range(1, CUSTOMERS + 1)
            ],
        )  # fmt: skip
        cur.execute(f"UPDATE counters SET value = {CUSTOMERS} WHERE name = 'customer'")
        cur.executemany(
            "INSERT INTO users (email, email_key, name, role, password_hash, active, created_at, "
            f"updated_at) VALUES ({', '.join([mark] * 8)})",
            [(a, a, a.split("@")[0], "agent", "-", True, when, when) for a in AGENTS],
        )
        marks = ", ".join([mark] * len(COLUMNS))
        sql = f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({marks})"
        stamped = {i for i, c in enumerate(COLUMNS) if c.endswith("_at")}
        batch: list[tuple[Any, ...]] = []
        for row in _rows(count):
            batch.append(tuple(stamp(v) if i in stamped else v for i, v in enumerate(row)))
            if len(batch) == 50_000:
                cur.executemany(sql, batch)
                batch.clear()
        if batch:
            cur.executemany(sql, batch)
        raw.commit()
        # What a maintained database has: statistics for the planner.
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - started


def _time(fn: Callable[[int], Any], reps: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds over ``reps`` calls (after two warm-up calls)."""
    fn(0)
    fn(1)
    samples = []
    for i in range(reps):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def _measure(url: str, label: str, load_seconds: float) -> list[str]:
    hub = Hub(Settings(database_url=url, actor="bench"))
    hub.set_clock(lambda: NOW)
    rng = random.Random(11)
    ids = [rng.randint(1, N) for _ in range(REPS + 2)]

    def floor(i: int) -> None:
        with hub.store.read() as conn:
            conn.execute(select(tickets).where(tickets.c.id == ids[i])).first()

    # A cursor halfway down the open queue, to show a deep page costs what page 1 costs.
    deep = None
    page = hub.list_tickets(TicketQuery(limit=1000))
    for _ in range(3):
        if page.next is None:
            break
        deep = page.next
        page = hub.list_tickets(TicketQuery(limit=1000, after=deep))
    prio_next = hub.list_tickets(TicketQuery(sort="priority")).next
    keys = [t[0] for t in TYPES]
    queries: list[tuple[str, Callable[[int], TicketQuery]]] = [
        ("open queue, newest first", lambda i: TicketQuery(sort="-id")),
        ("open queue, oldest first", lambda i: TicketQuery()),
        ("open queue, page 4 (cursor)", lambda i: TicketQuery(after=deep)),
        ("open queue by due time", lambda i: TicketQuery(sort="due")),
        ("open + type", lambda i: TicketQuery(type=keys[i % len(keys)], sort="-id")),
        ("open + assignee", lambda i: TicketQuery(assignee=AGENTS[i % len(AGENTS)], sort="-id")),
        ("open + priority urgent", lambda i: TicketQuery(priority=["urgent"], sort="-id")),
        ("open + unassigned", lambda i: TicketQuery(unassigned=True, sort="-id")),
        ("open + status pending", lambda i: TicketQuery(status=["pending"], sort="-id")),
        ("open + SLA breached", lambda i: TicketQuery(sla="breached", sort="-id")),
        ("open + SLA at risk, by due", lambda i: TicketQuery(sla="at_risk", sort="due")),
        ("open + SLA at risk, newest first", lambda i: TicketQuery(sla="at_risk", sort="-id")),
        ("open + SLA on track, by due", lambda i: TicketQuery(sla="on_track", sort="due")),
        ("open + text in subject", lambda i: TicketQuery(search=WORDS[i % len(WORDS)])),
        # Issue 17: every sortable column of the queue, each paged by keyset on (key, id).
        *(
            (f"open queue by {name}", (lambda s: lambda i: TicketQuery(sort=s))(sort))  # type: ignore[misc]
            for name, sort in [
                ("customer name", "customer"),
                ("subject", "subject"),
                ("status", "status"),
                ("priority (urgent first)", "priority"),
                ("assignee", "assignee"),
                ("SLA state (breached first)", "sla"),
                ("created, newest", "-created"),
                ("updated, newest", "-updated"),
            ]
        ),
        (
            "open queue by priority, page 2 (cursor)",
            lambda i: TicketQuery(sort="priority", after=prio_next),
        ),
        (
            "one customer, all statuses",
            lambda i: TicketQuery(customer_id=1 + i * 97 % CUSTOMERS, all_statuses=True),
        ),
    ]
    f50, f95 = _time(floor, REPS)
    with hub.store.read() as conn:
        open_count = conn.execute(
            select(func.count()).select_from(tickets).where(tickets.c.is_open == true())
        ).scalar_one()
        running = conn.execute(
            select(func.count())
            .select_from(tickets)
            .where(tickets.c.is_open == true(), tickets.c.queue_due_at >= NOW)
        ).scalar_one()
    lines = [
        f"{N:,} tickets ({CUSTOMERS:,} customers; {open_count:,} in the open queue, {running:,} "
        "of them not yet due or paused: what the on-track and at-risk filters scan) "
        f"loaded in {load_seconds:.0f} s. Pages of 50 "
        f"through `Hub.list_tickets`, {REPS} runs each. Floor: primary-key lookup p50 "
        f"{f50:.2f} ms, p95 {f95:.2f} ms.",
        "",
        "| query | rows | p50 ms | p95 ms | p95 / floor p95 | p95 ≤ 50 ms |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    worst = 0.0
    for name, make in queries:
        p50, p95 = _time(lambda i, make=make: hub.list_tickets(make(i)), REPS)  # type: ignore[misc]
        rows = len(hub.list_tickets(make(0)).items)
        worst = max(worst, p95)
        ok = "yes" if p95 <= TARGET_MS else "**no**"
        lines.append(f"| {name} | {rows} | {p50:.1f} | {p95:.1f} | {p95 / f95:.0f}× | {ok} |")
    lines += ["", f"Worst p95 on {label}: {worst:.1f} ms (target ≤ {TARGET_MS:.0f} ms)."]
    hub.close()
    return lines


def run(report: Report) -> None:
    if "sqlite" in DBS:
        with tempfile.TemporaryDirectory(prefix="cf_bench_tickets_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            seconds = _load(url, N)
            lines = _measure(url, "SQLite", seconds)
            report.section(f"Tickets queue: SQLite, {N:,} tickets", lines)
    if "postgresql" not in DBS:
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"cf_bench_tickets_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so rather than fail the whole run
        report.section("Tickets queue: PostgreSQL", [f"skipped: PostgreSQL unreachable ({exc})"])
        admin.dispose()
        return
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        seconds = _load(url, N)
        report.section(
            f"Tickets queue: PostgreSQL, {N:,} tickets", _measure(url, "PostgreSQL", seconds)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
