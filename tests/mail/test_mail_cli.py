"""The ``mail`` and ``worker`` commands on the real servers: settings without passwords on
screen, fetch and test with exit codes, and the worker (a huey consumer in its own process,
on a SQLite or a Redis queue) filing mail and keeping the jobs that failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from customer_flow.cli.main import app
from customer_flow.store.schema import job_failures, tickets

from .conftest import MAIL_USERS, MailDesk, mail


class Cli:
    def __init__(self, db_url: str, env: dict[str, str]) -> None:
        self.db_url, self.env = db_url, env

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["--db", self.db_url, *args], env=self.env)

    def ok(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert 0 == result.exit_code, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(desk: MailDesk) -> Cli:
    return Cli(desk.hub.settings.database_url, {"CF_TEST_IMAP_PASSWORD": MAIL_USERS["support"]})


def test_the_outbox_status_choices_are_the_models() -> None:
    """`mail outbox --status` offers exactly the statuses a message can have."""
    from typing import get_args

    from customer_flow.cli.mail import OutboxStatus as Choices
    from customer_flow.mail.models import OutboxStatus

    assert sorted(get_args(OutboxStatus)) == sorted(c.value for c in Choices)


class TestMailCommands:
    def test_add_mailbox_then_list_shows_where_the_password_is_not_what(
        self, cli: Cli, desk: MailDesk
    ) -> None:
        result = cli(
            "mail", "add-mailbox", "sales", "--host", "localhost", "--user", "sales",
            "--address", "sales@desk.test", "--type", "support", "--security", "starttls",
            "--port", str(desk.dovecot.port), "--password-env", "CF_SALES_PASSWORD",
            "--ca-file", str(desk.dovecot.cert),
        )  # fmt: skip
        assert 0 == result.exit_code, result.stderr
        listed = cli("mail", "list", "--json")
        [sales] = [a for a in json.loads(listed.stdout) if a["name"] == "sales"]
        assert ("CF_SALES_PASSWORD", None) == (sales["password_env"], sales["password_file"])
        assert "password" not in sales
        assert MAIL_USERS["sales"] not in listed.stdout + listed.stderr
        cli.env["CF_SALES_PASSWORD"] = MAIL_USERS["sales"]
        test = cli("mail", "test")
        assert 0 == test.exit_code, test.stdout
        assert "imap sales: ok" in test.stdout

    def test_both_password_sources_is_one_line_exit_1(self, cli: Cli) -> None:
        result = cli(
            "mail", "set-smtp", "--host", "h", "--user", "u", "--address", "a@b.pt",
            "--password-env", "X", "--password-file", "/tmp/x",
        )  # fmt: skip
        assert 1 == result.exit_code
        assert ["error: password: name exactly one"] == [
            line[:33] for line in result.stderr.strip().splitlines()
        ]

    def test_fetch_files_and_reports(self, cli: Cli, desk: MailDesk) -> None:
        desk.deliver(mail())
        report = cli.ok("mail", "fetch")
        assert 1 == len(report["tickets"])
        assert [] == cli.ok("mail", "fetch")["tickets"]
        [row] = cli.ok("mail", "log")
        assert ("ticket", report["tickets"][0]) == (row["outcome"], row["ticket_id"])

    def test_test_and_fetch_fail_with_exit_1_and_no_password(self, cli: Cli) -> None:
        cli.env["CF_TEST_IMAP_PASSWORD"] = "wrong-secret-123"
        test = cli("mail", "test")
        assert 1 == test.exit_code
        assert "imap support: FAILED" in test.stdout
        fetch = cli("mail", "fetch")
        assert 1 == fetch.exit_code
        assert "refused" in fetch.stderr
        assert "wrong-secret-123" not in test.stdout + fetch.stdout + fetch.stderr

    def test_send_says_what_may_have_been_sent_and_retry_sends_it(
        self, cli: Cli, desk_smtp: MailDesk
    ) -> None:
        """``mail send`` exits 1 naming a message whose connection was lost after it was
        handed over; ``mail outbox --status uncertain`` lists it; ``mail retry`` sends it."""
        from customer_flow.tickets.models import CommentCreate

        assert desk_smtp.smtp is not None
        desk_smtp.deliver(mail())
        [ticket_id] = desk_smtp.hub.fetch_mail().tickets
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["DROP"]
        sent = cli("mail", "send")
        assert 1 == sent.exit_code
        assert "1 may have been sent" in sent.stderr and "Traceback" not in sent.stderr
        [row] = cli.ok("mail", "outbox", "--status", "uncertain")
        assert [] == cli.ok("mail", "outbox", "--status", "pending")
        retried = cli("mail", "retry", str(row["id"]))
        assert 0 == retried.exit_code, retried.stderr
        assert f"message {row['id']} to rita@reis.pt (ticket #{ticket_id}) is due again" in (
            retried.stderr
        )
        again = cli("mail", "retry", str(row["id"]))
        assert (1, 1) == (again.exit_code, len(again.stderr.strip().splitlines()))
        assert "only an uncertain or failed message" in again.stderr
        assert 0 == cli("mail", "send").exit_code
        assert 2 == len(desk_smtp.smtp.received)

    def test_worker_once(self, cli: Cli, desk: MailDesk) -> None:
        desk.deliver(mail())
        result = cli("worker", "--once")
        assert 0 == result.exit_code, result.stderr
        assert "fetched 1 tickets" in result.stderr


def _worker(db_url: str, queue_url: str, **env: str) -> subprocess.Popen[bytes]:
    full = {**os.environ, "CUSTOMER_FLOW_QUEUE_URL": queue_url, **env}
    full["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.Popen(
        [sys.executable, "-m", "customer_flow", "--db", db_url, "worker"],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(check: Any, process: subprocess.Popen[bytes]) -> None:
    """Poll ``check`` until it holds; the deadline only stops a broken run from hanging."""
    deadline = time.monotonic() + 90
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[0].decode(errors="replace")
            pytest.fail(f"the worker never got there:\n{output[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return f"{request.getfixturevalue('redis_base')}/15"  # skips, or fails, without Redis


class TestWorker:
    def test_worker_files_mail_at_start(self, desk: MailDesk, queue_url: str) -> None:
        desk.deliver(mail())
        process = _worker(
            desk.hub.settings.database_url,
            queue_url,
            CF_TEST_IMAP_PASSWORD=MAIL_USERS["support"],
        )
        try:

            def filed() -> bool:
                with desk.hub.store.read() as conn:
                    return conn.execute(select(tickets.c.id)).first() is not None

            _wait_for(filed, process)
        finally:
            process.terminate()
            process.wait(timeout=30)
        assert 1 == len(desk.hub.list_inbound_mail())

    def test_a_job_failing_after_its_retries_is_kept_for_admins(
        self, desk: MailDesk, queue_url: str
    ) -> None:
        process = _worker(
            desk.hub.settings.database_url,
            queue_url,
            CF_TEST_IMAP_PASSWORD="wrong-secret-456",
            CUSTOMER_FLOW_JOB_RETRIES="1",
            CUSTOMER_FLOW_JOB_RETRY_DELAY="0",
        )
        try:

            def kept() -> bool:
                with desk.hub.store.read() as conn:
                    return conn.execute(select(job_failures.c.id)).first() is not None

            _wait_for(kept, process)
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode(errors="replace")
        # On PostgreSQL the worker runs two jobs at once: the start-up fetch and a scheduled
        # one may both have failed by now. Each is kept, after its retry.
        failures = desk.hub.list_job_failures()
        assert failures and all(("mail_fetch", 2) == (f.job, f.attempts) for f in failures)
        for failure in failures:
            assert "refused" in failure.error
            assert "wrong-secret-456" not in failure.error + output
