"""Canned replies and "send and set pending / resolve" (issue 17, item 6) on SQLite and
PostgreSQL: placeholders filled in per ticket and agent, an unknown one refused at save,
personal and shared with who may change what, and a reply that moves the ticket in the same
transaction, through the mail outbox like any public reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_flow.core.errors import (
    NotFoundError,
    PermissionDeniedError,
    StateError,
    ValidationError,
)
from customer_flow.hub import Hub
from customer_flow.mail.models import MailAccountCreate
from customer_flow.store.schema import users
from customer_flow.tickets.models import (
    CannedCreate,
    CannedUpdate,
    CommentCreate,
    TicketCreate,
)
from tickets_support import add_agent, agent_key, make_hub


@pytest.fixture
def ch(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    hub = make_hub(db_url, tmp_path)
    add_agent(hub, "Boss Person", role="admin")
    yield hub
    hub.close()


def as_user(hub: Hub, name: str) -> Hub:
    key = agent_key(name)
    with hub.store.read() as conn:
        row = conn.execute(users.select().where(users.c.email_key == key)).first()
    assert row is not None
    return hub.as_actor(key, row.role, user_id=row.id)


def opened(hub: Hub) -> int:
    new = TicketCreate(customer_id=1, type="support", subject="Printer jam")
    return hub.open_ticket(new).id


class TestPlaceholders:
    def test_filled_in_for_the_ticket_and_the_agent(self, ch: Hub) -> None:
        ana = as_user(ch, "ana")
        tid = opened(ch)
        ana.add_canned_reply(
            CannedCreate(
                title="Hello",
                body="Hi {customer.first_name} ({ customer.name }), about #{ticket.id} "
                '"{ticket.subject}": {agent.name} <{agent.email}>. {not a placeholder}',
            )
        )
        [filled] = ana.render_canned_replies(tid)
        assert (
            f'Hi Ana (Ana Lima), about #{tid} "Printer jam": ana <{agent_key("ana")}>. '
            "{not a placeholder}"
        ) == filled.text

    def test_an_unknown_placeholder_is_refused_at_save(self, ch: Hub) -> None:
        ana = as_user(ch, "ana")
        with pytest.raises(ValidationError) as caught:
            ana.add_canned_reply(CannedCreate(title="Typo", body="Dear {custmer.name}"))
        assert "unknown placeholder {custmer.name}" in caught.value.message
        assert ("body", "placeholder_unknown") == (caught.value.field, caught.value.code)
        [reply] = [ana.add_canned_reply(CannedCreate(title="Ok", body="Dear {customer.name}"))]
        with pytest.raises(ValidationError, match=r"\{ticket.number\}"):
            ana.update_canned_reply(reply.id, CannedUpdate(body="#{ticket.number}"))
        assert [] == [r for r in ana.list_canned_replies() if r.title == "Typo"]


class TestSharing:
    def test_personal_ones_are_the_owners_alone(self, ch: Hub) -> None:
        ana, bo = as_user(ch, "ana"), as_user(ch, "bo")
        mine = ana.add_canned_reply(CannedCreate(title="Mine", body="x"))
        assert [] == bo.list_canned_replies()
        with pytest.raises(NotFoundError):
            bo.update_canned_reply(mine.id, CannedUpdate(title="Stolen"))
        with pytest.raises(NotFoundError):
            as_user(ch, "Boss Person").delete_canned_reply(mine.id)
        assert "Mine" == ana.get_canned_reply(mine.id).title

    def test_only_an_admin_shares_and_the_owner_or_an_admin_changes(self, ch: Hub) -> None:
        ana, bo, boss = as_user(ch, "ana"), as_user(ch, "bo"), as_user(ch, "Boss Person")
        with pytest.raises(PermissionDeniedError):
            ana.add_canned_reply(CannedCreate(title="For all", body="x", shared=True))
        shared = boss.add_canned_reply(CannedCreate(title="For all", body="x", shared=True))
        assert ["For all"] == [r.title for r in ana.list_canned_replies()]
        with pytest.raises(PermissionDeniedError):
            bo.update_canned_reply(shared.id, CannedUpdate(body="y"))
        assert "z" == boss.update_canned_reply(shared.id, CannedUpdate(body="z")).body
        boss.delete_canned_reply(shared.id)
        assert [] == ana.list_canned_replies()

    def test_the_cli_acting_as_no_user_makes_shared_ones_only(self, ch: Hub) -> None:
        with pytest.raises(ValidationError, match="personal canned reply belongs to a user"):
            ch.add_canned_reply(CannedCreate(title="t", body="x"))
        made = ch.add_canned_reply(CannedCreate(title="t", body="x", shared=True))
        assert (True, None) == (made.shared, made.owner)
        assert [made.id] == [r.id for r in as_user(ch, "bo").list_canned_replies()]


class TestSendAndSetStatus:
    def test_send_and_set_pending_then_send_and_resolve(self, ch: Hub) -> None:
        tid = opened(ch)
        ch.add_comment(tid, CommentCreate(body="Which model?", set_status="pending"))
        ticket = ch.get_ticket(tid)
        assert ("pending", True) == (ticket.status, ticket.first_response_at is not None)
        ch.add_comment(tid, CommentCreate(body="Fixed.", set_status="resolved"))
        assert "resolved" == ch.get_ticket(tid).status
        actions = [e.action for e in ch.ticket_history(tid)]
        assert [
            "create", "comment", "first_response", "status", "status", "comment", "status"
        ] == actions  # the first reply opens the new ticket, then it goes to pending  # fmt: skip

    def test_a_refused_move_saves_nothing(self, ch: Hub) -> None:
        tid = opened(ch)
        ch.close_ticket(tid)
        with pytest.raises(StateError):
            ch.add_comment(tid, CommentCreate(body="Late", set_status="pending"))
        assert [] == ch.list_comments(tid)

    def test_a_customer_comment_moves_nothing(self, ch: Hub) -> None:
        with pytest.raises(ValidationError, match="set_status"):
            ch.add_comment(
                opened(ch), CommentCreate(body="x", by_customer=True, set_status="resolved")
            )

    def test_the_reply_goes_through_the_outbox(self, ch: Hub) -> None:
        """As any public reply does: queued in the same transaction as the status change."""
        ch.save_mail_account(
            MailAccountCreate(
                name="out",
                kind="smtp",
                host="localhost",
                port=2525,
                security="starttls",
                username="u",
                password_env="CF_NO_SUCH_PASSWORD",
                address="support@desk.test",
            )
        )
        tid = opened(ch)
        comment = ch.add_comment(tid, CommentCreate(body="Done.", set_status="resolved"))
        [queued] = ch.list_outbox()
        assert (tid, comment.id, "ana@lima.pt") == (
            queued.ticket_id, queued.comment_id, queued.to_address,
        )  # fmt: skip
        assert "resolved" == ch.get_ticket(tid).status
