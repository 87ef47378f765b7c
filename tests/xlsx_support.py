"""XLSX files for the tests, and the openpyxl reader that ``data.xlsx`` replaced.

- Builders: a customer list like the ones users upload (xlsxwriter, as the export writes it),
  minimal hand-made workbooks, decompression bombs, a 2,000,000-row sheet and billion laughs.
  Big parts are written through streaming ``zipfile`` entries: no multi-GB buffer is ever held.
- ``openpyxl_header`` / ``openpyxl_batches``: ``sources``'s XLSX path before issue 15 (openpyxl
  ``load_workbook(read_only=True, data_only=True)`` and ``_cell``), kept verbatim apart from
  taking the sheet for the rows too, so that the equivalence tests compare the new reader with
  exactly what shipped.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from customer_flow.core.errors import ValidationError

ROW = "__row"

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

_SSML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CONTENT_TYPES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="{_PKG}/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    '+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_SSML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_SSML}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SSML}.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    f'<?xml version="1.0"?><Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{R_NS}"><sheets>'
    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    f'<?xml version="1.0"?><Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)


Part = str | bytes | Iterable[bytes] | None


def raw_workbook(path: Path, sheet_xml: Part, sst_xml: Part = None) -> Path:
    """A minimal hand-made workbook. ``sheet_xml``/``sst_xml``: bytes, or an iterable of byte
    chunks written through a streaming zip entry (nothing big is held in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        for name, part in (
            ("xl/worksheets/sheet1.xml", sheet_xml),
            ("xl/sharedStrings.xml", sst_xml),
        ):
            if part is None:
                continue
            if isinstance(part, (bytes, str)):
                z.writestr(name, part)
            else:
                with z.open(name, "w", force_zip64=True) as out:
                    for chunk in part:
                        out.write(chunk)
    return path


XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
SHEET_HEAD = f'{XML_HEAD}<worksheet xmlns="{MAIN}"><sheetData>'
SHEET_TAIL = "</sheetData></worksheet>"


def sheet_of(rows_xml: str) -> str:
    return SHEET_HEAD + rows_xml + SHEET_TAIL


def customers(path: Path, rows: int = 100_000, constant_memory: bool = False) -> Path:
    """A customer list like the ones users upload: ID, names, email, phone, a date, a number."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    ws = wb.add_worksheet("Customers")
    dfmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    head = ["ID", "Name", "Email", "Phone", "City", "Signed up", "Balance", "Notes"]
    for c, h in enumerate(head):
        ws.write_string(0, c, h)
    cities = ["Lisboa", "Zürich", "東京", "São Paulo", "Kraków", "Reykjavík"]
    for i in range(1, rows + 1):
        ws.write_number(i, 0, i)
        ws.write_string(i, 1, f"Customer {i} Ñandú")
        ws.write_string(i, 2, f"user{i}@example.com")
        ws.write_string(i, 3, f"+1 415 555 {i % 10000:04d}")
        ws.write_string(i, 4, cities[i % len(cities)])
        ws.write_datetime(i, 5, datetime(2020, 1, 1 + i % 28, i % 24, 0), dfmt)
        ws.write_number(i, 6, (i * 7919 % 100000) / 100)
        if i % 3 == 0:
            ws.write_string(i, 7, f"note {i}")
    wb.close()
    return path


def bomb(path: Path, gigabytes: float = 1.0, part: str = "sst") -> Path:
    """A decompression bomb: ``gigabytes`` of XML that deflates about 1,000:1 (1 GB is a 1 MB
    file), written through a streaming entry. ``part="sst"``: shared strings of a megabyte each
    (openpyxl kept them all); ``"sheet"``: one row followed by a megabyte of spaces, over and
    over."""
    n = int(gigabytes * 1024)
    mb = 1 << 20
    if part == "sst":
        block = b"<si><t>" + b"A" * (mb - 16) + b"</t></si>"
        head, tail = f'{XML_HEAD}<sst xmlns="{MAIN}">', b"</sst>"
    else:
        block = b'<row><c t="s"><v>0</v></c></row>' + b" " * (mb - 32)
        head, tail = SHEET_HEAD, SHEET_TAIL.encode()

    def body() -> Iterator[bytes]:
        yield head.encode()
        for _ in range(n):
            yield block
        yield tail

    one_cell = sheet_of('<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    if part == "sst":
        return raw_workbook(path, one_cell, body())
    return raw_workbook(path, body(), f'<sst xmlns="{MAIN}"><si><t>Name</t></si></sst>')


def declare_size(path: Path, part: str, size: int) -> Path:
    """Make the ZIP's central directory say that ``part`` unpacks to ``size`` bytes (under
    4 GiB; a lie either way): what a reader checks before it decompresses anything."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        at, infos = z.start_dir, z.infolist()
    for info in infos:  # the central directory lists the parts in order
        assert b"PK\x01\x02" == raw[at : at + 4]
        name_len, extra_len, comment_len = struct.unpack("<HHH", raw[at + 28 : at + 34])
        if info.filename == part:
            raw[at + 24 : at + 28] = struct.pack("<L", size)
            path.write_bytes(bytes(raw))
            return path
        at += 46 + name_len + extra_len + comment_len
    raise KeyError(part)


def many_rows(path: Path, rows: int = 2_000_000, numbered: bool = False) -> Path:
    """One cell per row. Without row/cell references (``numbered=False``) every row is the same
    bytes and the file is a few hundred KB; with them it is about 10 MB."""

    def sheet() -> Iterator[bytes]:
        yield SHEET_HEAD.encode()
        buf = []
        for r in range(1, rows + 1):
            buf.append(
                f'<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>'
                if numbered
                else '<row><c t="s"><v>0</v></c></row>'
            )
            if len(buf) == 10_000:
                yield "".join(buf).encode()
                buf = []
        yield "".join(buf).encode()
        yield SHEET_TAIL.encode()

    return raw_workbook(path, sheet(), f'<sst xmlns="{MAIN}"><si><t>x</t></si></sst>')


def laughs(path: Path, where: str = "sst") -> Path:
    """Billion laughs: 10 levels of 10 references, 10^9 'lol's if expanded."""
    decl = ['<!ENTITY lol "lol">']
    prev = "lol"
    for i in range(1, 10):
        decl.append(f'<!ENTITY lol{i} "' + f"&{prev};" * 10 + '">')
        prev = f"lol{i}"
    dtd = '<?xml version="1.0"?><!DOCTYPE lolz [' + "".join(decl) + "]>"
    sst = dtd + f'<sst xmlns="{MAIN}"><si><t>&{prev};</t></si></sst>'
    sheet = sheet_of('<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    if where == "sheet":
        sheet = dtd + sheet[sheet.index("?>") + 2 :].replace(
            't="s"><v>0</v>', f't="str"><v>&{prev};</v>'
        )
        return raw_workbook(path, sheet, f'<sst xmlns="{MAIN}"><si><t>x</t></si></sst>')
    return raw_workbook(path, sheet, sst)


# -- the openpyxl path, as it shipped ------------------------------------------------------


def _frame(
    header: list[str],
    rows: list[list[str | None]],
    numbers: list[int],
    overflow: list[str | None] | None = None,
) -> pl.DataFrame:
    columns: dict[str, Any] = {ROW: pl.Series(ROW, numbers, dtype=pl.Int64)}
    for i, name in enumerate(header):
        columns[name] = pl.Series(name, [r[i] for r in rows], dtype=pl.String)
    if overflow is not None and any(o is not None for o in overflow):
        columns["__overflow"] = pl.Series("__overflow", overflow, dtype=pl.String)
    return pl.DataFrame(columns)


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text if text != "" else None


def _open_sheet(path: Path, sheet: str | None) -> Any:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise ValidationError(
            f"{path.name}: not a readable XLSX workbook: {exc}", code="bad_xlsx"
        ) from exc
    if sheet is not None and sheet not in wb.sheetnames:
        raise ValidationError(
            f"--sheet: no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}", code="bad_sheet"
        )
    return wb, wb[sheet] if sheet else wb.worksheets[0]


def openpyxl_header(path: Path, sheet: str | None) -> list[str]:
    wb, ws = _open_sheet(path, sheet)
    try:
        for row in ws.iter_rows(max_row=1, values_only=True):
            header = [(_cell(v) or "").strip() for v in row]
            while header and not header[-1]:
                header.pop()
            if header:
                return header
    finally:
        wb.close()
    raise ValidationError(f"{path.name}: the first sheet is empty", code="empty_file")


def openpyxl_batches(
    path: Path, header: list[str], batch_rows: int, sheet: str | None = None
) -> Iterator[pl.DataFrame]:
    wb, ws = _open_sheet(path, sheet)
    width = len(header)
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    overflow: list[str | None] = []
    try:
        for n, row in enumerate(ws.iter_rows(min_row=2, values_only=True), start=1):
            values = [_cell(v) for v in row]
            extra = [v for v in values[width:] if v is not None]
            values = values[:width] + [None] * max(0, width - len(values))
            rows.append(values)
            numbers.append(n)
            overflow.append(
                f"the row has values in {width + len(extra)} columns; the header has {width}"
                if extra
                else None
            )
            if len(rows) >= batch_rows:
                yield _frame(header, rows, numbers, overflow)
                rows, numbers, overflow = [], [], []
    finally:
        wb.close()
    if rows:
        yield _frame(header, rows, numbers, overflow)


# -- measuring a run -------------------------------------------------------------------------

# The peak is the process's VmHWM, not ``getrusage``'s ru_maxrss: Linux carries ru_maxrss over
# from the parent across fork and exec, so a child of a big test process would report the
# parent's size.
_WRAPPER = """
import json, os, sys
{warm}
def _status_kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
_base = _status_kb("VmRSS")
_code = 0
try:
{payload}
except SystemExit as exc:
    _code = exc.code if isinstance(exc.code, int) else 1
finally:
    with open(os.environ["CF_RSS_OUT"], "w") as fh:
        json.dump({{"base_kb": _base, "peak_kb": _status_kb("VmHWM")}}, fh)
sys.exit(_code)
"""


def run_measured(
    payload: str, *, warm: str, tmp_path: Path, timeout: float = 300
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``payload`` (Python source) in a fresh interpreter once ``warm`` (imports) has run;
    return the process and how far its peak resident memory rose above the resident memory
    it had when the payload began, in MB (``/proc/self/status``: VmHWM less VmRSS)."""
    out = tmp_path / "rss.json"
    script = _WRAPPER.format(warm=warm, payload=textwrap.indent(payload, "    "))
    src = Path(__file__).resolve().parent.parent / "src"
    env = {**os.environ, "CF_RSS_OUT": str(out), "PYTHONPATH": str(src)}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    figures = json.loads(out.read_text())
    return proc, (figures["peak_kb"] - figures["base_kb"]) / 1024
