"""Tickets through the Hub, on SQLite and PostgreSQL: opening, fields, lifecycle, comments,
timeline, integrity with customers and the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_flow.core.errors import NotFoundError, StateError, ValidationError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import CommentCreate, TicketCreate, TicketUpdate
from schema_support import schema_diff
from tickets_support import TYPES, Clock, make_hub, utc, write_json


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 11, 30, 9, 0))


@pytest.fixture
def th(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    """A Hub with the test types, customer 1 and a hand-moved clock; 24×7 calendar."""
    hub = make_hub(db_url, tmp_path, clock=clock)
    yield hub
    hub.close()


def new(**kw: object) -> TicketCreate:
    data: dict[str, object] = {"customer_id": 1, "type": "support", "subject": "Cannot log in"}
    data.update(kw)
    return TicketCreate.model_validate(data)


class TestOpen:
    def test_opens_new_with_the_type_default_priority(self, th: Hub, clock: Clock) -> None:
        """A ticket starts new, with its type's default priority and its due times."""
        t = th.open_ticket(new(type="complaint", description="  It broke.  "))
        assert (t.status, t.priority, t.description) == ("new", "urgent", "It broke.")
        assert utc(2026, 11, 30, 10) == t.sla.first_response.due_at
        assert utc(2026, 12, 1, 9) == t.sla.resolution.due_at
        assert t == th.get_ticket(t.id).model_copy(update={"sla": t.sla})

    def test_given_priority_wins(self, th: Hub) -> None:
        """A priority given overrides the type's default."""
        assert th.open_ticket(new(priority="high")).priority == "high"

    def test_missing_customer(self, th: Hub) -> None:
        """A customer that does not exist is named."""
        with pytest.raises(NotFoundError, match="no customer with ID 99"):
            th.open_ticket(new(customer_id=99))

    def test_missing_type(self, th: Hub) -> None:
        """A type that does not exist is named."""
        with pytest.raises(NotFoundError, match="no ticket type 'nope'"):
            th.open_ticket(new(type="nope"))

    def test_inactive_type(self, th: Hub, tmp_path: Path) -> None:
        """A deactivated type takes no new tickets."""
        th.load_ticket_types(write_json(tmp_path / "t2.json", {"support": TYPES["support"]}))
        with pytest.raises(StateError, match="ticket type 'chat' is inactive"):
            th.open_ticket(new(type="chat"))

    def test_customer_in_trash(self, th: Hub) -> None:
        """A customer in the trash takes no new tickets."""
        th.delete_customer(1)
        with pytest.raises(StateError, match="in the trash"):
            th.open_ticket(new())

    def test_subject_required(self, th: Hub) -> None:
        """A blank subject is refused."""
        with pytest.raises(ValidationError, match="subject: a ticket needs a subject"):
            th.open_ticket(new(subject="   "))

    def test_tags_are_cleaned(self, th: Hub) -> None:
        """Tags are trimmed, lower-cased and deduplicated; an assignee is tidied."""
        t = th.open_ticket(new(tags=[" VIP ", "vip", "Login"], assignee="  BO@Team.example "))
        assert (t.tags, t.assignee) == (["vip", "login"], "bo@team.example")

    def test_failed_open_writes_nothing(self, th: Hub) -> None:
        """A refused ticket leaves no row and no audit entry behind."""
        with pytest.raises(ValidationError):
            th.open_ticket(new(type="rich", fields={"product": "desktop"}))
        assert th.list_tickets().items == []


class TestExtraFields:
    def test_values_are_typed(self, th: Hub) -> None:
        """Strings (as a CLI sends them) are converted to the field's type."""
        t = th.open_ticket(
            new(
                type="rich",
                fields={
                    "product": "api",
                    "count": "3",
                    "amount": "12.50",
                    "urgent": "yes",
                    "since": "2026-11-01",
                    "version": "  2.1 ",
                },
            )
        )
        expected = {
            "product": "api",
            "count": 3,
            "amount": 12.5,
            "urgent": True,
            "since": "2026-11-01",
            "version": "2.1",
        }
        assert expected == t.fields

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({}, "fields.product: required for type rich"),
            ({"product": "desktop"}, "fields.product: expected one of web, api, got 'desktop'"),
            ({"product": "web", "count": "three"}, "fields.count: expected a whole number"),
            ({"product": "web", "count": True}, "fields.count: expected a whole number"),
            ({"product": "web", "amount": "lots"}, "fields.amount: expected a number"),
            ({"product": "web", "urgent": "maybe"}, "fields.urgent: expected true or false"),
            ({"product": "web", "since": "yesterday"}, "fields.since: expected a date"),
            ({"product": "web", "version": 2}, "fields.version: expected text"),
            ({"product": "web", "colour": "red"}, "fields.colour: type rich has no such field"),
        ],
    )
    def test_bad_fields(self, th: Hub, fields: dict[str, object], message: str) -> None:
        """A wrong type, a missing required field or an unknown one is named."""
        with pytest.raises(ValidationError, match=message):
            th.open_ticket(new(type="rich", fields=fields))

    def test_update_merges_and_revalidates(self, th: Hub) -> None:
        """An update sets fields, removes one set to None, and checks the result."""
        t = th.open_ticket(new(type="rich", fields={"product": "web", "count": 1}))
        t = th.update_ticket(t.id, TicketUpdate(fields={"count": None, "amount": 2}))
        assert t.fields == {"product": "web", "amount": 2}
        with pytest.raises(ValidationError, match="required"):
            th.update_ticket(t.id, TicketUpdate(fields={"product": None}))


class TestLifecycle:
    def test_full_path(self, th: Hub, clock: Clock) -> None:
        """new → open → pending → resolved → closed stamps each step."""
        t = th.open_ticket(new())
        for status in ("open", "pending", "resolved", "closed"):
            clock.advance(60)
            t = th.set_ticket_status(t.id, status)
            assert status == t.status
        assert utc(2026, 11, 30, 9, 3) == t.resolved_at
        assert utc(2026, 11, 30, 9, 4) == t.closed_at

    def test_closed_to_pending_is_refused_naming_the_allowed(self, th: Hub) -> None:
        """A transition the lifecycle forbids names the allowed ones and changes nothing."""
        t = th.close_ticket(th.open_ticket(new()).id)
        with pytest.raises(StateError, match=r"from closed to pending; allowed from closed: open"):
            th.set_ticket_status(t.id, "pending")
        assert th.get_ticket(t.id).status == "closed"

    def test_same_status_and_unknown_status(self, th: Hub) -> None:
        """Moving to the current status or to an unknown one is an error."""
        t = th.open_ticket(new())
        with pytest.raises(StateError, match="already new"):
            th.set_ticket_status(t.id, "new")
        with pytest.raises(ValidationError, match="unknown status 'done'"):
            th.set_ticket_status(t.id, "done")

    def test_close_from_open_sets_resolved_too(self, th: Hub) -> None:
        """Closing without resolving also stamps resolved_at (reports need it)."""
        t = th.close_ticket(th.open_ticket(new()).id)
        assert t.resolved_at == t.closed_at is not None

    def test_reopen(self, th: Hub, clock: Clock) -> None:
        """A resolved or closed ticket reopens to open; the count goes up; stamps clear."""
        t = th.open_ticket(new())
        th.set_ticket_status(t.id, "resolved")
        clock.advance(H := 3600)
        t = th.reopen_ticket(t.id)
        assert (t.status, t.reopened_count, t.resolved_at, t.closed_at) == ("open", 1, None, None)
        assert t.sla.paused_seconds == H
        th.close_ticket(t.id)
        assert th.reopen_ticket(t.id).reopened_count == 2

    def test_reopen_of_an_open_ticket_is_refused(self, th: Hub) -> None:
        """Only resolved or closed tickets reopen."""
        t = th.open_ticket(new())
        with pytest.raises(StateError, match="only a resolved or closed ticket"):
            th.reopen_ticket(t.id)

    def test_missing_ticket(self, th: Hub) -> None:
        """A ticket that never existed is named."""
        with pytest.raises(NotFoundError, match="no ticket with ID 42"):
            th.get_ticket(42)

    def test_assign_and_unassign(self, th: Hub) -> None:
        """Assigning by a user's name stores their email key; None takes it back."""
        t = th.open_ticket(new())
        assert th.assign_ticket(t.id, "Bo").assignee == "bo@team.example"
        assert th.assign_ticket(t.id, None).assignee is None


class TestComments:
    def test_first_public_agent_reply_is_the_first_response(self, th: Hub, clock: Clock) -> None:
        """A note does not count; the first public reply sets first_response_at and opens."""
        t = th.open_ticket(new())
        clock.advance(600)
        th.add_comment(t.id, CommentCreate(body="checking logs", public=False))
        assert th.get_ticket(t.id).first_response_at is None
        clock.advance(600)
        th.add_comment(t.id, CommentCreate(body="Hello Ana"))
        t = th.get_ticket(t.id)
        assert (utc(2026, 11, 30, 9, 20), "open") == (t.first_response_at, t.status)
        assert t.sla.first_response.state == "met"
        clock.advance(600)
        th.add_comment(t.id, CommentCreate(body="again"))
        assert utc(2026, 11, 30, 9, 20) == th.get_ticket(t.id).first_response_at

    def test_customer_reply_is_not_a_response_and_resumes_pending(
        self, th: Hub, clock: Clock
    ) -> None:
        """A customer's reply never sets first_response_at; on a pending ticket it reopens it."""
        t = th.open_ticket(new())
        th.set_ticket_status(t.id, "pending")
        clock.advance(3600)
        th.add_comment(t.id, CommentCreate(body="here it is", by_customer=True))
        t = th.get_ticket(t.id)
        assert (t.status, t.first_response_at, t.sla.paused_seconds) == ("open", None, 3600)

    def test_blank_comment_refused(self, th: Hub) -> None:
        """A comment needs text."""
        t = th.open_ticket(new())
        with pytest.raises(ValidationError, match="body: a comment needs some text"):
            th.add_comment(t.id, CommentCreate(body="  "))

    def test_listing_with_and_without_notes(self, th: Hub) -> None:
        """Comments come oldest first; notes can be left out."""
        t = th.open_ticket(new())
        th.add_comment(t.id, CommentCreate(body="note", public=False))
        th.add_comment(t.id, CommentCreate(body="reply"))
        assert [c.body for c in th.list_comments(t.id)] == ["note", "reply"]
        assert [c.body for c in th.list_comments(t.id, include_notes=False)] == ["reply"]

    def test_comment_on_purged_ticket(self, th: Hub) -> None:
        """A purged ticket says it was purged; its timeline stays readable."""
        t = th.close_ticket(th.open_ticket(new()).id)
        th.purge_ticket(t.id)
        with pytest.raises(NotFoundError, match=f"ticket {t.id} was purged"):
            th.add_comment(t.id, CommentCreate(body="hello?"))
        assert th.ticket_history(t.id)[-1].action == "purge"

    def test_purge_needs_a_closed_ticket(self, th: Hub) -> None:
        """Only a closed ticket can be purged."""
        t = th.open_ticket(new())
        with pytest.raises(StateError, match="close it before you purge it"):
            th.purge_ticket(t.id)

    def test_timeline_has_every_change(self, th: Hub) -> None:
        """Create, assign, update, note, reply, first response, status: all in the timeline."""
        t = th.open_ticket(new())
        th.assign_ticket(t.id, "Bo")
        th.update_ticket(t.id, TicketUpdate(subject="Login fails"))
        th.add_comment(t.id, CommentCreate(body="n", public=False))
        th.add_comment(t.id, CommentCreate(body="r"))
        th.set_ticket_status(t.id, "resolved")
        actions = [e.action for e in th.ticket_history(t.id)]
        expected = ["create", "assign", "update", "note", "comment", "first_response", "status"]
        assert [*expected, "status"] == actions
        entries = th.ticket_history(t.id)
        assert (
            entries[2].before["subject"],  # type: ignore[index]
            entries[2].after["subject"],  # type: ignore[index]
        ) == ("Cannot log in", "Login fails")
        assert all(e.actor == "tester" for e in entries)


class TestCustomerIntegrity:
    def test_trash_refused_naming_the_count(self, th: Hub) -> None:
        """Trashing a customer with open tickets is refused, naming how many; nothing changes."""
        th.open_ticket(new())
        th.open_ticket(new())
        closed = th.close_ticket(th.open_ticket(new()).id)
        with pytest.raises(StateError, match="customer 1 has 2 open tickets"):
            th.delete_customer(1)
        assert not th.get_customer(1).in_trash
        assert th.get_ticket(closed.id).status == "closed"

    def test_force_closes_them_with_a_note(self, th: Hub) -> None:
        """--force closes the open tickets, each with an audit note, then trashes."""
        a, b = th.open_ticket(new()), th.open_ticket(new())
        assert th.delete_customer(1, force=True).in_trash
        for t in (a, b):
            assert th.get_ticket(t.id).status == "closed"
            assert "moved to the trash" in (th.ticket_history(t.id)[-1].note or "")
        assert f"closed tickets {a.id}, {b.id}" in (th.customer_history(1)[-1].note or "")

    def test_closed_tickets_do_not_block_trash(self, th: Hub) -> None:
        """Only tickets that are not closed block the trash."""
        th.close_ticket(th.open_ticket(new()).id)
        assert th.delete_customer(1).in_trash

    def test_purge_refused_unless_tickets_go_too(self, th: Hub) -> None:
        """Purging a customer with tickets is refused; with_tickets purges them too."""
        t = th.open_ticket(new())
        th.add_comment(t.id, CommentCreate(body="hi"))
        th.delete_customer(1, force=True)
        with pytest.raises(StateError, match="customer 1 has 1 ticket: purge it too"):
            th.purge_customer(1)
        th.purge_customer(1, with_tickets=True)
        with pytest.raises(NotFoundError, match="was purged"):
            th.get_ticket(t.id)
        assert th.ticket_history(t.id)[-1].action == "purge"

    def test_reopen_refused_while_customer_in_trash(self, th: Hub) -> None:
        """A ticket of a trashed customer cannot be reopened."""
        t = th.open_ticket(new())
        th.delete_customer(1, force=True)
        with pytest.raises(StateError, match="restore it before you reopen"):
            th.reopen_ticket(t.id)

    def test_ticket_of_deactivated_type_stays_readable(self, th: Hub, tmp_path: Path) -> None:
        """Deactivating a type keeps its tickets readable, listable and workable."""
        t = th.open_ticket(new(type="idea"))
        th.load_ticket_types(write_json(tmp_path / "t2.json", {"support": TYPES["support"]}))
        assert th.get_ticket(t.id).type == "idea"
        assert [t.id] == [x.id for x in th.list_tickets().items]
        assert th.close_ticket(t.id).status == "closed"


class TestSchema:
    def test_migration_matches_schema(self, hub: Hub) -> None:
        """The migrations create exactly the tables and indexes schema.py declares."""
        with hub.store.engine.connect() as conn:
            assert schema_diff(conn) == []

    def test_ticket_ids_are_never_reused(self, th: Hub) -> None:
        """After the newest ticket is purged, the next one gets a new ID."""
        t = th.close_ticket(th.open_ticket(new()).id)
        th.purge_ticket(t.id)
        assert th.open_ticket(new()).id > t.id

    def test_customer_must_exist_for_ticket_rows(self, th: Hub) -> None:
        """The customer added by make_hub is the only one; a second gets ID 2."""
        assert th.add_customer(CustomerCreate(name="Bo", email="bo@li.pt")).id == 2


class TestConcurrency:
    def test_two_agents_replying_at_once_stamp_one_first_response(
        self, db_url: str, tmp_path: Path
    ) -> None:
        """Two agents reply to the same new tickets at the same moment, each through its own
        Hub: every ticket gets exactly one first response and one move to open."""
        import threading

        first = make_hub(db_url, tmp_path)
        second = Hub(first.settings)
        tickets = [first.open_ticket(new()).id for _ in range(4)]
        errors: list[BaseException] = []

        def reply(hub: Hub, barrier: threading.Barrier, ticket_id: int) -> None:
            try:
                barrier.wait()
                hub.add_comment(ticket_id, CommentCreate(body=f"reply from {id(hub)}"))
            except BaseException as exc:  # collected: asserted below
                errors.append(exc)

        for ticket_id in tickets:
            barrier = threading.Barrier(2)
            threads = [
                threading.Thread(target=reply, args=(h, barrier, ticket_id))
                for h in (first, second)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        for ticket_id in tickets:
            actions = [e.action for e in first.ticket_history(ticket_id)]
            assert (
                actions.count("comment"),
                actions.count("first_response"),
                actions.count("status"),
            ) == (2, 1, 1)
        second.close()
        first.close()
