"""Fixtures of the mail tests: one Dovecot per run (a folder per test), an SMTP server per
test, and a Hub with both configured."""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from customer_flow.hub import Hub
from customer_flow.mail.models import MailAccountCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app
from tickets_support import make_hub

from .mail_servers import Dovecot, SmtpServer, self_signed_cert, start_dovecot, start_smtp

MAIL_USERS = {"support": "imap-secret-1", "sales": "imap-secret-2"}
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-secret-1"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    # Not under pytest's temp folder: its parents are private to us, and Dovecot's own users
    # (when the tests run as root) must reach the passwd-file and the Maildirs.
    root = Path(tempfile.mkdtemp(prefix="cf-dovecot-"))
    try:
        server = start_dovecot(root, MAIL_USERS)
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("smtp"))


@pytest.fixture
def smtp(smtp_cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    server = start_smtp(*smtp_cert, SMTP_USER, SMTP_PASSWORD)
    yield server
    server.stop()


@dataclass
class MailDesk:
    """A Hub with a mailbox on the test Dovecot (a folder of its own) and, with ``smtp``,
    the test SMTP server; ``deliver`` puts a message in the mailbox."""

    hub: Hub
    dovecot: Dovecot
    folder: str
    smtp: SmtpServer | None = None

    def deliver(self, raw: bytes) -> None:
        self.dovecot.append("support", raw, self.folder)

    def viewer_client(self) -> TestClient:
        """A web client signed in through the login form (the session cookie) as a new
        viewer: the least role that may see a ticket."""
        self.hub.add_user(
            UserCreate(email="v@team.example.org", name="v", role="viewer",  # type: ignore[arg-type]
                       password="correct horse battery")
        )  # fmt: skip
        client = TestClient(create_app(hub=self.hub))
        login = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf is not None
        client.post(
            "/login",
            data={"email": "v@team.example.org", "password": "correct horse battery",
                  "csrf_token": csrf.group(1)},
        )  # fmt: skip
        return client


def mail(
    sender: str = "Rita Reis <rita@reis.pt>",
    subject: str = "Printer broken",
    body: str = "It prints blank pages.",
    *,
    to: str = "support@desk.test",
    headers: str = "",
    message_id: str | None = None,
) -> bytes:
    """A plain text message as a customer's mail program would send it."""
    lines = [f"From: {sender}"] if sender else []
    lines += [
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <{message_id or uuid.uuid4().hex + '@reis.pt'}>",
        "Date: Sun, 06 Dec 2026 08:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    lines += [h for h in headers.split("\n") if h]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


@pytest.fixture
def desk(
    db_url: str, tmp_path: Path, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MailDesk]:
    from imap_tools import MailBoxStartTls

    folder = f"T{uuid.uuid4().hex[:12]}"
    with MailBoxStartTls("127.0.0.1", dovecot.port, ssl_context=dovecot.client_context()).login(
        "support", MAIL_USERS["support"]
    ) as box:
        box.folder.create(folder)
    monkeypatch.setenv("CF_TEST_IMAP_PASSWORD", MAIL_USERS["support"])
    hub = make_hub(db_url, tmp_path, attachment_dir=tmp_path / "files")
    hub.save_mail_account(
        MailAccountCreate(
            name="support",
            kind="imap",
            host="localhost",
            port=dovecot.port,
            security="starttls",
            username="support",
            password_env="CF_TEST_IMAP_PASSWORD",
            address="support@desk.test",
            folder=folder,
            default_type="support",
            ca_file=str(dovecot.cert),
        )
    )
    yield MailDesk(hub, dovecot, folder)
    hub.close()


@pytest.fixture
def desk_smtp(
    desk: MailDesk, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> MailDesk:
    """``desk`` with the SMTP server set (its password in a file)."""
    secret = tmp_path / "smtp-password"
    secret.write_text(SMTP_PASSWORD + "\n")
    desk.hub.save_mail_account(
        MailAccountCreate(
            name="out",
            kind="smtp",
            host="localhost",
            port=smtp.port,
            security="starttls",
            username=SMTP_USER,
            password_file=str(secret),
            address="support@desk.test",
            ca_file=str(smtp.cert),
        )
    )
    desk.smtp = smtp
    return desk
