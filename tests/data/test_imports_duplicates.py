"""Possible duplicates on import (issue 7, point 1), on real SQLite and PostgreSQL.

A new row that looks like a live customer or an earlier row of the file, by the rules of the
check on entry, is rejected (``possible_duplicate``, the candidates named), or with
``allow_duplicate`` imported with a warning and listed in the report.
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
from customer_flow.customers.models import CustomerCreate, CustomerQuery
from customer_flow.data import duplicate_check as import_duplicates
from customer_flow.data.imports import ImportOptions
from customer_flow.duplicates import find as dedupe
from customer_flow.hub import Hub

HEADER = "ID,Name,Email,Phone\n"
# Rows 2-5 each look like row 1 or customer 900 by one rule; row 6 is nobody's double.
ROWS = (
    "1,Ana Lima,ana@lima.pt,+1 415 555 2671\n"
    '2,"Lima, Ana",ana+news@lima.pt,\n'  # same email once normalised (and name + domain)
    "3,Rui Costa,rui@costa.pt,(415) 555-2671\n"  # same phone as row 1
    "4,Jane Rowe,jr@work.io,+44 20 7946 0188\n"  # similar name, same last 7 digits as 900
    "5,Bob Smith,bob@acme.io,\n"  # Robert Smith at acme.io (900): nickname, same domain
    "6,Zoe Quinn,zoe@quinn.io,+1 212 555 0199\n"
)


def write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def existing(hub: Hub) -> Hub:
    hub.add_customer(
        CustomerCreate(id=900, name="Robert Smith", email="rs@acme.io", phone="+1 646 794 6018")
    )
    hub.add_customer(CustomerCreate(id=901, name="Jane Roe", phone="+1 646 946 0188"))
    return hub


def opts(tmp_path: Path, **kw: object) -> ImportOptions:
    return ImportOptions.model_validate({"rejects_path": tmp_path / "rej.csv", **kw})


class TestRejected:
    def test_rows_like_a_customer_or_an_earlier_row_are_rejected_naming_them(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        report = existing.import_file(write(tmp_path, HEADER + ROWS), opts(tmp_path))
        assert (report.imported, report.rejected, report.rows_read) == (2, 4, 6)
        assert report.accounted
        assert report.errors == {"possible_duplicate": 4} and report.possible_duplicates == 4
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        why = dict(zip(rejects["row"].to_list(), rejects["message"].to_list(), strict=True))
        assert set(rejects["code"]) == {"possible_duplicate"}
        assert why["2"].startswith("possible duplicate of row 1 of this file (Ana Lima): same")
        assert "same email (ana@lima.pt)" in why["2"]
        assert "row 1 of this file (Ana Lima): same phone (+14155552671)" in why["3"]
        assert why["4"] == (
            "possible duplicate of customer 901 (Jane Roe): similar name ('Jane Roe') and the "
            "same last 7 phone digits"
        )
        assert why["5"] == (
            "possible duplicate of customer 900 (Robert Smith): similar name ('Robert Smith') "
            "and the same email domain (acme.io)"
        )
        assert sorted(c.id for c in existing.list_customers().items) == [1, 6, 900, 901]

    def test_a_free_mail_domain_is_not_a_shared_domain(self, hub: Hub, tmp_path: Path) -> None:
        """Two Maria Smiths at gmail.com are two people until something else matches; at a
        company domain the second is a possible duplicate, as on entry."""
        path = write(
            tmp_path,
            HEADER
            + "1,Maria Smith,maria.smith@gmail.com,\n"
            + '2,"Smith, Maria",msmith77@googlemail.com,\n'
            + "3,Maria Smith,maria@yahoo.com,\n"
            + "4,Maria Smith,maria@acme.io,\n"
            + "5,Maria Smith,ms@acme.io,\n",
        )
        report = hub.import_file(path, opts(tmp_path))
        assert (report.imported, report.possible_duplicates) == (4, 1)
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        assert rejects["row"].to_list() == ["5"]
        assert "the same email domain (acme.io)" in rejects["message"].item()

    def test_an_earlier_batch_is_named_by_its_new_customer_id(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Rows checked in a later batch name the customer an earlier batch created."""
        path = write(tmp_path, HEADER + ROWS)
        report = hub.import_file(path, opts(tmp_path, batch_rows=2))
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
        existing.import_file(path, opts(tmp_path, batch_rows=2))
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        message = rejects.filter(pl.col("row") == "3")["message"].item()
        assert message == (
            "possible duplicate of customer 1 (Ana Lima, row 1 of this file): "
            "same phone (+14155552671)"
        )

    def test_a_rejected_row_of_an_earlier_batch_is_named_by_its_values(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """Row 2 is rejected (like row 1: similar name, same domain), so never created; row 3,
        in the next batch, has row 2's phone: it is named by the values the check kept."""
        path = write(
            tmp_path,
            HEADER + "1,Ana Lima,ana@lima.pt,\n2,Ana Lima,al@lima.pt,+1 415 555 2671\n"
            "3,Rui Costa,rui@costa.pt,(415) 555-2671\n",
        )
        report = hub.import_file(path, opts(tmp_path, batch_rows=2))
        assert (report.imported, report.possible_duplicates) == (1, 2)
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        message = rejects.filter(pl.col("row") == "3")["message"].item()
        assert message == (
            "possible duplicate of row 2 of this file (Ana Lima): same phone (+14155552671)"
        )

    def test_matches_under_on_conflict_are_updates_not_duplicates(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        path = write(tmp_path, HEADER + "900,Robert Smith,rs@acme.io,+1 646 794 6019\n")
        report = existing.import_file(path, opts(tmp_path, on_conflict="update"))
        assert (report.updated, report.rejected, report.possible_duplicates) == (1, 0, 0)

    def test_a_customer_in_the_trash_is_no_candidate(self, existing: Hub, tmp_path: Path) -> None:
        existing.delete_customer(900)
        path = write(tmp_path, HEADER + "5,Bob Smith,bob@acme.io,\n")
        report = existing.import_file(path, opts(tmp_path))
        assert (report.imported, report.possible_duplicates) == (1, 0)


class TestAllowed:
    def test_they_are_imported_flagged_and_listed(self, existing: Hub, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER + ROWS)
        report = existing.import_file(path, opts(tmp_path, allow_duplicate=True))
        assert (report.imported, report.rejected) == (6, 0)
        assert report.warnings["possible_duplicate"] == report.possible_duplicates == 4
        listed = {d.row: d for d in report.duplicates}
        assert sorted(listed) == [2, 3, 4, 5]
        assert listed[3].id == 3
        assert [(c.id, c.row) for c in listed[3].candidates] == [(1, 1)]
        assert listed[3].candidates[0].reasons == ["same phone (+14155552671)"]
        assert [(c.id, c.row) for c in listed[5].candidates] == [(900, None)]
        flagged = existing.list_customers(CustomerQuery(with_warnings=True)).items
        assert sorted(c.id for c in flagged) == [2, 3, 4, 5]
        three = existing.get_customer(3)
        assert [(w.field, w.code) for w in three.warnings] == [("duplicate", "possible_duplicate")]
        assert three.warnings[0].message == (
            "may be the same as customer 1 (Ana Lima): same phone (+14155552671)"
        )

    def test_the_warning_reads_like_the_one_on_entry(self, existing: Hub, tmp_path: Path) -> None:
        """The same customer entered by hand with --allow-duplicate gets the same warning."""
        path = write(tmp_path, HEADER + "5,Bob Smith,bob@acme.io,\n")
        existing.import_file(path, opts(tmp_path, allow_duplicate=True))
        by_hand = existing.add_customer(
            CustomerCreate(name="Bob Smith", email="bob2@acme.io"), allow_duplicate=True
        )
        imported = existing.get_customer(5)
        assert [w.message for w in imported.warnings] == [
            "may be the same as customer 900 (Robert Smith): similar name ('Robert Smith') and "
            "the same email domain (acme.io)"
        ]
        assert imported.warnings[0].message in [w.message for w in by_hand.warnings]

    def test_a_dry_run_reports_the_same_and_writes_nothing(
        self, existing: Hub, tmp_path: Path
    ) -> None:
        path = write(tmp_path, HEADER + ROWS)
        preview = existing.preview_import(path, opts(tmp_path, allow_duplicate=True))
        assert existing.count_customers() == 2
        real = existing.import_file(path, opts(tmp_path, allow_duplicate=True))
        assert preview.duplicates == real.duplicates
        assert preview.possible_duplicates == real.possible_duplicates == 4

    def test_revert_removes_them_and_their_keys(self, existing: Hub, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER + ROWS)
        report = existing.import_file(path, opts(tmp_path, allow_duplicate=True))
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
        """Import a generated file with allow_duplicate; add the same customers one by one
        through the check on entry, in row order, into a second database. A row is flagged
        by the import exactly when entry flags it, and the import names only customers that
        entry names too (it names the earliest of each group, at most five)."""
        made = generate(700, seed=5, out_dir=tmp_path)
        rows = pl.read_csv(made.data, infer_schema=False).drop("Customer ID")
        # Same names at a shared domain are rare at this size: add a few on purpose.
        more = pl.DataFrame(
            {
                "Full Name": ["Maria Smith", "Smith, Maria", "Jon Smith", "John Smith", "Ana Lima",
                              "Ana Lima"],
                "E-mail": ["m.s@acme.io", "other@acme.io", "jon@globex.com", "john@globex.com",
                           "al1@x.io", "al2@y.io"],
                "Phone Number": [None] * 6,
            },
            schema={c: pl.String for c in rows.columns},
        )  # fmt: skip
        path = tmp_path / "no_ids.csv"
        pl.concat([rows, more]).write_csv(path)
        # Without an ID column, IDs follow the rows: the entry replay keeps the file's order.
        report = hub.import_file(path, opts(tmp_path, allow_duplicate=True))
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
        assert flagged_import[by_email["other@acme.io"]] == {by_email["m.s@acme.io"]}
        assert flagged_import[by_email["john@globex.com"]] == {by_email["jon@globex.com"]}
        assert flagged_import[by_email["al2@y.io"]] == set()


class TestBatchesAgree:
    @pytest.mark.parametrize("allow", [True, False], ids=["allowed", "rejected"])
    def test_small_batches_flag_and_name_exactly_as_one_batch(
        self, hub: Hub, tmp_path: Path, second_url: str, allow: bool
    ) -> None:
        """What the check keeps between batches (the earliest row of each group, by hash,
        named from the database or from the values kept for rows not created) gives the very
        warnings and rejects of a single batch: the same file in batches of 37 rows."""
        made = generate(700, seed=11, out_dir=tmp_path)
        one = hub.import_file(made.data, opts(tmp_path, allow_duplicate=allow))
        small_opts = ImportOptions.model_validate(
            {"rejects_path": tmp_path / "rej37.csv", "allow_duplicate": allow, "batch_rows": 37}
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
    def test_allow_duplicate_flag_and_json_report(self, db_url: str, tmp_path: Path) -> None:
        runner = CliRunner()
        path = write(tmp_path, HEADER + ROWS)
        refused = runner.invoke(app, ["--db", db_url, "import", str(path)])
        assert refused.exit_code == 0, refused.output
        assert "4 imported + 0 updated + 0 unchanged + 2 rejected = 6 rows read" in refused.stderr
        assert "possible_duplicate" in refused.stderr
        again = write(tmp_path, HEADER + ROWS.replace("1,Ana", "11,Ana"), "again.csv")
        allowed = runner.invoke(
            app, ["--db", db_url, "import", str(again), "--allow-duplicate", "--json"]
        )
        assert allowed.exit_code == 0, allowed.output
        data = json.loads(allowed.stdout)
        assert data["possible_duplicates"] == len(data["duplicates"]) > 0
        first = data["duplicates"][0]
        assert {"row", "id", "candidates"} <= first.keys()
        assert first["candidates"][0]["reasons"]


def test_vectorised_keys_agree_with_keys_for_on_a_large_random_sample() -> None:
    """dedupe.keys_frame (Polars for ASCII, the scalar functions for the rest) writes exactly
    the keys dedupe.keys_for gives, on random names, emails and phones with accents, other
    scripts, tags, Gmail dots, extensions and junk."""
    import random

    from customer_flow.duplicates import find as dedupe

    rng = random.Random(5)
    alphabet = "abcXYZ019._%+-@ éÜß'Σς\u0301\t;="
    names = ["Ana Lima", "Lima, Ána", "O'Brien-Smith Jr", "Nguyễn Văn", "ΣΊΣΥΦΟΣ", "straße", "A"]
    emails = ["A.Na+shop@GoogleMail.com", " x@Y.com ", "+t@x.io", "a@b@c", "@", "é@x.com"]
    phones = ["+14155552671;ext=12", "555-1234", "+4420", "١٢٣٤٥٦٧٨", "abc", "(415) 555 2671"]

    def pick(pool: list[str], width: int) -> str | None:
        r = rng.random()
        if r < 0.1:
            return None
        if r < 0.5:
            return rng.choice(pool)
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, width)))

    rows = [(i, pick(names, 15), pick(emails, 20), pick(phones, 18)) for i in range(20_000)]
    frame = pl.DataFrame(
        rows,
        schema={"id": pl.Int64, "name": pl.String, "email": pl.String, "phone": pl.String},
        orient="row",
    )
    got = set(dedupe.keys_frame(frame).iter_rows())
    want = {(k, v, i) for i, n, e, p in rows for k, v in dedupe.keys_for(n, e, p)}
    assert len(want) > 20_000
    assert got == want


def test_the_name_memo_answers_as_the_comparison_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``_Names.similar`` through its memo (one int key per pair, either order) gives what
    ``dedupe.names_similar`` gives for every pair, and the memo starts afresh at its bound."""
    monkeypatch.setattr(import_duplicates, "MEMO", 50)
    names = import_duplicates._Names()
    raw = [
        "Ana Lima",
        "Ana Lyma",
        "Anna Lima",
        "Lima Ana",
        "Bob Stone",
        "Robert Stone",
        "Bob Stones",
        "Jo 2",
        "Jo 3",
        "Zoë Brandão",
        "Zoe Brandao",
        "Mia van der Berg",
    ]
    tokens = pl.Series([dedupe.name_tokens(n) for n in raw], dtype=pl.List(pl.String))
    sigs = names.add(tokens).to_list()
    for _ in range(2):  # the second pass answers from the memo (and its restarts)
        for i, a in enumerate(sigs):
            for j, b in enumerate(sigs):
                assert names.similar(a, b) == dedupe.names_similar(raw[i], raw[j]), (raw[i], raw[j])
                assert len(names.memo) <= 50
