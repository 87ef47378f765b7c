"""Reading one sheet of an XLSX file in bounded memory and bounded time: the XLSX end of
``sources`` (the CLI's ``import`` and ``validate``, and the web app's import preview and import).

It reads what ``openpyxl.load_workbook(read_only=True, data_only=True)`` read before it, cell
for cell (``xlsx_cells`` holds openpyxl's rendering rules; the tests compare the two on
xlsxwriter-made files), with the same one-line ``ValidationError``s for a broken workbook
(``bad_xlsx``), an unknown sheet (``bad_sheet``) or an empty first row (``empty_file``). What it
adds is that a file cannot make it use unbounded memory or CPU (a 1 MB upload once took the
server from 318 MB to 22.7 GB and an OOM kill):

- The ZIP is checked before anything is decompressed: the central directory's size and entry
  count (read from the end record, before ``zipfile`` builds one object per entry), each part's
  declared size, the total, and the compression ratio of large parts.
- Declared sizes can lie, so every part is read through a counting stream that stops at the
  limit, and all reads of one workbook share one byte budget.
- XML is parsed with expat in 64 KB pieces, building no tree. A document type declaration is
  refused outright (no part of a workbook has one), so entity expansion (billion laughs,
  quadratic blow-up) and external entities never happen, whatever the expat version. No single
  XML token (a tag, a comment) may exceed 1 MB, since expat holds an unfinished token whole.
- The shared-strings table is stored as one UTF-8 buffer plus an offsets array (about 8 bytes of
  overhead a string rather than ~60 for a ``str`` in a list), capped in count and bytes.
- Caps on rows, columns and characters a cell, each refused with a one-line message that says
  which limit and what to do (codes ``xlsx_too_large``, ``xlsx_bomb``, ``xlsx_too_many_rows``,
  ``xlsx_too_many_columns``, ``xlsx_cell_too_long``, ``xlsx_too_many_strings``).

Where it differs from openpyxl, only on files no spreadsheet program writes: rows out of order
are refused (openpyxl dropped them silently), and ``<dimension>`` is not trusted (openpyxl read
a sheet whose writer left ``ref="A1"`` as one cell).
"""

from __future__ import annotations

import os
import posixpath
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

from customer_flow.core.errors import ValidationError
from customer_flow.data import xlsx_cells as cells

__all__ = ["DEFAULT_LIMITS", "XlsxLimits", "XlsxWorkbook", "xlsx_header", "xlsx_rows"]

MiB = 1 << 20


@dataclass(frozen=True)
class XlsxLimits:
    """The caps. The defaults let anything Excel or xlsxwriter writes for a customer list pass
    (a 100,000-row, 8-column sheet is 29-40 MB of XML, compressed 7-9:1), while no file costs
    more than a few hundred MB of memory (the shared strings, at most) or about a minute of
    CPU (1.5 GB of XML at ~25 MB/s)."""

    #: Parts in the ZIP. A workbook has ~10 + ~3 a sheet; 1,000 is ~300 sheets.
    max_members: int = 1_000
    #: Uncompressed bytes of any one part. A 100k-row, 8-column sheet is 29-40 MB of XML;
    #: Excel's largest possible customer sheet (1,048,576 rows) is ~300-400 MB.
    max_member_bytes: int = 1024 * MiB
    #: Uncompressed bytes of all parts together (declared), and of everything actually read.
    max_total_bytes: int = 1536 * MiB
    #: Compression ratio above which a part is refused, once it is over ``ratio_min_bytes``.
    #: Real sheets and string tables compress 5-15:1; zeros or repeated bytes reach 1000:1.
    max_ratio: float = 100.0
    ratio_min_bytes: int = 8 * MiB
    #: Rows, counting the header: Excel's own maximum.
    max_rows: int = 1_048_576
    #: The rightmost column a value may be in (2,000; Excel allows 16,384 = XFD).
    max_columns: int = 2_000
    #: Characters in one cell: Excel's own maximum.
    max_cell_chars: int = 32_767
    #: Shared-strings table: entries, and UTF-8 bytes held in memory.
    max_shared_strings: int = 5_000_000
    max_shared_bytes: int = 256 * MiB


DEFAULT_LIMITS = XlsxLimits()

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships}"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types}"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_R_ID = _DOC_REL + "}id"
_WORKBOOK_TYPES = (
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
)
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"

_CHUNK = 64 * 1024
_MAX_TOKEN = 1 * MiB  # an unfinished XML tag/comment expat may hold
_MAX_STYLES = 200_000
_FIX = " (split the file, or save the sheet as CSV and import that)"

# -- errors ----------------------------------------------------------------------------------------


class _Bad(Exception):
    """Internal: the workbook is broken; becomes a one-line ``bad_xlsx`` ValidationError."""


class _Refused(Exception):
    """Internal: a limit was hit; carries a finished message and code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


# -- the ZIP container -----------------------------------------------------------------------------

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _central_directory(fh: IO[bytes]) -> tuple[int, int]:
    """(entries, central directory bytes) from the end record, without reading the directory:
    ``zipfile`` makes one object per entry, so a 50 MB directory must be refused before that."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_len = min(size, 22 + 65_535 + 20)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise _Bad("not a ZIP archive (an .xlsx file is one)")
    entries, cd_size = struct.unpack("<HL", tail[at + 10 : at + 16])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # ZIP64: the real figures are elsewhere
        loc = at - 20
        if loc < 0 or tail[loc : loc + 4] != _ZIP64_LOCATOR:
            raise _Bad("a ZIP64 end record is missing")
        (offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        fh.seek(offset)
        rec = fh.read(56)
        if len(rec) < 56 or rec[:4] != _ZIP64_EOCD:
            raise _Bad("the ZIP64 end record is damaged")
        entries, cd_size = struct.unpack("<QQ", rec[32:48])
    return entries, cd_size


class _Budget:
    """Bytes left to decompress across every read of one workbook."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total


class _CountingReader:
    """Reads a ZIP part and raises once more than ``limit`` bytes (or the shared budget) came
    out of it: the declared size in the ZIP directory is not trusted."""

    def __init__(self, raw: IO[bytes], name: str, limit: int, budget: _Budget, file: str) -> None:
        self._raw = raw
        self._name = name
        self._limit = limit
        self._budget = budget
        self._file = file
        self.count = 0

    def read(self, n: int = _CHUNK) -> bytes:
        data = self._raw.read(n)
        self.count += len(data)
        self._budget.left -= len(data)
        if self.count > self._limit:
            raise _Refused(
                f"{self._file}: part {self._name} unpacks to more than {self._limit:,} bytes; "
                f"it may be a ZIP bomb{_FIX}",
                "xlsx_too_large",
            )
        if self._budget.left < 0:
            raise _Refused(
                f"{self._file}: reading the workbook unpacked more than "
                f"{self._budget.total:,} bytes; it may be a ZIP bomb{_FIX}",
                "xlsx_too_large",
            )
        return data

    def close(self) -> None:
        self._raw.close()


# -- XML -------------------------------------------------------------------------------------------


def _no_dtd(*_: Any) -> None:
    raise _Bad(
        "the XML declares a document type (DTD); workbooks never do, and entity "
        "expansion is refused"
    )


def _no_external(context: str, base: str | None, system: str | None, public: str | None) -> int:
    raise _Bad("the XML refers to an external entity; workbooks never do")


def _new_parser() -> Any:
    p = expat.ParserCreate(namespace_separator="}")
    # No DTD, no entity declarations, no external entities: the billion-laughs and XXE guards.
    p.StartDoctypeDeclHandler = _no_dtd
    p.EntityDeclHandler = _no_dtd
    p.ExternalEntityRefHandler = _no_external
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.buffer_text = True
    p.buffer_size = _CHUNK
    return p


# -- shared strings --------------------------------------------------------------------------------


class _StringTable:
    """The shared strings, as one UTF-8 buffer and an offsets array."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._ends = array("Q")

    def __len__(self) -> int:
        return len(self._ends)

    def add(self, text: str) -> None:
        self._buf += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._buf))

    @property
    def nbytes(self) -> int:
        return len(self._buf)

    def __getitem__(self, i: int) -> str:
        start = self._ends[i - 1] if i > 0 else 0
        if i < 0:
            raise IndexError(i)
        return self._buf[start : self._ends[i]].decode("utf-8", "surrogatepass")


class _TextCollector:
    """Text of an ``<si>`` or ``<is>`` element the way openpyxl's ``Text.content`` takes it:
    the direct ``<t>`` first, then each run's ``<t>``; phonetic runs (``<rPh>``) left out."""

    __slots__ = ("depth", "err", "in_run", "limit", "plain", "run_text", "runs", "size", "target")

    def __init__(self, limit: int, err: Any) -> None:
        self.limit = limit
        self.err = err
        self.reset()

    def reset(self) -> None:
        self.depth = 0
        self.in_run = False
        self.target: list[str] | None = None
        self.plain: str | None = None
        self.runs: list[str] = []
        self.run_text: str | None = None
        self.size = 0

    def start(self, name: str) -> None:
        self.depth += 1
        if name == _T:
            if self.depth == 1 or (self.depth == 2 and self.in_run):
                self.target = []
        elif name == _R and self.depth == 1:
            self.in_run = True
            self.run_text = None

    def end(self, name: str) -> None:
        if name == _T and self.target is not None:
            text = "".join(self.target)
            if self.depth == 1:
                self.plain = text
            else:
                self.run_text = text
            self.target = None
        elif name == _R and self.depth == 1:
            self.in_run = False
            if self.run_text:
                self.runs.append(self.run_text)
        self.depth -= 1

    def data(self, text: str) -> None:
        if self.target is not None:
            self.size += len(text)
            if self.size > self.limit:
                self.err()
            self.target.append(text)

    def content(self) -> str:
        return (self.plain or "") + "".join(self.runs)


_T = _MAIN + "t"
_R = _MAIN + "r"
_SI = _MAIN + "si"
_IS = _MAIN + "is"
_C = _MAIN + "c"
_V = _MAIN + "v"
_ROW_TAG = _MAIN + "row"

_COL_RE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)$")


def _column_index(ref: str) -> int:
    m = _COL_RE.match(ref)
    if not m or m.group(2).lstrip("0") == "":
        raise _Bad(f"bad cell reference {ref[:20]!r}")
    n = 0
    for ch in m.group(1).upper():
        n = n * 26 + ord(ch) - 64
    return n


def _column_letters(n: int) -> str:
    s = ""
    while n:
        n, rem = divmod(n - 1, 26)
        s = chr(65 + rem) + s
    return s


# -- the workbook ----------------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    part: str
    chart: bool


class XlsxWorkbook:
    """An XLSX file, checked and opened. Use as a context manager; ``rows()`` streams a sheet."""

    def __init__(self, path: Path | str, limits: XlsxLimits | None = None) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.limits = limits or DEFAULT_LIMITS
        self._zip: zipfile.ZipFile | None = None
        self._budget = _Budget(self.limits.max_total_bytes)
        self._strings: _StringTable | None = None
        self._sst_part: str | None = None
        self.epoch = cells.WINDOWS_EPOCH
        self.date_styles: set[int] = set()
        self.timedelta_styles: set[int] = set()
        self.sheets: list[_Sheet] = []
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # context manager --------------------------------------------------------------------------
    def __enter__(self) -> XlsxWorkbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    # opening ----------------------------------------------------------------------------------
    def _open(self) -> None:
        with self._errors():
            try:
                fh = self.path.open("rb")
            except OSError as exc:
                raise ValidationError(
                    f"{self.path}: {exc.strerror}", code="unreadable_file"
                ) from exc
            with fh:
                head = fh.read(8)
                if head.startswith(b"\xd0\xcf\x11\xe0"):
                    raise _Bad(
                        "it is an encrypted workbook or an old .xls file; save it "
                        "as .xlsx without a password, or as CSV"
                    )
                entries, cd_size = _central_directory(fh)
            lim = self.limits
            # 46 bytes of fixed header per entry, plus the name: 300 bytes each is generous.
            if entries > lim.max_members or cd_size > lim.max_members * 300:
                raise _Refused(
                    f"{self.name}: the workbook has {entries:,} parts "
                    f"(at most {lim.max_members:,} are accepted){_FIX}",
                    "xlsx_too_large",
                )
            self._zip = zipfile.ZipFile(self.path)
            self._check_members(self._zip.infolist())
            self._read_structure()

    def _check_members(self, infos: list[zipfile.ZipInfo]) -> None:
        lim = self.limits
        if len(infos) > lim.max_members:
            raise _Refused(
                f"{self.name}: the workbook has {len(infos):,} parts "
                f"(at most {lim.max_members:,} are accepted){_FIX}",
                "xlsx_too_large",
            )
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise _Bad(f"part {info.filename} is encrypted")
            size = info.file_size
            if size > lim.max_member_bytes:
                raise _Refused(
                    f"{self.name}: part {info.filename} unpacks to {size:,} bytes (at most "
                    f"{lim.max_member_bytes:,} are read){_FIX}",
                    "xlsx_too_large",
                )
            ratio = size / max(1, info.compress_size)
            if size > lim.ratio_min_bytes and ratio > lim.max_ratio:
                raise _Refused(
                    f"{self.name}: part {info.filename} is compressed {ratio:,.0f}:1 "
                    f"(at most {lim.max_ratio:,.0f}:1 is accepted); it looks like a ZIP "
                    f"bomb{_FIX}",
                    "xlsx_bomb",
                )
            total += size
        if total > lim.max_total_bytes:
            raise _Refused(
                f"{self.name}: the workbook unpacks to {total:,} bytes (at most "
                f"{lim.max_total_bytes:,} are read){_FIX}",
                "xlsx_too_large",
            )

    def _stream(self, part: str) -> _CountingReader:
        assert self._zip is not None
        try:
            raw = self._zip.open(part)
        except KeyError:
            raise _Bad(f"part {part} is missing") from None
        return _CountingReader(raw, part, self.limits.max_member_bytes, self._budget, self.name)

    def _parse(self, part: str, start: Any, end: Any, data: Any = None) -> Iterator[None]:
        """Feed ``part`` to a fresh expat parser; yields after each 64 KB piece so that the
        caller can hand on what the handlers collected."""
        p = _new_parser()
        p.StartElementHandler = start
        if end is not None:
            p.EndElementHandler = end
        if data is not None:
            p.CharacterDataHandler = data
        src = self._stream(part)
        try:
            fed = 0
            while chunk := src.read(_CHUNK):
                p.Parse(chunk, False)
                fed += len(chunk)
                if fed - p.CurrentByteIndex > _MAX_TOKEN:
                    raise _Bad(f"part {part} holds an XML tag or comment over 1 MB")
                yield
            p.Parse(b"", True)
            yield
        except expat.ExpatError as exc:
            raise _Bad(f"part {part} is not well-formed XML ({exc})") from None
        finally:
            src.close()

    def _read_all(self, part: str, start: Any, end: Any = None, data: Any = None) -> None:
        for _ in self._parse(part, start, end, data):
            pass

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, target part) for ``part``."""
        folder, base = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", base + ".rels")
        out: dict[str, tuple[str, str]] = {}
        if rels_part not in self._names:
            return out

        def start(name: str, attrs: dict[str, str]) -> None:
            if name == _PKG_REL + "Relationship" and attrs.get("TargetMode") != "External":
                target = attrs.get("Target", "")
                if target.startswith("/"):
                    target = target[1:]
                else:
                    # openpyxl resolves against the parent of the rels folder's owner
                    target = posixpath.normpath(posixpath.join(folder, target))
                out[attrs.get("Id", "")] = (attrs.get("Type", ""), target)
                if len(out) > 10 * self.limits.max_members:
                    raise _Bad(f"part {rels_part} lists too many relationships")

        self._read_all(rels_part, start)
        return out

    def _read_structure(self) -> None:
        assert self._zip is not None
        self._names = set(self._zip.namelist())
        # the workbook part and shared strings: from [Content_Types].xml, as openpyxl does
        # Only the content types looked for are kept: the part may list millions of others.
        wanted = {*_WORKBOOK_TYPES, _SST_TYPE}
        overrides: dict[str, str] = {}
        defaults: set[str] = set()

        def ct_start(name: str, attrs: dict[str, str]) -> None:
            kind = attrs.get("ContentType", "")
            if kind not in wanted:
                return
            if name == _CT + "Override":
                overrides[kind] = attrs.get("PartName", "").lstrip("/")
            elif name == _CT + "Default":
                defaults.add(kind)

        if "[Content_Types].xml" not in self._names:
            raise _Bad("[Content_Types].xml is missing")
        self._read_all("[Content_Types].xml", ct_start)
        wb_part = next((overrides[t] for t in _WORKBOOK_TYPES if t in overrides), None)
        if wb_part is None:
            if not defaults.intersection(_WORKBOOK_TYPES):
                raise _Bad("the file contains no workbook part")
            wb_part = "xl/workbook.xml"
        if wb_part not in self._names:
            raise _Bad(f"the workbook part {wb_part} is missing")
        self._sst_part = overrides.get(_SST_TYPE)

        # workbook.xml: sheet names and targets, and the 1904 date system
        listed: list[tuple[str, str]] = []

        def wb_start(name: str, attrs: dict[str, str]) -> None:
            if name == _MAIN + "sheet":
                listed.append((attrs.get("name", ""), attrs.get(_R_ID, "")))
                if len(listed) > self.limits.max_members:
                    raise _Bad("the workbook lists too many sheets")
            elif name == _MAIN + "workbookPr":
                flag = attrs.get("date1904")
                if flag is not None and flag not in ("", "false", "f", "0"):
                    self.epoch = cells.MAC_EPOCH

        self._read_all(wb_part, wb_start)
        rels = self._rels(wb_part)
        for name, rid in listed:
            if not rid:
                continue  # openpyxl drops these with a warning
            if rid not in rels:
                raise _Bad(f"sheet {name!r} points to a relationship that does not exist")
            kind, target = rels[rid]
            if target not in self._names:
                continue  # openpyxl skips a sheet whose part is missing
            self.sheets.append(_Sheet(name, target, "chartsheet" in kind))
        self._read_styles("xl/styles.xml")

    def _read_styles(self, part: str) -> None:
        """Which cell styles (``s=`` indexes) format numbers as dates or durations."""
        if part not in self._names:
            return
        custom: dict[int, str] = {}
        xf_formats: list[int] = []
        where = {"cellXfs": False}

        def start(name: str, attrs: dict[str, str]) -> None:
            if name == _MAIN + "numFmt":
                custom[_int(attrs.get("numFmtId", "0"))] = attrs.get("formatCode", "")[:1000]
                if len(custom) > _MAX_STYLES:  # Excel keeps a few hundred
                    raise _Bad(f"the style sheet has over {_MAX_STYLES:,} number formats")
            elif name == _MAIN + "cellXfs":
                where["cellXfs"] = True
            elif name == _MAIN + "xf" and where["cellXfs"]:
                xf_formats.append(_int(attrs.get("numFmtId", "0")))
                if len(xf_formats) > _MAX_STYLES:  # Excel's limit is 64,000
                    raise _Bad(f"the style sheet has over {_MAX_STYLES:,} cell formats")

        def end(name: str) -> None:
            if name == _MAIN + "cellXfs":
                where["cellXfs"] = False

        self._read_all(part, start, end)
        for idx, fmt_id in enumerate(xf_formats):
            fmt = custom[fmt_id] if fmt_id in custom else cells.BUILTIN_FORMATS.get(fmt_id)
            if cells.is_date_format(fmt):
                self.date_styles.add(idx)
            if cells.is_timedelta_format(fmt):
                self.timedelta_styles.add(idx)

    # the errors contract ----------------------------------------------------------------------
    def _errors(self) -> _ErrorScope:
        return _ErrorScope(self.name)

    # shared strings ---------------------------------------------------------------------------
    def _shared_strings(self) -> _StringTable:
        if self._strings is not None:
            return self._strings
        table = _StringTable()
        if self._sst_part is None or self._sst_part not in self._names:
            self._strings = table
            return table
        lim = self.limits

        def too_long() -> None:
            raise _Refused(
                f"{self.name}: a shared string is over {lim.max_cell_chars:,} characters "
                f"(Excel's limit for a cell){_FIX}",
                "xlsx_cell_too_long",
            )

        text = _TextCollector(lim.max_cell_chars, too_long)
        state = {"in": False}

        def start(name: str, attrs: dict[str, str]) -> None:
            if state["in"]:
                text.start(name)
            elif name == _SI:
                state["in"] = True
                text.reset()

        def end(name: str) -> None:
            if not state["in"]:
                return
            if name == _SI and text.depth == 0:
                state["in"] = False
                table.add(text.content().replace("x005F_", ""))
                if len(table) > lim.max_shared_strings:
                    raise _Refused(
                        f"{self.name}: the shared-strings table has over "
                        f"{lim.max_shared_strings:,} entries{_FIX}",
                        "xlsx_too_many_strings",
                    )
                if table.nbytes > lim.max_shared_bytes:
                    raise _Refused(
                        f"{self.name}: the shared-strings table is over "
                        f"{lim.max_shared_bytes // MiB:,} MB of text{_FIX}",
                        "xlsx_too_many_strings",
                    )
            else:
                text.end(name)

        self._read_all(self._sst_part, start, end, text.data)
        self._strings = table
        return table

    # sheets -----------------------------------------------------------------------------------
    @property
    def sheetnames(self) -> list[str]:
        return [s.name for s in self.sheets]

    def sheet(self, name: str | None) -> _Sheet:
        if name is None:
            for s in self.sheets:
                if not s.chart:
                    return s
            raise ValidationError(f"{self.name}: the workbook has no worksheet", code="bad_xlsx")
        for s in self.sheets:
            if s.name == name:
                if s.chart:
                    raise ValidationError(
                        f"--sheet: {name!r} is a chart sheet, not a worksheet", code="bad_sheet"
                    )
                return s
        raise ValidationError(
            f"--sheet: no sheet {name!r}; sheets: {', '.join(self.sheetnames)}", code="bad_sheet"
        )

    def rows(
        self, sheet: str | None = None, *, max_row: int | None = None
    ) -> Iterator[tuple[int, list[tuple[int, str]]]]:
        """(row number, [(column, text), ...]) for each row of the sheet, gaps filled with empty
        rows as openpyxl does; only cells with a value are listed, in the order written."""
        target = self.sheet(sheet)
        with self._errors():
            yield from self._rows(target.part, max_row)

    def _rows(self, part: str, max_row: int | None) -> Iterator[tuple[int, list[tuple[int, str]]]]:
        lim = self.limits
        strings: _StringTable | None = None
        date_styles, td_styles, epoch = self.date_styles, self.timedelta_styles, self.epoch
        done: list[tuple[int, list[tuple[int, str]]]] = []
        st: dict[str, Any] = {
            "row": 0, "col": 0, "cells": None, "t": "n", "s": None, "ref": None,
            "v": None, "seen_v": False, "depth": 0, "in_is": False, "inline": None,
        }  # fmt: skip
        text_parts: list[str] = []
        collecting = [False]
        chars = [0]
        name = self.name

        def too_long() -> None:
            raise _Refused(
                f"{name}: row {st['row']}: a cell is over {lim.max_cell_chars:,} characters "
                f"(Excel's limit){_FIX}",
                "xlsx_cell_too_long",
            )

        inline = _TextCollector(lim.max_cell_chars, too_long)

        def start(tag: str, attrs: dict[str, str]) -> None:
            if st["in_is"]:
                inline.start(tag)
                return
            if st["cells"] is not None:  # inside a row
                if tag == _C:
                    st["depth"] = 0
                    st["t"] = attrs.get("t", "n")
                    st["s"] = attrs.get("s")
                    st["ref"] = attrs.get("r")
                    st["v"] = None
                    st["inline"] = None
                    st["seen_v"] = False
                    return
                st["depth"] += 1
                if tag == _V and st["depth"] == 1 and not st["seen_v"]:
                    collecting[0] = True
                    chars[0] = 0
                    text_parts.clear()
                elif tag == _IS and st["depth"] == 1 and st["inline"] is None:
                    st["in_is"] = True
                    inline.reset()
                return
            if tag == _ROW_TAG:
                r = attrs.get("r")
                if r is None:
                    n = st["row"] + 1
                else:
                    try:
                        n = int(r)
                    except ValueError:
                        try:
                            f = float(r)
                        except ValueError:
                            raise _Bad(f"bad row number {r[:20]!r}") from None
                        if not f.is_integer():
                            raise _Bad(f"bad row number {r[:20]!r}") from None
                        n = int(f)
                if n <= st["row"]:
                    raise _Bad(f"row {n} comes after row {st['row']}; rows are out of order")
                if n > lim.max_rows:
                    raise _Refused(
                        f"{name}: the sheet has more than {lim.max_rows:,} rows{_FIX}",
                        "xlsx_too_many_rows",
                    )
                st["row"] = n
                st["col"] = 0
                st["cells"] = []

        def data(text: str) -> None:
            if collecting[0]:
                chars[0] += len(text)
                if chars[0] > lim.max_cell_chars:
                    too_long()
                text_parts.append(text)
            elif st["in_is"]:
                inline.data(text)

        def end(tag: str) -> None:
            nonlocal strings
            if st["in_is"]:
                if tag == _IS and inline.depth == 0:
                    st["in_is"] = False
                    st["inline"] = inline.content()
                    st["depth"] -= 1
                else:
                    inline.end(tag)
                return
            row_cells = st["cells"]
            if row_cells is None:
                return
            if tag == _C:
                ref = st["ref"]
                col = _column_index(ref) if ref else st["col"] + 1
                st["col"] = col
                t = st["t"]
                if t == "inlineStr":
                    value: Any = st["inline"]
                else:
                    value = st["v"] or None
                if value is None:
                    return
                try:
                    if t == "n":
                        value = cells.number(value)
                        s = st["s"]
                        if s and int(s) in date_styles:
                            try:
                                value = cells.from_excel(value, epoch, int(s) in td_styles)
                            except (OverflowError, ValueError):
                                value = "#VALUE!"
                    elif t == "s":
                        if strings is None:
                            strings = self._shared_strings()
                        value = strings[int(value)]
                    elif t == "b":
                        value = bool(int(value))
                    elif t == "d":
                        value = cells.from_iso8601(value)
                except (ValueError, IndexError, OverflowError):
                    where = ref or f"row {st['row']} column {col}"
                    raise _Bad(f"cell {where}: bad {t!r} value {str(value)[:40]!r}") from None
                text = cells.render(value)
                if text is None:
                    return
                if col > lim.max_columns:
                    raise _Refused(
                        f"{name}: row {st['row']} has a value in column {_column_letters(col)} "
                        f"({col:,}); at most {lim.max_columns:,} columns are read{_FIX}",
                        "xlsx_too_many_columns",
                    )
                row_cells.append((col, text))
                if len(row_cells) > lim.max_columns:  # the same column, over and over
                    raise _Refused(
                        f"{name}: row {st['row']} has over {lim.max_columns:,} values; at most "
                        f"{lim.max_columns:,} columns are read{_FIX}",
                        "xlsx_too_many_columns",
                    )
            elif tag == _ROW_TAG:
                done.append((st["row"], row_cells))
                st["cells"] = None
            else:
                if tag == _V and collecting[0] and st["depth"] == 1:
                    collecting[0] = False
                    st["seen_v"] = True
                    st["v"] = "".join(text_parts)
                st["depth"] -= 1

        expected = 1
        for _ in self._parse(part, start, end, data):
            for n, row_cells in done:
                if max_row is not None and n > max_row:
                    return
                while expected < n:  # missing rows, as openpyxl fills them
                    yield expected, []
                    expected += 1
                yield n, row_cells
                expected = n + 1
            done.clear()
            if max_row is not None and expected > max_row:
                return


class _ErrorScope:
    """Turns internal errors (and anything a broken ZIP raises) into one-line ValidationErrors."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, ValidationError | GeneratorExit):
            return
        if isinstance(exc, _Refused):
            raise ValidationError(exc.message, code=exc.code) from None
        if isinstance(exc, _Bad):
            raise ValidationError(
                f"{self.name}: not a readable XLSX workbook: {_one_line(exc)}", code="bad_xlsx"
            ) from None
        if isinstance(exc, zipfile.BadZipFile | zipfile.LargeZipFile | zlib.error | EOFError
                      | KeyError | NotImplementedError | RuntimeError | ValueError
                      | struct.error | UnicodeError | OSError):  # fmt: skip
            raise ValidationError(
                f"{self.name}: not a readable XLSX workbook: {_one_line(exc)}", code="bad_xlsx"
            ) from None
        return


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Bad(f"bad number {text[:20]!r} in the style sheet") from None


# -- reading ---------------------------------------------------------------------------------------


def xlsx_header(
    path: Path | str, sheet: str | None = None, *, limits: XlsxLimits | None = None
) -> list[str]:
    """``data._xlsx_header``: row 1 of the sheet as stripped strings, trailing blanks dropped;
    ``ValidationError(code="empty_file")`` when row 1 is blank."""
    path = Path(path)
    with XlsxWorkbook(path, limits) as wb:
        for _, row_cells in wb.rows(sheet, max_row=1):
            width = max((c for c, _ in row_cells), default=0)
            header = [""] * width
            for col, text in row_cells:
                header[col - 1] = text.strip()
            while header and not header[-1]:
                header.pop()
            if header:
                return header
    raise ValidationError(f"{path.name}: the first sheet is empty", code="empty_file")


def xlsx_rows(
    path: Path | str,
    width: int,
    sheet: str | None = None,
    *,
    limits: XlsxLimits | None = None,
) -> Iterator[tuple[int, list[str | None], int]]:
    """The data rows after the header: (record number, ``width`` values, how many more columns
    hold a value). Record 1 is sheet row 2, as in ``data._xlsx_batches``."""
    with XlsxWorkbook(path, limits) as wb:
        for n, row_cells in wb.rows(sheet):
            if n < 2:
                continue
            values: list[str | None] = [None] * width
            extra: set[int] | None = None
            for col, text in row_cells:
                if col <= width:
                    values[col - 1] = text
                else:
                    if extra is None:
                        extra = set()
                    extra.add(col)
            yield n - 1, values, len(extra) if extra else 0
