"""Agents attach files to replies from the web: the ticket page's reply form (several files)
and the API's multipart route, through the same Hub call as the CLI; the customer gets them by
mail. A 30 MB file and a message of 500 files are refused with one line, nothing written."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

from .conftest import MailDesk
from .test_attachments import with_files

PASSWORD = "correct horse battery"


@pytest.fixture
def web(desk_smtp: MailDesk) -> tuple[TestClient, dict[str, str], int]:
    """(a client logged in as an agent, the agent's API headers, a ticket from the mailbox)."""
    hub = desk_smtp.hub
    user = hub.add_user(
        UserCreate(email="ana@team.example.org", name="Ana", role="agent", password=PASSWORD)
    )
    headers = {"Authorization": f"Bearer {hub.create_token('t', user_id=user.id).token}"}
    client = TestClient(create_app(hub=hub))
    login = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    desk_smtp.deliver(with_files([]))
    [ticket_id] = hub.fetch_mail().tickets
    return client, headers, ticket_id


def _csrf(client: TestClient, ticket_id: int) -> str:
    page = client.get(f"/tickets/{ticket_id}")
    assert 'enctype="multipart/form-data"' in page.text and 'name="files"' in page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _stored(desk: MailDesk) -> list[str]:
    root = desk.hub.settings.resolved_attachment_dir()
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_the_reply_form_sends_several_files_to_the_customer(
    desk_smtp: MailDesk, web: tuple[TestClient, dict[str, str], int]
) -> None:
    client, _, ticket_id = web
    files = [
        ("files", ("guide.pdf", b"%PDF-1.4 the guide", "application/pdf")),
        ("files", ("steps.txt", "Étapes: 1, 2".encode(), "text/plain")),
    ]
    r = client.post(
        f"/tickets/{ticket_id}/comments",
        data={"csrf_token": _csrf(client, ticket_id), "body": "See both", "visibility": "public"},
        files=files,
        follow_redirects=False,
    )
    assert 303 == r.status_code, r.text
    kept = desk_smtp.hub.list_attachments(ticket_id)
    assert ["guide.pdf", "steps.txt"] == [a.filename for a in kept]
    [comment] = desk_smtp.hub.list_comments(ticket_id)
    assert {comment.id} == {a.comment_id for a in kept}
    assert 1 == len(desk_smtp.hub.send_mail().sent)
    assert desk_smtp.smtp is not None
    [sent] = desk_smtp.smtp.received
    parts = {p.get_filename(): p.get_content() for p in sent.iter_attachments()}
    assert {"guide.pdf": b"%PDF-1.4 the guide", "steps.txt": "Étapes: 1, 2"} == parts


def test_an_empty_file_input_is_a_reply_without_files(
    desk_smtp: MailDesk, web: tuple[TestClient, dict[str, str], int]
) -> None:
    """What a browser sends when no file is chosen: one part with no name and no bytes."""
    client, _, ticket_id = web
    r = client.post(
        f"/tickets/{ticket_id}/comments",
        data={"csrf_token": _csrf(client, ticket_id), "body": "No files"},
        files=[("files", ("", b"", "application/octet-stream"))],
        follow_redirects=False,
    )
    assert 303 == r.status_code, r.text
    assert [] == desk_smtp.hub.list_attachments(ticket_id)
    assert 1 == len(desk_smtp.hub.list_comments(ticket_id))


def test_a_30_mb_file_is_refused_on_the_page_and_nothing_is_written(
    desk_smtp: MailDesk, web: tuple[TestClient, dict[str, str], int]
) -> None:
    client, _, ticket_id = web
    before = _stored(desk_smtp)
    r = client.post(
        f"/tickets/{ticket_id}/comments",
        data={"csrf_token": _csrf(client, ticket_id), "body": "Big one"},
        files=[("files", ("video.mp4", b"\0" * (30 << 20), "video/mp4"))],
    )
    assert 413 == r.status_code
    assert "video.mp4 is 31,457,280 bytes, over the limit of 10,485,760 per file" in r.text
    assert 'role="alert"' in r.text and "Big one" in r.text  # the text is kept for a retry
    assert [] == desk_smtp.hub.list_comments(ticket_id)
    assert [] == desk_smtp.hub.list_attachments(ticket_id)
    assert before == _stored(desk_smtp)
    assert [] == desk_smtp.hub.list_outbox()


class TestApi:
    def test_a_reply_with_files_over_multipart(
        self, desk_smtp: MailDesk, web: tuple[TestClient, dict[str, str], int]
    ) -> None:
        client, headers, ticket_id = web
        r = client.post(
            f"/api/v1/tickets/{ticket_id}/comments/with-files",
            data={"body": "The invoice", "public": "true"},
            files=[("files", ("invoice.pdf", b"%PDF invoice", "application/pdf"))],
            headers=headers,
        )
        assert 201 == r.status_code, r.text
        assert r.json()["public"] is True
        listed = client.get(f"/api/v1/tickets/{ticket_id}/attachments", headers=headers).json()
        assert [("invoice.pdf", r.json()["id"])] == [
            (a["filename"], a["comment_id"]) for a in listed
        ]
        assert 1 == len(desk_smtp.hub.send_mail().sent)

    def test_a_30_mb_file_is_413_and_nothing_is_written(
        self, desk_smtp: MailDesk, web: tuple[TestClient, dict[str, str], int]
    ) -> None:
        client, headers, ticket_id = web
        before = _stored(desk_smtp)
        r = client.post(
            f"/api/v1/tickets/{ticket_id}/comments/with-files",
            data={"body": "Big"},
            files=[("files", ("big.bin", b"\0" * (30 << 20), "application/octet-stream"))],
            headers=headers,
        )
        assert (413, "file_too_large") == (r.status_code, r.json()["code"])
        assert "big.bin is 31,457,280 bytes" in r.json()["detail"]
        assert [] == desk_smtp.hub.list_comments(ticket_id)
        assert before == _stored(desk_smtp)

    def test_500_files_are_422_and_nothing_is_written(
        self, desk_smtp: MailDesk, web: tuple[TestClient, dict[str, str], int]
    ) -> None:
        client, headers, ticket_id = web
        before = _stored(desk_smtp)
        files = [("files", (f"f{i}.txt", f"file {i}".encode(), "text/plain")) for i in range(500)]
        r = client.post(
            f"/api/v1/tickets/{ticket_id}/comments/with-files",
            data={"body": "Many"},
            files=files,
            headers=headers,
        )
        assert (422, "too_many_files") == (r.status_code, r.json()["code"]), r.text
        assert "500 files, at most 50 per comment" in r.json()["detail"]
        assert [] == desk_smtp.hub.list_comments(ticket_id)
        assert [] == desk_smtp.hub.list_attachments(ticket_id)
        assert before == _stored(desk_smtp)

    def test_files_over_the_message_limit_in_all_are_413(
        self,
        desk_smtp: MailDesk,
        web: tuple[TestClient, dict[str, str], int],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        client, headers, ticket_id = web
        monkeypatch.setattr(desk_smtp.hub.settings, "mail_max_message_bytes", 3000)
        files = [
            ("files", (f"f{i}.bin", b"x" * 1000, "application/octet-stream")) for i in range(4)
        ]
        r = client.post(
            f"/api/v1/tickets/{ticket_id}/comments/with-files",
            data={"body": "Four"},
            files=files,
            headers=headers,
        )
        assert (413, "files_too_large") == (r.status_code, r.json()["code"])
        assert [] == desk_smtp.hub.list_comments(ticket_id)
