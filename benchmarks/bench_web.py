"""Web speed: the customers page and the API list and search with 100,000 customers, under
20 concurrent clients from a second process on loopback.

The server (``customer-flow serve --workers N``: uvicorn, the app from ``create_app()``) runs
as a subprocess on 127.0.0.1; this process is the load. Each client is a thread with one
keep-alive connection sending requests back to back (a closed loop, no think time: the
harshest reading of "20 concurrent clients"). Each phase is bounded by a request count and a
time limit, after a warm-up. The floor is ``/healthz`` (no database, no auth) under the same
load in the same run.

It runs on SQLite and on PostgreSQL (a database of its own on ``CUSTOMER_FLOW_BENCH_PG_URL``,
default the local server, created and dropped here; ``BENCH_WEB_DBS`` picks, default both).
A last section measures what the search index (``customers/search.py``) adds to a bulk load of
``BENCH_WEB_INDEX_ROWS`` customers (default 100000 and 1000000; 0 skips the section).

Sizes: ``BENCH_WEB_ROWS`` (default 100000), ``BENCH_WEB_CLIENTS`` (20),
``BENCH_WEB_REQUESTS`` per phase (3000), ``BENCH_WEB_SECONDS`` per phase (20),
``BENCH_WEB_WORKERS`` uvicorn worker processes (2: one per core, as `serve --workers 2`).
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from customer_flow.core.config import normalise_database_url
from customer_flow.customers import search
from customer_flow.store.engine import Store
from customer_flow.store.schema import counters, customer_search

ROWS = int(os.environ.get("BENCH_WEB_ROWS", "100000"))
CLIENTS = int(os.environ.get("BENCH_WEB_CLIENTS", "20"))
REQUESTS = int(os.environ.get("BENCH_WEB_REQUESTS", "3000"))
SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "20"))
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
TARGET_P95_MS = 100.0
DBS = os.environ.get("BENCH_WEB_DBS", "sqlite,postgresql").split(",")
PG_URL = normalise_database_url(
    os.environ.get("CUSTOMER_FLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
COST_ROWS = [
    int(n) for n in os.environ.get("BENCH_WEB_INDEX_ROWS", "100000,1000000").split(",") if int(n)
]

FIRST = [
    "Ana",
    "Bruno",
    "Carla",
    "Diogo",
    "Eva",
    "Filipe",
    "Gita",
    "Hugo",
    "Inês",
    "João",
    "Kai",
    "Lara",
    "Miguel",
    "Nuno",
    "Olga",
    "Pedro",
    "Quim",
    "Rita",
    "Sara",
    "Tiago",
]
LAST = [
    "Silva",
    "Santos",
    "Ferreira",
    "Pereira",
    "Oliveira",
    "Costa",
    "Rodrigues",
    "Martins",
    "Jesus",
    "Sousa",
    "Fernandes",
    "Gonçalves",
    "Gomes",
    "Lopes",
    "Marques",
    "Alves",
    "Almeida",
    "Ribeiro",
    "Pinto",
    "Carvalho",
]


def _rows(first: int, count: int) -> Iterator[tuple[object, ...]]:
    """Customers ``first`` .. ``first + count - 1``: (id, name, email, email_key, phone, extra,
    warnings, warning_count, created_at, updated_at), the same on every database."""
    rng = random.Random(7 + first)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(first, first + count):
        email = f"user{i}@mail{i % 97}.pt"
        at = start + timedelta(seconds=i)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}"
        yield (i, name, email, email, f"+3519{i:08d}", "{}", "[]", 0, at, at)


def _sqlite_rows(first: int, count: int) -> Iterator[tuple[object, ...]]:
    """The same rows with the instants as SQLAlchemy stores them on SQLite."""
    for row in _rows(first, count):
        at = row[8]
        assert isinstance(at, datetime)
        stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (*row[:8], stamp, stamp)


_COLUMNS = (
    "id, name, email, email_key, phone, extra, warnings, warning_count, created_at, updated_at"
)


def _insert(conn: Connection, first: int, count: int) -> None:
    """Bulk-load customers straight into the tables, through the driver (executemany on
    SQLite, COPY on PostgreSQL): what an import's loading step does, without its checks."""
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "sqlite":
        sql = f"INSERT INTO customers ({_COLUMNS}) VALUES ({', '.join('?' * 10)})"
        raw.executemany(sql, _sqlite_rows(first, count))
        raw.executemany(
            "INSERT INTO customer_ids (id) VALUES (?)", ((i,) for i in range(first, first + count))
        )
    else:
        with raw.cursor() as cur:
            with cur.copy(f"COPY customers ({_COLUMNS}) FROM STDIN") as copy:
                for row in _rows(first, count):
                    copy.write_row(row)
            with cur.copy("COPY customer_ids (id) FROM STDIN") as copy:
                for i in range(first, first + count):
                    copy.write_row((i,))
    conn.execute(
        update(counters).where(counters.c.name == "customer").values(value=first + count - 1)
    )


def _seed(url: str, rows: int) -> tuple[float, float]:
    """Load ``rows`` customers and build the search index (seeding is not what is timed in
    the web phases). Returns the seconds for the rows and for the index (SQLite; on
    PostgreSQL the trigram indexes are maintained while the rows load)."""
    store = Store(url)
    t0 = time.perf_counter()
    with store.write() as conn:
        _insert(conn, 1, rows)
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store.write() as conn:
        search.rebuild(conn)
    indexed = time.perf_counter() - t0
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE customers"))
    store.close()
    return loaded, indexed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(port: int, paths: list[str], headers: dict[str, str]) -> tuple[list[float], int]:
    """Send requests from CLIENTS threads until REQUESTS are done or SECONDS pass; returns the
    latencies in ms and the count of non-200 answers."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    remaining = [REQUESTS]
    deadline = time.monotonic() + SECONDS

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            path = rng.choice(paths)
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            mine.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU time of these processes and all their descendants (Linux /proc);
    None where there is no /proc."""
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            if pid == pids[0]:
                return None
    return total


def _server_cpu(server_pid: int, url: str) -> float | None:
    """CPU seconds used so far by the server's processes and, on PostgreSQL, by the database
    server's processes serving the app's connections to this benchmark's database (the same
    machine; not autovacuum's)."""
    pids = [server_pid]
    if url.startswith("postgresql"):
        admin = create_engine(url, poolclass=NullPool)
        with admin.connect() as conn:
            pids += conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            ).scalars()
        admin.dispose()
    used = [_cpu_seconds([p]) for p in pids]
    return None if used[0] is None else sum(u or 0.0 for u in used)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _serve(url: str, label: str, seeded: str) -> list[str]:
    """Start the app on ``url`` in a subprocess and load it, phase by phase."""
    from customer_flow.core.config import Settings
    from customer_flow.hub import Hub
    from customer_flow.users.models import UserCreate

    hub = Hub(Settings(database_url=url, actor="bench"))
    hub.add_user(
        UserCreate(email="bench@team.example.org", role="agent", password="timing run secret")
    )
    session = hub.login("bench@team.example.org", "timing run secret")
    token = hub.create_token("bench", user_id=session.user.id).token
    hub.close()

    port = _free_port()
    env = {**os.environ, "CUSTOMER_FLOW_DATABASE_URL": url}
    # Served as users serve it, so that the figures include how the server is set up (the
    # protocol with Nagle's algorithm off, web/serving.py).
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "customer_flow",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        rng = random.Random(11)
        # What people type: the first 3 to 6 letters of a first or last name...
        names = [quote(rng.choice(FIRST + LAST)[: rng.randint(3, 6)]) for _ in range(50)]
        # ...text found in one customer only (part of an email or a phone number), which
        # only a substring index serves without reading every row...
        rare = [quote(f"user{rng.randint(1, ROWS)}@") for _ in range(25)]
        rare += [quote(f"9{rng.randint(1, ROWS):08d}") for _ in range(25)]
        # ...and text in (nearly) every customer, sorted by ID and by name: the index has too
        # many candidates, and a scan in the page's order stops after a page.
        common = [
            f"/api/v1/customers?search={quote(t)}&sort={o}"
            for t in ("mail", "user", ".pt", "351")
            for o in ("id", "name")
        ]
        bearer = {"Authorization": f"Bearer {token}"}
        cookie = {"Cookie": f"cf_session={session.session_id}"}
        phases = [
            ("floor: GET /healthz", ["/healthz"], {}),
            ("customers page: GET /customers", ["/customers"], cookie),
            (
                "customers page, search as you type (name prefixes)",
                [f"/customers?search={s}" for s in names],
                cookie,
            ),
            ("API list: GET /api/v1/customers", ["/api/v1/customers"], bearer),
            (
                "API search, name prefixes: GET /api/v1/customers?search=…",
                [f"/api/v1/customers?search={s}" for s in names],
                bearer,
            ),
            (
                "API search, text in one customer only (email part, phone digits)",
                [f"/api/v1/customers?search={s}" for s in rare],
                bearer,
            ),
            ("API search, text in every customer, by ID and by name", common, bearer),
        ]
        lines = [
            f"{ROWS:,} customers ({label}, {seeded}); {CLIENTS} concurrent "
            f"clients in a second process, closed loop, keep-alive; uvicorn workers: "
            f"{WORKERS}; up to {REQUESTS} requests or {SECONDS:.0f} s per phase.",
            "",
            "| phase | requests | req/s | p50 ms | p95 ms | p95 / floor | server CPU ms "
            f"/ request | non-200 | p95 ≤ {TARGET_P95_MS:.0f} ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        floor_p95 = None
        for name, paths, headers in phases:
            _load(port, paths[:5], headers)  # warm-up
            cpu_before = _server_cpu(server.pid, url)
            started = time.perf_counter()
            lat, bad = _load(port, paths, headers)
            took = time.perf_counter() - started
            cpu_after = _server_cpu(server.pid, url)
            p50, p95 = _pct(lat, 0.5), _pct(lat, 0.95)
            if floor_p95 is None:
                floor_p95 = p95
            ok = "yes" if p95 <= TARGET_P95_MS else "**no**"
            cpu = (
                f"{(cpu_after - cpu_before) * 1000 / len(lat):.2f}"
                if cpu_before is not None and cpu_after is not None
                else "n/a"
            )
            lines.append(
                f"| {name} | {len(lat)} | {len(lat) / took:.0f} | {p50:.1f} | {p95:.1f} | "
                f"{p95 / floor_p95:.1f}× | {cpu} | {bad} | {ok} |"
            )
        lines.append(
            f"\nLoad average after the phases: {os.getloadavg()[0]:.1f}. Server CPU: the "
            "server's processes (and, on PostgreSQL, the database's own for this database) "
            "per request, user + system, which the machine's other load hardly changes."
        )
        return lines
    finally:
        server.terminate()
        server.wait(timeout=20)


@contextmanager
def _pg_database() -> Iterator[str]:
    """A PostgreSQL database of this run's own, dropped at the end."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"cf_bench_web_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _index_cost() -> list[str]:
    """What the search index adds to writing many customers at once (an import's load)."""
    lines = [
        "SQLite: the rows loaded through the driver into `customers` (with its indexes), then "
        "`search.refresh` for all of them as new customers, in one transaction each (commit "
        "included): what `Hub.import_file` adds to an import of that many new customers. "
        "PostgreSQL: the same rows by COPY without the three trigram indexes, then with them "
        "(as migration 0008 makes them) and `search.refresh`, which merges their pending "
        "lists.",
        "",
        "| database | rows | load the rows (floor) | with the search index | index / floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for rows in COST_ROWS:
        if "sqlite" in DBS:
            with tempfile.TemporaryDirectory(prefix="cf_bench_index_") as tmp:
                store = Store(f"sqlite:///{Path(tmp) / 'cost.db'}")
                t0 = time.perf_counter()
                with store.write() as conn:
                    _insert(conn, 1, rows)
                loaded = time.perf_counter() - t0
                t0 = time.perf_counter()
                with store.write() as conn:
                    search.refresh(conn, [], fresh=range(1, rows + 1))
                indexed = time.perf_counter() - t0
                with store.read() as conn:
                    assert (
                        conn.execute(select(func.count()).select_from(customer_search)).scalar()
                        == rows
                    )
                store.close()
            lines.append(
                f"| SQLite | {rows:,} | {loaded:.2f} s | + {indexed:.2f} s (refresh) | "
                f"{indexed / loaded:.2f}× |"
            )
        if "postgresql" in DBS:
            with _pg_database() as url:
                store = Store(url)
                with store.write() as conn:  # the indexes as migration 0008 made them
                    made = conn.execute(
                        text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE :n"),
                        {"n": "%_trgm"},
                    ).all()
                assert len(made) == 3, made
                times = []
                for with_index in (False, True):
                    with store.write() as conn:
                        conn.execute(text("TRUNCATE customers, customer_ids CASCADE"))
                        for name, definition in made:
                            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
                            if with_index:
                                conn.execute(text(definition))
                    t0 = time.perf_counter()
                    with store.write() as conn:
                        _insert(conn, 1, rows)
                        if with_index:
                            search.refresh(conn, [], fresh=range(1, rows + 1))
                    times.append(time.perf_counter() - t0)
                store.close()
            lines.append(
                f"| PostgreSQL | {rows:,} | {times[0]:.2f} s | {times[1]:.2f} s (COPY with "
                f"the GIN indexes, then `refresh`) | {(times[1] - times[0]) / times[0]:.2f}× |"
            )
    return lines


def run(report: object) -> None:
    section = report.section  # type: ignore[attr-defined]
    if "sqlite" in DBS:
        with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            loaded, indexed = _seed(url, ROWS)
            seeded = f"seeded in {loaded:.1f} s, search index built in {indexed:.1f} s"
            section(
                "Web: pages and API under 20 concurrent clients (SQLite)",
                _serve(url, "SQLite", seeded),
            )
    if "postgresql" in DBS:
        try:
            database = _pg_database()
            url = database.__enter__()
        except Exception as exc:  # no server: say so rather than fail the whole run
            section("Web: PostgreSQL", [f"skipped: PostgreSQL unreachable ({exc})"])
        else:
            try:
                loaded, _ = _seed(url, ROWS)
                seeded = f"seeded by COPY with its trigram indexes in {loaded:.1f} s"
                section(
                    "Web: pages and API under 20 concurrent clients (PostgreSQL)",
                    _serve(url, "PostgreSQL", seeded),
                )
            finally:
                database.__exit__(None, None, None)
    if COST_ROWS:
        section("Search index: what it costs a bulk load", _index_cost())
