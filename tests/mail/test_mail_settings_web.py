"""Mail servers set from the web (issue 18 item 5): the admin page ``/settings/mail`` and the
API's writes, through the CLI's Hub calls, against the real IMAP and SMTP servers. A password
is only ever named (an environment variable or a file), never typed, shown or logged; Test says
what failed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

from .conftest import SMTP_PASSWORD, SMTP_USER, MailDesk

PASSWORD = "correct horse battery"


def _person(desk: MailDesk, role: str) -> tuple[TestClient, dict[str, str], str]:
    """(a client logged in as a new ``role`` user, their API headers, the page's CSRF)."""
    user = desk.hub.add_user(
        UserCreate(email=f"{role}@team.example.org", name=role, role=role, password=PASSWORD)  # type: ignore[arg-type]
    )
    headers = {"Authorization": f"Bearer {desk.hub.create_token('t', user_id=user.id).token}"}
    client = TestClient(create_app(hub=desk.hub))
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    client.post("/login", data={"email": user.email, "password": PASSWORD,
                                "csrf_token": csrf.group(1)})  # fmt: skip
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/customers/new").text)
    assert found is not None
    return client, headers, found.group(1)


def _smtp_form(desk: MailDesk, secret: Path, csrf: str) -> dict[str, str]:
    assert desk.smtp is not None
    return {
        "csrf_token": csrf, "name": "out", "kind": "smtp", "host": "localhost",
        "port": str(desk.smtp.port), "security": "starttls", "username": SMTP_USER,
        "password_source": "file", "password_ref": str(secret), "address": "help@desk.test",
        "ca_file": str(desk.smtp.cert),
    }  # fmt: skip


class TestPage:
    def test_an_admin_sets_smtp_and_tests_both_directions(
        self, desk: MailDesk, smtp: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        desk.smtp = smtp  # type: ignore[assignment]
        client, _, csrf = _person(desk, "admin")
        page = client.get("/settings/mail")
        assert 200 == page.status_code
        assert "support" in page.text and "CF_TEST_IMAP_PASSWORD" in page.text
        secret = tmp_path / "smtp.secret"
        secret.write_text(SMTP_PASSWORD + "\n")
        caplog.set_level(logging.DEBUG)
        r = client.post("/settings/mail", data=_smtp_form(desk, secret, csrf))
        assert 200 == r.status_code and str(r.url).endswith("/settings/mail"), r.text
        [out] = [a for a in desk.hub.list_mail_accounts() if a.kind == "smtp"]
        assert (str(secret), None) == (out.password_file, out.password_env)
        edit = client.get("/settings/mail?edit=out")
        assert f'value="{secret}"' in edit.text
        tested = client.post("/settings/mail/test", data={"csrf_token": csrf})
        assert "imap support: ok" in tested.text and "smtp out: ok" in tested.text
        assert "templates templates: ok" in tested.text
        for text in (page.text, r.text, edit.text, tested.text, caplog.text):
            assert SMTP_PASSWORD not in text

    def test_test_says_what_failed_without_the_secret(
        self, desk: MailDesk, smtp: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        desk.smtp = smtp  # type: ignore[assignment]
        client, _, csrf = _person(desk, "admin")
        secret = tmp_path / "smtp.secret"
        secret.write_text("wrong-secret-789\n")
        client.post("/settings/mail", data=_smtp_form(desk, secret, csrf))
        monkeypatch.delenv("CF_TEST_IMAP_PASSWORD")
        tested = client.post("/settings/mail/test", data={"csrf_token": csrf})
        assert "imap support: FAILED" in tested.text
        assert "the environment variable CF_TEST_IMAP_PASSWORD is not set" in tested.text
        assert "smtp out: FAILED" in tested.text
        assert "wrong-secret-789" not in tested.text

    def test_a_refused_form_keeps_its_values_and_says_why(self, desk: MailDesk) -> None:
        client, _, csrf = _person(desk, "admin")
        r = client.post(
            "/settings/mail",
            data={"csrf_token": csrf, "name": "second", "kind": "imap", "host": "localhost",
                  "username": "u", "password_source": "env", "password_ref": "NOT A NAME",
                  "address": "two@desk.test", "default_type": "support"},
        )  # fmt: skip
        assert 422 == r.status_code
        assert 'role="alert"' in r.text and "password_env" in r.text
        assert 'value="two@desk.test"' in r.text
        assert ["support"] == [a.name for a in desk.hub.list_mail_accounts()]

    def test_remove_and_only_admins(self, desk: MailDesk) -> None:
        agent, _, agent_csrf = _person(desk, "agent")
        assert 403 == agent.get("/settings/mail").status_code
        r = agent.post("/settings/mail/support/remove", data={"csrf_token": agent_csrf})
        assert 403 == r.status_code
        admin, _, csrf = _person(desk, "admin")
        assert 'href="/settings/mail"' in admin.get("/customers").text
        admin.post("/settings/mail/support/remove", data={"csrf_token": csrf})
        assert [] == desk.hub.list_mail_accounts()


class TestApi:
    def test_add_replace_test_and_remove(
        self, desk: MailDesk, smtp: object, tmp_path: Path
    ) -> None:
        desk.smtp = smtp  # type: ignore[assignment]
        client, headers, _ = _person(desk, "admin")
        secret = tmp_path / "smtp.secret"
        secret.write_text(SMTP_PASSWORD)
        body = {
            "name": "out", "kind": "smtp", "host": "localhost", "port": desk.smtp.port,  # type: ignore[attr-defined]
            "security": "starttls", "username": SMTP_USER, "password_file": str(secret),
            "address": "help@desk.test", "ca_file": str(desk.smtp.cert),  # type: ignore[attr-defined]
        }  # fmt: skip
        r = client.post("/api/v1/mail/accounts", json=body, headers=headers)
        assert 201 == r.status_code, r.text
        assert SMTP_PASSWORD not in r.text
        tested = client.post("/api/v1/mail/test", headers=headers).json()
        assert {("support", True), ("out", True), ("templates", True)} == {
            (c["name"], c["ok"]) for c in tested
        }
        gone = client.delete("/api/v1/mail/accounts/out", headers=headers)
        assert (200, "out") == (gone.status_code, gone.json()["name"])
        assert ["support"] == [a["name"] for a in client.get("/api/v1/mail/accounts",
                                                             headers=headers).json()]  # fmt: skip

    def test_a_password_is_refused_and_agents_may_not(self, desk: MailDesk) -> None:
        client, headers, _ = _person(desk, "admin")
        body = {"name": "x", "kind": "smtp", "host": "h", "username": "u",
                "password": "hunter2", "address": "a@b.test"}  # fmt: skip
        r = client.post("/api/v1/mail/accounts", json=body, headers=headers)
        assert 422 == r.status_code and "hunter2" not in r.text
        agent, agent_headers, _ = _person(desk, "agent")
        del body["password"]
        body["password_env"] = "X"
        assert (
            403 == agent.post("/api/v1/mail/accounts", json=body, headers=agent_headers).status_code
        )
        assert 403 == agent.post("/api/v1/mail/test", headers=agent_headers).status_code


class TestMayHaveBeenSent:
    """A message that may have been sent (its connection lost after it was handed over) is
    listed for admins with Retry, on the page and in the API, and on its ticket."""

    @pytest.fixture
    def uncertain(self, desk_smtp: MailDesk) -> int:
        from .conftest import mail

        assert desk_smtp.smtp is not None
        desk_smtp.deliver(mail())
        [ticket_id] = desk_smtp.hub.fetch_mail().tickets
        from customer_flow.tickets.models import CommentCreate

        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["DROP"]
        [mail_id] = desk_smtp.hub.send_mail().uncertain
        return mail_id

    def test_the_page_lists_it_and_retry_sends_it_again(
        self, desk_smtp: MailDesk, uncertain: int
    ) -> None:
        assert desk_smtp.smtp is not None
        client, _, csrf = _person(desk_smtp, "admin")
        page = client.get("/settings/mail")
        assert "<title>Mail settings · Customer_Flow</title>" in page.text
        row = re.search(r'<table class="mail-outbox-problems">.*?</table>', page.text, re.S)
        assert row is not None
        assert "may have been sent" in row.group(0)
        assert f'action="/settings/mail/outbox/{uncertain}/retry"' in row.group(0)
        r = client.post(
            f"/settings/mail/outbox/{uncertain}/retry",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert 303 == r.status_code
        assert "pending" == desk_smtp.hub.list_outbox()[0].status
        again = client.post(f"/settings/mail/outbox/{uncertain}/retry", data={"csrf_token": csrf})
        assert 409 == again.status_code and "only an uncertain or failed" in again.text
        assert [uncertain] == desk_smtp.hub.send_mail().sent
        assert 2 == len(desk_smtp.smtp.received)

    def test_the_api_lists_and_retries_for_agents_not_viewers(
        self, desk_smtp: MailDesk, uncertain: int
    ) -> None:
        client, viewer, _ = _person(desk_smtp, "viewer")
        _, agent, _ = _person(desk_smtp, "agent")
        listed = client.get("/api/v1/mail/outbox?status=uncertain", headers=viewer).json()
        assert [(uncertain, "uncertain")] == [(m["id"], m["status"]) for m in listed]
        assert [] == client.get("/api/v1/mail/outbox?status=pending", headers=viewer).json()
        url = f"/api/v1/mail/outbox/{uncertain}/retry"
        assert 403 == client.post(url, headers=viewer).status_code
        r = client.post(url, headers=agent)
        assert (200, "pending") == (r.status_code, r.json()["status"])
        assert 409 == client.post(url, headers=agent).status_code
        missing = client.post("/api/v1/mail/outbox/999999/retry", headers=agent)
        assert (404, "application/problem+json") == (
            missing.status_code,
            missing.headers["content-type"],
        )
