"""Mail out: an agent's public reply is written to the outbox with it and sent over SMTP
(STARTTLS, login) to a real aiosmtpd with threading headers; 4xx answers are retried with
backoff, a 5xx answer fails the message and says so on the ticket, nothing is lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from customer_flow.core.errors import ValidationError
from customer_flow.hub import Hub
from customer_flow.mail.models import MailAccountCreate
from customer_flow.tickets.models import CommentCreate, TicketCreate

from .conftest import SMTP_PASSWORD, MailDesk, mail


def clock_of(hub: Hub) -> list[timedelta]:
    """Make ``hub``'s clock movable: append to the returned list to move it forward."""
    from datetime import UTC, datetime

    start = datetime.now(UTC)
    shift: list[timedelta] = []
    hub.set_clock(lambda: start + sum(shift, timedelta()))
    return shift


def ticket_by_mail(desk: MailDesk, message_id: str = "ask@reis.pt") -> int:
    desk.deliver(mail(message_id=message_id))
    return desk.hub.fetch_mail().tickets[0]


class TestOutbox:
    def test_public_reply_goes_to_the_outbox_with_the_comment(self, desk_smtp: MailDesk) -> None:
        ticket_id = ticket_by_mail(desk_smtp)
        comment = desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Try the blue cable."))
        [queued] = desk_smtp.hub.list_outbox()
        assert (ticket_id, comment.id, "rita@reis.pt", "pending") == (
            queued.ticket_id,
            queued.comment_id,
            queued.to_address,
            queued.status,
        )
        assert f"Re: Printer broken [#{ticket_id}]" == queued.subject

    def test_notes_and_customer_comments_send_nothing(self, desk_smtp: MailDesk) -> None:
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="internal", public=False))
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="by phone", by_customer=True))
        assert [] == desk_smtp.hub.list_outbox()

    def test_no_smtp_server_no_outbox(self, desk: MailDesk) -> None:
        ticket_id = ticket_by_mail(desk)
        desk.hub.add_comment(ticket_id, CommentCreate(body="Hello"))
        assert [] == desk.hub.list_outbox()

    def test_refused_reply_leaves_no_message(self, desk_smtp: MailDesk) -> None:
        ticket_id = ticket_by_mail(desk_smtp)
        with pytest.raises(ValidationError):
            desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="x", author="someone"))
        assert [] == desk_smtp.hub.list_outbox()

    def test_customer_without_email_gets_no_mail(self, desk_smtp: MailDesk) -> None:
        from customer_flow.customers.models import CustomerCreate

        walk_in = desk_smtp.hub.add_customer(CustomerCreate(name="Zé Walk-In"))
        ticket = desk_smtp.hub.open_ticket(
            TicketCreate(customer_id=walk_in.id, type="support", subject="At the desk")
        )
        desk_smtp.hub.add_comment(ticket.id, CommentCreate(body="Done"))
        assert [] == desk_smtp.hub.list_outbox()


class TestSending:
    def test_sent_with_threading_headers(self, desk_smtp: MailDesk) -> None:
        assert desk_smtp.smtp is not None
        ticket_id = ticket_by_mail(desk_smtp, "ask@reis.pt")
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="First answer"))
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Second answer"))
        report = desk_smtp.hub.send_mail()
        assert (2, []) == (len(report.sent), report.errors)
        first, second = desk_smtp.smtp.received
        assert f"Re: Printer broken [#{ticket_id}]" == first["Subject"]
        assert "rita@reis.pt" == first["To"]
        assert "support@desk.test" in first["From"]
        assert "<ask@reis.pt>" == first["In-Reply-To"] == second["In-Reply-To"]
        assert "<ask@reis.pt>" == first["References"]
        assert f"<ask@reis.pt> {first['Message-ID']}" == second["References"]
        assert first["Message-ID"].endswith("@desk.test>")
        assert "First answer" in first.get_body(("plain",)).get_content()
        assert {"sent"} == {m.status for m in desk_smtp.hub.list_outbox()}
        assert ["rita@reis.pt"] == desk_smtp.smtp.envelopes[0].rcpt_tos

    # aiosmtpd warns that it does not require STARTTLS: the connection is TLS from the start.
    @pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
    def test_sent_over_implicit_tls_with_a_login(
        self, desk: MailDesk, smtp_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``security: tls`` (port 465's way): TLS from the first byte, then AUTH."""
        from .conftest import SMTP_USER
        from .mail_servers import start_smtp

        server = start_smtp(*smtp_cert, SMTP_USER, SMTP_PASSWORD, implicit_tls=True)
        try:
            monkeypatch.setenv("CF_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
            desk.hub.save_mail_account(
                MailAccountCreate(
                    name="out", kind="smtp", host="localhost", port=server.port,
                    security="tls", username=SMTP_USER, password_env="CF_TEST_SMTP_PASSWORD",
                    address="support@desk.test", ca_file=str(server.cert),
                )
            )  # fmt: skip
            assert [("out", True)] == [
                (c.name, c.ok) for c in desk.hub.test_mail() if c.kind == "smtp"
            ]
            ticket_id = ticket_by_mail(desk)
            desk.hub.add_comment(ticket_id, CommentCreate(body="Over TLS"))
            assert 1 == len(desk.hub.send_mail().sent)
            [sent] = server.received
            assert f"Re: Printer broken [#{ticket_id}]" == sent["Subject"]
            assert "<ask@reis.pt>" == sent["In-Reply-To"]
        finally:
            server.stop()

    def test_the_messages_due_share_one_session_until_one_goes_wrong(
        self, desk_smtp: MailDesk
    ) -> None:
        """Three replies go out in one SMTP session (one connection, one login). After a
        refusal the session is not trusted further: the next message opens a new one."""
        assert desk_smtp.smtp is not None
        ticket_id = ticket_by_mail(desk_smtp)
        for body in ("One", "Two", "Three"):
            desk_smtp.hub.add_comment(ticket_id, CommentCreate(body=body))
        assert 3 == len(desk_smtp.hub.send_mail().sent)
        assert 1 == len({id(s) for s in desk_smtp.smtp.sessions})
        desk_smtp.smtp.sessions.clear()
        for body in ("Four", "Five", "Six"):
            desk_smtp.hub.add_comment(ticket_id, CommentCreate(body=body))
        desk_smtp.smtp.answers += ["250 OK", "451 4.3.0 try again later"]
        report = desk_smtp.hub.send_mail()
        assert (2, 1) == (len(report.sent), len(report.retrying))
        first, second, third = desk_smtp.smtp.sessions
        assert first is second and third is not second

    def test_4xx_is_retried_with_backoff_then_5xx_fails_on_the_ticket(
        self, desk_smtp: MailDesk
    ) -> None:
        assert desk_smtp.smtp is not None
        shift = clock_of(desk_smtp.hub)
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["451 4.3.0 try again later"]
        report = desk_smtp.hub.send_mail()
        [queued] = desk_smtp.hub.list_outbox()
        assert (1, "pending", 1) == (len(report.retrying), queued.status, queued.attempts)
        assert "451" in (queued.last_error or "")
        # Not due yet: nothing is tried.
        assert ([], []) == (desk_smtp.hub.send_mail().sent, desk_smtp.hub.send_mail().failed)
        shift.append(timedelta(minutes=2))
        desk_smtp.smtp.answers += ["550 5.1.1 no such mailbox"]
        report = desk_smtp.hub.send_mail()
        [queued] = desk_smtp.hub.list_outbox()
        assert (1, "failed", 2) == (len(report.failed), queued.status, queued.attempts)
        notes = [c for c in desk_smtp.hub.list_comments(ticket_id) if not c.public]
        assert 1 == len(notes) and "550" in notes[0].body and "rita@reis.pt" in notes[0].body
        assert [] == desk_smtp.smtp.received

    def test_4xx_until_the_last_attempt_fails(
        self, desk_smtp: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert desk_smtp.smtp is not None
        monkeypatch.setattr(desk_smtp.hub.settings, "mail_send_attempts", 3)
        shift = clock_of(desk_smtp.hub)
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["421 busy"] * 3
        for _ in range(3):
            desk_smtp.hub.send_mail()
            shift.append(timedelta(hours=3))
        [queued] = desk_smtp.hub.list_outbox()
        assert ("failed", 3) == (queued.status, queued.attempts)

    def test_server_down_waits_without_using_attempts(self, desk_smtp: MailDesk) -> None:
        assert desk_smtp.smtp is not None
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.stop()
        report = desk_smtp.hub.send_mail()
        [queued] = desk_smtp.hub.list_outbox()
        assert ("pending", 0) == (queued.status, queued.attempts)
        assert "cannot connect" in report.errors[0]

    def test_wrong_smtp_password_is_reported_and_the_message_kept(
        self, desk_smtp: MailDesk, tmp_path: object
    ) -> None:
        account = next(a for a in desk_smtp.hub.list_mail_accounts() if a.kind == "smtp")
        assert account.password_file is not None
        from pathlib import Path

        Path(account.password_file).write_text("not-" + SMTP_PASSWORD)
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        report = desk_smtp.hub.send_mail()
        assert "login refused" in report.errors[0]
        assert SMTP_PASSWORD not in report.errors[0]
        [queued] = desk_smtp.hub.list_outbox()
        assert ("pending", 0) == (queued.status, queued.attempts)

    def test_a_connection_lost_before_the_message_is_handed_over_is_retried(
        self, desk_smtp: MailDesk
    ) -> None:
        """The server refuses (4xx) before DATA ends: it never took the message, so it is
        safely tried again; nothing is uncertain."""
        assert desk_smtp.smtp is not None
        shift = clock_of(desk_smtp.hub)
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["421 4.4.2 closing"]
        report = desk_smtp.hub.send_mail()
        assert ([], [mail.id for mail in desk_smtp.hub.list_outbox()]) == (
            report.uncertain,
            report.retrying,
        )
        shift.append(timedelta(minutes=2))
        assert 1 == len(desk_smtp.hub.send_mail().sent)
        assert 1 == len(desk_smtp.smtp.received)

    def test_a_reply_whose_file_left_the_store_fails_and_the_next_goes(
        self, desk_smtp: MailDesk
    ) -> None:
        """A message that cannot be put together fails with a note on its ticket, instead of
        standing pending in front of the others at every pass."""
        assert desk_smtp.smtp is not None
        hub = desk_smtp.hub
        ticket_id = ticket_by_mail(desk_smtp)
        hub.add_comment(
            ticket_id, CommentCreate(body="See"), files=[("a.txt", b"gone", "text/plain")]
        )
        hub.add_comment(ticket_id, CommentCreate(body="And this"))
        [kept] = hub.list_attachments(ticket_id)
        _, path = hub.open_attachment(ticket_id, kept.id)
        path.unlink()
        report = hub.send_mail()
        assert (1, 1) == (len(report.failed), len(report.sent))
        [note] = [c.body for c in hub.list_comments(ticket_id) if not c.public]
        assert "could not be put together" in note
        assert "And this" in desk_smtp.smtp.received[0].get_body(("plain",)).get_content()


class TestAtMostOnce:
    """A message is sent at most once: one that may have reached the server is never sent
    again by itself; it says so on its ticket and waits for someone to retry it."""

    def note_of(self, desk: MailDesk, ticket_id: int) -> list[str]:
        return [c.body for c in desk.hub.list_comments(ticket_id) if not c.public]

    def test_a_crash_after_the_servers_250_never_sends_it_twice(
        self, desk_smtp: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The server took the message (250), then the worker died before its commit. Once
        its lease is over the message is uncertain, not sent again; Retry sends it."""
        from customer_flow.mail import outbox

        assert desk_smtp.smtp is not None
        shift = clock_of(desk_smtp.hub)
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))

        def killed(*_args: object) -> None:
            raise KeyboardInterrupt("the worker is killed")

        with monkeypatch.context() as patch:
            patch.setattr(outbox, "mark_sent", killed)
            with pytest.raises(KeyboardInterrupt):
                desk_smtp.hub.send_mail()
        assert 1 == len(desk_smtp.smtp.received)
        [queued] = desk_smtp.hub.list_outbox()
        assert "sending" == queued.status
        assert [] == desk_smtp.hub.send_mail().sent  # held by the dead worker's lease
        for _ in range(3):  # long after the lease: never sent again by itself
            shift.append(outbox.LEASE + timedelta(hours=3))
            desk_smtp.hub.send_mail()
        assert 1 == len(desk_smtp.smtp.received)
        [queued] = desk_smtp.hub.list_outbox()
        assert "uncertain" == queued.status
        [note] = self.note_of(desk_smtp, ticket_id)
        assert "may have been sent" in note and f"mail retry {queued.id}" in note
        assert [queued.id] == [
            m.id for m in desk_smtp.hub.list_outbox(statuses=("uncertain", "failed"))
        ]
        assert "pending" == desk_smtp.hub.retry_mail(queued.id).status
        assert [queued.id] == desk_smtp.hub.send_mail().sent
        assert 2 == len(desk_smtp.smtp.received)
        assert "sent" == desk_smtp.hub.list_outbox()[0].status

    def test_a_connection_lost_after_the_message_is_handed_over_is_uncertain(
        self, desk_smtp: MailDesk
    ) -> None:
        """The server keeps the message and the connection drops before its answer: the
        message may have been sent, so it is not tried again."""
        assert desk_smtp.smtp is not None
        shift = clock_of(desk_smtp.hub)
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["DROP"]
        report = desk_smtp.hub.send_mail()
        [queued] = desk_smtp.hub.list_outbox()
        assert ([], [], [queued.id]) == (report.sent, report.retrying, report.uncertain)
        assert ("uncertain", 1) == (queued.status, queued.attempts)
        assert "may have been sent" in (queued.last_error or "")
        assert "may have been sent" in report.errors[0]
        shift.append(timedelta(days=1))
        assert [] == desk_smtp.hub.send_mail().sent
        assert 1 == len(desk_smtp.smtp.received)
        [note] = self.note_of(desk_smtp, ticket_id)
        assert "rita@reis.pt may have been sent" in note

    def test_a_worker_killed_before_it_connects_leaves_the_message_waiting(
        self, desk_smtp: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nothing is taken before the SMTP session is open: a worker that dies while
        connecting leaves the message pending, and the next worker sends it."""
        from customer_flow.mail import transport

        assert desk_smtp.smtp is not None
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))

        def killed(*_args: object) -> None:
            raise KeyboardInterrupt("the worker is killed")

        with monkeypatch.context() as patch:
            patch.setattr(transport, "_login", killed)
            with pytest.raises(KeyboardInterrupt):
                desk_smtp.hub.send_mail()
        [queued] = desk_smtp.hub.list_outbox()
        assert ("pending", 0) == (queued.status, queued.attempts)
        assert 1 == len(desk_smtp.hub.send_mail().sent)
        assert 1 == len(desk_smtp.smtp.received)

    def test_only_an_uncertain_or_failed_message_is_retried(self, desk_smtp: MailDesk) -> None:
        from customer_flow.core.errors import NotFoundError, StateError

        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        [queued] = desk_smtp.hub.list_outbox()
        with pytest.raises(StateError, match="is pending"):
            desk_smtp.hub.retry_mail(queued.id)
        desk_smtp.hub.send_mail()
        with pytest.raises(StateError, match="is sent"):
            desk_smtp.hub.retry_mail(queued.id)
        with pytest.raises(NotFoundError):
            desk_smtp.hub.retry_mail(queued.id + 1000)

    def test_a_failed_message_is_sent_again_on_retry(self, desk_smtp: MailDesk) -> None:
        assert desk_smtp.smtp is not None
        ticket_id = ticket_by_mail(desk_smtp)
        desk_smtp.hub.add_comment(ticket_id, CommentCreate(body="Answer"))
        desk_smtp.smtp.answers += ["550 5.1.1 no such mailbox"]
        [failed] = desk_smtp.hub.send_mail().failed
        assert f"mail retry {failed}" in self.note_of(desk_smtp, ticket_id)[0]
        retried = desk_smtp.hub.retry_mail(failed)
        assert ("pending", 0) == (retried.status, retried.attempts)
        assert [failed] == desk_smtp.hub.send_mail().sent


class TestAccounts:
    def test_one_password_source_required(self, desk: MailDesk) -> None:
        with pytest.raises(ValidationError, match="exactly one"):
            desk.hub.save_mail_account(
                MailAccountCreate(name="x", kind="smtp", host="h", username="u", address="a@b.pt")
            )

    def test_mailbox_needs_a_known_type(self, desk: MailDesk) -> None:
        with pytest.raises(ValidationError, match="no ticket type"):
            desk.hub.save_mail_account(
                MailAccountCreate(
                    name="x",
                    kind="imap",
                    host="h",
                    username="u",
                    password_env="X",
                    address="a@b.pt",
                    default_type="nope",
                )
            )

    def test_test_mail_says_what_failed(
        self, desk_smtp: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        checks = {c.name: c for c in desk_smtp.hub.test_mail()}
        assert (True, True) == (checks["support"].ok, checks["out"].ok)
        monkeypatch.setenv("CF_TEST_IMAP_PASSWORD", "bad")
        checks = {c.name: c for c in desk_smtp.hub.test_mail()}
        assert (False, True) == (checks["support"].ok, checks["out"].ok)
        assert "refused" in checks["support"].message
