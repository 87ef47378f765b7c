"""Issue 16: nothing dropped silently, no made-up values, and the small things an outside
review found in the import (real SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def opts(**kw: object) -> ImportOptions:
    return ImportOptions.model_validate(kw)


BROKEN_JSONL = (
    '{"ID":1,"Name":"Ana J","Email":"ana.j@acme.io"}\n'
    "[1,2]\n"
    '"just a string"\n'
    '{"ID": 2, "Name": "Bad\n'
    '{"ID":3,"Name":"Cy J","Email":"cy.j@acme.io"}\n'
)


class TestNothingDropped:
    def test_broken_json_lines_are_rejected_and_counted(self, hub: Hub, tmp_path: Path) -> None:
        """A JSON Lines line that is an array, a string or unterminated is a bad_json reject
        in the rejects file, counted in the rows read; never a blank row."""
        path = write(tmp_path, "b.jsonl", BROKEN_JSONL)
        report = hub.import_file(path, opts(rejects_path=tmp_path / "rej.csv"))
        assert (report.rows_read, report.blank_rows) == (5, 0)
        assert (report.imported, report.rejected) == (2, 3)
        assert report.errors == {"bad_json": 3}
        assert report.cleaning.get("duplicate_rows") is None  # not "repeats" of each other
        rejects = pl.read_csv(tmp_path / "rej.csv", infer_schema=False)
        assert rejects["row"].to_list() == ["2", "3", "4"]
        assert set(rejects["code"]) == {"bad_json"}
        assert "[1,2]" in rejects["message"][0]
        assert "an array" in rejects["message"][0] or "array" in rejects["message"][0]

    def test_a_nul_byte_in_a_field_warns_on_the_row(self, hub: Hub, tmp_path: Path) -> None:
        """A NUL (or other control character) in a field or an extra attribute is removed
        with a warning on its row, naming where."""
        path = write(
            tmp_path, "z.csv", b"Name,Email,Notes\nAn\x00a,a@x.io,hi\x01there\nBo B,b@x.io,ok\n"
        )
        report = hub.import_file(path)
        assert report.imported == 2
        assert report.warnings == {"control_characters": 1}
        ana = hub.get_customer(1)
        assert (ana.name, ana.extra) == ("Ana", {"Notes": "hithere"})
        assert [w.code for w in ana.warnings] == ["control_characters"]
        assert "name" in ana.warnings[0].message and "Notes" in ana.warnings[0].message
        assert hub.get_customer(2).warnings == []

    def test_a_nul_in_a_json_lines_value_warns_too(self, hub: Hub, tmp_path: Path) -> None:
        """JSON Lines: an escaped NUL and a raw one are data, removed with a warning."""
        lines = [
            json.dumps({"Name": "Ana\u0000 Lima", "Tier": "go\u0000ld"}),
            '{"Name": "Bo\x00 Berg"}',
        ]
        report = hub.import_file(write(tmp_path, "n.jsonl", "\n".join(lines) + "\n"))
        assert (report.imported, report.rejected) == (2, 0)
        assert report.warnings == {"control_characters": 2}
        assert hub.get_customer(1).extra == {"Tier": "gold"}
        assert hub.get_customer(2).name == "Bo Berg"


class TestNoMadeUpValues:
    def test_an_invalid_phone_keeps_the_value_given(self, hub: Hub, tmp_path: Path) -> None:
        """ "06 12 34 56 78" in region US is not stored as +10612345678 (a number never in the
        file): the value given is kept with a phone_invalid warning, as 555-1234 is."""
        path = write(
            tmp_path,
            "p.csv",
            "Name,Phone\nAna Lima,06 12 34 56 78\nBo Berg,555-1234\nCy Dias,(415) 555-0123\n",
        )
        report = hub.import_file(path)
        assert report.imported == 3
        ana, bo, cy = (hub.get_customer(i) for i in (1, 2, 3))
        assert (ana.phone, [w.code for w in ana.warnings]) == ("06 12 34 56 78", ["phone_invalid"])
        assert "kept as given" in ana.warnings[0].message
        assert (bo.phone, [w.code for w in bo.warnings]) == ("555-1234", ["phone_local_only"])
        assert cy.phone == "+14155550123"

    def test_a_formula_with_a_comma_is_not_reordered(self, hub: Hub, tmp_path: Path) -> None:
        """ "Last, First" is turned only for what looks like a person's name: a formula with a
        comma stays whole and keeps its formula_like warning."""
        formula = '=HYPERLINK("http://x.invalid","click")'
        path = write(
            tmp_path,
            "f.csv",
            'Name,Email\n"=HYPERLINK(""http://x.invalid"",""click"")",f@x.io\n'
            '"SMITH, JOHN",j@x.io\n"Acme 2000, Unit 4",a@x.io\n',
        )
        report = hub.import_file(path)
        assert report.imported == 3
        first = hub.get_customer(1)
        assert first.name == formula
        assert [w.code for w in first.warnings] == ["formula_like"]
        assert hub.get_customer(2).name == "John Smith"
        assert hub.get_customer(3).name == "Acme 2000, Unit 4"
        assert report.cleaning["name_order"] == 1


class TestSmallThings:
    def test_an_unclosed_quote_names_the_row_it_opens_on(self, hub: Hub, tmp_path: Path) -> None:
        """The quote opened on row 3 is reported as row 3 (it was row 2), on row 1 as row 1."""
        from customer_flow.core.errors import ValidationError

        for rows, row in (
            ('Ana,a@x.io\nBo,b@x.io\n"Cy,c@x.io\nDi,d@x.io\n', 3),
            ('"Ana,a\nB,b\n', 1),
        ):
            with pytest.raises(ValidationError) as exc:
                hub.validate_file(write(tmp_path, "q.csv", "Name,Email\n" + rows))
            assert f"q.csv: row {row}: " in exc.value.message

    def test_a_header_only_file_is_no_rows_and_writes_nothing(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """A file with a header and nothing else (or blank rows only) is refused: no import
        batch is recorded."""
        from customer_flow.core.errors import ValidationError

        for content in ("Name,Email\n", "Name,Email\n,\n\n"):
            with pytest.raises(ValidationError) as exc:
                hub.import_file(write(tmp_path, "h.csv", content))
            assert exc.value.code == "no_rows"
            assert "no rows" in exc.value.message
        assert hub.list_imports() == []

    def test_what_a_killed_import_left_is_removed_by_the_next(
        self, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A killed run leaves its UTF-8 copy's folder and a rejects file being written; the
        next run removes both (they carry the dead process's ID), and its own rejects file
        appears whole, by a rename."""
        import subprocess
        import sys
        import tempfile

        temp = tmp_path / "tmp"
        temp.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(temp))
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            check=True,
            capture_output=True,
            text=True,
        )
        dead = int(gone.stdout)
        (temp / f"customer-flow-{dead}-abc").mkdir()
        (temp / f"customer-flow-{dead}-abc" / "utf8.txt").write_text("half")
        (temp / "customer-flow-notmine").mkdir()  # not named by a process: left alone
        rejects = tmp_path / "c.rejects.csv"
        (tmp_path / f".c.rejects.csv.{dead}.part").write_text("row,col")
        path = write(tmp_path, "c.csv", "Name,Email\nJosé,bad@\n".encode("cp1252"))
        report = hub.import_file(path, opts(rejects_path=rejects))
        assert report.rejected == 1
        assert sorted(p.name for p in temp.iterdir()) == ["customer-flow-notmine"]
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
        assert rejects.read_text().startswith("row,column,code,message")

    def test_a_failed_import_leaves_no_rejects_file(self, hub: Hub, tmp_path: Path) -> None:
        """An import that fails (here --on-conflict fail, on a batch after one with a rejected
        row) writes no rejects file; one stopped by --max-errors keeps it, whole, since the
        message points to it."""
        from customer_flow.core.errors import ConflictError, ValidationError

        hub.import_file(write(tmp_path, "a.csv", "ID,Name\n1,Ana Lima\n"))
        rejects = tmp_path / "r.csv"
        with pytest.raises(ConflictError):
            hub.import_file(
                write(tmp_path, "b.csv", "ID,Name,Email\n2,Bo,bad@\n1,Ana Lima,\n"),
                opts(on_conflict="fail", rejects_path=rejects, batch_rows=1),
            )
        assert not rejects.exists()
        with pytest.raises(ValidationError):
            hub.import_file(
                write(tmp_path, "b.csv", "Name,Email\nBo,bad@\nCy,bad2@\n"),
                opts(max_errors=1, rejects_path=rejects),
            )
        assert len(rejects.read_text().splitlines()) == 3
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    def test_max_errors_names_the_row_where_the_limit_was_crossed(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """--max-errors 2: the third rejected row (row 5) is named, not the batch's last."""
        from customer_flow.core.errors import ValidationError

        rows = "Ana,a@x.io\nBo,bad@\nCy,bad@@\nDi,d@x.io\nEd,e@@\nFi,f@x.io\nGu,g@@\n"
        with pytest.raises(ValidationError) as exc:
            hub.import_file(write(tmp_path, "m.csv", "Name,Email\n" + rows), opts(max_errors=2))
        assert exc.value.code == "too_many_errors"
        assert "row 5 was rejected number 3" in exc.value.message

    def test_validate_counts_rows_the_import_rejects_as_duplicates_in_the_file(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """A row that looks like an earlier row of the file (same name and phone) is imported
        with a warning, or rejected with --reject-duplicates; validate counts it the same way
        as the import, in either mode."""
        path = write(
            tmp_path,
            "d.csv",
            "Name,Email,Phone\nAna Lima,ana@x.io,(415) 555-0123\n"
            "Ana Lima,other@y.io,415 555 0123\nBo Berg,bo@z.io,\n",
        )
        checked = hub.validate_file(path)
        imported = hub.preview_import(path)
        assert (checked.imported, checked.rejected) == (imported.imported, imported.rejected)
        assert checked.errors == imported.errors == {}
        assert checked.warnings["possible_duplicate"] == imported.warnings["possible_duplicate"]
        assert imported.warnings["possible_duplicate"] == 1
        checked = hub.validate_file(path, opts(reject_duplicates=True))
        imported = hub.preview_import(path, opts(reject_duplicates=True))
        assert (
            (checked.imported, checked.rejected)
            == (imported.imported, imported.rejected)
            == (
                2,
                1,
            )
        )
        assert checked.errors == imported.errors == {"possible_duplicate": 1}

    def test_an_update_without_a_name_leaves_the_name(self, hub: Hub, tmp_path: Path) -> None:
        """--on-conflict update: an empty Name cell, or no Name column at all, leaves the
        customer's name as it is (empty cells leave fields as they are); a row that would
        create a customer still needs a name."""
        hub.import_file(
            write(tmp_path, "a.csv", "ID,Name,Email\n1,Ana Lima,ana@x.io\n2,Bo Berg,\n")
        )
        report = hub.import_file(
            write(tmp_path, "b.csv", "ID,Name,Email\n1,,ana.lima@x.io\n"),
            opts(on_conflict="update"),
        )
        assert (report.updated, report.rejected) == (1, 0)
        assert (hub.get_customer(1).name, hub.get_customer(1).email) == (
            "Ana Lima",
            "ana.lima@x.io",
        )
        report = hub.import_file(
            write(tmp_path, "c.csv", "ID,Phone\n2,415 555 0123\n9,415 555 0199\n"),
            opts(on_conflict="update", rejects_path=tmp_path / "rej.csv"),
        )
        assert (report.updated, report.rejected) == (1, 1)
        assert report.rejects[0].code == "name_missing" and report.rejects[0].row == 2
        assert (hub.get_customer(2).name, hub.get_customer(2).phone) == ("Bo Berg", "+14155550123")

    def test_error_and_note_texts_are_bounded(self, hub: Hub, tmp_path: Path) -> None:
        """A 200,000-character header gives a short error saying it is too long (it was cut
        silently at 65,536); a note cuts a long column name, saying how long it was, and names
        the first of many extra columns and counts the rest."""
        from customer_flow.core.errors import ValidationError

        huge = "x" * 200_000
        with pytest.raises(ValidationError) as exc:
            hub.import_file(write(tmp_path, "h.csv", f"{huge},Email\n1,a@x.io\n"))
        assert exc.value.code == "bad_header"
        assert "longer than 65,536 characters" in exc.value.message
        assert len(exc.value.message) < 200
        # A long column name in a note is cut, saying how long it was.
        long_name = "y" * 90
        report = hub.validate_file(write(tmp_path, "n.csv", f"Name,{long_name}\nAna,1\n"))
        note = next(n for n in report.notes if n.startswith("kept as extra attributes"))
        assert "… (90 characters)" in note and len(note) < 200
        # 100 extra columns, the most a customer may have.
        header = ",".join(["Name", *(f"Col{i}" for i in range(100))])
        report = hub.validate_file(write(tmp_path, "w.csv", header + "\nAna" + "," * 100 + "\n"))
        note = next(n for n in report.notes if n.startswith("kept as extra attributes"))
        assert note.endswith("and 80 more") and len(note) < 400
