"""Stateless app servers (issue 20): two real ``customer-flow serve`` processes on two ports,
one PostgreSQL database (a fresh one), one Redis and one shared folder for import staging and
attachments, as docs/deploy.md sets them up behind a load balancer.

- a login on one server works on the other (sessions live in the database);
- the login throttle counts the failures made on both (``login_failures``), per account and
  per client address (the address a trusted proxy names, as behind a load balancer);
- an import previewed on one is committed on the other (the staging folder is shared);
- an import started on one server's page runs as a job on a ``worker`` (the Redis queue) and
  is followed, and committed, on the other;
- writes sent to both at once all land;
- a server killed (SIGKILL) in the middle of an import's commit leaves all of it or none.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import new_pg_database
from customer_flow.core.config import Settings
from customer_flow.hub import Hub
from customer_flow.users.models import UserCreate

SRC = str(Path(__file__).resolve().parents[2] / "src")
PASSWORD = "correct horse battery"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(db_url: str, env: dict[str, str], log: Path) -> Server:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "customer_flow", "--db", db_url, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"serve never got ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


@dataclass
class Farm:
    db_url: str
    servers: list[Server]
    token: str
    env: dict[str, str]
    tmp: Path

    def api(self, i: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.servers[i].url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
        )

    def scalar(self, sql: str) -> int:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def farm(
    pg_database: str, redis_base: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Farm]:
    """Started once for the file (two servers take a while): each test counts what it adds,
    and the test that kills server B runs last."""
    tmp_path = tmp_path_factory.mktemp("farm")
    shared = tmp_path / "shared"  # a network mount on real hosts
    with new_pg_database("cf_farm") as url:
        settings = Settings(
            database_url=url, actor="setup", password_memory_kib=19456, password_time_cost=2
        )
        with Hub(settings, create=True) as hub:
            admin = hub.add_user(
                UserCreate(email="admin@farm.example.org", name="Admin", role="admin",
                           password=PASSWORD)  # type: ignore[arg-type]
            )  # fmt: skip
            for who in ("rita", "rui"):
                hub.add_user(
                    UserCreate(email=f"{who}@farm.example.org", name=who, role="agent",
                               password=PASSWORD)  # type: ignore[arg-type]
                )  # fmt: skip
            token = hub.create_token("farm", user_id=admin.id).token
        env = {
            **os.environ,
            "PYTHONPATH": SRC,
            "CUSTOMER_FLOW_IMPORT_DIR": str(shared / "imports"),
            "CUSTOMER_FLOW_ATTACHMENT_DIR": str(shared / "attachments"),
            "CUSTOMER_FLOW_QUEUE_URL": f"{redis_base}/13",
            "CUSTOMER_FLOW_PASSWORD_MEMORY_KIB": "19456",
            "CUSTOMER_FLOW_PASSWORD_TIME_COST": "2",
            # The test client is the load balancer: it may name the client's address.
            "CUSTOMER_FLOW_TRUSTED_PROXIES": "127.0.0.1",
        }
        servers = [start_server(url, env, tmp_path / f"serve{i}.log") for i in (0, 1)]
        try:
            yield Farm(url, servers, token, env, tmp_path)
        finally:
            for s in servers:
                s.stop()


def login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": login_form(client)}
    )


def test_a_login_on_one_server_works_on_the_other(farm: Farm) -> None:
    """The login form served by B is accepted by A (no sticky sessions needed); the session
    cookie set by A opens pages and the API on B, and a logout on B ends it on A."""
    a, b = farm.servers
    with httpx.Client(base_url=b.url) as form_from_b:
        token = login_form(form_from_b)
        form_cookies = form_from_b.cookies
    with httpx.Client(base_url=a.url, cookies=form_cookies) as on_a:
        r = on_a.post(
            "/login",
            data={"email": "rita@farm.example.org", "password": PASSWORD, "csrf_token": token},
        )
        assert 303 == r.status_code, r.text
        cookies = on_a.cookies
    with httpx.Client(base_url=b.url, cookies=cookies) as on_b:
        me = on_b.get("/api/v1/users/me")
        assert (200, "rita@farm.example.org") == (me.status_code, me.json()["email"])
        page = on_b.get("/customers/new")
        assert 200 == page.status_code
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        made = on_b.post(
            "/api/v1/customers",
            json={"name": "Ana Lima", "email": "ana@lima.pt"},
            headers={"X-CSRF-Token": csrf.group(1)},
        )
        assert 201 == made.status_code, made.text
        assert 303 == on_b.post("/logout", data={"csrf_token": csrf.group(1)}).status_code
    with httpx.Client(base_url=a.url, cookies=cookies) as again:
        assert 401 == again.get("/api/v1/users/me").status_code


def test_the_login_throttle_counts_failures_on_both_servers(farm: Farm) -> None:
    """Wrong passwords sent to A and B in turn: the first refusal (429, with Retry-After)
    comes once the account has used its 5 free tries from this address counted over both
    servers, when neither server alone has seen 5 failures."""
    answers: list[tuple[int, httpx.Response]] = []
    for i in range(8):
        with httpx.Client(base_url=farm.servers[i % 2].url) as c:
            answers.append((i % 2, login(c, "rui@farm.example.org", "wrong password 1")))
    codes = [r.status_code for _, r in answers]
    first = codes.index(429)
    assert [401] * 5 == codes[:5]
    assert first >= 5
    per_server = [
        sum(1 for s, r in answers[:first] if s == k and r.status_code == 401) for k in (0, 1)
    ]
    assert all(n < 5 for n in per_server), per_server  # only their sum reached the limit
    assert "Retry-After" in answers[first][1].headers
    assert codes.count(401) == farm.scalar("SELECT count(*) FROM login_failures")


def test_the_address_throttle_counts_failures_on_both_servers(farm: Farm) -> None:
    """One client address (named by the proxy in X-Forwarded-For) tries a wrong password on a
    different account each time, on A and B in turn: it is refused (429) once the address has
    used its 10 free tries counted over both servers, though neither alone saw 10; another
    address still logs in, on either server."""
    attacker = {"X-Forwarded-For": "198.51.100.7"}
    answers: list[tuple[int, int]] = []
    for i in range(16):
        with httpx.Client(base_url=farm.servers[i % 2].url, headers=attacker) as c:
            r = login(c, f"nobody{i}@farm.example.org", "wrong password 2")
            answers.append((i % 2, r.status_code))
            if r.status_code == 429:
                break
    codes = [code for _, code in answers]
    assert 429 == codes[-1], codes
    first = len(codes) - 1
    assert [401] * first == codes[:first]
    assert first >= 10
    per_server = [sum(1 for s, code in answers[:first] if s == k) for k in (0, 1)]
    assert all(n < 10 for n in per_server), per_server  # only their sum reached the limit
    assert first == farm.scalar(
        "SELECT count(*) FROM login_failures WHERE address = '198.51.100.7'"
    )
    for server in farm.servers:  # the limit is the address's, not the servers' or everyone's
        with httpx.Client(
            base_url=server.url, headers={"X-Forwarded-For": "198.51.100.8"}
        ) as other:
            assert 303 == login(other, "rita@farm.example.org", PASSWORD).status_code


def _csv(rows: int, start: int = 0) -> bytes:
    text_ = io.StringIO()
    writer = csv.writer(text_)
    writer.writerow(["name", "email", "phone"])
    for i in range(start, start + rows):
        writer.writerow([f"Cust{i:06d} Imported", f"cust{i}@import.example.org", ""])
    return text_.getvalue().encode()


def test_an_import_previewed_on_one_server_is_committed_on_the_other(farm: Farm) -> None:
    """The preview's staged upload sits in the shared folder: B imports A's token."""
    with farm.api(0) as a, farm.api(1) as b:
        preview = a.post("/api/v1/imports/preview", files={"file": ("c.csv", _csv(50))})
        assert 200 == preview.status_code, preview.text
        assert 50 == preview.json()["report"]["imported"]
        done = b.post("/api/v1/imports", data={"upload": preview.json()["upload"]})
        assert 201 == done.status_code, done.text
        assert 50 == done.json()["report"]["imported"]
        again = a.post("/api/v1/imports", data={"upload": preview.json()["upload"]})
        assert 404 == again.status_code  # used once, on whichever server
    assert 50 == farm.scalar(
        "SELECT count(*) FROM customers WHERE email LIKE '%@import.example.org'"
    )


def test_an_import_job_started_on_one_server_runs_on_a_worker_and_shows_on_the_other(
    farm: Farm,
) -> None:
    """The import page on A stages the upload and queues its preview (Redis); a ``worker``
    process runs it; B shows the preview and starts the import; the worker runs that; A shows
    the result. Nothing of it lives in either server."""
    with httpx.Client(base_url=farm.servers[0].url) as a:
        assert 303 == login(a, "rui@farm.example.org", PASSWORD).status_code
        cookies = a.cookies
        page = a.get("/imports")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None, page.text
        started = a.post(
            "/imports/preview",
            data={"csrf_token": csrf.group(1)},
            files={"file": ("jobs.csv", _csv(30, start=50_000), "text/csv")},
        )
        assert 303 == started.status_code, started.text
        job = started.headers["location"]
        assert re.fullmatch(r"/imports/jobs/\d+", job), job
    worker_log = farm.tmp / "worker.log"
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "customer_flow", "--db", farm.db_url, "worker"],
            env=farm.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=farm.servers[1].url, cookies=cookies) as b:
            preview = _when_done(b, job, worker, worker_log)
            assert "30 imported + 0 updated + 0 unchanged + 0 rejected = 30 rows read" in (
                preview.text
            )
            upload = re.search(r'name="upload" value="([^"]*)"', preview.text)
            token = re.search(r'name="csrf_token" value="([^"]+)"', preview.text)
            assert upload is not None and token is not None, preview.text
            committed = b.post(
                "/imports/commit", data={"csrf_token": token.group(1), "upload": upload.group(1)}
            )
            assert 303 == committed.status_code, committed.text
            second = committed.headers["location"]
        with httpx.Client(base_url=farm.servers[0].url, cookies=cookies) as a:
            result = _when_done(a, second, worker, worker_log, redirect=True)
            assert "30 imported" in result.text
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert 30 == farm.scalar(
        "SELECT count(*) FROM customers WHERE email LIKE 'cust5____@import.example.org'"
    )
    assert 1 == farm.scalar("SELECT count(*) FROM import_batches WHERE source LIKE '%jobs.csv'")


def _when_done(
    client: httpx.Client,
    job: str,
    worker: subprocess.Popen[bytes],
    log: Path,
    *,
    redirect: bool = False,
) -> httpx.Response:
    """The job's page once its job has ended (the progress fragment redirects); with
    ``redirect``, the page it leads to (an import's result)."""
    deadline = time.monotonic() + 120
    while "HX-Redirect" not in client.get(f"{job}/progress").headers:
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the job never ended:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    page = client.get(job, follow_redirects=redirect)
    assert 200 == page.status_code, page.text
    return page


def test_writes_sent_to_both_servers_at_once_all_land(farm: Farm) -> None:
    """120 customers created, half through each server, eight requests at a time: every one
    is there, with an ID of its own and its audit entry."""
    clients = [farm.api(0), farm.api(1)]

    def create(i: int) -> int:
        r = clients[i % 2].post(
            "/api/v1/customers",
            params={"allow_duplicate": "true"},
            json={"name": f"Para{i:04d} Lelo{i:04d}", "email": f"p{i}@both.example.org"},
        )
        assert 201 == r.status_code, r.text
        return int(r.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(120)))
    assert 120 == len(set(ids))
    assert 120 == farm.scalar(
        "SELECT count(*) FROM customers WHERE email LIKE '%@both.example.org'"
    )
    listed = ", ".join(f"'{i}'" for i in ids)
    assert 120 == farm.scalar(
        "SELECT count(*) FROM audit_log WHERE entity = 'customer' AND action = 'create' "
        f"AND entity_id IN ({listed})"
    )
    for c in clients:
        c.close()


def test_a_server_killed_during_an_import_commit_leaves_all_or_nothing(farm: Farm) -> None:
    """B is killed (SIGKILL) while its import of 60,000 rows is in its transaction: the
    database keeps none of it (or, had the commit won the race, all of it), A goes on
    serving, and the same file imports whole on A."""
    rows = 60_000
    before = farm.scalar("SELECT count(*) FROM customers")
    batches_before = farm.scalar("SELECT count(*) FROM import_batches")
    victim = farm.servers[1]
    body = _csv(rows, start=100_000)
    answer: list[object] = []

    def send() -> None:
        try:
            with farm.api(1) as b:
                answer.append(b.post("/api/v1/imports", files={"file": ("big.csv", body)}))
        except httpx.HTTPError as exc:
            answer.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    # Killed once B's import holds an open transaction that has written (pg_stat_activity).
    deadline = time.monotonic() + 120
    busy = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "application_name = 'customer-flow' AND xact_start IS NOT NULL AND "
        "backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
    )
    while farm.scalar(busy) == 0:
        assert time.monotonic() < deadline, "the import never started writing"
        assert sender.is_alive(), f"the import ended before it could be killed: {answer}"
        time.sleep(0.05)
    victim.kill()
    sender.join()
    assert isinstance(answer[0], httpx.HTTPError)  # no answer from a dead server
    # PostgreSQL ends the dead server's transaction when it notices the closed connection.
    deadline = time.monotonic() + 60
    while farm.scalar(busy) != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    after = farm.scalar("SELECT count(*) FROM customers")
    assert after in (before, before + rows)
    batches = farm.scalar("SELECT count(*) FROM import_batches")
    assert batches == batches_before + (0 if after == before else 1)
    if after == before:  # nothing landed: the same file imports whole on A
        with farm.api(0) as a:
            done = a.post("/api/v1/imports", files={"file": ("big.csv", body)})
        assert 201 == done.status_code, done.text
        assert before + rows == farm.scalar("SELECT count(*) FROM customers")
