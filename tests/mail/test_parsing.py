"""Reading messages: headers in any encoding, the text part first, HTML sanitised, machines
told from people, quoted history trimmed. Nothing here may raise on bad input."""

from __future__ import annotations

from customer_flow.mail import parsing, quotes


def message(headers: str, body: str = "Hello\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode("latin-1")


class TestHeaders:
    def test_rfc2047_subject_in_cp1252(self) -> None:
        """A cp1252 encoded word (the euro sign is 0x80 there) decodes."""
        raw = message("From: a@b.pt\nSubject: =?windows-1252?Q?Pre=E7o_=80_10?=")
        assert "Preço € 10" == parsing.parse(raw).subject

    def test_rfc2047_subject_in_utf8_split_words(self) -> None:
        raw = message("From: a@b.pt\nSubject: =?UTF-8?B?w4lsb2RpZQ==?= =?UTF-8?Q?_a_=C3=A9crit?=")
        assert "Élodie a écrit" == parsing.parse(raw).subject

    def test_unknown_charset_in_a_word_is_kept_not_raised(self) -> None:
        raw = message("From: a@b.pt\nSubject: =?x-nonsense?Q?abc?=")
        assert "abc" in parsing.parse(raw).subject or "=?x-nonsense" in parsing.parse(raw).subject

    def test_sender_lower_cased_with_name(self) -> None:
        parsed = parsing.parse(message("From: =?utf-8?q?Jo=C3=A3o?= <Joao@Example.PT>"))
        assert ("joao@example.pt", "João") == (parsed.sender, parsed.sender_name)

    def test_no_from_is_no_sender_and_automatic(self) -> None:
        parsed = parsing.parse(message("Subject: who am I"))
        assert None is parsed.sender
        assert "no sender address" == parsed.automatic

    def test_threading_ids(self) -> None:
        parsed = parsing.parse(
            message(
                "From: a@b.pt\nMessage-ID: <m1@b.pt>\nIn-Reply-To: <cf.1.2.x@us.pt>\n"
                "References: <r0@b.pt>\n <cf.1.2.x@us.pt>"
            )
        )
        assert "m1@b.pt" == parsed.message_id
        assert ["cf.1.2.x@us.pt"] == parsed.in_reply_to
        assert ["r0@b.pt", "cf.1.2.x@us.pt"] == parsed.references


class TestMachines:
    def test_auto_submitted(self) -> None:
        raw = message("From: a@b.pt\nAuto-Submitted: auto-replied")
        assert "Auto-Submitted: auto-replied" == parsing.parse(raw).automatic

    def test_auto_submitted_no_is_a_person(self) -> None:
        assert None is parsing.parse(message("From: a@b.pt\nAuto-Submitted: no")).automatic

    def test_precedence_bulk_junk_list(self) -> None:
        for value in ("bulk", "junk", "list"):
            raw = message(f"From: a@b.pt\nPrecedence: {value}")
            assert f"Precedence: {value}" == parsing.parse(raw).automatic

    def test_mailer_daemon(self) -> None:
        raw = message("From: MAILER-DAEMON@mx.b.pt\nSubject: Undelivered Mail")
        assert "from mailer-daemon@mx.b.pt" == parsing.parse(raw).automatic

    def test_delivery_report(self) -> None:
        raw = message(
            'From: x@b.pt\nMIME-Version: 1.0\nContent-Type: multipart/report; boundary="b"',
            "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n",
        )
        assert "a delivery report" == parsing.parse(raw).automatic


class TestBodies:
    def test_text_part_is_preferred_over_html(self) -> None:
        raw = message(
            'From: a@b.pt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b"',
            "--b\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n--b--\r\n",
        )
        parsed = parsing.parse(raw)
        assert "plain words" == parsed.text.strip()
        assert parsed.html is not None and "html words" in parsed.html

    def test_html_only_scripts_and_remote_images_removed(self) -> None:
        html = (
            '<p>Hi <b>there</b></p><script>alert(1)</script><img src="http://evil.test/t.gif">'
            '<a href="javascript:alert(2)" onclick="x()">click</a>'
            '<div style="position:fixed;top:0">overlay</div><style>body{display:none}</style>'
        )
        raw = message("From: a@b.pt\nContent-Type: text/html; charset=utf-8", html)
        parsed = parsing.parse(raw)
        assert parsed.html is not None
        for bad in ("<script", "alert(1)", "<img", "evil.test", "javascript:", "onclick",
                    "style=", "display:none"):  # fmt: skip
            assert bad not in parsed.html
            assert bad not in parsed.text
        assert "Hi there" in parsed.text and "click" in parsed.text and "overlay" in parsed.text

    def test_cp1252_body(self) -> None:
        raw = message(
            "From: a@b.pt\nContent-Type: text/plain; charset=windows-1252", "caf\xe9 \x80"
        )
        assert "café €" == parsing.parse(raw).text.strip()

    def test_unknown_body_charset_read_as_utf8(self) -> None:
        raw = message("From: a@b.pt\nContent-Type: text/plain; charset=klingon", "ok")
        parsed = parsing.parse(raw)
        assert "ok" == parsed.text.strip()
        assert any("klingon" in d for d in parsed.defects)

    def test_malformed_mime_does_not_raise(self) -> None:
        """A boundary that never comes, broken base64 and a header without a colon."""
        raw = (
            b"From: a@b.pt\r\nThis is no header\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="never"\r\n\r\n'
            b"--other\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@!!!\r\n"
        )
        parsed = parsing.parse(raw)
        assert "a@b.pt" == parsed.sender
        assert parsed.defects

    def test_garbage_bytes(self) -> None:
        parsed = parsing.parse(b"\x00\xff\xfe garbage \x81\r\n\r\n\xff")
        assert None is parsed.sender

    def test_attachments_listed(self) -> None:
        raw = message(
            'From: a@b.pt\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
            "--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
            "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
            'filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n',
        )
        parsed = parsing.parse(raw)
        assert [("a.pdf", "application/pdf", 3)] == [
            (a.filename, a.content_type, a.size) for a in parsed.attachments
        ]

    def test_text_is_bounded(self) -> None:
        raw = message("From: a@b.pt", "x" * (parsing.MAX_TEXT + 5000))
        assert len(parsing.parse(raw).text) < parsing.MAX_TEXT + 100


class TestQuotes:
    def test_attribution_and_quote_trimmed(self) -> None:
        text = "Thanks, that works.\n\nOn Mon, 1 Dec 2026, Support <s@us.pt> wrote:\n> old\n> text"
        assert "Thanks, that works." == quotes.trim_quoted(text)

    def test_trailing_quote_block_trimmed(self) -> None:
        assert "New words" == quotes.trim_quoted("New words\n\n> quoted\n>\n> more\n")

    def test_all_quote_kept_whole(self) -> None:
        assert "> only a quote" == quotes.trim_quoted("> only a quote")

    def test_inline_answers_kept(self) -> None:
        text = "> question 1\nanswer 1\n> question 2\nanswer 2"
        assert text == quotes.trim_quoted(text)

    def test_subject_token_and_ticket_subject(self) -> None:
        assert 123 == quotes.subject_token("Re: Printer [#123] broken")
        assert None is quotes.subject_token("Re: Printer #123")
        assert "Printer broken" == quotes.ticket_subject("RE: Fwd: Printer broken [#9]")
        assert "(no subject)" == quotes.ticket_subject("Re: ")
