"""Issue 16: every export format re-imports to the same stored data (a property test on real
SQLite and PostgreSQL), and what each format needs for it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from conftest import _reset_postgres
from customer_flow.core.config import Settings
from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store.schema import customers

FORMATS = ("csv", "jsonl", "xlsx", "parquet")
#: More examples search harder: CUSTOMER_FLOW_ROUND_TRIP_EXAMPLES=500 (15 by default).
EXAMPLES = int(os.environ.get("CUSTOMER_FLOW_ROUND_TRIP_EXAMPLES", "15"))


def opts(**kw: object) -> ImportOptions:
    return ImportOptions.model_validate(kw)


@pytest.fixture
def fresh(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path
) -> Iterator[Callable[[], Hub]]:
    """Opens a Hub on an empty database each call (SQLite: a new file; PostgreSQL: the test's
    database, emptied)."""
    opened: list[Hub] = []
    count = itertools.count()

    def new() -> Hub:
        for h in opened:
            h.close()
        if db_url.startswith("sqlite"):
            path = tmp_path / f"fresh{next(count)}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            url = f"sqlite:///{path}"
        else:
            _reset_postgres(db_url)
            url = db_url
        hub = Hub(Settings(database_url=url, actor="tester", default_region="US"))
        opened.append(hub)
        return hub

    yield new
    for h in opened:
        h.close()


def stored(hub: Hub) -> list[tuple[Any, ...]]:
    """The stored values of every customer, in ID order (the warnings as a sorted list)."""
    with hub.store.read() as conn:
        rows = conn.execute(
            select(
                customers.c.id,
                customers.c.name,
                customers.c.email,
                customers.c.phone,
                customers.c.extra,
                customers.c.warnings,
                customers.c.deleted_at.is_(None),
            ).order_by(customers.c.id)
        ).all()
    return [
        (*r[:4], r[4] or {}, sorted(json.dumps(w, sort_keys=True) for w in r[5] or []), r[6])
        for r in rows
    ]


# -- random customers ----------------------------------------------------------------------

# No CR and no "_xHHHH_" in the values: the XLSX reader (openpyxl) does not decode
# xlsxwriter's escapes of them (a CR comes back as "_x000D_"); the CSV, JSON Lines and Parquet
# round trips of a CR are checked in TestEachFormat.
_TEXT = string.ascii_letters + string.digits + " ,.'\"-=+@;:()/\\\t\néüßÉ李"
_NAME = string.ascii_letters + " ,.'-=+@\"()éüÉ李"
#: Names that an import reads as something else, or that clash with an export's own columns.
_KEYS = [
    "Tier", "tier", "Notes", "Mobile", "Phone Number", "E-mail", "Customer ID", "Full Name",
    "First Name", "created_at", "updated_at", "deleted_at", "warnings", "extra", "id", "name",
    "extra.x", "Extra.Tier", "=cmd", "@at", "+plus", "-minus", "'=q", "__row", "__name",
    "column_1", "Zip Code",
]  # fmt: skip
_VALUES = [
    "=1+2", "'=already quoted", "''=x", "+13125606670", "-5", "-x", "@sum", "+1 (415)", "\tx",
    "007", "TRUE", "1.0", " padded ", "line\nbreak", "say \"hi\"", "a,b", "  ", "'",
]  # fmt: skip
_PHONES = [
    "+1 415 555 {i:04d}", "(312) 560-{n:04d}", "555-{n:04d}", "06 12 34 {i:02d} 78",
    "+44 20 7946 {i:04d}", "415-555-{i:04d} ext. 12", "+33 6 12 34 {i:02d} {i:02d}", "12{i}",
]  # fmt: skip


@st.composite
def customer_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file in an export's shape (ID, name, email, phone, extra), each
    with its own email and phone, the IDs rising (an export lists them in that order)."""
    n = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        name = draw(
            st.text(_NAME, min_size=1, max_size=16)
            | st.sampled_from(['=HYPERLINK("x","y")', "SMITH, JOHN", "Lima, Ana", "-", "'=q", "+1"])
        )
        row: dict[str, Any] = {"id": 10 * i + draw(st.integers(1, 9)), "name": name}
        if draw(st.booleans()):
            local = draw(st.text(string.ascii_lowercase, min_size=1, max_size=5))
            domain = draw(st.sampled_from(["acme.io", "Example.COM", "mail.test.io"]))
            row["email"] = f"{local}{i}@{domain}"
        if draw(st.booleans()):
            pattern = draw(st.sampled_from(_PHONES))
            row["phone"] = pattern.format(i=i, n=6600 + i)
        keys = st.sampled_from(_KEYS) | st.text(_TEXT, min_size=1, max_size=8)
        values = st.sampled_from(_VALUES) | st.text(_TEXT, min_size=1, max_size=12)
        row["extra"] = draw(st.dictionaries(keys, values, max_size=4))
        rows.append(row)
    return rows


class TestRoundTrip:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows=customer_rows())
    def test_every_format_re_imports_to_the_same_stored_data(
        self,
        fresh: Callable[[], Hub],
        tmp_path_factory: pytest.TempPathFactory,
        rows: list[dict[str, Any]],
    ) -> None:
        """Property: customers as an import stores them, exported in any format and imported
        into an empty database, are stored exactly as they were; and an unmodified export
        imported again with --on-conflict update changes nothing (0 updated)."""
        work = tmp_path_factory.mktemp("rt")
        source = work / "source.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        hub = fresh()
        hub.import_file(source, opts(allow_duplicate=True))
        before = stored(hub)
        for fmt in FORMATS:
            hub.export_customers(work / f"out.{fmt}", format=fmt)
        for fmt in FORMATS:
            again = hub.import_file(work / f"out.{fmt}", opts(on_conflict="update"))
            assert (fmt, again.updated, again.unchanged, again.rejected) == (fmt, 0, len(before), 0)
        assert stored(hub) == before
        for fmt in FORMATS:
            other = fresh()
            report = other.import_file(work / f"out.{fmt}", opts(allow_duplicate=True))
            assert (fmt, report.rejected) == (fmt, 0)
            assert (fmt, stored(other)) == (fmt, before)


class TestCustomersMadeElsewhere:
    def test_extras_given_as_numbers_booleans_or_empty_round_trip_too(
        self, fresh: Callable[[], Hub], tmp_path: Path
    ) -> None:
        """A customer made through the API or the CLI keeps its extra attributes as text, as
        an import does (5 is "5", true is "true", an object its JSON; "" and null are no
        value): every export of it reads back the same, and changes nothing on update."""
        from customer_flow.customers.models import CustomerCreate, CustomerUpdate

        hub = fresh()
        given = {"n": 5, "b": True, "x": 1.5, "e": "", "z": None, "o": {"a": [1]}, "t": " t "}
        ana = hub.add_customer(CustomerCreate(name="Ana Lima", extra=given))
        text = {"n": "5", "b": "true", "x": "1.5", "o": '{"a":[1]}', "t": " t "}
        assert text == ana.extra
        changed = hub.update_customer(ana.id, CustomerUpdate(extra={"n": 6, "b": "", "o": None}))
        assert {"n": "6", "x": "1.5", "t": " t "} == changed.extra
        hub.add_customer(CustomerCreate(name="Bo Berg", extra={"k": 0, "f": False}))
        before = stored(hub)
        for fmt in FORMATS:
            hub.export_customers(tmp_path / f"out.{fmt}", format=fmt)
            again = hub.import_file(tmp_path / f"out.{fmt}", opts(on_conflict="update"))
            assert (fmt, again.updated, again.unchanged) == (fmt, 0, 2)
            other = fresh()
            other.import_file(tmp_path / f"out.{fmt}", opts(allow_duplicate=True))
            assert (fmt, stored(other)) == (fmt, before)


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8", newline="")
    return path


class TestEachFormat:
    def test_e164_phones_are_not_neutralised_but_formulas_are(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """A number is not a formula: '+13125606670' is exported as it is; '=' and '@' always
        get the apostrophe, and '+', '-' before anything but a plain number."""
        hub.import_file(
            write(
                tmp_path,
                "p.csv",
                "Name,Phone,Note,Code\n"
                "Ana Lima,+1 312 560 6670,=1+2,-5\n"
                "-Bo,415 555 0123 x12,@sum,+x\n",
            )
        )
        out = tmp_path / "out.csv"
        report = hub.export_customers(out)
        assert out.read_text().splitlines() == [
            "ID,Name,Email,Phone,Code,Note",
            "1,Ana Lima,,+13125606670,-5,'=1+2",
            "2,'-Bo,,+14155550123;ext=12,'+x,'@sum",
        ]
        assert report.neutralised == 4

    def test_a_quoted_cell_loses_its_apostrophe_in_extras_too(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """As the README says, importing a CSV takes off the apostrophe before a formula, in
        an extra attribute as in a field; one apostrophe only ("''=x" becomes "'=x")."""
        hub.import_file(write(tmp_path, "q.csv", "Name,Note,Other\n'=already quoted,'=also,''=x\n"))
        ana = hub.get_customer(1)
        assert (ana.name, ana.extra) == ("=already quoted", {"Note": "=also", "Other": "'=x"})

    def test_an_update_from_an_unmodified_export_changes_nothing(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Formula-like extra attributes and a possible duplicate's warning: re-importing the
        CSV export with --on-conflict update reports 0 updated."""
        rows = "".join(
            f"Person {chr(65 + i)} Lima,p{i}@acme.io,+3519120{i:05d},=A{i}+1,@x{i}\n"
            for i in range(12)
        )
        hub.import_file(
            write(
                tmp_path,
                "a.csv",
                "Name,Email,Phone,Formula,At\n" + rows + "Person A Lima,,+351912000000,,\n",
            ),
        )
        assert any(c.warnings for c in hub.list_customers().items)
        hub.export_customers(tmp_path / "out.csv")
        report = hub.import_file(tmp_path / "out.csv", opts(on_conflict="update"))
        assert (report.updated, report.unchanged) == (0, 13)

    def test_json_lines_export_re_imports_without_nesting(self, hub: Hub, tmp_path: Path) -> None:
        """The JSON Lines export's `extra` object gives the extra attributes again; `warnings`,
        `created_at` and `updated_at` are not taken for extra attributes, cycle after cycle."""
        hub.import_file(
            write(tmp_path, "a.csv", "Name,Email,Tier\nAna Lima,ana@example.com,gold\n")
        )
        for cycle in range(3):
            out = tmp_path / f"c{cycle}.jsonl"
            hub.export_customers(out, format="jsonl")
            report = hub.import_file(out, opts(on_conflict="update"))
            assert (report.updated, report.unchanged) == (0, 1)
        ana = hub.get_customer(1)
        assert ana.extra == {"Tier": "gold"}
        assert [w.code for w in ana.warnings] == ["email_example_domain"]
        assert "columns ignored: warnings, created_at, updated_at" in report.notes

    def test_extra_attributes_never_collide_with_built_in_columns(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """An extra attribute named like a built-in column (created_at, updated_at, warnings,
        id) or an alias of a field (Mobile) is exported as extra.NAME, in every format; the
        Parquet file is readable and holds each column once."""
        import polars as pl

        from customer_flow.customers.models import CustomerCreate

        extra = {"created_at": "a", "updated_at": "b", "warnings": "c", "id": "d", "Mobile": "e"}
        hub.add_customer(CustomerCreate(name="Ana Lima", extra={**extra, "Tier": "gold"}))
        hub.export_customers(tmp_path / "c.parquet", format="parquet")
        frame = pl.read_parquet(tmp_path / "c.parquet")
        assert frame.columns == [
            "id", "name", "email", "phone", "extra.Mobile", "Tier", "extra.created_at",
            "extra.id", "extra.updated_at", "extra.warnings", "warnings", "created_at",
            "updated_at",
        ]  # fmt: skip
        for fmt in FORMATS:
            hub.export_customers(tmp_path / f"c.{fmt}", format=fmt)
            report = hub.import_file(tmp_path / f"c.{fmt}", opts(on_conflict="update"))
            assert (fmt, report.updated, report.unchanged) == (fmt, 0, 1)
        assert hub.get_customer(1).extra == {**extra, "Tier": "gold"}

    def test_a_json_array_is_refused_with_a_hint(self, hub: Hub, tmp_path: Path) -> None:
        """The `json` export (an array) is not imported: the message says to use jsonl."""
        from customer_flow.core.errors import ValidationError

        hub.import_file(write(tmp_path, "a.csv", "Name\nAna Lima\n"))
        hub.export_customers(tmp_path / "c.json", format="json")
        with pytest.raises(ValidationError) as exc:
            hub.import_file(tmp_path / "c.json")
        assert exc.value.code == "json_array"
        assert "JSON arrays are not supported; use jsonl" in exc.value.message

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_a_failed_export_leaves_no_file(
        self, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
    ) -> None:
        """An export is written whole or not at all: a failure after the first row leaves no
        partial file, and the file it would replace as it was."""
        from customer_flow.data import exports

        hub.import_file(write(tmp_path, "a.csv", "Name\nAna Lima\nBo Berg\n"))
        rows = exports._rows

        def failing(*args: Any) -> Iterator[dict[str, Any]]:
            it = rows(*args)
            yield next(it)
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(exports, "_rows", failing)
        out = write(tmp_path, f"c.{fmt}", "old\n")
        with pytest.raises(OSError):
            hub.export_customers(out, format=fmt)
        assert out.read_text() == "old\n"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    @pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
    def test_a_carriage_return_inside_a_value_comes_back(
        self, fresh: Callable[[], Hub], tmp_path: Path, fmt: str
    ) -> None:
        """A CR inside a value is the value's: a CSV import keeps a CR inside a quoted field
        (only a CR between records is an old Mac line ending)."""
        from customer_flow.customers.models import CustomerCreate

        hub = fresh()
        extra = {"Note": "a\rb", "Crlf": "x\r\ny", "Alone": "\r", "Formula": "\r=1"}
        hub.add_customer(CustomerCreate(name="Ana Lima", extra=extra))
        hub.export_customers(tmp_path / f"c.{fmt}", format=fmt)
        other = fresh()
        other.import_file(tmp_path / f"c.{fmt}")
        assert other.get_customer(1).extra == extra
