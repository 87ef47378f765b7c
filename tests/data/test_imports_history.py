"""Issue 16, items 4 and 5: every change an import or a revert makes is in the customers'
history, and a revert you can work with (real SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from customer_flow.core.errors import NotFoundError, StateError
from customer_flow.customers.models import CustomerCreate, CustomerUpdate
from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store.schema import audit_log
from customer_flow.tickets.models import TicketCreate


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8", newline="")
    return path


def opts(**kw: object) -> ImportOptions:
    return ImportOptions.model_validate(kw)


FILE = "ID,Name,Email,Tier\n201,Ana Lima,ana@acme.io,gold\n202,Bo Berg,bo@acme.io,\n203,Cy Dias,,\n"


class TestHistory:
    def test_an_import_writes_each_customers_history(self, hub: Hub, tmp_path: Path) -> None:
        """A customer created or updated by an import has an entry (create / update, with the
        values, noted with the import's number), written in one insert per batch."""
        hub.add_customer(CustomerCreate(id=1, name="Old Name", email="old@acme.io"))
        report = hub.import_file(
            write(tmp_path, "a.csv", "ID,Name,Email,Tier\n1,New Name,,\n" + FILE.split("\n", 1)[1]),
            opts(on_conflict="update"),
        )
        assert (report.imported, report.updated) == (3, 1)
        note = f"import {report.batch_id}"
        ana = hub.customer_history(201)
        assert [(e.action, e.actor, e.note) for e in ana] == [("create", "tester", note)]
        assert ana[0].before is None
        assert ana[0].after == {
            "id": 201,
            "name": "Ana Lima",
            "email": "ana@acme.io",
            "phone": None,
            "extra": {"Tier": "gold"},
            "warnings": [],
            "deleted_at": None,
        }
        old = hub.customer_history(1)
        assert [e.action for e in old] == ["create", "update"]
        assert (old[1].before["name"], old[1].after["name"], old[1].note) == (
            "Old Name",
            "New Name",
            note,
        )
        assert old[1].after == hub.customer_history(1)[-1].after
        with hub.store.read() as conn:
            entries = conn.execute(
                select(func.count()).select_from(audit_log).where(audit_log.c.note == note)
            ).scalar_one()
        assert entries == 4  # one a customer: 3 created, 1 updated

    def test_a_dry_run_writes_no_history(self, hub: Hub, tmp_path: Path) -> None:
        hub.preview_import(write(tmp_path, "a.csv", FILE))
        with pytest.raises(NotFoundError):
            hub.customer_history(201)

    def test_a_revert_is_in_the_history_with_the_values_removed(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """After a revert the removed customer's history remains, its last entry holding the
        values it had; showing it says it was reverted, not purged. An updated customer's
        history shows the values put back."""
        hub.add_customer(CustomerCreate(id=1, name="Old Name"))
        report = hub.import_file(
            write(tmp_path, "a.csv", "ID,Name,Email,Tier\n1,New Name,,\n" + FILE.split("\n", 1)[1]),
            opts(on_conflict="update"),
        )
        result = hub.revert_import(report.batch_id or 0)
        assert (result.status, result.removed, result.restored, result.kept) == (
            "reverted",
            3,
            1,
            [],
        )
        ana = hub.customer_history(201)
        assert [e.action for e in ana] == ["create", "revert"]
        assert ana[-1].before is not None and ana[-1].after is None
        assert (ana[-1].before["name"], ana[-1].before["extra"]) == ("Ana Lima", {"Tier": "gold"})
        assert ana[-1].note == f"import {report.batch_id} reverted"
        with pytest.raises(NotFoundError) as exc:
            hub.get_customer(201)
        assert "purged" not in exc.value.message
        assert f"import {report.batch_id} reverted" in exc.value.message
        old = hub.customer_history(1)
        assert [e.action for e in old] == ["create", "update", "revert"]
        assert (old[-1].before["name"], old[-1].after["name"]) == ("New Name", "Old Name")
        assert hub.get_customer(1).name == "Old Name"


class TestRevert:
    @pytest.fixture
    def imported(self, hub: Hub, tmp_path: Path) -> tuple[Hub, int]:
        hub.init()  # the bundled ticket types
        report = hub.import_file(write(tmp_path, "a.csv", FILE))
        return hub, report.batch_id or 0

    def test_a_blocked_revert_names_the_customers_and_why(self, imported: tuple[Hub, int]) -> None:
        """A ticket on an imported customer, or an edit since, blocks the revert: the error
        names each customer and the reason (it was "write conflict; try again")."""
        hub, batch = imported
        hub.open_ticket(TicketCreate(customer_id=201, type="question", subject="Hello"))
        hub.update_customer(203, CustomerUpdate(email="cy@acme.io"))
        with pytest.raises(StateError) as exc:
            hub.revert_import(batch)
        assert exc.value.code == "changed_since_import"
        message = exc.value.message
        assert "customer 201 (Ana Lima) has 1 ticket" in message
        assert "customer 203 (Cy Dias) was changed after the import" in message
        assert "--skip-changed" in message
        assert "try again" not in message
        assert hub.count_customers() == 3

    def test_skip_changed_reverts_the_rest_and_says_what_stayed(
        self, imported: tuple[Hub, int], tmp_path: Path
    ) -> None:
        hub, batch = imported
        hub.open_ticket(TicketCreate(customer_id=201, type="question", subject="Hello"))
        result = hub.revert_import(batch, skip_changed=True)
        assert (result.status, result.removed) == ("partly reverted", 2)
        assert [(k.id, k.name, k.reason) for k in result.kept] == [
            (201, "Ana Lima", "has 1 ticket")
        ]
        assert [c.id for c in hub.list_customers().items] == [201]
        assert [b.status for b in hub.list_imports()] == ["partly reverted"]
        with pytest.raises(StateError) as exc:
            hub.revert_import(batch)
        assert exc.value.code == "already_reverted"

    def test_ids_only_a_reverted_import_used_are_free_again(
        self, imported: tuple[Hub, int], tmp_path: Path
    ) -> None:
        """Re-importing the same file after a revert imports every row again with its IDs
        (it rejected every row: "customer 201 was purged, and IDs are never reused"); an ID a
        purged customer had stays taken, and new customers still get fresh IDs."""
        hub, batch = imported
        hub.revert_import(batch)
        again = hub.import_file(write(tmp_path, "b.csv", FILE))
        assert (again.imported, again.rejected) == (3, 0)
        assert [c.id for c in hub.list_customers().items] == [201, 202, 203]
        assert [e.action for e in hub.customer_history(201)] == ["create", "revert", "create"]
        assert hub.add_customer(CustomerCreate(name="Di New")).id == 204
        hub.delete_customer(204)
        hub.purge_customer(204)
        taken = hub.import_file(write(tmp_path, "c.csv", "ID,Name\n204,Someone Else\n"))
        assert [r.code for r in taken.rejects] == ["id_taken"]
        assert "purged" in taken.rejects[0].message
