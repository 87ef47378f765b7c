"""Agents' writes while a big import runs (issue 19, item 5), on SQLite and on PostgreSQL.

A database with 1,000 customers and 200 open tickets. A child process imports a
``BENCH_WRITERS_ROWS``-row messy file (default 1,000,000; `benchmarks/generate.py`) with the
duplicate check on. Meanwhile two agents in this process work through ``Hub`` as the web
server does, each every 0.25 s until the import ends: one adds a customer, the other comments
on a ticket. Every write is timed from its call to its answer; a write that raises is a
failure. The target: 100 % of them succeed. Each write's wait stands beside the floor, the
same write with no import running, measured in the same run.

    BENCH_WRITERS_ROWS=200000 python -m benchmarks.run import_writers
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles

from benchmarks.bench_import import _pg_database
from benchmarks.generate import generate
from benchmarks.run import Report

ROWS = int(os.environ.get("BENCH_WRITERS_ROWS", "1000000"))
PACE_S = 0.25
IMPORT = """
import sys, time
from pathlib import Path
from customer_flow.hub import Hub
from customer_flow.data.imports import ImportOptions
hub = Hub.open(sys.argv[1], actor="bench-import", default_region="US")
t = time.perf_counter()
report = hub.import_file(Path(sys.argv[2]), ImportOptions())
print(f"{report.imported} {time.perf_counter() - t:.2f}")
"""


@dataclass
class Agent:
    """One agent's writes: how long each took, and the failures' first lines."""

    name: str
    write: Callable[[int], object]
    waits: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def once(self, i: int) -> None:
        started = time.perf_counter()
        try:
            self.write(i)
        except Exception as exc:  # the figure: every failure counts, whatever it is
            self.failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            return
        finally:
            elapsed = time.perf_counter() - started
        self.waits.append(elapsed)

    def loop(self, stop: threading.Event, offset: int) -> None:
        i = offset
        while not stop.is_set():
            self.once(i)
            i += 1
            stop.wait(PACE_S)


def _agents(url: str) -> tuple[list[Agent], Callable[[], None]]:
    from customer_flow.customers.models import CustomerCreate
    from customer_flow.hub import Hub
    from customer_flow.tickets.models import CommentCreate, TicketQuery

    hub = Hub.open(url, actor="agent@team.example.org", default_region="US")
    tickets = [t.id for t in hub.list_tickets(TicketQuery(limit=200)).items]
    adder = Agent(
        "add a customer",
        lambda i: hub.add_customer(
            CustomerCreate(name=f"Walk In {i}", email=f"walk.in.{i}@agents.example.org")
        ),
    )
    commenter = Agent(
        "comment on a ticket",
        lambda i: hub.add_comment(tickets[i % len(tickets)], CommentCreate(body=f"Note {i}")),
    )
    return [adder, commenter], hub.close


def _seed(url: str) -> None:
    from customer_flow.customers.models import CustomerCreate
    from customer_flow.hub import Hub
    from customer_flow.tickets.models import TicketCreate

    with Hub.open(url, actor="bench", default_region="US") as hub:
        hub.init()
        for i in range(1000):
            c = hub.add_customer(CustomerCreate(name=f"Seed {i}", email=f"seed{i}@x.example"))
            if i < 200:
                hub.open_ticket(TicketCreate(customer_id=c.id, type="question", subject=f"T{i}"))


def _measure(url: str, data: Path) -> tuple[str, list[Agent], list[Agent], float]:
    """The floor (agents alone, 20 writes each), then the agents during the import."""
    floor, close = _agents(url)
    for agent in floor:
        for i in range(20):
            agent.once(10_000_000 + i + (0 if agent is floor[0] else 1000))
    close()
    agents, close = _agents(url)
    stop = threading.Event()
    threads = [
        threading.Thread(target=a.loop, args=(stop, n * 1_000_000), daemon=True)
        for n, a in enumerate(agents)
    ]
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", IMPORT, url, str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # the import has opened its transaction
    for t in threads:
        t.start()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    stop.set()
    for t in threads:
        t.join()
    close()
    outcome = out.strip() if child.returncode == 0 else f"FAILED: {err.strip()[-300:]}"
    return outcome, floor, agents, wall


def _ms(values: list[float], q: str) -> str:
    if not values:
        return "–"
    if q == "max":
        return f"{max(values) * 1000:.0f}"
    return (
        f"{quantiles(values, n=20, method='inclusive')[-1] * 1000:.0f}"
        if len(values) > 1
        else _ms(values, "max")
    )


def run(report: Report) -> None:
    work = Path(tempfile.mkdtemp(prefix="cf-bench-writers-"))
    try:
        made = generate(ROWS, 42, work / "gen")
        lines = [
            f"File: {ROWS:,} rows (`benchmarks/generate.py`, seed 42), imported into a database "
            "of 1,000 customers and 200 open tickets, the duplicate check on. Two agents write "
            f"through `Hub` every {PACE_S} s while it runs. Target: 100 % of their writes "
            "succeed. Floor: the same writes with no import running, 20 each.",
            "",
            "| database | import | agent's write | succeeded | p95 ms | worst ms | floor p95 ms "
            "| worst / floor p95 | first failure |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ]
        targets: list[str] = []
        dbs: list[tuple[str, str, Callable[[], None] | None]] = [
            ("SQLite", f"sqlite:///{work / 'writers.db'}", None)
        ]
        pg = _pg_database()
        if pg is not None:
            dbs.append(("PostgreSQL", pg[0], pg[1]))
        for label, url, drop in dbs:
            try:
                _seed(url)
                outcome, floor, agents, wall = _measure(url, made.data)
            finally:
                if drop is not None:
                    drop()
            imported = (
                outcome
                if outcome.startswith("FAILED")
                else (f"{int(outcome.split()[0]):,} rows in {float(outcome.split()[1]):.1f} s")
            )
            for agent, base in zip(agents, floor, strict=True):
                total = len(agent.waits) + len(agent.failures)
                share = 100 * len(agent.waits) / total if total else 0.0
                base_p95 = (
                    quantiles(base.waits, n=20, method="inclusive")[-1]
                    if len(base.waits) > 1
                    else 0.0
                )
                worst = max(agent.waits, default=0.0)
                ratio = f"{worst / base_p95:.0f}x" if base_p95 else "–"
                lines.append(
                    f"| {label} | {imported} | {agent.name} | {len(agent.waits)}/{total} "
                    f"({share:.0f} %) | {_ms(agent.waits, 'p95')} | {_ms(agent.waits, 'max')} | "
                    f"{_ms(base.waits, 'p95')} | {ratio} | "
                    f"{agent.failures[0] if agent.failures else ''} |"
                )
                targets.append(
                    f"{label}, {agent.name}: {'met' if total and not agent.failures else 'NOT met'}"
                )
            lines.append(f"| {label} | (whole run {wall:.0f} s) | | | | | | | |")
        lines += ["", "Target, 100 % of the agents' writes succeed: " + "; ".join(targets) + "."]
        report.section(f"Agents' writes during a {ROWS:,}-row import", lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
