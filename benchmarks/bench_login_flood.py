"""A flood of bad logins against other users' writes (issue 15, item 5), on SQLite.

``customer-flow serve`` (one worker, the default argon2 parameters: m = 64 MiB, t = 3) runs in
a subprocess on a fresh SQLite database. One client writes (``POST /api/v1/customers`` with a
token, back to back on a keep-alive connection) and its latencies are recorded: first alone,
then while ``BENCH_FLOOD_CLIENTS`` (20) anonymous clients post wrong passwords to ``/login``
as fast as they are answered.

Two floods: ``spread``, each attempt for a different unknown account from a different address
(``X-Forwarded-For``, the server trusting 127.0.0.1 as a proxy), so that no throttle ever
refuses one and every attempt runs argon2; and ``one address``, every attempt for one account
from one address, which the throttle answers with 429 after 5 failures. The first isolates
what holding the write lock during argon2 cost; the second adds what throttling saves.

    python -m benchmarks.run login_flood
    PYTHONPATH=/elsewhere/src python -m benchmarks.bench_login_flood   # another tree, to compare

Settings: ``BENCH_FLOOD_CLIENTS`` (20), ``BENCH_FLOOD_SECONDS`` per phase (15).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

CLIENTS = int(os.environ.get("BENCH_FLOOD_CLIENTS", "20"))
SECONDS = float(os.environ.get("BENCH_FLOOD_SECONDS", "15"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _writer(port: int, token: str, stop: threading.Event, latencies: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    n = 0
    while not stop.is_set():
        n += 1
        body = json.dumps({"name": f"Writer {threading.get_ident()} {n} {time.time_ns()}"})
        started = time.perf_counter()
        conn.request("POST", "/api/v1/customers", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 201:
            raise RuntimeError(f"the writer got {response.status}")


def _flooder(port: int, index: int, kind: str, stop: threading.Event, seen: dict[int, int]) -> None:
    spread = kind == "spread"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/login")
    page = conn.getresponse()
    text = page.read().decode()
    cookie = page.getheader("set-cookie", "").split(";")[0]
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    n = 0
    while not stop.is_set() and kind == "healthz":
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        seen[response.status] = seen.get(response.status, 0) + 1
    while not stop.is_set():
        n += 1
        email = f"nobody{index}x{n}@team.example.org" if spread else "agent@team.example.org"
        address = f"10.{index}.{n // 250 % 250}.{n % 250 + 1}" if spread else "10.0.0.1"
        body = urlencode({"email": email, "password": "wrong guess!", "csrf_token": found.group(1)})
        conn.request(
            "POST",
            "/login",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie,
                "X-Forwarded-For": address,
            },
        )
        response = conn.getresponse()
        response.read()
        seen[response.status] = seen.get(response.status, 0) + 1


def _phase(port: int, token: str, flood: str | None) -> tuple[list[float], dict[int, int]]:
    stop = threading.Event()
    latencies: list[float] = []
    seen: dict[int, int] = {}
    threads = [threading.Thread(target=_writer, args=(port, token, stop, latencies))]
    if flood is not None:
        threads += [
            threading.Thread(target=_flooder, args=(port, i, flood, stop, seen))
            for i in range(CLIENTS)
        ]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=300)
    return latencies, seen


def measure() -> list[str]:
    """Serve a fresh database and run the three phases; a Markdown table."""
    from customer_flow.core.config import Settings
    from customer_flow.hub import Hub
    from customer_flow.users.models import UserCreate

    lines = [
        "| flood | writes | median ms | p95 ms | max ms | login answers |",
        "|---|---:|---:|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'flood.db'}"
        with Hub(Settings(database_url=url, actor="bench")) as hub:
            user = hub.add_user(
                UserCreate(
                    email="agent@team.example.org", role="agent", password="timing run secret"
                )
            )
            token = hub.create_token("bench", user_id=user.id).token
        port = _free_port()
        env = {
            **os.environ,
            "CUSTOMER_FLOW_DATABASE_URL": url,
            "CUSTOMER_FLOW_TRUSTED_PROXIES": "127.0.0.1",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "customer_flow", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    c.request("GET", "/healthz")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("the server did not start")
            for flood in (None, "healthz", "spread", "one address"):
                latencies, seen = _phase(port, token, flood)
                answers = ", ".join(f"{n} × {s}" for s, n in sorted(seen.items())) or "-"
                p95 = (
                    statistics.quantiles(latencies, n=20, method="inclusive")[18]
                    if len(latencies) > 1
                    else max(latencies)
                )
                lines.append(
                    f"| {flood or 'none'} | {len(latencies)} | {statistics.median(latencies):.0f} "
                    f"| {p95:.0f} | {max(latencies):.0f} | {answers} |"
                )
        finally:
            server.terminate()
            server.wait(timeout=60)
    return lines


def run(report: object) -> None:
    lines = measure()
    lines.append("")
    lines.append(
        f"One writer; {CLIENTS} flooding clients; {SECONDS:.0f} s per phase; one server "
        "process; argon2id m = 64 MiB, t = 3."
    )
    report.section("Bad logins against other users' writes (SQLite)", lines)  # type: ignore[attr-defined]


if __name__ == "__main__":
    print("\n".join(measure()))
