"""Data files: the reading end of the import pipeline.

The pipeline is plain functions over Polars frames, one batch at a time so memory stays flat:

    open_source (sniff format, encoding, delimiter, header)
      -> read_batches (string columns + ``__row``, the record's number: 1 = first after the header)
      -> map_columns (header aliases, ``--map``, unknown columns kept as extras or ignored)
      -> data_clean.CLEAN_STEPS and data_clean.validate (see there)
      -> imports.load (see there)

This module reads CSV/TSV (delimiter sniffed; UTF-8 with or without BOM, UTF-16, cp1252/latin-1
and files that mix UTF-8 and cp1252 line by line; quoted fields may hold newlines), XLSX and JSON
Lines. Every oddity it repairs (a mixed encoding, lone CR line endings) is named in
``Source.notes``; NUL bytes are left in the values for cleaning, which removes them with a
warning on the row. A file it cannot read is refused with a one-line ``ValidationError``. The
seed's ``read_id_csv`` stays for callers that want the strict ``id.csv`` format.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from customer_flow.core.errors import TooLargeError, ValidationError, cut
from customer_flow.customers import extra as extra_rules
from customer_flow.customers.models import CustomerCreate
from customer_flow.data import xlsx
from customer_flow.data.report import TRIGGER, listing, sweep

__all__ = [
    "EXTRA_PREFIX",
    "ID_CSV_COLUMNS",
    "SYSTEM_COLUMNS",
    "TARGETS",
    "ColumnPlan",
    "Source",
    "check_row_limit",
    "extra_column",
    "extra_key",
    "map_columns",
    "max_id",
    "open_source",
    "parse_mapping",
    "plan_columns",
    "read_batches",
    "read_id_csv",
]

ID_CSV_COLUMNS = ("ID", "Name", "Email", "Phone")
ROW = "__row"
#: The customer fields a column can map to.
TARGETS = ("ID", "Name", "Email", "Phone", "First Name", "Last Name")
MAX_EXTRA_COLUMNS = extra_rules.MAX_ATTRIBUTES
MAX_KEYS = 10_000  # different keys in a JSON Lines file
#: Columns Customer_Flow writes itself in an export (JSON Lines, Parquet): an import leaves
#: them out (listed as ignored), unless ``--map`` says otherwise.
SYSTEM_COLUMNS = ("warnings", "created_at", "updated_at", "deleted_at")
#: A column ``extra.KEY`` is the extra attribute ``KEY``, whatever KEY looks like. An export
#: names an extra attribute so when its own name would be read as something else.
EXTRA_PREFIX = "extra."
_SCAN_CHUNK = 1 << 20
Batches = Generator[pl.DataFrame, None, None]
_XLSX_BATCH_CELLS = 5_000_000
_XLSX_BATCH_CHARS = 64 << 20
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "a SQLite database",
    b"\x7fELF": "a program",
}
_ALIASES: dict[str, tuple[str, ...]] = {
    "ID": (
        "id", "customerid", "customerno", "customernumber", "customer#", "clientid", "contactid",
        "recordid", "custid", "customerkey", "accountid", "accountnumber",
    ),
    "Name": (
        "name", "fullname", "customername", "contactname", "clientname", "displayname",
        "customer", "client", "contact",
    ),
    "First Name": ("firstname", "givenname", "forename", "first", "fname"),
    "Last Name": ("lastname", "surname", "familyname", "last", "lname"),
    "Email": (
        "email", "emailaddress", "mail", "emailaddr", "emails", "primaryemail", "workemail",
        "contactemail", "customeremail",
    ),
    "Phone": (
        "phone", "phonenumber", "phoneno", "mobile", "mobilephone", "mobilenumber", "tel",
        "telephone", "telephonenumber", "cell", "cellphone", "contactnumber", "primaryphone",
        "workphone", "phone1",
    ),
}  # fmt: skip
_BY_ALIAS = {alias: target for target, aliases in _ALIASES.items() for alias in aliases}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a 1 MB cell is data, not an attack


def _norm(header: str) -> str:
    return re.sub(r"[\s_\-.:]+", "", header.strip().lower())


# -- sources -------------------------------------------------------------------------------


@dataclass
class Source:
    """A file, sniffed: how to read it, its header, and what was repaired on the way."""

    path: Path
    format: str  # csv, xlsx or jsonl
    encoding: str = "utf-8"
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    text_path: Path | None = None  # a UTF-8 copy, when the file needed transcoding
    sheet: str | None = None  # XLSX: the sheet read (None: the first worksheet)
    max_rows: int | None = None  # refuse the file past this many records (the web's limit)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(
    path: Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    max_rows: int | None = None,
) -> Source:
    """Sniff ``path``: its format, encoding, delimiter and header. Refuses an empty, binary or
    unreadable file, and a header with duplicate names, with a one-line ``ValidationError``.
    With ``max_rows``, reading its batches stops with ``TooLargeError`` past that many records
    (blank ones included)."""
    path = Path(path)
    sweep(Path(tempfile.gettempdir()), "customer-flow-")  # what a killed run left
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise ValidationError(f"{path}: {exc.strerror}", code="unreadable_file") from exc
    if size == 0:
        raise ValidationError(f"{path.name}: the file is empty", code="empty_file")
    suffix = path.suffix.lower()
    fmt = (format or "").lower() or None
    if fmt is None:
        if suffix in (".xlsx", ".xlsm") or head.startswith(b"PK\x03\x04"):
            fmt = "xlsx"
        elif suffix in (".parquet", ".pq") or head.startswith(b"PAR1"):
            fmt = "parquet"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            fmt = "jsonl"
        else:
            fmt = "csv"
    if fmt == "tsv":
        fmt, delimiter = "csv", delimiter or "\t"
    if fmt == "json":
        fmt = "jsonl"
    if fmt not in ("csv", "xlsx", "jsonl", "parquet"):
        raise ValidationError(
            f"--format: {format!r} is not one of csv, tsv, xlsx, jsonl, parquet", code="bad_format"
        )
    if fmt == "jsonl" and re.match(rb"\s*\[\s*(?:\{|\]|$)", head.lstrip(codecs.BOM_UTF8)):
        raise ValidationError(
            f"{path.name}: JSON arrays are not supported; use jsonl (export --format jsonl "
            "writes one object a line)",
            code="json_array",
        )
    if fmt == "parquet":
        source = Source(path=path, format=fmt, encoding="parquet", header=_parquet_header(path))
        _check_header(source)
        return source
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise ValidationError(
                f"{path.name}: this is not a text file; it looks like {what}", code="binary_file"
            )
    source = Source(path=path, format=fmt, delimiter=delimiter, max_rows=max_rows)
    if fmt == "xlsx":
        source.encoding = "xlsx"
        source.sheet = sheet
        source.header = xlsx.xlsx_header(path, sheet)
    else:
        _prepare_text(source, head, encoding)
        if fmt == "csv":
            _sniff_csv(source, suffix)
        else:
            source.header = _jsonl_header(source)
    _check_header(source)
    return source


def _check_header(source: Source) -> None:
    # Names that differ only in case are two columns (two extra attributes, "Tier" and "tier");
    # two that map to one customer field are refused by ``plan_columns``.
    seen: dict[str, int] = {}
    for i, name in enumerate(source.header):
        if not name:
            source.header[i] = name = f"column_{i + 1}"
        key = name
        if key in seen:
            raise ValidationError(
                f"{source.path.name}: the header names {cut(name, 60)!r} twice "
                f"(columns {seen[key] + 1} and {i + 1}); rename one",
                code="duplicate_header",
            )
        seen[key] = i


def _looks_utf16(head: bytes) -> str | None:
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0) / max(1, len(sample[0::2]))
    odd = sample[1::2].count(0) / max(1, len(sample[1::2]))
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def _prepare_text(source: Source, head: bytes, encoding: str | None) -> None:
    """Decide the encoding; when the file is not clean UTF-8, write a UTF-8 copy to read."""
    if encoding:
        try:
            text_encoding = codecs.lookup(encoding)._is_text_encoding
        except LookupError as exc:
            raise ValidationError(
                f"--encoding: unknown encoding {cut(encoding, 60)!r}", code="bad_encoding"
            ) from exc
        if not text_encoding:  # base64, zlib, ...: bytes to bytes
            raise ValidationError(
                f"--encoding: {encoding!r} is not a text encoding", code="bad_encoding"
            )
        source.encoding = encoding
        _transcode(source, encoding)
        return
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        source.encoding = "utf-16"
        _transcode(source, "utf-16")
        return
    utf16 = _looks_utf16(head)
    if utf16:
        source.encoding = utf16
        _transcode(source, utf16)
        return
    text = head.decode("utf-8", errors="replace")
    if text.count("\ufffd") > 1:  # not UTF-8 (one may be a character cut at the end)
        # Read as a single-byte text: a cp1252 file dense with accents is text, not binary.
        text = head.decode("cp1252", errors="replace")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f\x00") + text.count(
        "\ufffd"
    )
    if text and (controls + text.count("\x00")) / len(text) > 0.1:
        raise ValidationError(
            f"{source.path.name}: this is not a text file (binary data)", code="binary_file"
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    clean = True
    with source.path.open("rb") as fh:
        prev = b""
        while chunk := fh.read(_SCAN_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                clean = False
                break
            joined = prev + chunk
            # A CR followed by something other than LF (a CR at the very end is seen next time).
            # NUL bytes stay: cleaning removes them from the values, with a warning on the row.
            if re.search(rb"\r(?=[^\n])", joined):
                clean = False
                break
            prev = chunk[-1:]
        else:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                clean = False
            if prev == b"\r":
                clean = False
    source.encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if not clean:
        _repair(source)


def _workdir(source: Source) -> Path:
    """A temporary folder for the file's UTF-8 copy, named with this process's ID: a run that
    was killed leaves its folder behind, and the next run removes it (``report.sweep``)."""
    if source._tmp is None:
        source._tmp = tempfile.TemporaryDirectory(prefix=f"customer-flow-{os.getpid()}-")
    return Path(source._tmp.name)


def _transcode(source: Source, encoding: str) -> None:
    target = _workdir(source) / "utf8.txt"
    try:
        with (
            source.path.open(encoding=encoding, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            while chunk := src.read(_SCAN_CHUNK):
                if chunk.startswith("\ufeff") and src.tell() <= _SCAN_CHUNK * 4:
                    chunk = chunk[1:]
                dst.write(chunk)
    except (UnicodeDecodeError, UnicodeError) as exc:
        raise ValidationError(
            f"{source.path.name}: not readable as {encoding}: {exc}", code="bad_encoding"
        ) from exc
    source.text_path = target
    _fix_line_endings(source)


def _repair(source: Source) -> None:
    """Write a UTF-8 copy: each line read as UTF-8 or else cp1252 (latin-1 for the bytes cp1252
    leaves undefined), and lone CR line endings made LF."""
    target = _workdir(source) / "utf8.txt"
    counts = {"utf-8": 0, "cp1252": 0}
    breaks = _LineBreaks(csv=source.format == "csv")
    with source.path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        first = True
        for raw in _lines(src):
            line = raw
            if first:
                line = line.removeprefix(codecs.BOM_UTF8)
                first = False
            line = breaks.fix(line)
            try:
                text = line.decode("utf-8")
                if not line.isascii():
                    counts["utf-8"] += 1
            except UnicodeDecodeError:
                try:
                    text = line.decode("cp1252")
                except UnicodeDecodeError:
                    text = line.decode("latin-1")
                counts["cp1252"] += 1
            dst.write(text)
    if counts["cp1252"]:
        if counts["utf-8"]:
            source.encoding = "mixed"
            source.notes.append(
                f"mixed encodings: {counts['cp1252']} lines were not UTF-8 and were read as "
                f"cp1252; {counts['utf-8']} non-ASCII lines were UTF-8"
            )
        else:
            source.encoding = "cp1252"
            source.notes.append("the file is not UTF-8: read as cp1252 (Windows Western)")
    if breaks.count:
        source.notes.append(f"{breaks.count} old Mac line endings (CR) read as line breaks")
    source.text_path = target


class _LineBreaks:
    """Makes lone CRs (old Mac line endings) LF, a line at a time. In CSV, a CR inside a quoted
    field belongs to the value (an export writes one so) and stays: a quote opens a field at
    the start of a line or after a delimiter (any of , ; tab |), a doubled quote inside is a
    quote, and a single one closes the field."""

    def __init__(self, *, csv: bool) -> None:
        self.csv = csv
        self.quoted = False
        self.count = 0

    def fix(self, line: bytes) -> bytes:
        if not self.csv or (not self.quoted and b'"' not in line):
            if b"\r" in line.rstrip(b"\r\n"):
                self.count += len(re.findall(rb"\r(?!\n)", line.rstrip(b"\n")))
                line = re.sub(rb"\r(?!\n)", b"\n", line)
            return line
        out = bytearray(line)
        skip = -1
        for m in re.finditer(rb'"|\r(?!\n)', line):
            i = m.start()
            if i == skip:
                continue
            if line[i] == 0x0D:  # a lone CR
                if not self.quoted:
                    out[i] = 0x0A
                    self.count += 1
            elif self.quoted:
                if line[i + 1 : i + 2] == b'"':
                    skip = i + 1
                else:
                    self.quoted = False
            elif i == 0 or line[i - 1 : i] in (b",", b";", b"\t", b"|", b"\r", b"\n"):
                self.quoted = True
        return bytes(out)


def _lines(fh: io.BufferedReader) -> Iterator[bytes]:
    tail = b""
    while chunk := fh.read(_SCAN_CHUNK):
        data = tail + chunk
        parts = data.split(b"\n")
        tail = parts.pop()
        for p in parts:
            yield p + b"\n"
    if tail:
        yield tail


def _fix_line_endings(source: Source) -> None:
    assert source.text_path is not None
    data = source.text_path.read_bytes() if source.text_path.stat().st_size < 1 << 28 else b""
    if data and re.search(rb"\r(?!\n)", data):
        breaks = _LineBreaks(csv=source.format == "csv")
        lines = data.split(b"\n")
        fixed = b"\n".join(breaks.fix(line + b"\n")[:-1] for line in lines)
        source.text_path.write_bytes(fixed)
        if breaks.count:
            source.notes.append(f"{breaks.count} old Mac line endings (CR) read as line breaks")


def _text_path(source: Source) -> Path:
    return source.text_path or source.path


#: How much of a CSV file the header and the delimiter are read from.
_HEADER_SAMPLE = 65536


def _sniff_csv(source: Source, suffix: str) -> None:
    enc = "utf-8-sig"
    with _text_path(source).open(encoding=enc, newline="") as fh:
        sample = fh.read(_HEADER_SAMPLE)
        longer = bool(fh.read(1))
    if longer and "\n" not in sample and "\r" not in sample:
        # The header is read from this sample: a longer first line would be cut silently.
        raise ValidationError(
            f"{source.path.name}: the first line (the header) is longer than "
            f"{_HEADER_SAMPLE:,} characters; is this a CSV file?",
            code="bad_header",
        )
    first_line = sample.split("\n", 1)[0]
    if source.delimiter is None:
        if suffix in (".tsv", ".tab"):
            source.delimiter = "\t"
        else:
            outside = re.sub(r'"[^"]*"', "", first_line)
            counts = {d: outside.count(d) for d in (",", ";", "\t", "|")}
            best = max(counts, key=lambda d: counts[d])
            source.delimiter = best if counts[best] else ","
    if len(source.delimiter) != 1:
        raise ValidationError("--delimiter: give one character", code="bad_delimiter")
    reader = csv.reader(io.StringIO(sample), delimiter=source.delimiter)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise ValidationError(f"{source.path.name}: header: {exc}", code="bad_header") from exc
    if not [h for h in header if h.strip()]:
        raise ValidationError(
            f"{source.path.name}: no header: the first line is empty", code="empty_file"
        )
    # A header cell a CSV export neutralised ("'=x", an extra attribute's name) loses the
    # apostrophe, as a value does.
    source.header = [_unquote(h.strip()) for h in header]


def _unquote(name: str) -> str:
    return name[1:] if re.match("'" + TRIGGER.removeprefix("^"), name) else name


# -- reading batches -----------------------------------------------------------------------


def read_batches(source: Source, batch_rows: int = 100_000) -> Iterator[pl.DataFrame]:
    """Yield the file's records as frames of string columns named by the header, plus
    ``__row``. Short rows are padded with nulls; a row with more fields than the header
    carries them in ``__overflow`` (it is rejected later, never cut silently). Past
    ``source.max_rows`` records, raises ``TooLargeError``."""
    batches: Batches
    if source.format == "xlsx":
        batches = _xlsx_batches(source, batch_rows)
    elif source.format == "jsonl":
        batches = _jsonl_batches(source, batch_rows)
    elif source.format == "parquet":
        batches = _parquet_batches(source, batch_rows)
    else:
        batches = _csv_batches(source, batch_rows)
    limit = source.max_rows
    for batch in batches:
        if limit is not None and batch.height and batch[ROW][-1] > limit:
            batches.close()
            raise TooLargeError(
                f"{source.path.name}: more than {limit:,} rows; this is the most read here "
                "(use the CLI's `customer-flow import`, or split the file)",
                code="too_many_rows",
            )
        yield batch


def estimate_rows(source: Source) -> int | None:
    """About how many records the file holds, cheaply, for a progress bar: exact for Parquet
    (its metadata); for CSV and JSON Lines the file's size over the mean length of its first
    lines (a line break inside a quoted value makes it a little high); None for XLSX."""
    if source.format == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(source.path) as pf:
            return int(pf.metadata.num_rows)
    if source.format not in ("csv", "jsonl"):
        return None
    path = _text_path(source)
    size = path.stat().st_size
    with path.open("rb") as fh:
        if source.format == "csv":
            fh.readline()  # the header
        start = fh.tell()
        sample = fh.read(1 << 20)
        if len(sample) < 1 << 20:  # the whole file: count, not estimate
            lines = sample.count(b"\n")
            return lines + (1 if sample.strip() and not sample.endswith(b"\n") else 0)
        # Lines grow as a file goes on (IDs get longer): the start and the middle, averaged.
        fh.seek(start + (size - start) // 2)
        fh.readline()  # the rest of a line cut in the middle
        sample += fh.read(1 << 20)
    return round((size - start) * sample.count(b"\n") / len(sample))


def check_row_limit(source: Source) -> None:
    """Raise ``TooLargeError`` now if the file has more than ``source.max_rows`` records: one
    quick read (no cleaning, no loading), stopped as soon as the limit is passed."""
    for _ in read_batches(source, 50_000):
        pass


def _csv_batches(source: Source, batch_rows: int) -> Batches:
    assert source.delimiter is not None
    done = 0
    lf = pl.scan_csv(
        _text_path(source),
        separator=source.delimiter,
        has_header=True,
        new_columns=source.header,
        infer_schema=False,
        quote_char='"',
        row_index_name=ROW,
        row_index_offset=1,
        raise_if_empty=False,
        encoding="utf8",
    )
    try:
        for batch in lf.collect_batches(chunk_size=batch_rows):
            if batch.height == 0:
                continue
            if batch.width != len(source.header) + 1:
                raise pl.exceptions.ComputeError("header changed")
            yield batch.with_columns(pl.col(ROW).cast(pl.Int64))
            done += batch.height
    except pl.exceptions.PolarsError:
        # Ragged rows or a broken quote: the exact, slower reader takes over where Polars
        # stopped, and names the row.
        yield from _csv_batches_python(source, batch_rows, skip=done)


def _csv_batches_python(source: Source, batch_rows: int, skip: int) -> Iterator[pl.DataFrame]:
    width = len(source.header)
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    overflow: list[str | None] = []
    with _text_path(source).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=source.delimiter or ",", strict=True)
        try:
            next(reader, None)
            n = 0
            for record in reader:
                n += 1
                if n <= skip:
                    continue
                values: list[str | None] = [v if v != "" else None for v in record[:width]]
                values += [None] * (width - len(values))
                rows.append(values)
                numbers.append(n)
                overflow.append(
                    f"the row has {len(record)} fields; the header has {width}"
                    if len(record) > width
                    else None
                )
                if len(rows) >= batch_rows:
                    yield _frame(source.header, rows, numbers, overflow)
                    rows, numbers, overflow = [], [], []
        except csv.Error as exc:
            # ``n`` counts the records read whole: the error is in the next one.
            raise ValidationError(
                f"{source.path.name}: row {n + 1}: {exc} (is a quote never closed?)",
                code="bad_csv",
            ) from exc
    if rows:
        yield _frame(source.header, rows, numbers, overflow)


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


def _xlsx_batches(source: Source, batch_rows: int) -> Batches:
    """Frames of the sheet's rows after the header (``xlsx.xlsx_rows``), of at most
    ``batch_rows`` rows, ``_XLSX_BATCH_CELLS`` cells and ``_XLSX_BATCH_CHARS`` characters: a
    very wide sheet, or one of long cells, gets smaller frames instead of a multi-GB one."""
    width = len(source.header)
    per_batch = max(1, min(batch_rows, _XLSX_BATCH_CELLS // max(1, width)))
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    overflow: list[str | None] = []
    chars = 0
    for n, values, extra in xlsx.xlsx_rows(source.path, width, source.sheet):
        rows.append(values)
        numbers.append(n)
        overflow.append(
            f"the row has values in {width + extra} columns; the header has {width}"
            if extra
            else None
        )
        chars += sum(len(v) for v in values if v is not None)
        if len(rows) >= per_batch or chars >= _XLSX_BATCH_CHARS:
            yield _frame(source.header, rows, numbers, overflow)
            rows, numbers, overflow, chars = [], [], [], 0
    if rows:
        yield _frame(source.header, rows, numbers, overflow)


def _jsonl_records(source: Source) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(record number, object) for each non-blank line; a bad line gives its error text."""
    n = 0
    with _text_path(source).open(encoding="utf-8-sig", newline="") as fh:
        for line in fh:
            if not line.strip():
                continue
            n += 1
            try:
                obj = json.loads(line, strict=False)  # a control character is data
            except json.JSONDecodeError as exc:
                yield n, f"not JSON: {exc.msg} (column {exc.colno}): {_snippet(line)}"
                continue
            if not isinstance(obj, dict):
                obj = f"a JSON {_json_kind(obj)}, not an object: {_snippet(line)}"
            elif isinstance(obj.get("extra"), dict):
                # An export's shape: the extra attributes in one object, each read as a column
                # of its own, named so that it is never taken for a customer field.
                nested = obj.pop("extra")
                obj.update({f"{EXTRA_PREFIX}{k}": v for k, v in nested.items()})
            yield n, obj


def _snippet(line: str, width: int = 80) -> str:
    """The start of a line, for a message (the rejects file has no other trace of it)."""
    text = line.strip()
    return text if len(text) <= width else f"{text[:width]}… ({len(text):,} characters)"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "number"


def _jsonl_header(source: Source) -> list[str]:
    """Every key of every line, in the order first seen: a key that only a late line has is a
    column like the others (one pass over the file, keys only kept)."""
    header: dict[str, None] = {}
    for _, obj in _jsonl_records(source):
        if isinstance(obj, dict):
            header.update(dict.fromkeys(str(k).strip() for k in obj))
            if len(header) > MAX_KEYS:
                raise ValidationError(
                    f"{source.path.name}: more than {MAX_KEYS:,} different keys; a customer "
                    "file has a few",
                    code="too_many_columns",
                )
    if not header:
        raise ValidationError(f"{source.path.name}: no JSON objects found", code="empty_file")
    return list(header)


def _jsonl_batches(source: Source, batch_rows: int) -> Batches:
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    bad: list[str | None] = []
    index = {k: i for i, k in enumerate(source.header)}
    for n, obj in _jsonl_records(source):
        values: list[str | None] = [None] * len(source.header)
        problem = None
        if isinstance(obj, str):
            problem = obj
        else:
            for k, v in obj.items():
                i = index.get(str(k).strip())
                if i is not None:
                    values[i] = _cell(v)
        rows.append(values)
        numbers.append(n)
        bad.append(problem)
        if len(rows) >= batch_rows:
            yield _frame(source.header, rows, numbers).with_columns(
                pl.Series("__bad_json", bad, dtype=pl.String)
            )
            rows, numbers, bad = [], [], []
    if rows:
        yield _frame(source.header, rows, numbers).with_columns(
            pl.Series("__bad_json", bad, dtype=pl.String)
        )


def _parquet_header(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several kinds for a broken file
        raise ValidationError(
            f"{path.name}: not a readable Parquet file: {exc}", code="bad_parquet"
        ) from exc
    if not names:
        raise ValidationError(f"{path.name}: the Parquet file has no columns", code="empty_file")
    return [str(n).strip() for n in names]


def _parquet_batches(source: Source, batch_rows: int) -> Batches:
    """A row group at a time (pyarrow's batches), every column as text, as ``_cell`` writes a
    value; an empty text is no value."""
    import pyarrow.parquet as pq

    done = 0
    with pq.ParquetFile(source.path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            named = zip(source.header, frame, strict=True)
            columns = [_as_text(s).alias(name) for name, s in named]
            numbers = pl.int_range(done + 1, done + 1 + frame.height, eager=True)
            yield pl.DataFrame([numbers.alias(ROW), *columns])
            done += frame.height


def _as_text(s: pl.Series) -> pl.Series:
    if s.dtype == pl.String:
        text = s
    elif s.dtype == pl.Boolean:
        text = s.replace_strict({True: "TRUE", False: "FALSE"}, return_dtype=pl.String)
    elif s.dtype.is_float():
        whole = (s == s.round()) & (s.abs() < 2**53)
        text = pl.select(
            pl.when(whole)
            .then(s.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(s.cast(pl.String))
        ).to_series()
    elif s.dtype.is_numeric() or s.dtype == pl.Utf8:
        text = s.cast(pl.String)
    else:  # dates, nested values: as the other readers write them
        text = pl.Series([_cell(v) for v in s.to_list()], dtype=pl.String)
    return pl.select(pl.when(text != "").then(text)).to_series()


# -- mapping columns -----------------------------------------------------------------------


@dataclass
class ColumnPlan:
    """Which file column feeds which customer field; the rest are extras or ignored."""

    targets: dict[str, str]  # target (ID, Name, ...) -> source column
    extras: list[str]
    ignored: list[str]

    def describe(self) -> dict[str, str]:
        out = {src: target for target, src in self.targets.items()}
        out.update(dict.fromkeys(self.extras, "extra"))
        out.update(dict.fromkeys(self.ignored, "ignored"))
        return out


def _column_role(header: str) -> str:
    """What a file column is without ``--map``: a customer field (by alias), "extra", or ""
    (ignored: a column Customer_Flow writes itself)."""
    if header.casefold().startswith(EXTRA_PREFIX):
        return "extra"
    if header.casefold() in SYSTEM_COLUMNS:
        return ""
    return _BY_ALIAS.get(_norm(header), "extra")


def extra_key(column: str) -> str:
    """The extra attribute a column holds: its name, less a leading ``extra.``."""
    return column[len(EXTRA_PREFIX) :] if column.casefold().startswith(EXTRA_PREFIX) else column


def extra_column(key: str) -> str:
    """The column an export writes the extra attribute ``key`` under: its own name when an
    import reads that name back as this attribute, else ``extra.KEY`` (a name that is a
    customer field or an alias of one, such as ``Mobile``; a column the export writes itself,
    such as ``created_at``; a name with spaces around it or starting with ``extra.`` or ``__``)."""
    plain = (
        key != ""
        and key == key.strip()
        and not key.startswith("__")
        and _column_role(key) == "extra"
        and extra_key(key) == key
    )
    return key if plain else f"{EXTRA_PREFIX}{key}"


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["Phone Number=Phone", "Notes="]`` -> ``{"Phone Number": "Phone", "Notes": ""}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        src, sep, target = pair.partition("=")
        if not sep or not src.strip():
            raise ValidationError(
                f"--map: expected 'FILE COLUMN=FIELD', got {pair!r}", code="bad_mapping"
            )
        out[src.strip()] = target.strip()
    return out


def _target(name: str) -> str | None:
    """A target field named by the user (any case or alias), '' to ignore, 'extra'."""
    key = _norm(name)
    if key in ("", "ignore", "skip", "none"):
        return ""
    if key == "extra":
        return "extra"
    for target in TARGETS:
        if key == _norm(target):
            return target
    return _BY_ALIAS.get(key)


def plan_columns(
    header: list[str],
    mapping: dict[str, str] | None = None,
    *,
    ignore_unknown: bool = False,
    require_name: bool = True,
) -> ColumnPlan:
    """Map the header to customer fields by alias (case and spaces ignored); ``mapping``
    overrides. Refuses two columns for one field, and a file with no name column unless not
    ``require_name`` (an update: then only rows that would create a customer need a name)."""
    mapping = mapping or {}
    by_norm = {_norm(h): h for h in header}
    chosen: dict[str, str] = {}  # source -> target ("" ignored, "extra")
    for src, wanted in mapping.items():
        col = src if src in header else by_norm.get(_norm(src))
        if col is None:
            raise ValidationError(
                f"--map: the file has no column {cut(src, 60)!r} (columns: {listing(header)})",
                code="bad_mapping",
            )
        target = _target(wanted)
        if target is None:
            raise ValidationError(
                f"--map: {wanted!r} is not a field; use one of {', '.join(TARGETS)}, "
                "'extra', or nothing to ignore the column",
                code="bad_mapping",
            )
        chosen[col] = target
    for h in header:
        if h not in chosen:
            chosen[h] = _column_role(h)
    targets: dict[str, str] = {}
    for src, target in chosen.items():
        if target in ("", "extra"):
            continue
        if target in targets:
            raise ValidationError(
                f"both {targets[target]!r} and {src!r} map to {target}; choose one with "
                f"--map '{src}=' (or --map '{src}=extra')",
                code="ambiguous_columns",
            )
        targets[target] = src
    extras = [h for h, t in chosen.items() if t == "extra"]
    keys: dict[str, str] = {}
    for h in extras:
        other = keys.setdefault(extra_key(h), h)
        if other != h:
            raise ValidationError(
                f"both {other!r} and {h!r} are the extra attribute {extra_key(h)!r}; "
                f"ignore one with --map '{h}='",
                code="ambiguous_columns",
            )
    ignored = [h for h, t in chosen.items() if t == ""]
    if "Name" in targets:
        for part in ("First Name", "Last Name"):
            if part in targets:
                extras.append(targets.pop(part))
    has_name = "Name" in targets or {"First Name", "Last Name"} & targets.keys()
    if require_name and not has_name:
        raise ValidationError(
            f"no name column: found {listing(header)}; name one with --map 'COLUMN=Name'",
            code="missing_column",
        )
    if ignore_unknown:
        ignored += extras
        extras = []
    elif len(extras) > MAX_EXTRA_COLUMNS:
        raise ValidationError(
            f"{len(extras)} columns are not customer fields (at most {MAX_EXTRA_COLUMNS} are "
            "kept as extra attributes); use --ignore-unknown, or --map the ones you need",
            code="too_many_columns",
        )
    for col in extras:
        if len(col) > extra_rules.MAX_KEY:
            raise ValidationError(
                f"the column {col[:40]!r}... has a name of {len(col):,} characters; an extra "
                f"attribute's name has at most {extra_rules.MAX_KEY}: rename the column, or "
                "leave it out with --ignore-unknown",
                code=extra_rules.CODE,
            )
    return ColumnPlan(targets=targets, extras=extras, ignored=ignored)


def map_columns(batch: pl.DataFrame, plan: ColumnPlan) -> pl.DataFrame:
    """Add the customer fields ``__id, __name, __email, __phone`` and ``__extra`` (a JSON object
    of the extra columns' non-empty values, or null) beside the original columns."""
    t = plan.targets

    def col(target: str) -> pl.Expr:
        return pl.col(t[target]) if target in t else pl.lit(None, dtype=pl.String)

    if "Name" in t:
        name = col("Name")
    else:
        name = pl.concat_str(
            [col("First Name"), col("Last Name")], separator=" ", ignore_nulls=True
        )
    exprs = [
        col("ID").alias("__id"),
        name.alias("__name"),
        col("Email").alias("__email"),
        col("Phone").alias("__phone"),
    ]
    if plan.extras:
        pieces = [
            pl.when(pl.col(c).is_not_null() & (pl.col(c) != "")).then(
                pl.struct(pl.col(c).alias(extra_key(c)))
                .struct.json_encode()
                .str.slice(1)
                .str.strip_suffix("}")
            )
            for c in plan.extras
        ]
        joined = pl.concat_str(pieces, separator=",", ignore_nulls=True)
        exprs.append(
            pl.when(joined != "").then(pl.lit("{") + joined + pl.lit("}")).alias("__extra")
        )
    else:
        exprs.append(pl.lit(None, dtype=pl.String).alias("__extra"))
    return batch.with_columns(exprs)


def max_id(source: Source, plan: ColumnPlan) -> int:
    """The largest well-formed ID in the file's ID column (0 when none).

    New IDs are reserved above it, so a row without an ID never takes the ID that a later row
    of the same file gives. One quick pass over the ID column only."""
    col = plan.targets.get("ID")
    if col is None:
        return 0

    def parsed(col_expr: pl.Expr) -> pl.Expr:
        text = col_expr.str.strip_chars().str.replace(r"\.0+$", "")
        ids = pl.when(text.str.contains(r"^[0-9]{1,16}$")).then(text.cast(pl.Int64, strict=False))
        return pl.when(ids <= 2**53).then(ids).max()

    if source.format == "csv":
        try:
            top = (
                pl.scan_csv(
                    _text_path(source),
                    separator=source.delimiter or ",",
                    has_header=True,
                    new_columns=source.header,
                    infer_schema=False,
                    quote_char='"',
                    truncate_ragged_lines=True,
                    raise_if_empty=False,
                )
                .select(parsed(pl.col(col)).alias("top"))
                .collect(engine="streaming")
                .item()
            )
            return int(top or 0)
        except pl.exceptions.PolarsError:
            pass
    best = 0
    try:
        for b in read_batches(source, 200_000):
            best = max(best, int(b.select(parsed(pl.col(col))).item() or 0))
    except ValidationError:
        return 0
    return best


# -- the seed's strict reader --------------------------------------------------------------


def read_id_csv(path: Path) -> Iterator[CustomerCreate]:
    """Yield the customers of a file in the seed's ``id.csv`` format, IDs kept."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != ID_CSV_COLUMNS:
            raise ValidationError(
                f"{path.name}: expected the columns {','.join(ID_CSV_COLUMNS)}, "
                f"got {','.join(reader.fieldnames or ())}",
                code="bad_header",
            )
        for line, row in enumerate(reader, start=2):
            try:
                customer_id = int(row["ID"]) if row["ID"] else None
            except ValueError as exc:
                raise ValidationError(
                    f"{path.name}: line {line}: ID {row['ID']!r} is not a whole number",
                    field="ID",
                ) from exc
            yield CustomerCreate(
                id=customer_id, name=row["Name"], email=row["Email"] or None, phone=row["Phone"]
            )
