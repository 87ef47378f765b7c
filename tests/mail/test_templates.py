"""Reply templates: Jinja2 text and HTML shipped with the app, overridden by an admin's files
of the same name; sandboxed, HTML autoescaped, and a broken override never stops a reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_flow.mail import templates
from customer_flow.tickets.models import CommentCreate

from .conftest import MailDesk, mail

CONTEXT = {
    "body": "<script>alert(1)</script> Fixed",
    "agent": "ana@team.pt",
    "team": "Team",
    "customer": {"name": "Rita"},
    "ticket": {"id": 7, "subject": "S", "status": "open", "priority": "normal", "type": "x"},
}


def test_shipped_templates_render_text_and_escaped_html() -> None:
    text = templates.render("reply.txt", CONTEXT, None)
    html = templates.render("reply.html", CONTEXT, None)
    assert text.startswith("<script>alert(1)</script> Fixed")
    assert "[#7]" in text
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_an_override_wins(tmp_path: Path) -> None:
    (tmp_path / "reply.txt").write_text("Dear {{ customer.name }},\n{{ body }}\n")
    assert "Dear Rita,\n" == templates.render("reply.txt", CONTEXT, tmp_path)[:11]
    # Only the file given is replaced.
    assert "Ticket #7" in templates.render("reply.html", CONTEXT, tmp_path)


@pytest.mark.parametrize(
    "source",
    ["{{ body", "{{ nope }}", "{{ ''.__class__.__mro__ }}"],
    ids=["syntax", "undefined", "sandbox"],
)
def test_a_broken_override_falls_back_and_is_reported(tmp_path: Path, source: str) -> None:
    (tmp_path / "reply.txt").write_text(source)
    assert "Fixed" in templates.render("reply.txt", CONTEXT, tmp_path)
    [problem] = templates.check(tmp_path, {"reply.txt": CONTEXT})
    assert str(tmp_path / "reply.txt") in problem


def test_sent_reply_uses_the_templates(
    desk_smtp: MailDesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert desk_smtp.smtp is not None
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "reply.txt").write_text("Hello {{ customer.name }}\n\n{{ body }}\n-- {{ agent }}\n")
    monkeypatch.setattr(desk_smtp.hub.settings, "mail_template_dir", folder)
    desk_smtp.deliver(mail())
    [ticket_id] = desk_smtp.hub.fetch_mail().tickets
    desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Use <b>tray 2</b>"))
    desk_smtp.hub.send_mail()
    [sent] = desk_smtp.smtp.received
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Hello Rita Reis\n\nUse <b>tray 2</b>\n-- tester\n" == text
    html = sent.get_body(("html",)).get_content()
    assert "Use &lt;b&gt;tray 2&lt;/b&gt;" in html
    assert "Customer_Flow support" in sent["From"]


def test_the_notification_html_is_overridable_and_checked(tmp_path: Path) -> None:
    context = {"headline": "Assigned to you", "detail": "<b>x</b>", "link": "", "team": "T",
               "ticket": {**CONTEXT["ticket"], "assignee": None}}  # fmt: skip
    assert "&lt;b&gt;x&lt;/b&gt;" in templates.render("notify.html", context, None)
    (tmp_path / "notify.html").write_text("<p>{{ headline }}: {{ detail }}</p>")
    assert "<p>Assigned to you: &lt;b&gt;x&lt;/b&gt;</p>" == templates.render(
        "notify.html", context, tmp_path
    )
    (tmp_path / "notify.html").write_text("{{ nope }}")
    [problem] = templates.check(tmp_path, {"notify.html": context})
    assert str(tmp_path / "notify.html") in problem
