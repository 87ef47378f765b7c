"""Issue 16: nothing dropped silently, no made-up values, and the small things an outside
review found in the import (real SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

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
