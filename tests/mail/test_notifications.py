"""Agents' notifications by email: each user's choices, at most once per event, never to the
one who caused it, and never mistaken for the customer's thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from customer_flow.core.errors import ValidationError
from customer_flow.hub import Hub
from customer_flow.users.models import User, UserCreate

from .conftest import MailDesk, mail


def agent(hub: Hub, name: str, role: str = "agent") -> User:
    return hub.add_user(
        UserCreate(email=f"{name}@team.pt", name=name, role=role,  # type: ignore[arg-type]
                   password="correct horse battery")
    )  # fmt: skip


def notes_to(hub: Hub, address: str) -> list[str]:
    return [
        m.subject for m in hub.list_outbox() if m.kind == "notification" and m.to_address == address
    ]


def test_assigned_to_me_once_per_assignment_never_by_myself(desk_smtp: MailDesk) -> None:
    hub = desk_smtp.hub
    ana = agent(hub, "ana")
    desk_smtp.deliver(mail())
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "ana@team.pt")
    assert [f"[#{ticket_id}] Assigned to you: Printer broken"] == notes_to(hub, "ana@team.pt")
    # Ana takes a ticket herself: no mail to her.
    desk_smtp.deliver(mail(sender="other@reis.pt"))
    [second] = hub.fetch_mail().tickets
    hub.as_actor("ana@team.pt", "agent", user_id=ana.id).assign_ticket(second, "ana@team.pt")
    assert 1 == len(notes_to(hub, "ana@team.pt"))


def test_customer_replied_goes_to_the_assignee(desk_smtp: MailDesk) -> None:
    hub = desk_smtp.hub
    agent(hub, "ana")
    desk_smtp.deliver(mail(message_id="q1@reis.pt"))
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "ana@team.pt")
    desk_smtp.deliver(mail(headers="In-Reply-To: <q1@reis.pt>", body="Any news?"))
    hub.fetch_mail()
    assert f"[#{ticket_id}] The customer replied: Printer broken" in notes_to(hub, "ana@team.pt")
    [note] = [m for m in hub.list_outbox() if "customer replied" in m.subject]
    assert "Any news?" in note.body


def test_choices_per_user(desk_smtp: MailDesk) -> None:
    hub = desk_smtp.hub
    ana, bob = agent(hub, "ana"), agent(hub, "bob")
    assert {"new_ticket": False, "assigned": True} == {
        k: v for k, v in hub.notification_choices(ana.id).items() if k in ("new_ticket", "assigned")
    }
    hub.set_notification_choices(bob.id, {"new_ticket": True, "assigned": False})
    desk_smtp.deliver(mail())
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "bob@team.pt")
    assert [f"[#{ticket_id}] New ticket: Printer broken"] == notes_to(hub, "bob@team.pt")
    assert [] == notes_to(hub, "ana@team.pt")
    with pytest.raises(ValidationError, match="unknown bogus"):
        hub.set_notification_choices(bob.id, {"bogus": True})


def test_sla_breached_once_per_due_time(desk_smtp: MailDesk) -> None:
    hub = desk_smtp.hub
    agent(hub, "ana")
    start = datetime.now(UTC)
    shift = [timedelta()]
    hub.set_clock(lambda: start + shift[0])
    desk_smtp.deliver(mail())
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "ana@team.pt")
    assert 0 == hub.notify_sla()
    shift[0] = timedelta(hours=5)  # the support type's first response is due in 4 hours
    assert 1 == hub.notify_sla()
    assert 0 == hub.notify_sla()
    assert [f"[#{ticket_id}] SLA breached: Printer broken"] == [
        s for s in notes_to(hub, "ana@team.pt") if "SLA" in s
    ]


def test_a_reply_to_a_notification_is_no_customer_comment(desk_smtp: MailDesk) -> None:
    """Threading only follows replies to the customer: an agent answering a notification
    from their mail program does not post as the customer."""
    hub = desk_smtp.hub
    agent(hub, "ana")
    desk_smtp.deliver(mail())
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "ana@team.pt")
    [note] = [m for m in hub.list_outbox() if m.kind == "notification"]
    desk_smtp.deliver(mail(sender="ana@team.pt", headers=f"In-Reply-To: <{note.message_id}>"))
    report = hub.fetch_mail()
    assert [] == report.comments
    assert [] == hub.list_comments(ticket_id)


def test_no_smtp_no_notifications(desk: MailDesk) -> None:
    agent(desk.hub, "ana")
    desk.deliver(mail())
    [ticket_id] = desk.hub.fetch_mail().tickets
    desk.hub.assign_ticket(ticket_id, "ana@team.pt")
    assert [] == desk.hub.list_outbox()


def test_new_ticket_in_my_team_goes_to_the_team_only(desk_smtp: MailDesk) -> None:
    """A ticket of a team: its members who chose "new ticket" hear of it, the others not; a
    ticket with no team is everybody's queue."""
    from customer_flow.teams.models import TeamCreate
    from customer_flow.tickets.models import TicketCreate

    hub = desk_smtp.hub
    for who in (agent(hub, "ana"), agent(hub, "bob")):
        hub.set_notification_choices(who.id, {"new_ticket": True})
    hub.add_team(TeamCreate(key="billing", assignment="none"))
    hub.add_team_member("billing", "ana@team.pt")
    desk_smtp.deliver(mail())
    [first] = hub.fetch_mail().tickets  # the mailbox's type names no team
    customer = hub.get_ticket(first).customer_id
    assert [f"[#{first}] New ticket: Printer broken"] == notes_to(hub, "bob@team.pt")
    ticket = hub.open_ticket(
        TicketCreate(customer_id=customer, type="support", subject="Invoice <x>", team="billing")
    )
    assert f"[#{ticket.id}] New ticket: Invoice <x>" in notes_to(hub, "ana@team.pt")
    assert 1 == len(notes_to(hub, "bob@team.pt"))


def test_a_notification_has_an_escaped_html_part(desk_smtp: MailDesk, tmp_path: object) -> None:
    """Text and HTML (multipart/alternative); the ticket's subject is escaped in the HTML."""
    hub = desk_smtp.hub
    agent(hub, "ana")
    desk_smtp.deliver(mail(subject="<script>alert(1)</script> broken"))
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "ana@team.pt")
    [note] = [m for m in hub.list_outbox() if m.kind == "notification"]
    assert note.html is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt; broken" in note.html
    assert "<script>" not in note.html and "Assigned to you" in note.html
    hub.send_mail()
    assert desk_smtp.smtp is not None
    [sent] = [m for m in desk_smtp.smtp.received if m["To"] == "ana@team.pt"]
    assert "multipart/alternative" == sent.get_content_type()
    assert ["text/plain", "text/html"] == [p.get_content_type() for p in sent.iter_parts()]


def test_a_bulk_assignment_is_one_mail_per_agent(desk_smtp: MailDesk) -> None:
    """5,000 tickets given to Ana in one bulk action: one mail saying how many, listing the
    first 10 and where to find the rest, not 5,000 mails. A bulk action that gives her one
    ticket tells it as a single assignment does."""
    from sqlalchemy import select

    from customer_flow.store.schema import tickets
    from customer_flow.tickets.models import TicketBulk

    hub = desk_smtp.hub
    agent(hub, "ana")
    desk_smtp.deliver(mail())
    [first] = hub.fetch_mail().tickets
    with hub.store.write() as conn:
        row = dict(conn.execute(select(tickets).where(tickets.c.id == first)).mappings().one())
        for computed in ("id", "status_rank", "priority_rank", "assignee_key"):
            row.pop(computed)
        conn.execute(tickets.insert(), [dict(row) for _ in range(4_999)])
        made = [int(i) for i in conn.execute(select(tickets.c.id).order_by(tickets.c.id)).scalars()]
    items = [{"id": i} for i in made]
    done = hub.bulk_tickets(
        TicketBulk.model_validate({"tickets": items, "action": "assign", "assignee": "ana@team.pt"})
    )
    assert 5_000 == len(done.changed)
    notes = [m for m in hub.list_outbox() if m.kind == "notification"]
    assert [("ana@team.pt", f"5,000 tickets assigned to you (#{first} and 4,999 more)")] == [
        (m.to_address, m.subject) for m in notes
    ]
    [note] = notes
    assert all(f"#{i}: Printer broken" in note.body for i in made[:10])
    assert f"#{made[10]}:" not in note.body and "and 4,990 more" in note.body
    assert "view=mine" in note.body and f"#{made[10]}:" not in (note.html or "")
    # One ticket in a bulk action: the single assignment's mail.
    desk_smtp.deliver(mail(sender="other@reis.pt", subject="Scanner"))
    [one] = hub.fetch_mail().tickets
    hub.bulk_tickets(
        TicketBulk.model_validate(
            {"tickets": [{"id": one}], "action": "assign", "assignee": "ana@team.pt"}
        )
    )
    assert f"[#{one}] Assigned to you: Scanner" == notes_to(hub, "ana@team.pt")[0]  # newest
    assert 2 == len(notes_to(hub, "ana@team.pt"))


def test_a_mailboxs_new_ticket_joins_its_types_team_and_only_that_team_hears(
    desk_smtp: MailDesk,
) -> None:
    """The mailbox's type names a team: the ticket from a customer's mail is that team's,
    "new ticket in my team" reaches its members only, and the agent round-robin gave it to
    hears "assigned to you"."""
    from customer_flow.teams.models import TeamCreate
    from tickets_support import TYPES, write_json

    hub = desk_smtp.hub
    ana, bob = agent(hub, "ana"), agent(hub, "bob")
    for who in (ana, bob):
        hub.set_notification_choices(who.id, {"new_ticket": True})
    hub.add_team(TeamCreate(key="help", assignment="round_robin"))
    hub.add_team_member("help", "ana@team.pt")
    folder = hub.settings.attachment_dir
    assert folder is not None
    types = {**TYPES, "support": {**TYPES["support"], "default_team": "help"}}
    hub.load_ticket_types(write_json(folder.parent / "teamed.json", types))
    desk_smtp.deliver(mail())
    [ticket_id] = hub.fetch_mail().tickets
    ticket = hub.get_ticket(ticket_id)
    assert ("help", "ana@team.pt") == (ticket.team, ticket.assignee)
    assert [
        f"[#{ticket_id}] Assigned to you: Printer broken",
        f"[#{ticket_id}] New ticket: Printer broken",
    ] == notes_to(hub, "ana@team.pt")
    assert [] == notes_to(hub, "bob@team.pt")
    hub.fetch_mail()
    assert 2 == len(notes_to(hub, "ana@team.pt"))


def test_sla_at_risk_for_whoever_chose_it_once_then_breached(desk_smtp: MailDesk) -> None:
    """At 75 % of the first response's 4 hours the assignee who chose "SLA at risk" hears of
    it once (sent once over SMTP however often the worker checks), and of the breach after."""
    assert desk_smtp.smtp is not None
    hub = desk_smtp.hub
    ana = agent(hub, "ana")
    start = datetime.now(UTC)
    shift = [timedelta()]
    hub.set_clock(lambda: start + shift[0])
    desk_smtp.deliver(mail())
    [ticket_id] = hub.fetch_mail().tickets
    hub.assign_ticket(ticket_id, "ana@team.pt")
    shift[0] = timedelta(hours=3, minutes=30)
    assert 0 == hub.notify_sla()  # off by default
    hub.set_notification_choices(ana.id, {"sla_at_risk": True})
    assert 1 == hub.notify_sla()
    assert 0 == hub.notify_sla()
    hub.send_mail()
    hub.notify_sla()
    hub.send_mail()
    at_risk = [m for m in desk_smtp.smtp.received if "SLA at risk" in m["Subject"]]
    assert [f"[#{ticket_id}] SLA at risk: Printer broken"] == [m["Subject"] for m in at_risk]
    assert "first response due" in at_risk[0].get_body(("plain",)).get_content()
    shift[0] = timedelta(hours=5)
    assert 1 == hub.notify_sla()
    assert [f"[#{ticket_id}] SLA at risk: Printer broken",
            f"[#{ticket_id}] SLA breached: Printer broken"] == [
        s for s in reversed(notes_to(hub, "ana@team.pt")) if "SLA" in s
    ]  # fmt: skip


def test_a_ticket_opened_for_an_agent_tells_them_unless_they_opened_it(
    desk_smtp: MailDesk,
) -> None:
    from customer_flow.tickets.models import TicketCreate

    hub = desk_smtp.hub
    ana = agent(hub, "ana")
    new = TicketCreate(customer_id=1, type="support", subject="Call back", assignee="ana@team.pt")
    first = hub.open_ticket(new)
    assert [f"[#{first.id}] Assigned to you: Call back"] == notes_to(hub, "ana@team.pt")
    hub.as_actor("ana@team.pt", "agent", user_id=ana.id).open_ticket(new)
    assert 1 == len(notes_to(hub, "ana@team.pt"))
