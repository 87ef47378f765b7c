"""Importing into real SQLite and PostgreSQL: accounting, conflicts, atomicity, revert, export."""

from __future__ import annotations

import io
import json
import string
from pathlib import Path

import polars as pl
import pytest
from benchmarks.generate import generate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from customer_flow.core.errors import ConflictError, StateError, ValidationError
from customer_flow.customers.models import CustomerCreate, CustomerQuery, CustomerUpdate
from customer_flow.data import imports
from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store.schema import audit_log, counters, customer_ids, customers, match_keys


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8", newline="")
    return path


def opts(**kw: object) -> ImportOptions:
    return ImportOptions.model_validate(kw)


def rows_in(hub: Hub) -> list[tuple[object, ...]]:
    with hub.store.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    customers.c.id, customers.c.name, customers.c.email, customers.c.phone
                ).order_by(customers.c.id)
            )
        ]


def export_text(hub: Hub, query: CustomerQuery | None = None, raw: bool = False) -> str:
    buf = io.StringIO()
    hub.export_customers(buf, query, raw=raw)
    return buf.getvalue()


class TestImport:
    def test_every_row_is_accounted_for(self, hub: Hub, tmp_path: Path) -> None:
        """imported + updated + unchanged + rejected = rows read, on a messy generated file,
        and the imported count is what the database holds."""
        made = generate(3000, seed=11, out_dir=tmp_path)
        report = hub.import_file(made.data, opts(rejects_path=tmp_path / "rej.csv"))
        truth = pl.read_csv(made.truth, infer_schema=False)
        assert report.rows_read == 3000
        assert report.accounted
        assert int((truth["status"] == "ok").sum()) == report.imported
        assert report.imported == hub.count_customers()
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        assert report.rejected == rejects["row"].n_unique()
        assert rejects.columns[:5] == ["row", "column", "code", "message", "Customer ID"]

    def test_possible_duplicates_are_rejected_and_accounted_for(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """With reject_duplicates, the generator's near-duplicates that share a phone with
        their original are rejected as possible_duplicate, named in the rejects file, and
        counted: imported + possible duplicates = the rows the truth expects to load."""
        made = generate(3000, seed=11, out_dir=tmp_path)
        report = hub.import_file(
            made.data, opts(rejects_path=tmp_path / "rej.csv", reject_duplicates=True)
        )
        truth = pl.read_csv(made.truth, infer_schema=False)
        assert report.accounted
        assert report.possible_duplicates == report.errors["possible_duplicate"] > 0
        ok = int((truth["status"] == "ok").sum())
        assert report.imported + report.possible_duplicates == ok
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        dups = rejects.filter(pl.col("code") == "possible_duplicate")
        assert dups.height == report.possible_duplicates
        assert dups["message"].str.starts_with("possible duplicate of ").all()
        flagged = set(dups["row"].cast(pl.Int64).to_list())
        phone_kinds = truth.filter(
            pl.col("kind").is_in(["phone_format", "email_domain", "nickname", "swapped_names"])
            & (pl.col("status") == "ok")
        )
        # Each of these repeats the phone of an original row before or after it: whichever of
        # the two comes second is the one flagged.
        assert phone_kinds.height > 20
        for entity in phone_kinds["entity"].to_list():
            rows = truth.filter((pl.col("entity") == entity) & (pl.col("status") == "ok"))[
                "row"
            ].cast(pl.Int64)
            assert set(rows.sort().to_list()[1:]) <= flagged

    def test_ids_are_kept_and_missing_ones_assigned_after_them(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Given IDs are kept; rows without one get new IDs above every ID issued."""
        path = write(tmp_path, "i.csv", "ID,Name\n10,Ana\n,Bo\n20,Cy\n,Di\n")
        hub.import_file(path)
        assert [r[0] for r in rows_in(hub)] == [10, 20, 21, 22]
        assert hub.add_customer(CustomerCreate(name="Ed")).id == 23

    def test_new_ids_never_take_an_id_given_later_in_the_file(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Rows without an ID get IDs above every ID in the file, even one in a later batch."""
        body = "".join(f",P{i}\n" for i in range(30)) + "5,Five\n31,Late\n"
        report = hub.import_file(write(tmp_path, "l.csv", "ID,Name\n" + body), opts(batch_rows=10))
        assert (report.imported, report.rejected) == (32, 0)
        assert [5, 31, *range(32, 62)] == [r[0] for r in rows_in(hub)]

    def test_the_created_ids_come_back_exactly(self, hub: Hub, tmp_path: Path) -> None:
        """``imports.touched``: a range when the new IDs fill one, else the IDs themselves
        (never a range across IDs the import did not create), and the updated ones."""
        far = 2**40
        sparse = hub.import_file(write(tmp_path, "s.csv", f"ID,Name\n1000,A\n{far},B\n"))
        dense = hub.import_file(write(tmp_path, "d.csv", "Name,Email\nC,c@mail.pt\nD,\nE,\n"))
        again = hub.import_file(
            write(tmp_path, "u.csv", "ID,Name\n1000,A Changed\n"), opts(on_conflict="update")
        )
        with hub.store.read() as conn:
            assert imports.touched(conn, sparse.batch_id) == ([1000, far], [])  # type: ignore[arg-type]
            created, updated = imports.touched(conn, dense.batch_id)  # type: ignore[arg-type]
            assert created == range(far + 1, far + 4) and updated == []
            assert imports.touched(conn, again.batch_id) == (range(0), [1000])  # type: ignore[arg-type]

    def test_dry_run_writes_nothing_and_reports_the_same(self, hub: Hub, tmp_path: Path) -> None:
        """A dry run reports what the import would do, and leaves no customer and no batch."""
        path = write(tmp_path, "d.csv", "Name,Email\nAna,ana@x.io\nBo,bad@\n")
        preview = hub.preview_import(path)
        assert (preview.imported, preview.rejected) == (1, 1)
        assert preview.batch_id is None
        assert hub.count_customers() == 0
        assert hub.list_imports() == []
        real = hub.import_file(path)
        assert (preview.imported, preview.rejected) == (real.imported, real.rejected)

    def test_max_errors_exceeded_imports_nothing(self, hub: Hub, tmp_path: Path) -> None:
        """Past --max-errors the import stops, and the database is as it was."""
        path = write(tmp_path, "m.csv", "Name,Email\nAna,ana@x.io\nBo,bad@\nCy,bad2@\n")
        with pytest.raises(ValidationError) as exc:
            hub.import_file(path, opts(max_errors=1))
        assert exc.value.code == "too_many_errors"
        assert hub.count_customers() == 0
        assert hub.list_imports() == []
        assert hub.import_file(path, opts(max_errors=2)).imported == 1

    def test_an_error_mid_file_leaves_nothing_half_written(self, hub: Hub, tmp_path: Path) -> None:
        """A broken quote after many good rows: the read fails and no row is stored."""
        good = "".join(f"Person {i},p{i}@x.io\n" for i in range(300))
        path = write(tmp_path, "q.csv", "Name,Email\n" + good + '"Broken,b@x.io\nLast,l@x.io\n')
        with pytest.raises(ValidationError):
            hub.import_file(path, opts(batch_rows=50))
        assert hub.count_customers() == 0

    def test_emails_are_unique_ignoring_case(self, hub: Hub, tmp_path: Path) -> None:
        """Within the file and against live customers, emails differing only in case clash."""
        hub.add_customer(CustomerCreate(name="Old", email="old@x.io"))
        path = write(
            tmp_path,
            "e.csv",
            "ID,Name,Email\n5,Ana,ana@x.io\n6,Ana Two,ANA@X.IO\n7,Oldish,OLD@x.io\n",
        )
        report = hub.import_file(path, opts(on_conflict="update"))
        codes = {r.row: r.code for r in report.rejects}
        assert codes == {2: "email_duplicate_in_file", 3: "email_taken"}
        assert report.accounted

    def test_within_file_duplicates_across_batches(self, hub: Hub, tmp_path: Path) -> None:
        """A repeat of an ID or email far down the file (another batch) is still caught."""
        body = "".join(f"{i},P{i},p{i}@x.io\n" for i in range(1, 200))
        path = write(
            tmp_path, "b.csv", "ID,Name,Email\n" + body + "3,Again,other@x.io\n500,X,P7@X.IO\n"
        )
        report = hub.import_file(path, opts(batch_rows=40))
        codes = sorted(r.code for r in report.rejects)
        assert codes == ["email_duplicate_in_file", "id_duplicate_in_file"]
        assert hub.count_customers() == 199

    def test_audit_entry_per_batch(self, hub: Hub, tmp_path: Path) -> None:
        """Each import writes one audit entry for its batch, in the same transaction."""
        report = hub.import_file(write(tmp_path, "a.csv", "Name\nAna\nBo\n"))
        with hub.store.read() as conn:
            entries = conn.execute(
                select(audit_log.c.action, audit_log.c.entity_id).where(
                    audit_log.c.entity == "import_batch"
                )
            ).all()
        assert [("import", str(report.batch_id))] == [tuple(e) for e in entries]


class TestBulkLoad:
    def _schema(self, hub: Hub) -> list[tuple[str, ...]]:
        """The indexes of customers and match_keys (and, on PostgreSQL, their constraints)."""
        with hub.store.read() as conn:
            if hub.store.dialect == "sqlite":
                return sorted(
                    tuple(r)
                    for r in conn.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master WHERE tbl_name IN "
                        "('customers', 'match_keys') AND type = 'index' AND sql IS NOT NULL"
                    )
                )
            indexes = conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename IN ('customers', 'match_keys')"
            ).all()
            constraints = conn.exec_driver_sql(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid IN ('customers'::regclass, 'match_keys'::regclass)"
            ).all()
            return sorted(tuple(r) for r in [*indexes, *constraints])

    def test_indexes_are_rebuilt_after_a_bulk_load(
        self, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A big first import into an empty table loads, then builds the same indexes (and on
        PostgreSQL the same constraints); a failed one leaves them as they were."""
        from customer_flow.data import loading

        monkeypatch.setattr(loading, "BULK_ROWS", 2)
        before = self._schema(hub)
        names = {r[0] for r in before}
        assert {"uq_customers_live_email", "ix_match_keys_customer_id"} <= names
        if hub.store.dialect == "postgresql":
            assert {"ix_customers_name_trgm", "fk_match_keys_customer_id_customers"} <= names
        bad = write(tmp_path, "b.csv", "Name,Email\nAna,a@x.io\nBo,b@x.io\nCy,bad@\nDi,bad2@\n")
        with pytest.raises(ValidationError):
            hub.import_file(bad, opts(max_errors=0, batch_rows=2))
        assert before == self._schema(hub)
        report = hub.import_file(write(tmp_path, "g.csv", "Name,Email\nAna,a@x.io\nBo,b@x.io\n"))
        assert report.imported == 2
        assert before == self._schema(hub)
        with pytest.raises(ConflictError):
            hub.add_customer(CustomerCreate(name="Again", email="A@X.IO"))
        # The rebuilt indexes serve searches, and the keys' foreign key holds again.
        assert [c.name for c in hub.list_customers(CustomerQuery(search="ana")).items] == ["Ana"]
        bo = hub.list_customers(CustomerQuery(search="Bo")).items[0].id
        hub.delete_customer(bo)
        hub.purge_customer(bo)
        with hub.store.read() as conn:
            left = conn.execute(select(func.count()).select_from(match_keys)).scalar_one()
            ana = conn.execute(
                select(func.count()).select_from(match_keys).where(match_keys.c.customer_id != bo)
            ).scalar_one()
        assert left == ana > 0  # Bo's keys went with Bo


class TestConflicts:
    @pytest.fixture
    def existing(self, hub: Hub) -> Hub:
        hub.add_customer(
            CustomerCreate(id=1, name="Ana Lima", email="ana@x.io", phone="4155550123")
        )
        hub.add_customer(CustomerCreate(id=2, name="Bo Berg", email="bo@x.io"))
        return hub

    CSV = "ID,Name,Email,Phone\n1,Ana Lima-Souza,,\n2,Bo Berg,bo@x.io,\n3,Cy,cy@x.io,\n"

    def test_skip_leaves_matches_alone(self, existing: Hub, tmp_path: Path) -> None:
        """--on-conflict skip: matching rows change nothing and count as unchanged."""
        report = existing.import_file(write(tmp_path, "c.csv", self.CSV))
        assert (report.imported, report.updated, report.unchanged, report.rejected) == (1, 0, 2, 0)
        assert report.skipped == 1
        assert existing.get_customer(1).name == "Ana Lima"

    def test_update_changes_given_fields_only(self, existing: Hub, tmp_path: Path) -> None:
        """--on-conflict update: the given fields change; empty cells leave values as they are."""
        report = existing.import_file(
            write(tmp_path, "c.csv", self.CSV), opts(on_conflict="update")
        )
        assert (report.imported, report.updated, report.unchanged) == (1, 1, 1)
        ana = existing.get_customer(1)
        assert (ana.name, ana.email, ana.phone) == ("Ana Lima-Souza", "ana@x.io", "+14155550123")

    def test_fail_stops_the_import(self, existing: Hub, tmp_path: Path) -> None:
        """--on-conflict fail: a match fails the whole import; nothing is written."""
        with pytest.raises(ConflictError) as exc:
            existing.import_file(write(tmp_path, "c.csv", self.CSV), opts(on_conflict="fail"))
        assert "row 1 matches customer 1" in exc.value.message
        assert existing.count_customers() == 2

    def test_a_row_without_id_matches_by_email(self, existing: Hub, tmp_path: Path) -> None:
        """Without an ID, the email (any case) finds the customer to update."""
        path = write(tmp_path, "e.csv", "Name,Email\nBo Berg Jr,BO@x.io\n")
        report = existing.import_file(path, opts(on_conflict="update"))
        assert report.updated == 1
        assert existing.get_customer(2).name == "Bo Berg Jr"

    def test_ids_of_trashed_or_purged_customers_are_never_reused(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        """A row whose ID is in the trash or was purged is rejected with id_taken."""
        existing.delete_customer(1)
        existing.delete_customer(2)
        existing.purge_customer(2)
        path = write(tmp_path, "t.csv", "ID,Name\n1,New One\n2,New Two\n")
        report = existing.import_file(path, opts(on_conflict="update"))
        assert [r.code for r in report.rejects] == ["id_taken", "id_taken"]
        assert "was purged" in report.rejects[1].message


class TestExtraLimits:
    """Issue 15: the import keeps extra attributes within the customers' limits."""

    def test_an_update_that_would_overflow_the_extras_is_a_rejected_row(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Extras merge on --on-conflict update: a row that would leave its customer with more
        than 100 attributes is rejected with extra_too_large, counted and in the rejects file;
        the other rows load."""
        hub.add_customer(
            CustomerCreate(id=1, name="Ana Lima", extra={f"old{i}": "v" for i in range(90)})
        )
        hub.add_customer(CustomerCreate(id=2, name="Bo Berg", extra={"old": "v"}))
        head = "ID,Name," + ",".join(f"new{i}" for i in range(20))
        cells = ",".join("x" for _ in range(20))
        path = write(tmp_path, "u.csv", f"{head}\n1,Ana Lima,{cells}\n2,Bo Berg,{cells}\n")
        rejects = tmp_path / "u.rejects.csv"
        report = hub.import_file(path, opts(on_conflict="update", rejects_path=rejects))
        assert (1, 1, {"extra_too_large": 1}) == (report.updated, report.rejected, report.errors)
        [problem] = report.rejects
        assert (1, "extra_too_large") == (problem.row, problem.code)
        assert "would give it 110 extra attributes; at most 100" in problem.message
        assert ",extra_too_large," in rejects.read_text().splitlines()[1]
        assert (90, 21) == (len(hub.get_customer(1).extra), len(hub.get_customer(2).extra))

    def test_a_column_name_too_long_for_an_attribute_is_refused(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        path = write(tmp_path, "k.csv", f"Name,{'n' * 101}\nAna Lima,x\n")
        with pytest.raises(ValidationError) as exc:
            hub.import_file(path)
        assert "extra_too_large" == exc.value.code
        assert "at most 100" in exc.value.message and "--ignore-unknown" in exc.value.message
        assert 1 == hub.import_file(path, opts(ignore_unknown=True)).imported

    def test_more_extra_columns_than_attributes_are_refused(self, hub: Hub, tmp_path: Path) -> None:
        head = "Name," + ",".join(f"c{i}" for i in range(101))
        path = write(tmp_path, "w.csv", head + "\nAna Lima" + ",x" * 101 + "\n")
        with pytest.raises(ValidationError) as exc:
            hub.import_file(path)
        assert "too_many_columns" == exc.value.code
        assert "at most 100" in exc.value.message


class TestControlCharacters:
    def test_extras_lose_their_control_characters(self, hub: Hub, tmp_path: Path) -> None:
        """Issue 15: a NUL in an extra attribute (JSON Lines can carry one) was stored, and on
        PostgreSQL then broke the duplicate finder. Control characters go from extras' names
        and values as from the fields, counted; tab and newline stay."""
        rows = [
            {"Name": "Ana Lima", "Note": "a\x00b", "Ta\x01g": "x\x1by", "Multi": "a\tb\nc"},
            {"Name": "Bo Berg", "Path": "C:\\u0000dir"},
        ]
        path = write(tmp_path, "c.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        report = hub.import_file(path)
        assert (2, 0) == (report.imported, report.rejected)
        assert 1 == report.cleaning["control_characters"]
        assert {"Note": "ab", "Tag": "xy", "Multi": "a\tb\nc"} == hub.get_customer(1).extra
        assert {"Path": "C:\\u0000dir"} == hub.get_customer(2).extra


class TestRevert:
    def test_revert_undoes_creates_and_updates_exactly(self, hub: Hub, tmp_path: Path) -> None:
        """After revert, the customers are exactly as before the import."""
        hub.add_customer(CustomerCreate(id=1, name="Ana Lima", email="ana@x.io"))
        hub.update_customer(1, CustomerUpdate(extra={"tier": "gold"}))
        before = rows_in(hub)
        before_ana = hub.get_customer(1)
        path = write(
            tmp_path,
            "r.csv",
            "ID,Name,Email,Phone,City\n1,ANA SOUZA,Ana@X.io,4155550123,Rio\n7,Bo,,,\n",
        )
        report = hub.import_file(path, opts(on_conflict="update"))
        assert (report.imported, report.updated) == (1, 1)
        assert hub.get_customer(1).extra == {"tier": "gold", "City": "Rio"}
        batch = hub.revert_import(report.batch_id or 0)
        assert batch.status == "reverted"
        assert before == rows_in(hub)
        assert before_ana == hub.get_customer(1)
        with pytest.raises(StateError):
            hub.revert_import(report.batch_id or 0)

    def test_revert_is_refused_after_a_later_change(self, hub: Hub, tmp_path: Path) -> None:
        """A customer edited after the import would lose that edit: revert is refused."""
        report = hub.import_file(write(tmp_path, "r.csv", "ID,Name\n1,Ana\n2,Bo\n"))
        hub.update_customer(2, CustomerUpdate(name="Bo Changed"))
        with pytest.raises(StateError) as exc:
            hub.revert_import(report.batch_id or 0)
        assert exc.value.code == "changed_since_import"
        assert hub.count_customers() == 2

    def test_reverted_ids_are_not_reused(self, hub: Hub, tmp_path: Path) -> None:
        """IDs of customers removed by a revert stay issued: a new customer gets a fresh one."""
        report = hub.import_file(write(tmp_path, "r.csv", "Name\nAna\nBo\n"))
        hub.revert_import(report.batch_id or 0)
        assert hub.add_customer(CustomerCreate(name="Cy")).id == 3
        listed = hub.list_imports()
        assert [(b.status, b.imported) for b in listed] == [("reverted", 2)]


class TestExport:
    def test_clean_id_csv_round_trips_byte_identical(
        self, hub: Hub, examples: Path, tmp_path: Path
    ) -> None:
        """The bundled id.csv, imported then exported, comes back byte for byte."""
        original = (examples / "id.csv").read_bytes()
        hub.import_file(examples / "id.csv")
        out = tmp_path / "out.csv"
        hub.export_customers(out)
        assert original == out.read_bytes()

    def test_an_export_round_trips_byte_identical(self, hub: Hub, tmp_path: Path) -> None:
        """A clean file with E.164 phones, extras and formula-like names survives
        export -> import into an empty database -> export unchanged."""
        made = generate(500, seed=2, out_dir=tmp_path)
        hub.import_file(made.data)
        hub.add_customer(CustomerCreate(name="=SUM(A1)", email="f@x.io", extra={"note": "@x"}))
        first = tmp_path / "first.csv"
        hub.export_customers(first)
        with hub.store.write() as conn:  # an empty database again: IDs free
            conn.execute(customers.delete())
            conn.execute(customer_ids.delete())
            conn.execute(counters.update().values(value=0))
        hub2_report = hub.import_file(first, opts(on_conflict="fail"))
        assert hub2_report.rejected == 0
        second = tmp_path / "second.csv"
        hub.export_customers(second)
        assert first.read_bytes() == second.read_bytes()

    def test_formats(self, hub: Hub, tmp_path: Path) -> None:
        """JSON, JSON Lines, XLSX and Parquet hold the same customers."""
        hub.import_file(
            write(tmp_path, "f.csv", "ID,Name,Email,Tier\n1,Ana,ana@x.io,gold\n2,Bo,,\n")
        )
        hub.export_customers(tmp_path / "c.json", format="json")
        hub.export_customers(tmp_path / "c.jsonl", format="jsonl")
        hub.export_customers(tmp_path / "c.xlsx", format="xlsx")
        hub.export_customers(tmp_path / "c.parquet", format="parquet")
        as_json = json.loads((tmp_path / "c.json").read_text())
        assert [c["id"] for c in as_json] == [1, 2]
        assert as_json[0]["extra"] == {"Tier": "gold"}
        lines = (tmp_path / "c.jsonl").read_text().splitlines()
        assert as_json == [json.loads(line) for line in lines]
        import openpyxl

        ws = openpyxl.load_workbook(tmp_path / "c.xlsx").active
        assert [tuple(r) for r in ws.iter_rows(max_row=2, values_only=True)] == [
            ("ID", "Name", "Email", "Phone", "Tier"),
            (1, "Ana", "ana@x.io", None, "gold"),
        ]
        pq = pl.read_parquet(tmp_path / "c.parquet")
        assert pq["id"].to_list() == [1, 2]
        assert pq["Tier"].to_list() == ["gold", None]

    def test_filters_match_customers_list(self, hub: Hub, tmp_path: Path) -> None:
        """Export selects the same customers as customers list, for each filter."""
        hub.import_file(
            write(
                tmp_path,
                "f.csv",
                "Name,Email,Phone\nAna Lima,ana@example.com,\nBo,bo@x.io,415 555 0100\nCy Lima,,\n",
            )
        )
        hub.delete_customer(2)
        for q in (
            CustomerQuery(search="lima"),
            CustomerQuery(trash=True),
            CustomerQuery(with_warnings=True),
            CustomerQuery(sort="-name"),
        ):
            listed = [c.id for c in hub.list_customers(q).items]
            exported = [int(line.split(",")[0]) for line in export_text(hub, q).splitlines()[1:]]
            assert listed == exported

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        names=st.lists(
            st.text(alphabet=string.printable + "=+-@\t\réü", min_size=1, max_size=12),
            min_size=1,
            max_size=6,
        )
    )
    def test_no_exported_cell_starts_with_a_formula_trigger(
        self, hub: Hub, names: list[str]
    ) -> None:
        """Property: whatever the values, no exported CSV cell starts with = or @, nor with
        +, -, tab or CR before anything but a plain number (an E.164 phone is a number), unless
        --raw."""
        import csv
        import re

        with hub.store.write() as conn:
            conn.execute(customers.delete())
        for i, name in enumerate(names):
            if name.strip():
                hub.add_customer(
                    CustomerCreate(name=name, phone=f"+1415555{i:04d}", extra={"k": name}),
                    allow_duplicate=True,  # one name and phones one digit apart: alike
                )
        plain = re.compile(r"[+\-\t\r][0-9]+(?:\.[0-9]+)?(?:;ext=[0-9]+)?")
        cells = [c for row in csv.reader(io.StringIO(export_text(hub))) for c in row]
        formulas = [c for c in cells if c[:1] in ("=", "@", "+", "-", "\t", "\r")]
        assert not [c for c in formulas if not plain.fullmatch(c)]
        raw_cells = [c for row in csv.reader(io.StringIO(export_text(hub, raw=True))) for c in row]
        assert any(c.startswith("+1415") for c in raw_cells) or not any(n.strip() for n in names)


def test_batches_table_counts(hub: Hub, tmp_path: Path) -> None:
    """imports list shows each batch's counts; the customers table agrees."""
    hub.import_file(write(tmp_path, "a.csv", "Name\nAna\nBo\n"))
    with hub.store.read() as conn:
        n = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    assert [b.imported for b in hub.list_imports()] == [2]
    assert n == 2


class TestMigration:
    def test_migration_0003_matches_the_schema(self, db_url: str) -> None:
        """The migrated database has exactly the tables and columns schema.py declares."""
        from sqlalchemy import create_engine

        from schema_support import schema_diff

        engine = create_engine(db_url)
        try:
            with engine.connect() as conn:
                assert schema_diff(conn) == []
        finally:
            engine.dispose()


def test_rejects_file_cells_are_quoted_and_neutralised_as_csv_line_does(
    hub: Hub, tmp_path: Path
) -> None:
    """The rejects file (written by Polars a batch at a time) quotes like ``csv_line`` and
    neutralises formula-like cells; an empty value is an empty cell, not ""."""
    from customer_flow.data.report import csv_line, neutralise

    path = tmp_path / "r.csv"
    path.write_text(
        'Name,Email,Notes\n"=cmd|x, y",bad@,"say ""hi""\nnow"\n,missing@x.io,@sum\n',
        encoding="utf-8",
    )
    report = hub.import_file(path, opts(rejects_path=tmp_path / "rej.csv"))
    assert report.rejected == 2
    expected = csv_line(["row", "column", "code", "message", "Name", "Email", "Notes"])
    for r in report.rejects:
        values = [neutralise(v or "") for v in r.values.values()]
        expected += csv_line([str(r.row), r.column, r.code, neutralise(r.message), *values])
    with (tmp_path / "rej.csv").open(encoding="utf-8", newline="") as fh:
        assert fh.read() == expected
    assert ",missing@x.io,'@sum\n" in expected
    assert '"\'=cmd|x, y"' in expected
