"""Jobs on Redis (issue 20): real ``worker`` processes sharing one Redis queue, on a Redis
server of the test's own (append-only file on, as docs/deploy.md asks of a team's Redis).

- two workers: every job runs once, and both take some;
- a worker killed mid-job (SIGKILL): its job is taken again by the other worker;
- two workers, the one sending a reply killed mid-send: the job runs again on the other, which
  leaves the message the dead worker held alone, and the customer gets it once;
- Redis stopped while jobs are queued, then started: every job is still there and runs.

A job is seen running by the worker's own log line (``Executing ...: <task id>``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import _reset_postgres, redis_server_program
from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.mail.models import MailAccountCreate
from customer_flow.store.schema import mail_outbox
from customer_flow.tickets.models import CommentCreate, TicketCreate
from customer_flow.worker import make_queue
from mail.mail_servers import CuttableProxy, SmtpServer, self_signed_cert, start_smtp
from tickets_support import TYPES, write_json

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], what: str, seconds: float = 90) -> None:
    """Poll ``check``; the deadline only stops a broken run from hanging."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.2)


@dataclass
class RedisServer:
    program: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._up, "redis-server answers", 20)

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no chance to save anything more than the append-only file holds."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    program = redis_server_program()  # skips, or fails under CI, without redis-server
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(program, free_port(), folder)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def team(pg_database: str, redis_server: RedisServer, tmp_path: Path) -> Settings:
    """The team settings: PostgreSQL (emptied: no mail server unless a test adds one) and
    Redis."""
    _reset_postgres(pg_database)
    return Settings(
        database_url=pg_database,
        queue_url=redis_server.url,
        job_retries=0,
        job_lease_seconds=3,
        attachment_dir=tmp_path / "files",
    )


class Worker:
    """``customer-flow worker`` in a process of its own, its log in a file."""

    def __init__(self, settings: Settings, log: Path, **env: str) -> None:
        self.log = log
        full = {
            **os.environ,
            "PYTHONPATH": SRC,
            "CUSTOMER_FLOW_QUEUE_URL": str(settings.queue_url),
            "CUSTOMER_FLOW_JOB_RETRIES": str(settings.job_retries),
            "CUSTOMER_FLOW_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
            **env,
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "customer_flow", "--db", settings.database_url, "worker"],
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ran(self) -> list[str]:
        """The task IDs this worker started, in order."""
        return re.findall(r"Executing \S+: ([0-9a-f-]{36})", self.text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # huey: finish the job in hand, then stop
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def test_two_workers_share_the_queue_and_run_each_job_once(
    team: Settings, workers: list[Worker], tmp_path: Path
) -> None:
    """40 jobs queued while two workers run: each runs exactly once, and both take some."""
    Hub(team, create=True).close()
    huey = make_queue(team)
    workers += [Worker(team, tmp_path / f"w{i}.log") for i in (1, 2)]
    wait_until(lambda: all("worker started" in w.text() for w in workers), "both workers up")
    ids = [huey.mail_send().id for _ in range(40)]
    wait_until(
        lambda: set(ids) <= {t for w in workers for t in w.ran()}, "every job ran", seconds=120
    )
    for w in workers:
        w.stop()
    ran = [t for w in workers for t in w.ran() if t in set(ids)]
    assert sorted(ids) == sorted(ran)  # every job once: none lost, none twice
    assert all(any(t in set(ids) for t in w.ran()) for w in workers), [w.ran() for w in workers]
    assert 0 == huey.storage.queue_size()


@pytest.fixture
def tarpit() -> Iterator[int]:
    """A port that accepts connections and never says a word (an IMAP server hanging): a
    mail fetch against it runs until the client's 30 s timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for s in held:
        s.close()
    server.close()


def _silent_mailbox(hub: Hub, port: int) -> None:
    """A mailbox on ``port`` (the tarpit): a fetch from it hangs until the client's timeout."""
    hub.save_mail_account(
        MailAccountCreate(
            name="slow", kind="imap", host="127.0.0.1", port=port, security="tls",
            username="u", password_env="CF_TEST_NO_PASSWORD", address="slow@desk.test",
            default_type="support",
        )
    )  # fmt: skip


def test_a_job_whose_worker_was_killed_runs_again_on_another(
    team: Settings, workers: list[Worker], tmp_path: Path, tarpit: int
) -> None:
    """A mail fetch hangs on a silent server; its worker is killed (SIGKILL) mid-job; the
    other worker takes that same job once the dead worker's lease (3 s) runs out."""
    with Hub(team, create=True) as hub:
        hub.load_ticket_types(write_json(tmp_path / "types.json", TYPES))
        _silent_mailbox(hub, tarpit)
    huey = make_queue(team)
    job = huey.mail_fetch().id
    env = {"CF_TEST_NO_PASSWORD": "secret-1"}
    first = Worker(team, tmp_path / "first.log", **env)
    workers.append(first)
    wait_until(lambda: job in first.ran(), "the first worker started the job")
    first.kill()
    in_flight = [k for k in huey.storage.conn.scan_iter(match="huey.inflight.*")]
    assert 1 == len(in_flight)  # the dead worker's job, neither lost nor queued twice
    second = Worker(team, tmp_path / "second.log", **env)
    workers.append(second)
    wait_until(lambda: job in second.ran(), "the second worker took the job again", 60)
    assert 1 == second.ran().count(job)
    assert 1 == first.ran().count(job)


def _ended(log: str, task: str) -> bool:
    return f"{task} executed" in log or f"in task {task}." in log  # done, or failed


def test_a_hanging_job_does_not_hold_up_the_next_on_postgresql(
    team: Settings, workers: list[Worker], tmp_path: Path, tarpit: int
) -> None:
    """One worker, its default on PostgreSQL (two jobs at once): a mail fetch hangs on a
    silent server until its 30 s timeout, and the sends queued after it run meanwhile, not
    after it (with one job at a time they came only once the fetch gave up)."""
    with Hub(team, create=True) as hub:
        hub.load_ticket_types(write_json(tmp_path / "types.json", TYPES))
    env = {"CF_TEST_NO_PASSWORD": "secret-1", "CUSTOMER_FLOW_MAIL_POLL_MINUTES": "59"}
    worker = Worker(team, tmp_path / "w.log", **env)
    workers.append(worker)
    wait_until(lambda: "worker started" in worker.text(), "the worker is up")
    assert "2 at once" in worker.text()
    with Hub(team) as hub:  # the silent server, once the worker's start-up fetch is done
        _silent_mailbox(hub, tarpit)
    # A scheduled fetch (on the hour) hanging already would hold the second thread: wait it out.
    wait_until(lambda: all(_ended(worker.text(), t) for t in worker.ran()), "no job in hand", 60)
    huey = make_queue(team)
    fetch = huey.mail_fetch().id
    wait_until(lambda: fetch in worker.ran(), "the fetch started")
    sends = [huey.mail_send().id for _ in range(3)]
    wait_until(lambda: all(_ended(worker.text(), t) for t in sends), "the sends ran", 60)
    log = worker.text()
    assert not _ended(log, fetch), log[-3000:]  # still hanging when the last send was done
    wait_until(lambda: _ended(worker.text(), fetch), "the fetch gave up", 60)


class Gate(CuttableProxy):
    """A relay to an SMTP server that holds the connections it takes, silent, until
    ``opened``: an SMTP server that stopped answering, then came back."""

    def __init__(self, port: int) -> None:
        self.opened = threading.Event()
        self.held: list[socket.socket] = []
        super().__init__(port)

    def _hold(self, client: socket.socket) -> bool:
        if self.opened.is_set():
            return False
        self.held.append(client)  # no greeting: the client waits (30 s timeout)
        return True

    def close(self) -> None:
        super().close()
        for s in self.held:
            s.close()


@pytest.fixture
def smtp_behind_gate(tmp_path: Path) -> Iterator[tuple[SmtpServer, Gate]]:
    """A real SMTP server (aiosmtpd: STARTTLS, AUTH) reached through a ``Gate``."""
    folder = tmp_path / "smtp"
    folder.mkdir()
    server = start_smtp(*self_signed_cert(folder), "mailer", "smtp-secret-1")
    gate = Gate(server.port)
    yield server, gate
    gate.close()
    server.stop()


def _outbox_row(team: Settings) -> tuple[str, int]:
    with Hub(team) as hub, hub.store.read() as conn:
        row = conn.execute(select(mail_outbox.c.status, mail_outbox.c.attempts)).one()
    return str(row.status), int(row.attempts)


def test_a_reply_whose_worker_was_killed_mid_send_goes_out_once(
    team: Settings,
    workers: list[Worker],
    tmp_path: Path,
    smtp_behind_gate: tuple[SmtpServer, Gate],
) -> None:
    """Two workers share the queue. The one sending a reply is killed (SIGKILL) while the SMTP
    server keeps it waiting for its greeting; the other takes the job again and sends the
    reply: once in all. A worker takes a message (``sending``) only once its SMTP session is
    open, so the dead one had taken nothing. (Killed after that, the message would become
    ``uncertain`` instead of being sent again: tests/mail/test_outbound.py, TestAtMostOnce.)"""
    smtp, gate = smtp_behind_gate
    with Hub(team, create=True) as hub:
        hub.load_ticket_types(write_json(tmp_path / "types.json", TYPES))
        hub.save_mail_account(
            MailAccountCreate(
                name="out", kind="smtp", host="localhost", port=gate.port,
                security="starttls", username="mailer", password_env="CF_TEST_SMTP_PASSWORD",
                address="support@desk.test", ca_file=str(smtp.cert),
            )
        )  # fmt: skip
        customer = hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.example"))
        ticket = hub.open_ticket(
            TicketCreate(customer_id=customer.id, type="support", subject="Charged twice")
        )
    env = {"CF_TEST_SMTP_PASSWORD": "smtp-secret-1", "CUSTOMER_FLOW_MAIL_POLL_MINUTES": "59"}
    workers += [Worker(team, tmp_path / f"w{i}.log", **env) for i in (1, 2)]
    # Each worker queues a fetch and a send at start: let those four end first.
    wait_until(
        lambda: (
            sum(len(w.ran()) for w in workers) >= 4
            and all(_ended(w.text(), t) for w in workers for t in w.ran())
        ),
        "the start-up jobs ended",
    )
    with Hub(team) as hub:
        hub.add_comment(ticket.id, CommentCreate(body="We are refunding the second charge."))
    huey = make_queue(team)
    job = huey.mail_send().id
    wait_until(lambda: any(job in w.ran() for w in workers), "a worker took the send")
    victim, survivor = workers if job in workers[0].ran() else workers[::-1]
    wait_until(lambda: bool(gate.held), "the send waits for the SMTP server")
    assert ("pending", 0) == _outbox_row(team)  # its session is not open: nothing taken yet
    gate.opened.set()  # the server answers again, but never on the connection the victim holds
    victim.kill()
    wait_until(
        lambda: job in survivor.ran() and _ended(survivor.text(), job),
        "the other worker ran the job again",
    )
    assert (1, 1) == (victim.ran().count(job), survivor.ran().count(job))
    assert ("sent", 1) == _outbox_row(team)
    assert 1 == len(smtp.received)
    assert ["ana@lima.example"] == smtp.envelopes[0].rcpt_tos


def test_redis_stopped_with_jobs_queued_then_started_loses_nothing(
    team: Settings, redis_server: RedisServer, workers: list[Worker], tmp_path: Path
) -> None:
    """Jobs queued, Redis killed (SIGKILL) and started again on its append-only file: every
    job is still queued, and a worker runs each of them once. A worker running while Redis
    is away waits, and goes on when it is back."""
    Hub(team, create=True).close()
    huey = make_queue(team)
    ids = [huey.mail_send().id for _ in range(10)]
    redis_server.kill()
    redis_server.start()
    assert 10 == huey.storage.queue_size()
    worker = Worker(team, tmp_path / "w.log")
    workers.append(worker)
    wait_until(lambda: set(ids) <= set(worker.ran()), "the queued jobs ran")
    redis_server.kill()  # the worker loses its queue for a while...
    time.sleep(2)
    redis_server.start()
    more = [huey.mail_send().id for _ in range(5)]  # ...and takes jobs again once it is back
    wait_until(lambda: set(more) <= set(worker.ran()), "the jobs queued after the restart ran")
    worker.stop()
    ran = worker.ran()
    assert sorted(ids + more) == sorted(t for t in ran if t in set(ids + more))
    assert worker.process.returncode is not None


def test_a_periodic_tick_runs_on_one_worker_per_minute(team: Settings) -> None:
    """Every worker's scheduler enqueues the mail tick; the first to claim a minute runs it."""
    first, second = make_queue(team), make_queue(team)
    assert first.once("mail_tick:202612061030")
    assert not second.once("mail_tick:202612061030")
    assert second.once("mail_tick:202612061031")
