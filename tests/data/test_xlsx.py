"""The XLSX reader (``data.xlsx``): every guard (each test here fails when its guard is
removed), broken files, and equivalence with the openpyxl path it replaced on xlsxwriter-made
files, read through ``sources`` as the import reads them."""

from __future__ import annotations

import random
import shutil
import struct
import warnings
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import process_time
from typing import Any

import polars as pl
import pytest

import xlsx_support as mk
from customer_flow.core.errors import TooLargeError, ValidationError
from customer_flow.data import sources, xlsx
from customer_flow.data.xlsx import XlsxLimits


def read_new(
    path: Path, sheet: str | None = None, batch_rows: int = 100_000, **limits: Any
) -> tuple[list[str], list[pl.DataFrame]]:
    """The header and the frames, as the import reads them (``sources``), under ``limits``."""
    with pytest.MonkeyPatch.context() as mp:
        if limits:
            mp.setattr(xlsx, "DEFAULT_LIMITS", XlsxLimits(**limits))
        with sources.open_source(path, sheet=sheet) as source:
            return source.header, list(sources.read_batches(source, batch_rows))


def read_old(
    path: Path, sheet: str | None = None, batch_rows: int = 100_000
) -> tuple[list[str], list[pl.DataFrame]]:
    with warnings.catch_warnings():  # openpyxl warns of dates out of its range
        warnings.simplefilter("ignore", UserWarning)
        return _read_old(path, sheet, batch_rows)


def _read_old(
    path: Path, sheet: str | None, batch_rows: int
) -> tuple[list[str], list[pl.DataFrame]]:
    header = mk.openpyxl_header(path, sheet)
    # ``open_source`` names a blank header cell by its place, then as now.
    header = [h or f"column_{i + 1}" for i, h in enumerate(header)]
    return header, list(mk.openpyxl_batches(path, header, batch_rows, sheet))


def assert_same(path: Path, sheet: str | None = None, batch_rows: int = 100_000) -> None:
    """The new reader gives the very frames the openpyxl path gave."""
    old_h, old_f = read_old(path, sheet, batch_rows)
    new_h, new_f = read_new(path, sheet, batch_rows)
    assert old_h == new_h
    assert [f.height for f in old_f] == [f.height for f in new_f]
    for a, b in zip(old_f, new_f, strict=True):
        assert a.columns == b.columns
        assert a.to_dicts() == b.to_dicts()


def refused(path: Path, code: str, **limits: Any) -> ValidationError:
    """Reading ``path`` is refused with ``code`` and a one-line message."""
    with pytest.raises(ValidationError) as exc:
        read_new(path, **limits)
    err = exc.value
    assert code == err.code, err.message
    assert "\n" not in err.message and len(err.message) < 400
    return err


def sheet_file(tmp_path: Path, rows_xml: str, sst: list[str] | None = None, name="t.xlsx") -> Path:
    sst_xml = None
    if sst is not None:
        sst_xml = (
            f'<sst xmlns="{mk.MAIN}">'
            + "".join(f"<si>{s}</si>" if s.startswith("<") else f"<si><t>{s}</t></si>" for s in sst)
            + "</sst>"
        )
    return mk.raw_workbook(tmp_path / name, mk.sheet_of(rows_xml), sst_xml)


def simple_xlsx(tmp_path: Path, rows: list[list], name: str = "s.xlsx", **opts) -> Path:
    import xlsxwriter

    path = tmp_path / name
    wb = xlsxwriter.Workbook(str(path), opts)
    ws = wb.add_worksheet()
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v is not None:
                ws.write(r, c, v)
    wb.close()
    return path


# -- the ZIP container ---------------------------------------------------------------------------


class TestZipGuards:
    def test_too_many_members_refused_before_zipfile_parses_the_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = simple_xlsx(tmp_path, [["Name"], ["Ana"]])
        with zipfile.ZipFile(path, "a") as z:
            for i in range(60):
                z.writestr(f"junk/{i}.bin", b"")

        def no_zipfile(*a, **k):
            raise AssertionError("zipfile.ZipFile was built for an over-long directory")

        monkeypatch.setattr(xlsx.zipfile, "ZipFile", no_zipfile)
        err = refused(path, "xlsx_too_large", max_members=30)
        assert "parts" in err.message

    def test_member_count_checked_again_when_the_end_record_lies(self, tmp_path: Path) -> None:
        path = simple_xlsx(tmp_path, [["Name"], ["Ana"]])
        with zipfile.ZipFile(path, "a") as z:
            for i in range(40):
                z.writestr(f"j{i}", b"")
        raw = bytearray(path.read_bytes())
        at = raw.rfind(b"PK\x05\x06")
        raw[at + 8 : at + 12] = struct.pack("<HH", 1, 1)  # claim one entry
        path.write_bytes(bytes(raw))
        refused(path, "xlsx_too_large", max_members=30)

    def test_declared_part_size_over_the_limit(self, tmp_path: Path) -> None:
        path = simple_xlsx(tmp_path, [["Name"], ["Ana"]])
        err = refused(path, "xlsx_too_large", max_member_bytes=2000)
        assert "unpacks to" in err.message and "at most 2,000" in err.message

    def test_declared_total_over_the_limit(self, tmp_path: Path) -> None:
        path = simple_xlsx(tmp_path, [["Name"], ["Ana"]])
        refused(path, "xlsx_too_large", max_total_bytes=10_000)

    def test_absurd_compression_ratio(self, tmp_path: Path) -> None:
        path = mk.raw_workbook(
            tmp_path / "r.xlsx",
            mk.sheet_of(
                '<row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c></row>'
                + "<!-- "
                + "x" * 300_000
                + " -->"
            ),
        )
        err = refused(path, "xlsx_bomb", ratio_min_bytes=100_000)
        assert ":1" in err.message

    def test_counting_stream_stops_when_declared_sizes_lie(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = mk.customers(tmp_path / "c.xlsx", rows=2000)
        # Pretend the directory declared tiny sizes: the pre-checks pass, the reads must stop.
        monkeypatch.setattr(xlsx.XlsxWorkbook, "_check_members", lambda self, infos: None)
        err = refused(path, "xlsx_too_large", max_member_bytes=50_000)
        assert "more than 50,000 bytes" in err.message

    def test_shared_read_budget_across_parts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = mk.customers(tmp_path / "c.xlsx", rows=2000)
        monkeypatch.setattr(xlsx.XlsxWorkbook, "_check_members", lambda self, infos: None)
        err = refused(path, "xlsx_too_large", max_total_bytes=300_000)
        assert "unpacked more than 300,000" in err.message

    def test_a_1mb_file_of_1gib_is_refused_before_parsing(self, xlsx_bomb: Path) -> None:
        """The real bomb (1 MB, 1 GiB of shared strings) is refused from the ZIP directory."""
        assert xlsx_bomb.stat().st_size < 1_200_000
        started = process_time()
        err = refused(xlsx_bomb, "xlsx_too_large")
        assert "xl/sharedStrings.xml unpacks to 1,073,741," in err.message
        assert "split the file, or save the sheet as CSV" in err.message
        assert process_time() - started < 2

    def test_many_gigabytes_declared_are_refused(self, xlsx_bomb: Path, tmp_path: Path) -> None:
        copy = tmp_path / "declared.xlsx"
        shutil.copy(xlsx_bomb, copy)
        mk.declare_size(copy, "xl/sharedStrings.xml", 4_000_000_000)
        err = refused(copy, "xlsx_too_large")
        assert "unpacks to 4,000,000,000 bytes" in err.message

    def test_real_bomb_is_refused_fast(self, tmp_path: Path) -> None:
        path = mk.bomb(tmp_path / "b.xlsx", gigabytes=0.1)  # 100 MB of 'A' in ~100 KB
        err = refused(path, "xlsx_bomb")
        assert "sharedStrings" in err.message


# -- XML -----------------------------------------------------------------------------------------


class TestXmlGuards:
    def test_billion_laughs_refused(self, tmp_path: Path) -> None:
        err = refused(mk.laughs(tmp_path / "l.xlsx"), "bad_xlsx")
        assert "document type" in err.message

    def test_any_entity_declaration_is_refused_even_a_harmless_one(self, tmp_path: Path) -> None:
        # expat >= 2.4 stops billion laughs by itself; a small entity it would expand quietly.
        sheet = (
            '<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "Ana">]>'
            + mk.sheet_of('<row r="1"><c r="A1" t="inlineStr"><is><t>&a;</t></is></c></row>').split(
                "?>", 1
            )[1]
        )
        err = refused(mk.raw_workbook(tmp_path / "e.xlsx", sheet), "bad_xlsx")
        assert "document type" in err.message

    def test_external_entity_refused(self, tmp_path: Path) -> None:
        sheet = (
            '<?xml version="1.0"?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + mk.sheet_of('<row r="1"><c r="A1" t="str"><v>&x;</v></c></row>').split("?>", 1)[1]
        )
        refused(mk.raw_workbook(tmp_path / "x.xlsx", sheet), "bad_xlsx")

    def test_a_giant_tag_is_refused_before_expat_buffers_it(self, tmp_path: Path) -> None:
        big = '<row r="2"><c r="A2" t="inlineStr" x="' + "y" * (3 << 20) + '"/></row>'
        path = sheet_file(
            tmp_path, '<row r="1"><c r="A1" t="inlineStr"><is><t>N</t></is></c></row>' + big
        )
        err = refused(path, "bad_xlsx", ratio_min_bytes=1 << 40)
        assert "over 1 MB" in err.message


# -- sheet caps ----------------------------------------------------------------------------------


class TestSheetCaps:
    def test_rows(self, tmp_path: Path) -> None:
        path = simple_xlsx(tmp_path, [["Name"]] + [[f"c{i}"] for i in range(50)])
        assert sum(f.height for f in read_new(path, max_rows=51)[1]) == 50
        err = refused(path, "xlsx_too_many_rows", max_rows=20)
        assert "more than 20 rows" in err.message and "CSV" in err.message

    def test_columns(self, tmp_path: Path) -> None:
        path = simple_xlsx(tmp_path, [["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5]])
        err = refused(path, "xlsx_too_many_columns", max_columns=3)
        assert "column D" in err.message and "at most 3 columns" in err.message

    def test_cell_length_value(self, tmp_path: Path) -> None:
        path = sheet_file(tmp_path, f'<row r="1"><c r="A1" t="str"><v>{"x" * 101}</v></c></row>')
        refused(path, "xlsx_cell_too_long", max_cell_chars=100)

    def test_cell_length_inline(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path, f'<row r="1"><c r="A1" t="inlineStr"><is><t>{"x" * 101}</t></is></c></row>'
        )
        refused(path, "xlsx_cell_too_long", max_cell_chars=100)

    def test_cell_length_shared(self, tmp_path: Path) -> None:
        path = sheet_file(tmp_path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', ["x" * 101])
        refused(path, "xlsx_cell_too_long", max_cell_chars=100)

    def test_shared_string_count(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', [f"s{i}" for i in range(11)]
        )
        err = refused(path, "xlsx_too_many_strings", max_shared_strings=10)
        assert "over 10 entries" in err.message

    def test_shared_string_bytes(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', ["é" * 1000] * (1 << 10)
        )  # 2 MB of UTF-8
        refused(path, "xlsx_too_many_strings", max_shared_bytes=1 << 20)

    def test_a_row_repeating_one_column_is_capped(self, tmp_path: Path) -> None:
        """Cells of one column written again and again count against the columns cap."""
        path = sheet_file(tmp_path, '<row r="1">' + '<c r="A1"><v>1</v></c>' * 11 + "</row>")
        err = refused(path, "xlsx_too_many_columns", max_columns=10)
        assert "over 10 values" in err.message

    def test_style_sheet_size_is_capped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import xlsxwriter

        path = tmp_path / "styles.xlsx"
        wb = xlsxwriter.Workbook(str(path))
        ws = wb.add_worksheet()
        for i in range(12):
            ws.write_number(i, 0, i, wb.add_format({"num_format": f"0.{'0' * (i + 1)}"}))
        wb.close()
        monkeypatch.setattr(xlsx, "_MAX_STYLES", 10)
        err = refused(path, "bad_xlsx")
        assert "over 10 number formats" in err.message

    def test_wide_sheets_get_smaller_batches(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A frame holds at most so many cells: a wide sheet gets fewer rows a batch."""
        path = simple_xlsx(tmp_path, [[f"h{i}" for i in range(10)]] + [[i] * 10 for i in range(25)])
        monkeypatch.setattr(sources, "_XLSX_BATCH_CELLS", 100)
        _, frames = read_new(path, batch_rows=100_000)
        assert [10, 10, 5] == [f.height for f in frames]

    def test_long_cells_get_smaller_batches(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A frame holds at most so many characters: long cells make smaller batches, so a
        sheet of 32,767-character cells cannot fill a frame of gigabytes."""
        path = simple_xlsx(tmp_path, [["Name", "Notes"]] + [[f"n{i}", "x" * 40] for i in range(9)])
        monkeypatch.setattr(sources, "_XLSX_BATCH_CHARS", 100)
        _, frames = read_new(path, batch_rows=100_000)
        assert [3, 3, 3] == [f.height for f in frames]
        assert pl.concat(read_old(path)[1]).equals(pl.concat(frames))


# -- shape of the sheet ------------------------------------------------------------------------


class TestShape:
    def test_far_column_and_gaps_are_filled(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path,
            '<row r="1"><c r="A1" t="inlineStr"><is><t>A</t></is></c>'
            '<c r="C1" t="inlineStr"><is><t>C</t></is></c></row>'
            '<row r="4"><c r="C4"><v>3</v></c><c r="XFD4"><v>9</v></c></row>'
            '<row r="1048576"><c r="A1048576"><v>1</v></c></row>',
        )
        header, frames = read_new(path, max_columns=16_384)
        assert ["A", "column_2", "C"] == header
        df = pl.concat(frames, how="diagonal")
        assert df.height == 1048575
        assert df.row(2) == (
            3,
            None,
            None,
            "3",
            "the row has values in 4 columns; the header has 3",
        )
        assert df.row(0) == (1, None, None, None, None)
        assert df.row(-1) == (1048575, "1", None, None, None)

    def test_cells_without_references_follow_on(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path,
            '<row><c t="str"><v>a</v></c><c t="str"><v>b</v></c></row>'
            '<row><c><v>1</v></c><c r="C2"><v>3</v></c><c><v>4</v></c></row>',
            ["unused"],
        )
        assert_same(path)
        header, frames = read_new(path)
        assert header == ["a", "b"] and frames[0].row(0)[1:3] == ("1", None)

    def test_named_sheet_and_unknown_sheet(self, tmp_path: Path) -> None:
        import xlsxwriter

        path = tmp_path / "two.xlsx"
        wb = xlsxwriter.Workbook(str(path))
        wb.add_worksheet("First").write_row(0, 0, ["Name", "X"])
        second = wb.add_worksheet("Second")
        second.write_row(0, 0, ["ID", "Email"])
        second.write_row(1, 0, [7, "a@b.c"])
        wb.close()
        assert read_new(path, "Second")[1][0].to_dicts() == [
            {"__row": 1, "ID": "7", "Email": "a@b.c"}
        ]
        assert_same(path, "Second")
        with pytest.raises(ValidationError) as exc:
            xlsx.xlsx_header(path, "Third")
        assert exc.value.code == "bad_sheet"
        assert exc.value.message == "--sheet: no sheet 'Third'; sheets: First, Second"

    def test_empty_first_row(self, tmp_path: Path) -> None:
        path = sheet_file(tmp_path, '<row r="2"><c r="A2"><v>1</v></c></row>')
        with pytest.raises(ValidationError) as exc:
            xlsx.xlsx_header(path)
        assert exc.value.code == "empty_file"
        assert exc.value.message == "t.xlsx: the first sheet is empty"


# -- broken files ----------------------------------------------------------------------------------


class TestRowLimit:
    """``open_source(max_rows=)``: the web's limit, for every format, refused while reading."""

    @pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
    def test_past_the_limit_is_413_too_many_rows(self, tmp_path: Path, fmt: str) -> None:
        path = tmp_path / f"people.{fmt}"
        rows = [f"Person {i}" for i in range(30)]
        if fmt == "xlsx":
            simple_xlsx(tmp_path, [["Name"], *([r] for r in rows)], name=path.name)
        elif fmt == "csv":
            path.write_text("Name\n" + "".join(f"{r}\n" for r in rows))
        else:
            path.write_text("".join(f'{{"Name": "{r}"}}\n' for r in rows))
        with sources.open_source(path, max_rows=30) as source:
            assert 30 == sum(b.height for b in sources.read_batches(source, 7))
        with (
            sources.open_source(path, max_rows=29) as source,
            pytest.raises(TooLargeError) as exc,
        ):
            list(sources.read_batches(source, 7))
        assert ("too_many_rows", 413) == (exc.value.code, exc.value.http_status)
        assert "more than 29 rows" in exc.value.message and "CLI" in exc.value.message

    def test_an_xlsx_stops_reading_at_the_limit(self, tmp_path: Path) -> None:
        """2,000,000 rows (row numbers written, so the ratio check passes) are refused after
        the limit's rows, in about a second, not after reading them all."""
        path = mk.many_rows(tmp_path / "rows.xlsx", rows=2_000_000, numbered=True)
        started = process_time()
        with (
            sources.open_source(path, max_rows=50_000) as source,
            pytest.raises(TooLargeError),
        ):
            list(sources.read_batches(source, 10_000))
        assert process_time() - started < 5


class TestBroken:
    @pytest.mark.parametrize(
        "make",
        [
            lambda p: p.write_bytes(b"PK\x03\x04 this is not really a zip"),
            lambda p: p.write_bytes(b"Name,Email\nAna,a@b.c\n"),
            lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
            lambda p: zipfile.ZipFile(p, "w").writestr("hello.txt", "hi"),
        ],
        ids=["truncated-zip", "csv", "ole-encrypted", "zip-without-workbook"],
    )
    def test_not_a_workbook(self, tmp_path: Path, make) -> None:
        path = tmp_path / "b.xlsx"
        make(path)
        refused(path, "bad_xlsx")

    @pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    def test_corrupt_part_data(self, tmp_path: Path, method: int) -> None:
        """A damaged part (bad CRC, or a broken deflate stream) is one line, not a traceback."""
        src = mk.customers(tmp_path / "c.xlsx", rows=500)
        out = tmp_path / "bad.xlsx"
        with zipfile.ZipFile(src) as a, zipfile.ZipFile(out, "w", method) as b:
            for info in a.infolist():
                b.writestr(info.filename, a.read(info), compress_type=method)
        raw = bytearray(out.read_bytes())
        with zipfile.ZipFile(out) as z:
            info = z.getinfo("xl/worksheets/sheet1.xml")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        for i in range(start + 2000, start + 2400):
            raw[i] ^= 0x5A
        out.write_bytes(bytes(raw))
        refused(out, "bad_xlsx")

    def test_missing_workbook_part(self, tmp_path: Path) -> None:
        path = simple_xlsx(tmp_path, [["Name"], ["Ana"]])
        out = tmp_path / "nowb.xlsx"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                if info.filename != "xl/workbook.xml":
                    dst.writestr(info, src.read(info))
        err = refused(out, "bad_xlsx")
        assert "workbook" in err.message

    @pytest.mark.parametrize(
        "xml",
        ['<row r="1"><c r="A1"><v>1</v></row>', '<row r="1"><c r="A1"><v>1</v></c></row><row'],
    )
    def test_bad_xml(self, tmp_path: Path, xml: str) -> None:
        path = mk.raw_workbook(
            tmp_path / "x.xlsx",
            mk.sheet_of(xml).replace("</sheetData></worksheet>", "")
            if xml.endswith("<row")
            else mk.sheet_of(xml),
        )
        err = refused(path, "bad_xlsx")
        assert "XML" in err.message

    @pytest.mark.parametrize(
        "cell",
        [
            '<c r="A1"><v>abc</v></c>',
            '<c r="A1" t="s"><v>5</v></c>',
            '<c r="A1" t="b"><v>x</v></c>',
            '<c r="1A"><v>1</v></c>',
            '<c r="A1" t="d"><v>yesterday</v></c>',
        ],
    )
    def test_bad_values_are_one_line_errors(self, tmp_path: Path, cell: str) -> None:
        refused(sheet_file(tmp_path, f'<row r="1">{cell}</row>', ["only"]), "bad_xlsx")

    def test_rows_out_of_order(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path,
            '<row r="3"><c r="A3"><v>1</v></c></row><row r="2"><c r="A2"><v>1</v></c></row>',
        )
        refused(path, "bad_xlsx")


# -- equivalence with the openpyxl path --------------------------------------------------------


class TestEquivalence:
    def test_customer_export_like_files(self, tmp_path: Path) -> None:
        assert_same(mk.customers(tmp_path / "a.xlsx", rows=3000), batch_rows=1000)
        assert_same(mk.customers(tmp_path / "b.xlsx", rows=3000, constant_memory=True))

    @pytest.mark.parametrize("options", [{}, {"constant_memory": True}, {"date_1904": True}])
    def test_every_kind_of_cell(self, tmp_path: Path, options: dict) -> None:
        import xlsxwriter

        path = tmp_path / "kinds.xlsx"
        wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, **options})
        ws = wb.add_worksheet("Data")
        bold = wb.add_format({"bold": True, "italic": True})
        formats = [
            wb.add_format({"num_format": f})
            for f in (
                "yyyy-mm-dd",
                "dd/mm/yyyy hh:mm",
                "h:mm:ss",
                "[h]:mm:ss",
                "mm:ss.0",
                "0.00%",
                "#,##0.00",
                '"Date:" 0',
                "[Red]0.0",
                "@",
                "d-mmm",
                "[$-409]mmmm d, yyyy",
            )
        ]
        ws.write_row(
            0, 0, ["ID", " Name ", "Email", "", "Amount", "When", "Flag", "Formula", "Rich"]
        )
        rows = [
            [1, "Ana Lima", "ana@example.com", None, 1.5, datetime(2024, 2, 29, 13, 45, 30)],
            [2.0, "  spaced  ", "", None, -0.1, date(1900, 1, 1)],
            [12345678901234567, "東京 🙂 Ünïcödé", "x005F_tricky", None, 1e20, time(12, 30)],
            [
                None,
                "line\nbreak\ttab",
                "\x01ctl",
                None,
                3.141592653589793,
                timedelta(days=1, hours=2),
            ],
            [-7, "=not a formula", "'quoted", None, 0, datetime(1899, 12, 31)],
            [1e-7, "עברית", "&<>\"'", None, 2**53, date(2100, 12, 31)],
        ]
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, str):
                    ws.write_string(r, c, v)
                elif isinstance(v, (datetime, date, time, timedelta)):
                    ws.write_datetime(r, c, v, formats[(r + c) % len(formats)])
                else:
                    ws.write_number(r, c, v, formats[(r * 3 + c) % len(formats)] if r % 2 else None)
            ws.write_boolean(r, 6, r % 2 == 0)
        ws.write_formula(1, 7, "=A2*2", None, 2)
        ws.write_formula(2, 7, '="x"&B3', None, "x  spaced  ")
        ws.write_formula(3, 7, "=1/0", None, "#DIV/0!")
        ws.write_formula(4, 7, "=TRUE()", None, True)
        ws.write_formula(5, 7, "=A6")  # no cached value
        ws.write_rich_string(1, 8, "plain ", bold, "bold", " tail")
        ws.write_number(8, 0, 99)  # after two empty rows
        ws.write_string(9, 12, "beyond the header")  # overflow
        ws.write_number(10, 3, 45000, formats[0])
        wb.close()
        assert_same(path)
        assert_same(path, "Data", batch_rows=3)

    @pytest.mark.parametrize("seed", range(6))
    def test_random_sheets(self, tmp_path: Path, seed: int) -> None:
        import xlsxwriter

        rnd = random.Random(seed)
        path = tmp_path / f"r{seed}.xlsx"
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": seed % 2 == 1})
        ws = wb.add_worksheet()
        fmts = [None] + [
            wb.add_format({"num_format": f})
            for f in ("yyyy-mm-dd hh:mm:ss", "0.000", "mm/dd/yy", "[mm]:ss", "General")
        ]
        alphabet = "abcXYZ 123éßøЖж中文🙂\n\t_x000D_&<>"
        width = rnd.randint(1, 12)
        ws.write_row(0, 0, [f"col{i}" for i in range(width)])
        for r in range(1, rnd.randint(1, 400)):
            if rnd.random() < 0.05:
                continue  # an empty row
            for c in range(width + (1 if rnd.random() < 0.05 else 0)):
                kind = rnd.random()
                if kind < 0.2:
                    continue
                if kind < 0.5:
                    ws.write_string(
                        r, c, "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
                    )
                elif kind < 0.75:
                    v = rnd.choice(
                        [
                            rnd.randint(-(10**6), 10**6),
                            rnd.uniform(-1e6, 1e6),
                            rnd.random() * 60000,
                            0.5,
                            1e300,
                        ]
                    )
                    ws.write_number(r, c, v, rnd.choice(fmts))
                elif kind < 0.9:
                    ws.write_datetime(
                        r,
                        c,
                        datetime(1950, 1, 1) + timedelta(seconds=rnd.randint(0, 3 * 10**9)),
                        rnd.choice(fmts[1:]),
                    )
                else:
                    ws.write_boolean(r, c, rnd.random() < 0.5)
        wb.close()
        assert_same(path, batch_rows=rnd.choice([7, 100, 100_000]))

    def test_hand_written_cell_types(self, tmp_path: Path) -> None:
        path = sheet_file(
            tmp_path,
            '<row r="1"><c r="A1" t="inlineStr"><is><r><t>Na</t></r><r><t>me</t></r>'
            '<rPh sb="0" eb="1"><t>ph</t></rPh></is></c>'
            '<c r="B1" t="s"><v>1</v></c><c r="C1" t="str"><v>Third</v></c>'
            '<c r="D1" t="s"><v>2</v></c></row>'
            '<row r="2"><c r="A2" t="e"><v>#N/A</v></c><c r="B2" t="b"><v>0</v></c>'
            '<c r="C2" t="d"><v>2024-05-06T07:08:09</v></c>'
            '<c r="D2" t="d"><v>2024-05-06</v></c></row>'
            '<row r="3" spans="1:4"><c r="A3"><v>00042</v></c><c r="B3"><v>1E3</v></c>'
            '<c r="C3"><v></v></c>'
            '<c r="D3" t="inlineStr"><is><t xml:space="preserve">  x  </t></is></c></row>'
            '<row r="4"><c r="B4" t="s"><v>0</v></c><c r="B4"><v>5</v></c></row>',
            [
                "x005F_x000D_ z",
                '<t>Second</t><rPh sb="0" eb="1"><t>ignored</t></rPh>',
                "<r><t>rich</t></r><r><t>run</t></r>",
            ],
        )
        assert_same(path)
