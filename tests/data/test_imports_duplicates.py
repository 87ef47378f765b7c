"""Possible duplicates on import (issues 7 and 14), on real SQLite and PostgreSQL.

A new row that looks like a live customer or an earlier row of the file, by the duplicates
model of the check on entry, is imported with a warning and listed in the report, or with
``reject_duplicates`` rejected (``possible_duplicate``, the candidates named).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchmarks.generate import generate
from typer.testing import CliRunner

from conftest import new_pg_database
from customer_flow.cli.main import app
from customer_flow.core.errors import DuplicateError
from customer_flow.customers.models import CustomerCreate, CustomerQuery
from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub

HEADER = "ID,Name,Email,Phone\n"
# Rows 2-5 each look like row 1 or a customer already there (900, 901); rows 6 and 7 are
# nobody's double (7 shares Ana Lima's surname, office phone and domain, not her first name).
ROWS = (
    "1,Ana Lima,ana@lima.pt,+1 415 555 2671\n"
    '2,"Lima, Ana",ana+news@lima.pt,\n'  # the same email once normalised
    "3,Ana Lima,al@costa.pt,(415) 555-2671\n"  # the same name and phone as row 1
    "4,Jane Rowe,jr@work.io,+44 20 7946 0188\n"  # 901: a surname typo, the same last 7 digits
    "5,Bob Smith,rsmith@globex.com,\n"  # 900 Robert Smith: a nickname, the same local part
    "6,Zoe Quinn,zoe@quinn.io,+1 212 555 0199\n"
    "7,Tomasz Lima,tomasz@lima.pt,+1 415 555 2671\n"
)


def write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def existing(hub: Hub) -> Hub:
    hub.add_customer(
        CustomerCreate(id=900, name="Robert Smith", email="rsmith@acme.io", phone="+1 646 794 6018")
    )
    hub.add_customer(CustomerCreate(id=901, name="Jane Roe", phone="+1 646 946 0188"))
    return hub


def opts(tmp_path: Path, **kw: object) -> ImportOptions:
    return ImportOptions.model_validate({"rejects_path": tmp_path / "rej.csv", **kw})


def rejected(tmp_path: Path, **kw: object) -> ImportOptions:
    return opts(tmp_path, reject_duplicates=True, **kw)


class TestRejected:
    """With ``reject_duplicates`` (``--reject-duplicates``) likely duplicates are refused."""

    def test_rows_like_a_customer_or_an_earlier_row_are_rejected_naming_them(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        report = existing.import_file(write(tmp_path, HEADER + ROWS), rejected(tmp_path))
        assert (report.imported, report.rejected, report.rows_read) == (3, 4, 7)
        assert report.accounted
        assert report.errors == {"possible_duplicate": 4} and report.possible_duplicates == 4
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        why = dict(zip(rejects["row"].to_list(), rejects["message"].to_list(), strict=True))
        assert set(rejects["code"]) == {"possible_duplicate"}
        assert why["2"].startswith(
            "possible duplicate of row 1 of this file (Ana Lima), probability 1.000: email: same ("
        )
        assert why["3"].startswith(
            "possible duplicate of row 1 of this file (Ana Lima), probability 1.000: phone: same ("
        )
        assert why["4"].startswith("possible duplicate of customer 901 (Jane Roe), probability")
        assert "phone: same last 7 digits (+" in why["4"] and "surname: typo (+" in why["4"]
        assert why["5"].startswith("possible duplicate of customer 900 (Robert Smith)")
        assert "email: same local part, another domain (+" in why["5"]
        assert "first name: nickname (+" in why["5"]
        assert sorted(c.id for c in existing.list_customers().items) == [1, 6, 7, 900, 901]

    def test_a_shared_surname_domain_and_phone_are_not_one_person(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Colleagues at one company, some with one office phone, and a family at one free-mail
        provider: nobody is a possible duplicate (a different first name is evidence against)."""
        path = write(
            tmp_path,
            HEADER
            + "1,Noah Johnson,noah@acme-corp.com,\n"
            + "2,Zoe Johnson,zoe@acme-corp.com,\n"
            + "3,Oona Okafor,oona@acme-corp.com,+1 415 555 0100\n"
            + "4,Tomasz Okafor,tomasz@acme-corp.com,+1 415 555 0100\n"
            + "5,Maria Smith,maria.smith@gmail.com,\n"
            + '6,"Smith, John",john.smith@gmail.com,\n',
        )
        report = hub.import_file(path, rejected(tmp_path))
        assert (report.imported, report.possible_duplicates) == (6, 0)

    def test_an_earlier_batch_is_named_by_its_new_customer_id(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Rows checked in a later batch name the customer an earlier batch created."""
        path = write(tmp_path, HEADER + ROWS)
        report = hub.import_file(path, rejected(tmp_path, batch_rows=2))
        assert report.possible_duplicates == 2  # rows 2 and 3 (4 and 5 need customers 900/901)
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        message = rejects.filter(pl.col("row") == "3")["message"].item()
        assert message.startswith("possible duplicate of customer 1 (Ana Lima, row 1 of this")

    def test_into_a_database_with_customers_an_earlier_batch_is_named_as_a_row(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        """With customers already there, the database is asked each batch; the customers
        this import created are still named as rows of this file, once."""
        path = write(tmp_path, HEADER + ROWS)
        existing.import_file(path, rejected(tmp_path, batch_rows=2))
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        message = rejects.filter(pl.col("row") == "3")["message"].item()
        assert message.startswith(
            "possible duplicate of customer 1 (Ana Lima, row 1 of this file), probability 1.000: "
            "phone: same (+22.8); first name: same (+5.3); surname: same (+5.2)"
        )
        assert message.count("customer 1 ") == 1

    def test_a_rejected_row_of_an_earlier_batch_is_named_by_its_values(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Row 2 is rejected (like row 1: the same email), so never created; row 3, in the next
        batch, has row 2's phone: it is named by the values the check kept."""
        path = write(
            tmp_path,
            HEADER + "1,Ana Lima,ana@lima.pt,\n2,Ana Lima,ana+x@lima.pt,+1 415 555 2671\n"
            '3,"Lima, Ana",other@costa.pt,(415) 555-2671\n',
        )
        report = hub.import_file(path, rejected(tmp_path, batch_rows=2))
        assert (report.imported, report.possible_duplicates) == (1, 2)
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        message = rejects.filter(pl.col("row") == "3")["message"].item()
        assert message.startswith(
            "possible duplicate of row 2 of this file (Ana Lima), probability 1.000: phone: same"
        )

    def test_matches_under_on_conflict_are_updates_not_duplicates(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        path = write(tmp_path, HEADER + "900,Robert Smith,rsmith@acme.io,+1 646 794 6019\n")
        report = existing.import_file(path, rejected(tmp_path, on_conflict="update"))
        assert (report.updated, report.rejected, report.possible_duplicates) == (1, 0, 0)

    def test_a_customer_in_the_trash_is_no_candidate(self, existing: Hub, tmp_path: Path) -> None:
        existing.delete_customer(900)
        path = write(tmp_path, HEADER + "5,Bob Smith,rsmith@globex.com,\n")
        report = existing.import_file(path, rejected(tmp_path))
        assert (report.imported, report.possible_duplicates) == (1, 0)


class TestFlagged:
    """By default likely duplicates are imported, each with a warning, and listed."""

    def test_they_are_imported_flagged_and_listed(self, existing: Hub, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER + ROWS)
        report = existing.import_file(path, opts(tmp_path))
        assert (report.imported, report.rejected) == (7, 0)
        assert report.warnings["possible_duplicate"] == report.possible_duplicates == 4
        listed = {d.row: d for d in report.duplicates}
        assert sorted(listed) == [2, 3, 4, 5]
        assert listed[3].id == 3
        assert [(c.id, c.row) for c in listed[3].candidates] == [(1, 1)]
        assert listed[3].candidates[0].reasons[0] == "phone: same (+22.8)"
        assert listed[3].candidates[0].probability == pytest.approx(1.0, abs=1e-3)
        assert [(c.id, c.row) for c in listed[5].candidates] == [(900, None)]
        flagged = existing.list_customers(CustomerQuery(with_warnings=True)).items
        assert sorted(c.id for c in flagged) == [2, 3, 4, 5]
        three = existing.get_customer(3)
        assert [(w.field, w.code) for w in three.warnings] == [("duplicate", "possible_duplicate")]
        assert three.warnings[0].message == (
            "may be the same as customer 1 (Ana Lima), probability 1.000: phone: same (+22.8); "
            "first name: same (+5.3); surname: same (+5.2); email: different (-2.7)"
        )

    def test_the_warning_reads_like_the_one_on_entry(self, existing: Hub, tmp_path: Path) -> None:
        """The same customer entered by hand with allow_duplicate gets the same warning."""
        path = write(tmp_path, HEADER + "5,Bob Smith,rsmith@globex.com,\n")
        existing.import_file(path, opts(tmp_path))
        by_hand = existing.add_customer(
            CustomerCreate(name="Bob Smith", email="rsmith@initech.com"), allow_duplicate=True
        )
        imported = existing.get_customer(5)
        assert [w.message for w in imported.warnings] == [
            "may be the same as customer 900 (Robert Smith), probability 1.000: email: same local "
            "part, another domain (+19.3); surname: same (+5.2); first name: nickname (+3.0)"
        ]
        assert imported.warnings[0].message in [w.message for w in by_hand.warnings]

    def test_extra_columns_recognised_as_fields_are_compared(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """A date of birth and a postcode in the file are compared as on entry: the same name
        there is one person; twins (one date of birth, one address) are a pair for review,
        their first names weighing against it."""
        path = write(
            tmp_path,
            "Name,Date of Birth,Zip Code,Address\n"
            "Connor Lutz,1970-03-12,2600,5 Main Street\n"
            "Cononr Lutz,19700312,2600,5 main street\n"
            "Kylie Dearing,1980-01-01,2272,12 Herschell Circuit\n"
            "Lachlan Dearing,1980-01-01,2272,12 Herschell Circuit\n",
        )
        report = hub.import_file(path, opts(tmp_path))
        found = [(d.row, [c.row for c in d.candidates]) for d in report.duplicates]
        assert found == [(2, [1]), (4, [3])]
        assert any(
            r.startswith("first name: different, same birth date (-")
            for r in report.duplicates[1].candidates[0].reasons
        )
        with pytest.raises(DuplicateError, match="Kylie Dearing"):
            hub.add_customer(
                CustomerCreate(
                    name="Dearing, Kylie", extra={"dob": "1980/01/01", "postcode": "2272"}
                )
            )

    def test_a_dry_run_reports_the_same_and_writes_nothing(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        path = write(tmp_path, HEADER + ROWS)
        preview = existing.preview_import(path, opts(tmp_path))
        assert existing.count_customers() == 2
        real = existing.import_file(path, opts(tmp_path))
        assert preview.duplicates == real.duplicates
        assert preview.possible_duplicates == real.possible_duplicates == 4

    def test_revert_removes_them_and_their_keys(self, existing: Hub, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER + ROWS)
        report = existing.import_file(path, opts(tmp_path))
        assert report.batch_id is not None
        assert [c.id for c in existing.check_duplicates("Zoe Quinn", "zoe@quinn.io")] == [6]
        existing.revert_import(report.batch_id)
        assert existing.count_customers() == 2
        assert existing.check_duplicates("Zoe Quinn", "zoe@quinn.io") == []


@pytest.fixture
def second_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty, migrated database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    with new_pg_database("cf_second", db_url) as url:
        yield url


class TestAgreesWithTheCheckOnEntry:
    def test_each_row_is_flagged_as_adding_it_by_hand_would_flag_it(
        self, hub: Hub, tmp_path: Path, second_url: str
    ) -> None:
        """Import a generated file (likely duplicates flagged); add the same customers one by
        one through the check on entry, in row order, into a second database. A row is flagged
        by the import exactly when entry flags it, and the import names only customers that
        entry names too (at most five, the most likely)."""
        made = generate(700, seed=5, out_dir=tmp_path)
        rows = pl.read_csv(made.data, infer_schema=False).drop("Customer ID")
        # An email typo, colleagues of one surname, two Ana Limas: a few on purpose.
        more = pl.DataFrame(
            {
                "Full Name": ["Maria Smith", "Smith, Maria", "Noah Johnson", "Zoe Johnson",
                              "Ana Lima", "Ana Lima"],
                "E-mail": ["m.smith@acme.io", "m.smyth@acme.io", "noah@acme-corp.com",
                           "zoe@acme-corp.com", "al1@x.io", "al2@y.io"],
                "Phone Number": [None] * 6,
            },
            schema={c: pl.String for c in rows.columns},
        )  # fmt: skip
        path = tmp_path / "no_ids.csv"
        pl.concat([rows, more]).write_csv(path)
        # Without an ID column, IDs follow the rows: the entry replay keeps the file's order.
        report = hub.import_file(path, opts(tmp_path))
        assert report.possible_duplicates > 20
        customers = sorted(
            hub.list_customers(CustomerQuery(limit=1000, sort="id")).items, key=lambda c: c.id
        )
        assert len(customers) == report.imported
        flagged_import = {c.id: _named(c.warnings) for c in customers}
        flagged_entry: dict[int, set[int]] = {}
        with Hub.open(second_url, actor="t", default_region="US") as entry:
            for c in customers:
                added = entry.add_customer(
                    CustomerCreate(id=c.id, name=c.name, email=c.email, phone=c.phone),
                    allow_duplicate=True,
                )
                flagged_entry[c.id] = _named(added.warnings)
        for cid, named in flagged_import.items():
            assert bool(named) == bool(flagged_entry[cid]), (cid, named, flagged_entry[cid])
            assert named <= flagged_entry[cid], (cid, named, flagged_entry[cid])
        by_email = {c.email: c.id for c in customers}
        assert flagged_import[by_email["m.smyth@acme.io"]] == {by_email["m.smith@acme.io"]}
        assert flagged_import[by_email["zoe@acme-corp.com"]] == set()
        assert flagged_import[by_email["al2@y.io"]] == set()


class TestBatchesAgree:
    @pytest.mark.parametrize("reject", [False, True], ids=["flagged", "rejected"])
    def test_small_batches_flag_and_name_exactly_as_one_batch(
        self, hub: Hub, tmp_path: Path, second_url: str, reject: bool
    ) -> None:
        """What the check keeps between batches (the first rows of each key, by hash, and the
        values of every row checked) gives the very warnings and rejects of a single batch:
        the same file in batches of 37 rows."""
        made = generate(700, seed=11, out_dir=tmp_path)
        one = hub.import_file(made.data, opts(tmp_path, reject_duplicates=reject))
        small_opts = ImportOptions.model_validate(
            {"rejects_path": tmp_path / "rej37.csv", "reject_duplicates": reject, "batch_rows": 37}
        )
        with Hub.open(second_url, actor="t", default_region="US") as other:
            small = other.import_file(made.data, small_opts)
            small_customers = other.list_customers(CustomerQuery(limit=1000, sort="id")).items
        assert one.possible_duplicates > 20
        assert small.possible_duplicates == one.possible_duplicates
        assert (small.imported, small.rejected) == (one.imported, one.rejected)
        # A candidate from an earlier batch was created by then, so it is also named by its
        # new ID ("customer 74 (Ana, row 74 of this file)"): the same row, the same reasons.
        created = re.compile(r"customer \d+ \((.*?), row (\d+) of this file\)")

        def rejects(path: Path) -> list[tuple[str, str, str]]:
            frame = pl.read_csv(path, infer_schema=False)
            return [
                (row, code, created.sub(r"row \2 of this file (\1)", message))
                for row, code, message in frame.select("row", "code", "message").iter_rows()
            ]

        assert rejects(tmp_path / "rej37.csv") == rejects(tmp_path / "rej.csv")
        one_customers = hub.list_customers(CustomerQuery(limit=1000, sort="id")).items
        assert [(c.id, c.warnings) for c in small_customers] == [
            (c.id, c.warnings) for c in one_customers
        ]


def _named(warnings: list[Any]) -> set[int]:
    """The customer IDs named by possible_duplicate warnings."""
    return {
        int(w.message.split("customer ", 1)[1].split(" ", 1)[0])
        for w in warnings
        if w.code == "possible_duplicate"
    }


class TestCommandLine:
    def test_flagged_by_default_rejected_on_request_and_json_report(
        self, db_url: str, tmp_path: Path
    ) -> None:
        runner = CliRunner()
        path = write(tmp_path, HEADER + ROWS)
        flagged = runner.invoke(app, ["--db", db_url, "import", str(path), "--json"])
        assert flagged.exit_code == 0, flagged.output
        data = json.loads(flagged.stdout)
        assert data["possible_duplicates"] == len(data["duplicates"]) == 2
        first = data["duplicates"][0]
        assert {"row", "id", "candidates"} <= first.keys()
        assert first["candidates"][0]["reasons"] and first["candidates"][0]["probability"] > 0.9
        again = write(
            tmp_path, HEADER + "20,Ana Lima,ana.l@else.pt,415 555 2671\n21,Zed Zero,z@zero.io,\n"
        )
        refused = runner.invoke(app, ["--db", db_url, "import", str(again), "--reject-duplicates"])
        assert refused.exit_code == 0, refused.output
        assert "1 imported + 0 updated + 0 unchanged + 1 rejected = 2 rows read" in refused.stderr
        assert "--reject-duplicates" in refused.stderr
        old = runner.invoke(app, ["--db", db_url, "import", str(again), "--allow-duplicate"])
        assert old.exit_code == 0, old.output  # accepted: what an import does now anyway


def test_vectorised_features_and_keys_agree_with_the_scalar_ones() -> None:
    """features.features_frame (Polars for ASCII, the scalar functions for the rest) gives the
    very features of features_one, and scorer.keys_frame the keys of keys_of, on random names,
    emails, phones and extra values with accents, other scripts, tags, Gmail dots,
    extensions, long values and junk."""
    import random

    from customer_flow.duplicates import model as dedupe_model
    from customer_flow.duplicates.features import KINDS, features_frame, features_one
    from customer_flow.duplicates.scorer import keys_frame, keys_of

    rng = random.Random(5)
    alphabet = "abcXYZ019._%+-@ éÜß'Σς\u0301\t;=,"
    names = ["Ana Lima", "Lima, Ána", "O'Brien-Smith Jr", "Nguyễn Văn", "ΣΊΣΥΦΟΣ", "van der Berg"]
    emails = ["A.Na+shop@GoogleMail.com", " x@Y.com ", "+t@x.io", "a@b@c", "@", "é@x.com"]
    phones = ["+14155552671;ext=12", "555-1234", "+4420", "١٢٣٤٥٦٧٨", "abc", "(415) 555 2671"]
    values = ["1980-02-03", " 26 00 ", "12  Main   St", "NSW", "Ünïcode Straße 5", "x" * 300]

    def pick(pool: list[str], width: int) -> str | None:
        r = rng.random()
        if r < 0.1:
            return None
        if r < 0.5:
            return rng.choice(pool)
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, width)))

    rows = [
        (i, pick(names, 15), pick(emails, 20), pick(phones, 18), *(pick(values, 12) for _ in KINDS))
        for i in range(20_000)
    ]
    frame = pl.DataFrame(
        rows,
        schema={"unique_id": pl.Int64, "name": pl.String, "email": pl.String, "phone": pl.String,
                **dict.fromkeys(KINDS, pl.String)},
        orient="row",
    )  # fmt: skip
    fast = features_frame(frame, list(KINDS))
    slow = [
        features_one(r[1], r[2], r[3], dict(zip(KINDS, r[4:], strict=True)), r[0]) for r in rows
    ]
    assert fast.to_dicts() == [{c: f[c] for c in fast.columns} for f in slow]
    got = set(keys_frame(fast, dedupe_model.RULES).iter_rows())
    want = {(k, v, f["unique_id"]) for f in slow for k, v in keys_of(f, dedupe_model.RULES)}
    assert len(want) > 20_000
    assert got == want
