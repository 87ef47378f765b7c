"""Web speed: the customers page and the API list and search with 100,000 customers, under
20 concurrent clients from a second process on loopback.

The server (uvicorn with ``--workers``, the app from ``create_app()``) runs as a subprocess on
127.0.0.1; this process is the load. Each client is a thread with one keep-alive connection
sending requests back to back (a closed loop, no think time: the harshest reading of "20
concurrent clients"). Each phase is bounded by a request count and a time limit, after a
warm-up. The floor is ``/healthz`` (no database, no auth) under the same load in the same run.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROWS = int(os.environ.get("BENCH_WEB_ROWS", "100000"))
CLIENTS = int(os.environ.get("BENCH_WEB_CLIENTS", "20"))
REQUESTS = int(os.environ.get("BENCH_WEB_REQUESTS", "3000"))
SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "20"))
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
TARGET_P95_MS = 100.0

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


def _seed(url: str, rows: int) -> None:
    """Bulk-load ``rows`` customers straight into the tables (seeding is not what is timed)."""
    from sqlalchemy import update

    from customer_flow.schema import counters, customer_ids, customers
    from customer_flow.store import Store

    store = Store(url)
    rng = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    with store.write() as conn:
        for i in range(1, rows + 1):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}"
            email = f"user{i}@mail{i % 97}.pt"
            at = start + timedelta(seconds=i)
            batch.append(
                {
                    "id": i,
                    "name": name,
                    "email": email,
                    "email_key": email,
                    "phone": f"+3519{i:08d}",
                    "extra": {},
                    "warnings": [],
                    "warning_count": 0,
                    "created_at": at,
                    "updated_at": at,
                    "deleted_at": None,
                }
            )
            if len(batch) == 5000:
                conn.execute(customer_ids.insert(), [{"id": b["id"]} for b in batch])
                conn.execute(customers.insert(), batch)
                batch = []
        if batch:
            conn.execute(customer_ids.insert(), [{"id": b["id"]} for b in batch])
            conn.execute(customers.insert(), batch)
        conn.execute(update(counters).where(counters.c.name == "customer").values(value=rows))
    store.close()


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


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(report: object) -> None:
    from customer_flow.config import Settings
    from customer_flow.hub import Hub
    from customer_flow.models import UserCreate

    tmp = Path(tempfile.mkdtemp(prefix="bench_web_"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    _seed(url, ROWS)
    seeded = time.perf_counter() - t0
    hub = Hub(Settings(database_url=url, actor="bench"))
    hub.add_user(
        UserCreate(email="bench@team.example.org", role="agent", password="bench password")
    )
    session = hub.login("bench@team.example.org", "bench password")
    token = hub.create_token("bench", user_id=session.user.id).token
    hub.close()

    port = _free_port()
    env = {**os.environ, "CUSTOMER_FLOW_DATABASE_URL": url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "customer_flow.web.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(WORKERS),
        ],
        env=env,
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
        # ...and text found in one customer only (part of an email or a phone number), which
        # no index serves: every live row is read.
        rare = [quote(f"user{rng.randint(1, ROWS)}@") for _ in range(25)]
        rare += [quote(f"9{rng.randint(1, ROWS):08d}") for _ in range(25)]
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
        ]
        lines = [
            f"{ROWS:,} customers (SQLite, seeded in {seeded:.1f} s); {CLIENTS} concurrent "
            f"clients in a second process, closed loop, keep-alive; uvicorn workers: "
            f"{WORKERS}; up to {REQUESTS} requests or {SECONDS:.0f} s per phase.",
            "",
            "| phase | requests | req/s | p50 ms | p95 ms | p95 / floor | non-200 | "
            f"p95 ≤ {TARGET_P95_MS:.0f} ms |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        floor_p95 = None
        for name, paths, headers in phases:
            _load(port, paths[:5], headers)  # warm-up
            started = time.perf_counter()
            lat, bad = _load(port, paths, headers)
            took = time.perf_counter() - started
            p50, p95 = _pct(lat, 0.5), _pct(lat, 0.95)
            if floor_p95 is None:
                floor_p95 = p95
            ok = "yes" if p95 <= TARGET_P95_MS else "**no**"
            lines.append(
                f"| {name} | {len(lat)} | {len(lat) / took:.0f} | {p50:.1f} | {p95:.1f} | "
                f"{p95 / floor_p95:.1f}× | {bad} | {ok} |"
            )
    finally:
        server.terminate()
        server.wait(timeout=20)
    report.section("Web: pages and API under 20 concurrent clients", lines)  # type: ignore[attr-defined]
