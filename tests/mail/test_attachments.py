"""Attachments of incoming mail: kept outside the database by SHA-256 (each file once),
bounded in number and size, listed on the ticket and downloaded only by users who may see the
ticket, always as a download."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

from .conftest import MailDesk


def with_files(files: list[tuple[str, bytes, str]], *, sender: str = "rita@reis.pt") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Rita Reis <{sender}>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Files"
    msg["Message-ID"] = f"<{hashlib.sha1(repr(files).encode()).hexdigest()}@reis.pt>"
    msg.set_content("See the files.")
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_files_are_kept_by_content_and_listed(desk: MailDesk) -> None:
    pdf = b"%PDF-1.4 fake" * 100
    desk.deliver(with_files([("invoice.pdf", pdf, "application/pdf"),
                             ("copy.pdf", pdf, "application/pdf")]))  # fmt: skip
    [ticket_id] = desk.hub.fetch_mail().tickets
    listed = desk.hub.list_attachments(ticket_id)
    digest = hashlib.sha256(pdf).hexdigest()
    assert [("invoice.pdf", len(pdf), digest), ("copy.pdf", len(pdf), digest)] == [
        (a.filename, a.size, a.sha256) for a in listed
    ]
    folder = desk.hub.settings.resolved_attachment_dir()
    assert [digest] == [p.name for p in folder.rglob("*") if p.is_file()]
    _, path = desk.hub.open_attachment(ticket_id, listed[0].id)
    assert pdf == path.read_bytes()
    assert "invoice.pdf" in desk.hub.get_ticket(ticket_id).description


def test_limits_on_count_and_size_are_named_on_the_ticket(
    desk: MailDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 attachments and one too large: the first ones are kept, the rest named as not."""
    monkeypatch.setattr(desk.hub.settings, "mail_max_attachments", 10)
    monkeypatch.setattr(desk.hub.settings, "mail_max_attachment_bytes", 1000)
    files = [("big.bin", b"x" * 5000, "application/octet-stream")]
    files += [(f"f{n}.txt", f"file {n}".encode(), "text/plain") for n in range(500)]
    desk.deliver(with_files(files))
    [ticket_id] = desk.hub.fetch_mail().tickets
    kept = desk.hub.list_attachments(ticket_id)
    assert [f"f{n}.txt" for n in range(9)] == [a.filename for a in kept]
    description = desk.hub.get_ticket(ticket_id).description
    assert "big.bin (5,000 bytes, not kept)" in description
    assert "[492 not kept" in description


def test_file_names_lose_folders_and_control_characters(desk: MailDesk) -> None:
    desk.deliver(with_files([("../../etc/pass\x07wd", b"a", "text/plain")]))
    [ticket_id] = desk.hub.fetch_mail().tickets
    assert ["passwd"] == [a.filename for a in desk.hub.list_attachments(ticket_id)]


class TestDownload:
    @pytest.fixture
    def client(self, desk: MailDesk) -> TestClient:
        return TestClient(create_app(hub=desk.hub))

    def token(self, desk: MailDesk, role: str) -> dict[str, str]:
        user = desk.hub.add_user(
            UserCreate(
                email=f"{role}@team.example.org",
                name=role,
                role=role,  # type: ignore[arg-type]
                password="correct horse battery",
            )
        )
        return {"Authorization": f"Bearer {desk.hub.create_token('t', user_id=user.id).token}"}

    def test_download_is_an_attachment_never_shown(
        self, desk: MailDesk, client: TestClient
    ) -> None:
        html = b"<script>alert(document.cookie)</script>"
        desk.deliver(with_files([("page.html", html, "text/html"),
                                 ("résumé.txt", b"cv", "text/plain")]))  # fmt: skip
        [ticket_id] = desk.hub.fetch_mail().tickets
        viewer = self.token(desk, "viewer")
        listed = client.get(f"/api/v1/tickets/{ticket_id}/attachments", headers=viewer).json()
        assert ["page.html", "résumé.txt"] == [a["filename"] for a in listed]
        r = client.get(f"/api/v1/tickets/{ticket_id}/attachments/{listed[0]['id']}", headers=viewer)
        assert 200 == r.status_code
        assert html == r.content
        assert "application/octet-stream" == r.headers["content-type"]
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "nosniff" == r.headers["x-content-type-options"]
        r = client.get(f"/api/v1/tickets/{ticket_id}/attachments/{listed[1]['id']}", headers=viewer)
        assert "filename*=utf-8''r%C3%A9sum%C3%A9.txt" in r.headers["content-disposition"]

    def test_no_login_no_file_and_no_file_of_another_ticket(
        self, desk: MailDesk, client: TestClient
    ) -> None:
        desk.deliver(with_files([("a.txt", b"a", "text/plain")]))
        desk.deliver(with_files([("b.txt", b"b", "text/plain")], sender="other@reis.pt"))
        first, second = desk.hub.fetch_mail().tickets
        [a] = desk.hub.list_attachments(first)
        assert 401 == client.get(f"/api/v1/tickets/{first}/attachments/{a.id}").status_code
        viewer = self.token(desk, "viewer")
        r = client.get(f"/api/v1/tickets/{second}/attachments/{a.id}", headers=viewer)
        assert 404 == r.status_code
        assert "application/problem+json" == r.headers["content-type"]

    def test_purged_ticket_takes_its_files_out_of_reach(
        self, desk: MailDesk, client: TestClient
    ) -> None:
        desk.deliver(with_files([("a.txt", base64.b64encode(b"a"), "text/plain")]))
        [ticket_id] = desk.hub.fetch_mail().tickets
        [a] = desk.hub.list_attachments(ticket_id)
        desk.hub.close_ticket(ticket_id)
        desk.hub.purge_ticket(ticket_id)
        viewer = self.token(desk, "viewer")
        r = client.get(f"/api/v1/tickets/{ticket_id}/attachments/{a.id}", headers=viewer)
        assert 404 == r.status_code


def test_ticket_page_lists_the_files_with_download_links(desk: MailDesk) -> None:
    """Signed in through the form (the session cookie), the page links each file to its
    download, and the link works with that session."""
    import re

    desk.deliver(with_files([("<i>x.txt", b"x", "text/plain")]))
    [ticket_id] = desk.hub.fetch_mail().tickets
    client = desk.viewer_client()
    page = client.get(f"/tickets/{ticket_id}")
    assert 200 == page.status_code
    assert "&lt;i&gt;x.txt" in page.text and "<i>x" not in page.text
    link = re.search(rf'href="(/api/v1/tickets/{ticket_id}/attachments/\d+)" download', page.text)
    assert link is not None
    assert b"x" == client.get(link.group(1)).content


def test_an_agent_attaches_files_to_a_reply_and_the_customer_gets_them(
    desk_smtp: MailDesk, tmp_path: Path
) -> None:
    """``tickets comment --attach``: the files are kept with the ticket and go out with the
    reply; one over the size limit is refused before it is read, and nothing is written."""
    from typer.testing import CliRunner

    from customer_flow.cli.main import app

    assert desk_smtp.smtp is not None
    desk_smtp.deliver(with_files([]))
    [ticket_id] = desk_smtp.hub.fetch_mail().tickets
    guide = tmp_path / "guide.pdf"
    guide.write_bytes(b"%PDF-1.4 the guide")
    settings = desk_smtp.hub.settings
    env = {"CUSTOMER_FLOW_ATTACHMENT_DIR": str(settings.attachment_dir)}
    base = ["--db", settings.database_url, "tickets", "comment", str(ticket_id)]
    result = CliRunner().invoke(app, [*base, "See the guide", "--attach", str(guide)], env=env)
    assert 0 == result.exit_code, result.stderr
    assert ["guide.pdf"] == [a.filename for a in desk_smtp.hub.list_attachments(ticket_id)]
    assert 1 == len(desk_smtp.hub.send_mail().sent)
    [sent] = desk_smtp.smtp.received
    [part] = list(sent.iter_attachments())
    assert ("guide.pdf", "application/pdf", b"%PDF-1.4 the guide") == (
        part.get_filename(),
        part.get_content_type(),
        part.get_content(),
    )
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2000)
    env["CUSTOMER_FLOW_MAIL_MAX_ATTACHMENT_BYTES"] = "1000"
    result = CliRunner().invoke(app, [*base, "Too big", "--attach", str(big)], env=env)
    assert 1 == result.exit_code
    assert "over the limit of 1,000" in result.stderr
    assert 1 == len(desk_smtp.hub.list_comments(ticket_id))
