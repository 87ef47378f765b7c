"""The whole round trip on real servers: a customer's mail in Dovecot becomes a ticket, the
agent's public reply reaches the SMTP server with the thread's headers, and the customer's
answer to that reply lands as a comment on the same ticket."""

from __future__ import annotations

from customer_flow.tickets.models import CommentCreate

from .conftest import MailDesk, mail


def test_mail_ticket_reply_answer_round_trip(desk_smtp: MailDesk) -> None:
    assert desk_smtp.smtp is not None
    hub = desk_smtp.hub
    desk_smtp.deliver(
        mail(
            sender="=?windows-1252?Q?Jos=E9_Reis?= <jose@reis.pt>",
            subject="Invoice 42 is wrong",
            body="The total is off by 10.",
            message_id="invoice-42@reis.pt",
        )
    )
    [ticket_id] = hub.fetch_mail().tickets
    ticket = hub.get_ticket(ticket_id)
    assert ("Invoice 42 is wrong", "new") == (ticket.subject, ticket.status)

    hub.add_comment(ticket_id, CommentCreate(body="We will send a corrected invoice today."))
    assert 1 == len(hub.send_mail().sent)
    [sent] = desk_smtp.smtp.received
    assert "jose@reis.pt" == sent["To"]
    assert f"Re: Invoice 42 is wrong [#{ticket_id}]" == sent["Subject"]
    assert "<invoice-42@reis.pt>" == sent["In-Reply-To"] == sent["References"]
    assert "We will send a corrected invoice today." in sent.get_body(("plain",)).get_content()

    # The customer's mail program answers: In-Reply-To our Message-ID, and it quotes us.
    desk_smtp.deliver(
        mail(
            sender="José Reis <jose@reis.pt>",  # raw UTF-8 in the header (RFC 6532)
            subject="Re: Invoice 42 is wrong",
            body="Thank you!\n\nOn Sun, Support wrote:\n> We will send a corrected invoice today.",
            headers=f"In-Reply-To: {sent['Message-ID']}\n"
            f"References: <invoice-42@reis.pt> {sent['Message-ID']}",
        )
    )
    report = hub.fetch_mail()
    assert ([], 1) == (report.tickets, len(report.comments))
    comments = hub.list_comments(ticket_id)
    assert [(False, "We will send a corrected invoice today."), (True, "Thank you!")] == [
        (c.by_customer, c.body) for c in comments
    ]
    assert 1 == len(hub.list_tickets().items)
