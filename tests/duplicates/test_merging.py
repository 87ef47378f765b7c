"""Merging duplicates: survivorship, the trash pointer, re-pointers, audit, and exact unmerge.

Every test runs on SQLite and PostgreSQL, through the Hub and, where a user would, the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, select, text
from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.core.errors import NotFoundError, StateError, ValidationError
from customer_flow.customers.models import CustomerCreate, CustomerUpdate
from customer_flow.duplicates import merge as merging
from customer_flow.hub import Hub
from customer_flow.store.schema import customers

runner = CliRunner()


def cli(db_url: str, *args: str) -> Any:
    return runner.invoke(app, ["--db", db_url, "--region", "US", "--actor", "tester", *args])


def add(
    hub: Hub, name: str, email: str | None = None, phone: str | None = None, **extra: Any
) -> int:
    new = CustomerCreate(name=name, email=email, phone=phone, extra=extra)
    return hub.add_customer(new, allow_duplicate=True).id


def merged_into(hub: Hub, customer_id: int) -> int | None:
    with hub.store.read() as conn:
        value = conn.execute(
            select(customers.c.merged_into).where(customers.c.id == customer_id)
        ).scalar_one()
    return int(value) if value is not None else None


@pytest.fixture
def pair(hub: Hub) -> tuple[int, int]:
    """Ana (older, with an email) and a newer Lima, Ana with another email and a phone."""
    a = add(hub, "Ana Lima", "ana@lima.pt", None, tier="gold")
    b = add(hub, "Lima, Ana", "ana@lima.com", "+1 415 555 0100", city="Porto")
    return a, b


class TestMerge:
    def test_most_recent_non_empty_value_wins(self, hub: Hub, pair: tuple[int, int]) -> None:
        """Per field the newest non-empty value; extra attributes of both move over."""
        a, b = pair
        result = hub.merge_customers(a, [b])
        s = result.survivor
        assert (s.name, s.email, s.phone) == ("Lima, Ana", "ana@lima.com", "+14155550100")
        assert s.extra == {"tier": "gold", "city": "Porto"}
        assert {"name": b, "email": b, "phone": b, "extra.tier": a, "extra.city": b} == (
            result.merge.fields
        )

    def test_a_merge_may_not_grow_the_extras_past_the_limit(self, hub: Hub) -> None:
        """Two customers of 60 attributes each would make one of 120: refused, nothing moves;
        one of 60 and one of 40 merge."""
        a = add(hub, "Ana Lima", "ana@lima.pt", **{f"a{i}": "v" for i in range(60)})
        b = add(hub, "Ana Lima", "ana@lima.com", **{f"b{i}": "v" for i in range(60)})
        c = add(hub, "Ana Lima", "ana@lima.io", **{f"c{i}": "v" for i in range(40)})
        with pytest.raises(ValidationError) as exc:
            hub.merge_customers(a, [b])
        assert ("extra_too_large", "extra") == (exc.value.code, exc.value.field)
        assert "120 attributes" in exc.value.message
        assert (None, None) == (merged_into(hub, a), merged_into(hub, b))
        assert 100 == len(hub.merge_customers(a, [c]).survivor.extra)

    def test_the_users_choice_wins(self, hub: Hub, pair: tuple[int, int]) -> None:
        """--take email=A keeps A's email though B's is newer."""
        a, b = pair
        s = hub.merge_customers(a, [b], take={"name": a, "email": a}).survivor
        assert (s.name, s.email, s.phone) == ("Ana Lima", "ana@lima.pt", "+14155550100")

    def test_others_go_to_the_trash_pointing_at_the_survivor(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        """The merged customer is in the trash with merged_into set, and both are audited."""
        a, b = pair
        hub.merge_customers(a, [b])
        assert hub.get_customer(b).in_trash
        assert a == merged_into(hub, b)
        assert hub.get_customer(a).deleted_at is None
        for cid in (a, b):
            last = hub.customer_history(cid)[-1]
            assert (last.action, last.actor) == ("merge", "tester")
            assert f"{b} merged into {a}" in (last.note or "")

    def test_merge_takes_the_email_of_a_merged_customer(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        """The unique email moves to the survivor without a conflict."""
        a, b = pair
        assert hub.merge_customers(a, [b]).survivor.email == "ana@lima.com"
        assert hub.count_customers() == 1

    def test_three_way_merge(self, hub: Hub, pair: tuple[int, int]) -> None:
        """Several others fold in at once."""
        a, b = pair
        c = add(hub, "Ana Lima", None, "+1 415 555 0100")
        result = hub.merge_customers(a, [b, c])
        assert [b, c] == result.merge.merged_ids
        assert [a, a] == [merged_into(hub, b), merged_into(hub, c)]

    def test_merge_with_itself_is_refused(
        self, hub: Hub, db_url: str, pair: tuple[int, int]
    ) -> None:
        """KEEP among the others: refused, nothing changes."""
        a, _b = pair
        with pytest.raises(ValidationError, match="cannot be merged with itself"):
            hub.merge_customers(a, [a])
        result = cli(db_url, "duplicates", "merge", str(a), str(a))
        assert result.exit_code == 1
        assert f"error: customer {a} cannot be merged with itself" in result.output
        assert hub.list_merges() == []

    def test_merge_of_a_customer_in_the_trash_is_refused(
        self, hub: Hub, db_url: str, pair: tuple[int, int]
    ) -> None:
        """A trashed customer can be neither kept nor merged; nothing changes."""
        a, b = pair
        hub.delete_customer(b)
        with pytest.raises(StateError, match=f"customer {b} is in the trash"):
            hub.merge_customers(a, [b])
        result = cli(db_url, "duplicates", "merge", str(b), str(a))
        assert result.exit_code == 1
        assert "is in the trash" in result.output
        assert not hub.get_customer(a).in_trash
        assert hub.list_merges() == []

    def test_unknown_customer_and_bad_take(
        self, hub: Hub, db_url: str, pair: tuple[int, int]
    ) -> None:
        """An unknown ID, an unknown field or a source outside the merge is refused."""
        a, b = pair
        with pytest.raises(NotFoundError):
            hub.merge_customers(a, [999])
        with pytest.raises(ValidationError, match="not a field"):
            hub.merge_customers(a, [b], take={"colour": b})
        with pytest.raises(ValidationError, match="not part of this merge"):
            hub.merge_customers(a, [b], take={"email": 999})
        bad = cli(db_url, "duplicates", "merge", str(a), str(b), "--take", "email")
        assert bad.exit_code == 2
        assert not hub.get_customer(b).in_trash

    def test_cli_merge_and_json(self, hub: Hub, db_url: str, pair: tuple[int, int]) -> None:
        """duplicates merge --take ... --json prints the merge and the survivor."""
        a, b = pair
        result = cli(db_url, "duplicates", "merge", str(a), str(b), "--take", f"email={a}",
                     "--json")  # fmt: skip
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert body["survivor"]["email"] == "ana@lima.pt"
        assert [b] == body["merge"]["merged_ids"]
        listed = json.loads(cli(db_url, "duplicates", "merges", "--json").stdout)
        assert [body["merge"]["id"]] == [m["id"] for m in listed]


class TestUnmerge:
    def test_unmerge_restores_every_record_exactly(self, hub: Hub, pair: tuple[int, int]) -> None:
        """After merge and unmerge every record equals what it was, timestamps included."""
        a, b = pair
        before = [hub.get_customer(a), hub.get_customer(b)]
        merge = hub.merge_customers(a, [b]).merge
        result = hub.unmerge_customers(merge.id)
        assert before == [hub.get_customer(a), hub.get_customer(b)]
        assert result.merge.undone_at is not None
        assert merged_into(hub, b) is None
        assert hub.customer_history(b)[-1].action == "unmerge"

    def test_unmerge_after_an_edit_is_refused(
        self, hub: Hub, db_url: str, pair: tuple[int, int]
    ) -> None:
        """An edit of the survivor since the merge: refused, naming the record and why."""
        a, b = pair
        merge = hub.merge_customers(a, [b]).merge
        hub.update_customer(a, CustomerUpdate(name="Ana Maria Lima"))
        with pytest.raises(StateError, match=f"customer {a} was changed after the merge"):
            hub.unmerge_customers(merge.id)
        result = cli(db_url, "duplicates", "unmerge", str(merge.id))
        assert result.exit_code == 1
        assert "undoing it would lose that change" in result.output
        assert hub.get_customer(a).name == "Ana Maria Lima"
        assert hub.get_customer(b).in_trash

    def test_unmerge_after_the_merged_one_was_restored_is_refused(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        """Restoring a merged customer from the trash is a change too."""
        a, b = pair
        merge = hub.merge_customers(a, [b], take={"email": a}).merge
        hub.restore_customer(b)
        with pytest.raises(StateError, match=f"customer {b} was changed"):
            hub.unmerge_customers(merge.id)

    def test_unmerge_twice_and_unknown(self, hub: Hub, db_url: str, pair: tuple[int, int]) -> None:
        """A merge is undone once; an unknown number is not found."""
        a, b = pair
        merge = hub.merge_customers(a, [b]).merge
        assert cli(db_url, "duplicates", "unmerge", str(merge.id)).exit_code == 0
        with pytest.raises(StateError, match="already undone"):
            hub.unmerge_customers(merge.id)
        result = cli(db_url, "duplicates", "unmerge", "99")
        assert result.exit_code == 1
        assert "no merge with number 99" in result.output

    def test_a_later_merge_blocks_undoing_an_earlier_one(
        self, hub: Hub, pair: tuple[int, int]
    ) -> None:
        """Merges are undone newest first."""
        a, b = pair
        c = add(hub, "Ana Lima", None, "+1 415 555 0100")
        first = hub.merge_customers(a, [b]).merge
        second = hub.merge_customers(a, [c]).merge
        with pytest.raises(StateError, match="changed after the merge"):
            hub.unmerge_customers(first.id)
        hub.unmerge_customers(second.id)
        hub.unmerge_customers(first.id)
        assert hub.count_customers() == 3


@pytest.fixture
def notes_repointer(hub: Hub) -> Iterator[None]:
    """A stand-in for the tickets module: a real table of notes that point at customers."""
    with hub.store.write() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, cid BIGINT)"))

    def move(conn: Connection, from_id: int, to_id: int, actor: str) -> list[Any]:
        ids = [
            r[0] for r in conn.execute(text("SELECT id FROM notes WHERE cid = :c"), {"c": from_id})
        ]
        conn.execute(text("UPDATE notes SET cid = :t WHERE cid = :f"), {"t": to_id, "f": from_id})
        return ids

    def move_back(conn: Connection, moved: list[Any], from_id: int, actor: str) -> None:
        for note in moved:
            conn.execute(text("UPDATE notes SET cid = :f WHERE id = :n"), {"f": from_id, "n": note})

    merging.register_repointer("notes", move, move_back)
    yield
    merging._REPOINTERS.pop("notes", None)
    with hub.store.write() as conn:
        conn.execute(text("DROP TABLE notes"))


class TestRepointers:
    def test_registered_records_move_and_move_back(
        self, hub: Hub, pair: tuple[int, int], notes_repointer: None
    ) -> None:
        """What points at a merged customer moves to the survivor, and back on unmerge."""
        a, b = pair
        with hub.store.write() as conn:
            conn.execute(text("INSERT INTO notes (id, cid) VALUES (1, :a), (2, :b), (3, :b)"),
                         {"a": a, "b": b})  # fmt: skip
        merge = hub.merge_customers(a, [b]).merge
        assert {"notes": {str(b): [2, 3]}} == merge.moved

        def owners() -> list[int]:
            with hub.store.read() as conn:
                return [r[0] for r in conn.execute(text("SELECT cid FROM notes ORDER BY id"))]

        assert [a, a, a] == owners()
        hub.unmerge_customers(merge.id)
        assert [a, b, b] == owners()


class TestHistory:
    def test_survivor_history_includes_the_merged_customers(
        self, hub: Hub, db_url: str, pair: tuple[int, int]
    ) -> None:
        """History moves with the merge: the survivor's shows the other's entries too."""
        a, b = pair
        merge = hub.merge_customers(a, [b]).merge
        ids = {e.entity_id for e in hub.customer_history(a)}
        assert ids == {str(a), str(b)}
        shown = json.loads(cli(db_url, "customers", "history", str(a), "--json").stdout)
        assert {str(a), str(b)} == {e["entity_id"] for e in shown}
        hub.unmerge_customers(merge.id)
        assert {str(a)} == {e.entity_id for e in hub.customer_history(a)}


class TestMatchKeys:
    def test_purge_removes_the_match_keys(self, hub: Hub) -> None:
        """A purged customer's keys go with it (ON DELETE CASCADE), on both databases."""
        a = add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        hub.delete_customer(a)
        hub.purge_customer(a)
        with hub.store.read() as conn:
            left = conn.execute(text("SELECT count(*) FROM match_keys")).scalar_one()
        assert left == 0

    def test_demo_customers_are_indexed(self, hub: Hub) -> None:
        """init --demo indexes the examples, so the entry check sees them."""
        report = hub.init(demo=True)
        first = hub.get_customer(report.customers_added[0])
        found = hub.check_duplicates(first.name, None, first.phone)
        assert [first.id] == [c.id for c in found]
