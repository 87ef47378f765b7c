"""Customers through the Hub, on SQLite and PostgreSQL: rules, integrity, trash, audit."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from customer_flow.core.errors import ConflictError, NotFoundError, StateError, ValidationError
from customer_flow.customers.extra import MAX_ATTRIBUTES, MAX_KEY, MAX_VALUE
from customer_flow.customers.models import CustomerCreate, CustomerQuery, CustomerUpdate
from customer_flow.customers.records import clean_email, clean_name, clean_phone, collapse
from customer_flow.hub import Hub
from customer_flow.store.schema import audit_log, customer_ids, customers


def add(hub: Hub, name: str = "Ana Lima", email: str | None = "ana@lima.pt", **kw: object):
    return hub.add_customer(CustomerCreate(name=name, email=email, **kw))  # type: ignore[arg-type]


def audit_count(hub: Hub) -> int:
    with hub.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


class TestCreate:
    def test_ids_are_assigned_in_order(self, hub: Hub) -> None:
        """Customers without an ID get 1, 2, 3..."""
        people = [("Ana Lima", "ana@x.io"), ("Bruno Costa", "bruno@y.io"), ("Carla Dias", "c@z.io")]
        assert [add(hub, name=n, email=e).id for n, e in people] == [1, 2, 3]

    def test_given_id_is_kept_and_the_next_assigned_id_follows_it(self, hub: Hub) -> None:
        """A given ID is used as is; assigned IDs continue above the highest one issued."""
        assert add(hub, id=42).id == 42
        assert add(hub, email="b@x.io").id == 43

    def test_ids_are_never_reused_after_a_purge(self, hub: Hub) -> None:
        """A purged customer's ID is refused when given again, and never assigned again."""
        c = add(hub)
        hub.delete_customer(c.id)
        hub.purge_customer(c.id)
        with pytest.raises(ConflictError, match="purged") as exc:
            add(hub, id=c.id)
        assert exc.value.field == "id"
        assert c.id + 1 == add(hub).id

    def test_an_existing_id_is_refused_and_nothing_is_written(self, hub: Hub) -> None:
        """Giving an ID in use fails with a conflict naming the field, and writes nothing."""
        add(hub, id=7)
        before = audit_count(hub)
        with pytest.raises(ConflictError) as exc:
            add(hub, id=7, email="other@x.io")
        assert (exc.value.field, exc.value.code) == ("id", "id_taken")
        assert before == audit_count(hub)
        assert hub.count_customers() == 1

    def test_the_seed_rows_are_accepted_with_their_warnings(self, hub: Hub) -> None:
        """The seed's John Doe: local phone kept as given, example.com flagged, both warnings."""
        c = add(hub, name="John Doe", email="johndoe@example.com", phone="555-1234", id=1)
        assert (c.name, c.email, c.phone) == ("John Doe", "johndoe@example.com", "555-1234")
        assert {"email_example_domain", "phone_local_only"} == {w.code for w in c.warnings}

    def test_name_is_trimmed_and_whitespace_collapsed(self, hub: Hub) -> None:
        assert add(hub, name="  Ana \t Maria\n  Lima ").name == "Ana Maria Lima"

    def test_empty_name_is_refused(self, hub: Hub) -> None:
        with pytest.raises(ValidationError) as exc:
            add(hub, name="   ")
        assert exc.value.field == "name"

    def test_email_domain_is_lowercased_and_uniqueness_ignores_case(self, hub: Hub) -> None:
        """ANA@Lima.PT is stored with a lower-case domain; ana@lima.pt then conflicts."""
        c = add(hub, email="ANA@Lima.PT")
        assert c.email == "ANA@lima.pt"
        with pytest.raises(ConflictError, match=f"customer {c.id}") as exc:
            add(hub, name="Other", email="ana@LIMA.pt")
        assert exc.value.field == "email"

    def test_invalid_email_is_refused(self, hub: Hub) -> None:
        with pytest.raises(ValidationError) as exc:
            add(hub, email="not-an-email")
        assert (exc.value.field, exc.value.code) == ("email", "email_invalid")
        assert hub.count_customers() == 0

    def test_phone_is_normalised_to_e164(self, hub: Hub) -> None:
        assert add(hub, phone="(415) 555-2671").phone == "+14155552671"

    def test_phone_of_letters_is_refused(self, hub: Hub) -> None:
        with pytest.raises(ValidationError) as exc:
            add(hub, phone="call me maybe")
        assert (exc.value.field, exc.value.code) == ("phone", "phone_not_a_number")
        assert hub.count_customers() == 0

    def test_an_email_freed_by_the_trash_can_be_used_again(self, hub: Hub) -> None:
        """Uniqueness holds among live customers only."""
        c = add(hub)
        hub.delete_customer(c.id)
        assert add(hub, name="New Ana").id != c.id

    def test_failed_create_consumes_no_id(self, hub: Hub) -> None:
        """A rejected create rolls back its ID reservation with everything else."""
        add(hub)
        with pytest.raises(ConflictError):
            add(hub, name="Dup")
        assert add(hub, email="x@y.io").id == 2


class TestRules:
    @pytest.mark.parametrize(
        ("raw", "region", "expected", "codes"),
        [
            ("+44 20 7946 0958", "US", "+442079460958", set()),
            ("020 7946 0958", "GB", "+442079460958", set()),
            ("415-555-2671 ext. 12", "US", "+14155552671;ext=12", set()),
            ("555-1234", "US", "555-1234", {"phone_local_only"}),
            ("12", "US", "12", {"phone_impossible"}),
            ("+1 555 555 1234", "US", "+1 555 555 1234", {"phone_invalid"}),
            # An invalid number keeps the value given: +10612345678 was never in the input.
            ("06 12 34 56 78", "US", "06 12 34 56 78", {"phone_invalid"}),
            ("", "US", None, set()),
        ],
    )
    def test_clean_phone(
        self, raw: str, region: str, expected: str | None, codes: set[str]
    ) -> None:
        phone, warnings = clean_phone(raw, region)
        assert (expected, codes) == (phone, {w.code for w in warnings})

    @given(st.text())
    @settings(max_examples=200)
    def test_collapse_is_idempotent_and_leaves_no_double_spaces(self, text: str) -> None:
        once = collapse(text)
        assert once == collapse(once)
        assert "  " not in once
        assert once == once.strip()

    @given(st.text(min_size=1).filter(lambda t: t.strip()))
    def test_clean_name_never_returns_empty(self, text: str) -> None:
        assert clean_name(text)

    def test_example_subdomains_are_flagged(self) -> None:
        email, warnings = clean_email("a@shop.example")
        assert (email, [w.code for w in warnings]) == ("a@shop.example", ["email_example_domain"])


class TestUpdate:
    def test_partial_update_changes_only_given_fields(self, hub: Hub) -> None:
        c = add(hub, phone="(415) 555-2671")
        updated = hub.update_customer(c.id, CustomerUpdate(name="Ana M. Lima"))
        assert ("Ana M. Lima", c.email, c.phone) == (updated.name, updated.email, updated.phone)

    def test_update_replaces_only_the_changed_fields_warnings(self, hub: Hub) -> None:
        """Fixing the phone clears its warning; the email's warning stays."""
        c = add(hub, email="a@example.com", phone="555-1234")
        updated = hub.update_customer(c.id, CustomerUpdate(phone="415 555 2671"))
        assert [w.code for w in updated.warnings] == ["email_example_domain"]

    def test_none_clears_email_and_phone(self, hub: Hub) -> None:
        c = add(hub, phone="415 555 2671")
        updated = hub.update_customer(c.id, CustomerUpdate(email=None, phone=None))
        assert (updated.email, updated.phone) == (None, None)

    def test_extra_merges_and_none_removes_a_key(self, hub: Hub) -> None:
        c = add(hub, extra={"city": "Porto", "tier": "gold"})
        updated = hub.update_customer(c.id, CustomerUpdate(extra={"tier": None, "vip": True}))
        assert updated.extra == {"city": "Porto", "vip": "true"}  # stored as text

    def test_an_update_that_changes_nothing_writes_no_audit_entry(self, hub: Hub) -> None:
        c = add(hub)
        before = audit_count(hub)
        hub.update_customer(c.id, CustomerUpdate(name="  Ana   Lima "))
        assert before == audit_count(hub)

    def test_update_to_an_email_in_use_is_refused(self, hub: Hub) -> None:
        add(hub)
        other = add(hub, name="Bo", email="bo@x.io")
        with pytest.raises(ConflictError):
            hub.update_customer(other.id, CustomerUpdate(email="ANA@lima.pt"))
        assert hub.get_customer(other.id).email == "bo@x.io"

    def test_updating_a_customer_in_the_trash_is_refused(self, hub: Hub) -> None:
        c = add(hub)
        hub.delete_customer(c.id)
        with pytest.raises(StateError, match="trash"):
            hub.update_customer(c.id, CustomerUpdate(name="X"))

    def test_updating_a_missing_customer_is_not_found(self, hub: Hub) -> None:
        with pytest.raises(NotFoundError):
            hub.update_customer(999, CustomerUpdate(name="X"))


class TestExtraLimits:
    """Issue 15: extra attributes are bounded in count, name length and value length."""

    def test_at_the_limits_is_accepted(self, hub: Hub) -> None:
        many = {f"k{i}": "v" for i in range(MAX_ATTRIBUTES - 1)}
        edge = {"n" * MAX_KEY: "x" * MAX_VALUE, **many}
        assert MAX_ATTRIBUTES == len(add(hub, extra=edge).extra)

    @pytest.mark.parametrize(
        ("extra", "field", "says"),
        [
            ({f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 1)}, "extra", "101 attributes"),
            ({"n" * (MAX_KEY + 1): "v"}, "extra", "has 101 characters"),
            ({"": "v"}, "extra", "names have 1 to 100"),
            ({"  ": "v"}, "extra", "not all blank"),
            ({"notes": "x" * (MAX_VALUE + 1)}, "extra.notes", "10,001 characters"),
            ({"list": ["x" * 5000, "y" * 5000]}, "extra.list", "10,007 characters"),
        ],
        ids=["count", "key", "empty-key", "blank-key", "value", "json-value"],
    )
    def test_past_a_limit_is_refused_and_nothing_is_written(
        self, hub: Hub, extra: dict[str, object], field: str, says: str
    ) -> None:
        before = audit_count(hub)
        with pytest.raises(ValidationError) as exc:
            add(hub, extra=extra)
        assert ("extra_too_large", field) == (exc.value.code, exc.value.field)
        assert says in exc.value.message and "\n" not in exc.value.message
        assert (0, before) == (hub.count_customers(), audit_count(hub))

    def test_an_update_may_not_grow_past_the_limit(self, hub: Hub) -> None:
        """Updates merge: the result counts, not the change alone."""
        c = add(hub, extra={f"k{i}": "v" for i in range(MAX_ATTRIBUTES)})
        with pytest.raises(ValidationError) as exc:
            hub.update_customer(c.id, CustomerUpdate(extra={"one more": "v"}))
        assert "extra_too_large" == exc.value.code
        swapped = hub.update_customer(c.id, CustomerUpdate(extra={"k0": None, "new": "v"}))
        assert MAX_ATTRIBUTES == len(swapped.extra)
        with pytest.raises(ValidationError):
            hub.update_customer(c.id, CustomerUpdate(extra={"new": "x" * (MAX_VALUE + 1)}))

    def test_a_customer_stored_over_the_limits_can_still_be_trimmed(self, hub: Hub) -> None:
        """One stored before the limits (45,000 attributes were once accepted) can be changed
        and trimmed, as long as a change does not make it bigger."""
        c = add(hub)
        legacy = {f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 50)} | {"long": "x" * 20_000}
        with hub.store.write() as conn:
            conn.execute(customers.update().where(customers.c.id == c.id).values(extra=legacy))
        assert "Ana M. Lima" == hub.update_customer(c.id, CustomerUpdate(name="Ana M. Lima")).name
        trimmed = hub.update_customer(c.id, CustomerUpdate(extra={"k0": None, "k1": "w"}))
        assert MAX_ATTRIBUTES + 50 == len(trimmed.extra)
        with pytest.raises(ValidationError):
            hub.update_customer(c.id, CustomerUpdate(extra={"k0": "back", "k-new": "v"}))


class TestTrash:
    def test_delete_restore_purge_cycle(self, hub: Hub) -> None:
        c = add(hub)
        assert hub.delete_customer(c.id).in_trash
        assert hub.list_customers().items == []
        assert [c.id] == [x.id for x in hub.list_customers(CustomerQuery(trash=True)).items]
        assert not hub.restore_customer(c.id).in_trash
        hub.delete_customer(c.id)
        hub.purge_customer(c.id)
        with pytest.raises(NotFoundError, match="purged"):
            hub.get_customer(c.id)
        with hub.store.read() as conn:  # the ID stays reserved
            assert conn.execute(select(customer_ids).where(customer_ids.c.id == c.id)).first()
            assert not conn.execute(select(customers).where(customers.c.id == c.id)).first()

    def test_deleting_twice_is_refused(self, hub: Hub) -> None:
        c = add(hub)
        hub.delete_customer(c.id)
        with pytest.raises(StateError):
            hub.delete_customer(c.id)

    def test_restore_is_refused_when_the_email_was_taken_meanwhile(self, hub: Hub) -> None:
        c = add(hub)
        hub.delete_customer(c.id)
        add(hub, name="Newcomer")
        with pytest.raises(ConflictError, match="email"):
            hub.restore_customer(c.id)
        assert hub.get_customer(c.id).in_trash

    def test_purge_of_a_live_customer_is_refused(self, hub: Hub) -> None:
        c = add(hub)
        with pytest.raises(StateError, match="delete it first"):
            hub.purge_customer(c.id)

    def test_purge_of_a_missing_id_is_not_found(self, hub: Hub) -> None:
        with pytest.raises(NotFoundError):
            hub.purge_customer(12345)


class TestHistory:
    def test_every_change_is_in_the_history_with_before_and_after(self, hub: Hub) -> None:
        c = add(hub)
        hub.update_customer(c.id, CustomerUpdate(phone="415 555 2671"))
        hub.delete_customer(c.id)
        hub.restore_customer(c.id)
        entries = hub.customer_history(c.id)
        assert [e.action for e in entries] == ["create", "update", "delete", "restore"]
        assert {"tester"} == {e.actor for e in entries}
        update = entries[1]
        assert (update.before["phone"], update.after["phone"]) == (None, "+14155552671")  # type: ignore[index]
        assert all(e.at.tzinfo is not None for e in entries)

    def test_history_survives_a_purge(self, hub: Hub) -> None:
        c = add(hub)
        hub.delete_customer(c.id)
        hub.purge_customer(c.id)
        entries = hub.customer_history(c.id)
        assert entries[-1].action == "purge"
        assert entries[-1].after is None and entries[-1].before is not None

    def test_history_of_an_unknown_customer_is_not_found(self, hub: Hub) -> None:
        with pytest.raises(NotFoundError):
            hub.customer_history(77)

    def test_the_actor_is_the_hubs_actor(self, hub: Hub) -> None:
        c = hub.as_actor("maria").add_customer(CustomerCreate(name="Z", email="z@z.io"))
        assert hub.customer_history(c.id)[0].actor == "maria"


class TestList:
    @pytest.fixture
    def people(self, hub: Hub) -> list[int]:
        names = ["Carla Dias", "ana lima", "Bruno Costa", "Ana Souza", "Duarte Reis"]
        phones = ["415 555 2671", None, "+44 20 7946 0958", None, "212 555 0100"]
        return [
            add(hub, name=n, email=f"{n.split()[0].lower()}{i}@mail.io", phone=p).id
            for i, (n, p) in enumerate(zip(names, phones, strict=True))
        ]

    def test_search_matches_name_email_and_phone_ignoring_case(
        self, hub: Hub, people: list[int]
    ) -> None:
        def ids(text: str) -> list[int]:
            return [c.id for c in hub.list_customers(CustomerQuery(search=text)).items]

        assert ids("ANA") == [2, 4]
        assert ids("bruno2@") == [3]
        assert ids("(415) 555") == [1]  # formatted digits still find the E.164 number
        assert ids("a%_") == []  # LIKE wildcards are matched literally

    @pytest.mark.parametrize("sort", ["id", "-id", "name", "-name", "created", "-created"])
    def test_keyset_pages_visit_every_customer_once_in_order(
        self, hub: Hub, people: list[int], sort: str
    ) -> None:
        seen, after = [], None
        while True:
            page = hub.list_customers(CustomerQuery(sort=sort, limit=2, after=after))  # type: ignore[arg-type]
            seen += page.items
            if page.next is None:
                break
            after = page.next
        key = {"id": "id", "name": "name", "created": "created_at"}[sort.lstrip("-")]
        expected = sorted(seen, key=lambda c: (getattr(c, key), c.id), reverse=sort[0] == "-")
        assert [c.id for c in expected] == [c.id for c in seen]
        assert sorted(people) == sorted(c.id for c in seen)

    def test_a_bad_cursor_is_a_validation_error(self, hub: Hub) -> None:
        with pytest.raises(ValidationError) as exc:
            hub.list_customers(CustomerQuery(after="not-a-cursor"))
        assert exc.value.field == "after"

    @pytest.mark.parametrize(
        ("sort", "value", "row_id"),
        [
            ("name", 5, 1),  # a number where the name goes: a 500 on PostgreSQL
            ("name", [1], 1),
            ("name", "a\x00", 1),  # a NUL: a 500 on PostgreSQL, hidden from the edge by base64
            ("name", "a", 10**30),  # past any 64-bit ID: a 500 (OverflowError) on SQLite
            ("id", None, 2**63),
            ("id", None, True),
            ("-id", [1], "7"),
            ("created", "2026-01-01", -(2**70)),
        ],
    )
    def test_a_forged_cursor_is_a_validation_error(
        self, hub: Hub, sort: str, value: object, row_id: object
    ) -> None:
        """A cursor that decodes but holds what no page of this list ends with: the sort
        value of another type, or an ID no row can have."""
        add(hub)
        forged = base64.urlsafe_b64encode(json.dumps([value, row_id]).encode()).decode()
        with pytest.raises(ValidationError) as exc:
            hub.list_customers(CustomerQuery(sort=sort, after=forged))  # type: ignore[arg-type]
        assert (exc.value.field, exc.value.code) == ("after", "bad_cursor")

    def test_with_warnings_lists_only_flagged_customers(self, hub: Hub) -> None:
        add(hub)
        flagged = add(hub, name="J", email="j@example.com")
        assert [flagged.id] == [
            c.id for c in hub.list_customers(CustomerQuery(with_warnings=True)).items
        ]
