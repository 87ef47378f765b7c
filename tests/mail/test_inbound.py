"""Mail in: a real Dovecot mailbox read over STARTTLS (and TLS) into tickets and comments,
exactly once, with machines, our own address and floods kept out."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from customer_flow.core.errors import NotFoundError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.mail.models import InboundMessage, MailAccount, MailAccountCreate
from customer_flow.mail.transport import Fetched
from customer_flow.store.schema import mail_inbound
from customer_flow.tickets.models import CommentCreate, TicketQuery

from .conftest import MailDesk, mail
from .mail_servers import CuttableProxy


def tickets_of(hub: Hub) -> list[int]:
    return [t.id for t in hub.list_tickets(TicketQuery(all_statuses=True)).items]


class TestNewTickets:
    def test_new_message_opens_a_ticket_for_a_new_flagged_customer(self, desk: MailDesk) -> None:
        desk.deliver(mail(subject="=?utf-8?q?Impressora_avariada_=E2=82=AC?="))
        report = desk.hub.fetch_mail()
        assert [] == report.errors
        assert 1 == len(report.tickets)
        ticket = desk.hub.get_ticket(report.tickets[0])
        assert ("support", "Impressora avariada €") == (ticket.type, ticket.subject)
        assert "It prints blank pages." == ticket.description
        customer = desk.hub.get_customer(ticket.customer_id)
        assert ("Rita Reis", "rita@reis.pt") == (customer.name, customer.email)
        assert "from_unknown_sender" in [w.code for w in customer.warnings]

    def test_known_sender_is_the_existing_customer(self, desk: MailDesk) -> None:
        desk.deliver(mail(sender="ANA@lima.pt"))
        report = desk.hub.fetch_mail()
        ticket = desk.hub.get_ticket(report.tickets[0])
        assert 1 == ticket.customer_id  # make_hub's Ana Lima
        assert 2 == desk.hub.count_customers() + 1

    def test_unknown_sender_goes_through_the_duplicate_check(self, desk: MailDesk) -> None:
        """A sender whose name looks like a customer's is kept, with the duplicate warning."""
        desk.hub.add_customer(CustomerCreate(name="Rita Reis", email="rita@work.pt", phone=None))
        desk.deliver(mail(sender="Rita Reis <rita@reis.pt>"))
        ticket = desk.hub.get_ticket(desk.hub.fetch_mail().tickets[0])
        codes = [w.code for w in desk.hub.get_customer(ticket.customer_id).warnings]
        assert "from_unknown_sender" in codes

    def test_implicit_tls_port(self, desk: MailDesk) -> None:
        account = desk.hub.list_mail_accounts()[0]
        desk.hub.save_mail_account(
            MailAccountCreate(
                **account.model_dump(exclude={"port", "security", "updated_at"}),
                port=desk.dovecot.tls_port,
                security="tls",
            )
        )
        desk.deliver(mail())
        assert 1 == len(desk.hub.fetch_mail().tickets)

    def test_html_only_mail_is_sanitised(self, desk: MailDesk) -> None:
        raw = mail(body='<p>Help</p><script>alert(1)</script><img src="http://x.test/t.gif">')
        raw = raw.replace(b"text/plain", b"text/html")
        desk.deliver(raw)
        ticket = desk.hub.get_ticket(desk.hub.fetch_mail().tickets[0])
        assert "Help" == ticket.description
        original = desk.hub.list_inbound_mail()[0]
        assert "ticket" == original.outcome

    def test_original_is_kept_whole(self, desk: MailDesk) -> None:
        raw = mail(body="New text\n\nOn Sunday, Ana wrote:\n> old text")
        desk.deliver(raw)
        ticket = desk.hub.get_ticket(desk.hub.fetch_mail().tickets[0])
        assert "New text" == ticket.description
        with desk.hub.store.read() as conn:
            kept = conn.execute(select(mail_inbound.c.raw)).scalar_one()
        assert b"> old text" in bytes(kept)


class TestExactlyOnce:
    def test_a_second_fetch_files_nothing(self, desk: MailDesk) -> None:
        desk.deliver(mail())
        desk.deliver(mail(sender="other@reis.pt"))
        first = desk.hub.fetch_mail()
        second = desk.hub.fetch_mail()
        assert (2, 0) == (len(first.tickets), len(second.tickets))
        assert 2 == len(tickets_of(desk.hub))

    def test_same_message_id_twice_is_one_ticket(self, desk: MailDesk) -> None:
        desk.deliver(mail(message_id="same@reis.pt"))
        desk.deliver(mail(message_id="same@reis.pt"))
        report = desk.hub.fetch_mail()
        assert (1, 1) == (len(report.tickets), report.duplicates)

    def test_a_fetch_killed_halfway_goes_on_where_it_stopped(self, desk: MailDesk) -> None:
        """The first message is filed, then the process dies (here: the filing raises on the
        second): the next fetch files the second and never the first again."""
        for n in range(3):
            desk.deliver(mail(sender=f"c{n}@reis.pt"))
        real = desk.hub.receive_mail
        calls = {"n": 0}

        def dying(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # the process is killed mid-fetch
            return real(*args, **kwargs)  # type: ignore[arg-type]

        desk.hub.receive_mail = dying  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            desk.hub.fetch_mail()
        desk.hub.receive_mail = real  # type: ignore[method-assign]
        assert 1 == len(tickets_of(desk.hub))
        report = desk.hub.fetch_mail()
        assert 2 == len(report.tickets)
        assert 3 == len(tickets_of(desk.hub))

    def test_two_fetches_at_once_file_each_message_once(self, desk: MailDesk) -> None:
        for n in range(6):
            desk.deliver(mail(sender=f"p{n}@reis.pt"))
        hubs = [Hub(desk.hub.settings) for _ in range(2)]
        errors: list[BaseException] = []

        def run(hub: Hub) -> None:
            try:
                hub.fetch_mail()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(h,)) for h in hubs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for h in hubs:
            h.close()
        assert [] == errors
        assert 6 == len(tickets_of(desk.hub))
        assert 6 == len(desk.hub.list_inbound_mail())


class TestNoise:
    @pytest.mark.parametrize(
        ("sender", "headers", "why"),
        [
            ("rita@reis.pt", "Auto-Submitted: auto-replied", "Auto-Submitted"),
            ("rita@reis.pt", "Precedence: bulk", "Precedence: bulk"),
            ("rita@reis.pt", "Precedence: junk", "Precedence: junk"),
            ("MAILER-DAEMON@mx.reis.pt", "", "mailer-daemon"),
            ("", "", "no sender"),
            ("Support <support@desk.test>", "", "our own address"),
        ],
    )
    def test_machines_and_our_own_mail_open_no_ticket(
        self, desk: MailDesk, sender: str, headers: str, why: str
    ) -> None:
        desk.deliver(mail(sender=sender, headers=headers))
        report = desk.hub.fetch_mail()
        assert ([], 1) == (report.tickets, report.ignored)
        assert why in desk.hub.list_inbound_mail()[0].reason
        assert [] == tickets_of(desk.hub)

    def test_a_flooding_sender_is_rate_limited_and_reported(
        self, desk: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(desk.hub.settings, "mail_sender_hourly_limit", 3)
        for n in range(5):
            desk.deliver(mail(subject=f"spam {n}"))
        desk.deliver(mail(sender="calm@reis.pt"))
        report = desk.hub.fetch_mail()
        assert 4 == len(report.tickets)
        assert ["rita@reis.pt"] == report.rate_limited
        assert 2 == len(desk.hub.list_inbound_mail(outcome="rate_limited"))


class TestReplies:
    def open_by_mail(self, desk: MailDesk, message_id: str = "first@reis.pt") -> int:
        desk.deliver(mail(message_id=message_id))
        return desk.hub.fetch_mail().tickets[0]

    def test_reply_to_our_message_id_is_a_customer_comment(self, desk: MailDesk) -> None:
        """Threaded by In-Reply-To: the customer answers a message of the thread."""
        ticket_id = self.open_by_mail(desk)
        desk.deliver(
            mail(
                subject="Re: something else entirely",
                body="Still broken.\n\nOn Sunday, Support wrote:\n> have you tried",
                headers="In-Reply-To: <first@reis.pt>",
            )
        )
        report = desk.hub.fetch_mail()
        assert ([], 1) == (report.tickets, len(report.comments))
        comments = desk.hub.list_comments(ticket_id)
        assert [("Rita Reis", True, "Still broken.")] == [
            (c.author, c.by_customer, c.body) for c in comments
        ]

    def test_subject_token_from_the_ticket_customer(self, desk: MailDesk) -> None:
        ticket_id = self.open_by_mail(desk)
        desk.deliver(mail(subject=f"Re: Printer broken [#{ticket_id}]", body="More info"))
        assert 1 == len(desk.hub.fetch_mail().comments)
        assert ["More info"] == [c.body for c in desk.hub.list_comments(ticket_id)]

    def test_subject_token_from_a_stranger_opens_a_new_ticket(self, desk: MailDesk) -> None:
        ticket_id = self.open_by_mail(desk)
        desk.deliver(mail(sender="eve@evil.pt", subject=f"Re: [#{ticket_id}]"))
        report = desk.hub.fetch_mail()
        assert 1 == len(report.tickets)
        assert [] == desk.hub.list_comments(ticket_id)

    def test_reply_to_a_closed_ticket_opens_a_follow_up(self, desk: MailDesk) -> None:
        ticket_id = self.open_by_mail(desk)
        desk.hub.close_ticket(ticket_id)
        desk.deliver(mail(headers="In-Reply-To: <first@reis.pt>", body="Broken again"))
        report = desk.hub.fetch_mail()
        new = desk.hub.get_ticket(report.tickets[0])
        assert f"(A reply to closed ticket #{ticket_id}.)" in new.description
        assert "closed" == desk.hub.get_ticket(ticket_id).status

    def test_reply_to_a_purged_ticket_opens_a_new_one(self, desk: MailDesk) -> None:
        ticket_id = self.open_by_mail(desk)
        desk.hub.close_ticket(ticket_id)
        desk.hub.purge_ticket(ticket_id)
        desk.deliver(mail(subject=f"Re: [#{ticket_id}]", headers="In-Reply-To: <first@reis.pt>"))
        report = desk.hub.fetch_mail()
        assert 1 == len(report.tickets)
        assert "which is gone" in desk.hub.get_ticket(report.tickets[0]).description
        with pytest.raises(NotFoundError):
            desk.hub.get_ticket(ticket_id)

    def test_reply_to_a_ticket_whose_customer_was_merged(self, desk: MailDesk) -> None:
        """The ticket moved with the merge to the customer kept: the customer's answer still
        lands on it, by its thread or by its token, and opens nothing new."""
        from customer_flow.customers.models import CustomerCreate

        kept = desk.hub.add_customer(
            CustomerCreate(name="Rita M. Reis", phone="+351 912 345 678"), allow_duplicate=True
        )
        ticket_id = self.open_by_mail(desk)
        merged = desk.hub.get_ticket(ticket_id).customer_id
        desk.hub.merge_customers(kept.id, [merged], take={"email": merged})
        assert kept.id == desk.hub.get_ticket(ticket_id).customer_id
        desk.deliver(mail(headers="In-Reply-To: <first@reis.pt>", body="By the thread"))
        desk.deliver(mail(subject=f"Re: Printer broken [#{ticket_id}]", body="By the token"))
        report = desk.hub.fetch_mail()
        assert ([], 2) == (report.tickets, len(report.comments))
        assert ["By the thread", "By the token"] == [
            c.body for c in desk.hub.list_comments(ticket_id)
        ]

    def test_reply_to_a_resolved_ticket_reopens_it(self, desk: MailDesk) -> None:
        ticket_id = self.open_by_mail(desk)
        desk.hub.add_comment(ticket_id, CommentCreate(body="Fixed?"))
        desk.hub.set_ticket_status(ticket_id, "resolved")
        desk.deliver(mail(headers="References: <first@reis.pt>", body="No"))
        desk.hub.fetch_mail()
        assert "open" == desk.hub.get_ticket(ticket_id).status
        # The queue's status sort follows the reopening (a column the database computes).
        from customer_flow.store.schema import tickets

        with desk.hub.store.read() as conn:
            rank = conn.execute(
                select(tickets.c.status_rank).where(tickets.c.id == ticket_id)
            ).scalar_one()
        assert 1 == rank  # open


class TestServerTrouble:
    def test_wrong_password_is_reported_not_raised(
        self, desk: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CF_TEST_IMAP_PASSWORD", "wrong-password-xyz")
        report = desk.hub.fetch_mail()
        assert 1 == len(report.errors)
        assert "refused" in report.errors[0]
        assert "wrong-password-xyz" not in report.errors[0]

    def test_missing_password_names_the_variable(
        self, desk: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("CF_TEST_IMAP_PASSWORD")
        report = desk.hub.fetch_mail()
        assert ["CF_TEST_IMAP_PASSWORD is not set"] == [
            e[e.index("CF_TEST") :] for e in report.errors
        ]

    def test_server_down_mid_fetch_keeps_what_was_filed(self, desk: MailDesk) -> None:
        """The connection drops after the first message (a relay in front of Dovecot cuts
        it): that message stays filed, the error is reported, and the next fetch files the
        rest."""
        for n in range(3):
            desk.deliver(mail(sender=f"d{n}@reis.pt"))
        proxy = CuttableProxy(desk.dovecot.port)
        account = desk.hub.list_mail_accounts()[0]
        desk.hub.save_mail_account(
            MailAccountCreate(**account.model_dump(exclude={"port", "updated_at"}), port=proxy.port)
        )
        real = desk.hub.receive_mail
        filed: list[object] = []

        def cut_after_one(account: MailAccount, fetched: Fetched) -> InboundMessage | None:
            result = real(account, fetched)
            filed.append(result)
            if len(filed) == 1:
                proxy.cut()
            return result

        desk.hub.receive_mail = cut_after_one  # type: ignore[method-assign]
        try:
            report = desk.hub.fetch_mail()
        finally:
            desk.hub.receive_mail = real  # type: ignore[method-assign]
        assert 1 == len(report.tickets)
        assert 1 == len(report.errors) and "the fetch stopped" in report.errors[0]
        assert 2 == len(desk.hub.fetch_mail().tickets)
        assert 3 == len(tickets_of(desk.hub))
        proxy.close()

    def test_server_not_listening(self, desk: MailDesk) -> None:
        from .mail_servers import free_port

        account = desk.hub.list_mail_accounts()[0]
        desk.hub.save_mail_account(
            MailAccountCreate(
                **account.model_dump(exclude={"port", "updated_at"}), port=free_port()
            )
        )
        report = desk.hub.fetch_mail()
        assert 1 == len(report.errors) and "cannot connect" in report.errors[0]

    def test_oversized_message_opens_a_ticket_from_its_header(
        self, desk: MailDesk, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(desk.hub.settings, "mail_max_message_bytes", 2000)
        desk.deliver(mail(body="x" * 5000))
        ticket = desk.hub.get_ticket(desk.hub.fetch_mail().tickets[0])
        assert "over the limit of 2,000" in ticket.description


class TestNeverSkipped:
    def test_a_message_that_cannot_be_filed_stops_the_mailbox_until_it_can(
        self, desk: MailDesk
    ) -> None:
        """The mailbox's ticket type is made inactive: the first message cannot open a ticket.
        The fetch says so and files nothing after it; once the type is back, both are filed."""
        from tickets_support import TYPES, write_json

        desk.deliver(mail(sender="first@reis.pt"))
        desk.deliver(mail(sender="second@reis.pt"))
        others = {k: v for k, v in TYPES.items() if k != "support"}
        folder = desk.hub.settings.attachment_dir
        assert folder is not None
        desk.hub.load_ticket_types(write_json(folder.parent / "less.json", others))
        report = desk.hub.fetch_mail()
        assert ([], 1) == (report.tickets, len(report.errors))
        assert "the mailbox waits" in report.errors[0]
        assert [] == desk.hub.list_inbound_mail()
        desk.hub.load_ticket_types(write_json(folder.parent / "all.json", TYPES))
        assert 2 == len(desk.hub.fetch_mail().tickets)
