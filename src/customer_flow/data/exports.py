"""Exporting customers to CSV (the id.csv format), JSON, JSON Lines, XLSX or Parquet.

Rows stream from one read transaction in chunks, so memory stays flat. The filters are those of
``customers list`` (search, trash, with warnings, sort); a test checks that both select the
same customers.

CSV is ``ID,Name,Email,Phone`` and then one column per extra attribute (sorted by name), UTF-8,
LF line endings, quoting only where needed: a clean id.csv that is imported and exported comes
back byte-identical. A cell that a spreadsheet would run as a formula (``report.neutralise``:
``=`` or ``@`` first, or ``+``, ``-``, tab or CR before anything but a plain number) gets a
leading apostrophe, unless ``raw``; importing such a file takes the apostrophe off again.

Every format re-imports to the same stored values (a property test checks it): an extra
attribute is written under its own name unless an import would read that name as something
else (``Mobile``, ``created_at``, ...), and then as ``extra.NAME`` (``sources.extra_column``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Select, select

from customer_flow.core.errors import ValidationError
from customer_flow.customers.models import CustomerQuery
from customer_flow.customers.records import filter_conditions
from customer_flow.data.imports import csv_line, neutralise
from customer_flow.data.report import sweep
from customer_flow.data.sources import extra_column
from customer_flow.store import audit
from customer_flow.store.schema import customers

__all__ = ["FORMATS", "TABLE_FORMATS", "ExportReport", "export_customers", "export_table"]

ExportFormat = Literal["csv", "json", "jsonl", "xlsx", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "json", "jsonl", "xlsx", "parquet")
#: What ``export_table`` writes: a table another capability lists (tickets, for the web).
TABLE_FORMATS: tuple[str, ...] = ("csv", "xlsx")
_CHUNK = 5000


class ExportReport(BaseModel):
    """What an export wrote."""

    path: str
    format: str
    rows: int
    columns: list[str]
    neutralised: int  # cells prefixed against formula injection


def _statement(query: CustomerQuery, dialect: str) -> Select[Any]:
    column = {"id": customers.c.id, "name": customers.c.name, "created": customers.c.created_at}[
        query.sort.lstrip("-")
    ]
    order = (
        [column.desc(), customers.c.id.desc()]
        if query.sort.startswith("-")
        else [
            column,
            customers.c.id,
        ]
    )
    return select(customers).where(*filter_conditions(query, dialect)).order_by(*order)


def _extra_keys(conn: Connection, query: CustomerQuery) -> list[str]:
    """The extra attributes' names among the selected customers (a first, light pass)."""
    keys: set[str] = set()
    stmt = _statement(query, conn.dialect.name).with_only_columns(customers.c.extra).order_by(None)
    for (extra,) in conn.execute(stmt.execution_options(yield_per=_CHUNK)):
        if extra:
            keys.update(extra)
    return sorted(keys)


def _rows(conn: Connection, query: CustomerQuery) -> Iterator[dict[str, Any]]:
    result = conn.execute(
        _statement(query, conn.dialect.name).execution_options(yield_per=_CHUNK)
    ).mappings()
    for r in result:
        yield dict(r)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def export_customers(
    conn: Connection,
    out: Path | IO[str],
    query: CustomerQuery,
    *,
    format: str = "csv",
    raw: bool = False,
) -> ExportReport:
    """Write the customers ``query`` selects to ``out`` (a path, or a text stream for CSV,
    JSON and JSON Lines)."""
    if format not in FORMATS:
        raise ValidationError(
            f"--format: {format!r} is not one of {', '.join(FORMATS)}", code="bad_format"
        )
    if format in ("xlsx", "parquet") and not isinstance(out, Path):
        raise ValidationError(f"{format} is written to a file, not a stream", code="bad_format")
    name = str(out) if isinstance(out, Path) else "-"
    keys = _extra_keys(conn, query) if format in ("csv", "xlsx", "parquet") else []
    columns = ["ID", "Name", "Email", "Phone", *(extra_column(k) for k in keys)]
    # A file is written beside its place and renamed there when whole: a failed export leaves
    # no truncated file behind (and the one it would replace as it was).
    target: Path | IO[str] = out
    if isinstance(out, Path):
        sweep(out.parent, f".{out.name}.", ".part")  # what a killed export left
        target = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        if format == "csv":
            rows, neutralised = _write_csv(conn, target, query, keys, raw)
        elif format in ("json", "jsonl"):
            rows, neutralised = _write_json(conn, target, query, lines=format == "jsonl"), 0
            columns = [
                "id", "name", "email", "phone", "extra", "warnings", "created_at", "updated_at"
            ]  # fmt: skip
        elif format == "xlsx":
            assert isinstance(target, Path)
            rows, neutralised = _write_xlsx(conn, target, query, columns, keys), 0
        else:
            assert isinstance(target, Path)
            rows, neutralised = _write_parquet(conn, target, query, keys), 0
        if isinstance(target, Path):
            os.replace(target, out)  # type: ignore[arg-type]
    finally:
        if isinstance(target, Path):
            target.unlink(missing_ok=True)
    return ExportReport(
        path=name, format=format, rows=rows, columns=columns, neutralised=neutralised
    )


def _open(out: Path | IO[str]) -> tuple[IO[str], bool]:
    if isinstance(out, Path):
        return out.open("w", newline="", encoding="utf-8"), True
    return out, False


def _write_csv(
    conn: Connection, out: Path | IO[str], query: CustomerQuery, keys: list[str], raw: bool
) -> tuple[int, int]:
    fh, owned = _open(out)
    n = neutralised = 0
    try:
        header = ["ID", "Name", "Email", "Phone", *(extra_column(k) for k in keys)]
        fh.write(csv_line(header if raw else [neutralise(c) for c in header]))
        for r in _rows(conn, query):
            extra = r["extra"] or {}
            cells = [
                str(r["id"]),
                r["name"],
                r["email"] or "",
                r["phone"] or "",
                *(_cell(extra.get(k)) for k in keys),
            ]
            if not raw:
                safe = [neutralise(c) for c in cells]
                neutralised += sum(a is not b for a, b in zip(cells, safe, strict=True))
                cells = safe
            fh.write(csv_line(cells))
            n += 1
    finally:
        if owned:
            fh.close()
    return n, neutralised


def _public(r: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": r["id"],
        "name": r["name"],
        "email": r["email"],
        "phone": r["phone"],
        "extra": r["extra"] or {},
        "warnings": r["warnings"] or [],
        "created_at": audit.aware(r["created_at"]).isoformat(),  # type: ignore[union-attr]
        "updated_at": audit.aware(r["updated_at"]).isoformat(),  # type: ignore[union-attr]
    }
    if r["deleted_at"] is not None:
        out["deleted_at"] = audit.aware(r["deleted_at"]).isoformat()  # type: ignore[union-attr]
    return out


def _write_json(conn: Connection, out: Path | IO[str], query: CustomerQuery, lines: bool) -> int:
    fh, owned = _open(out)
    n = 0
    try:
        if not lines:
            fh.write("[")
        for r in _rows(conn, query):
            line = json.dumps(_public(r), ensure_ascii=False)
            if lines:
                fh.write(line + "\n")
            else:
                fh.write(("\n  " if n == 0 else ",\n  ") + line)
            n += 1
        if not lines:
            fh.write("\n]\n" if n else "]\n")
    finally:
        if owned:
            fh.close()
    return n


def _write_xlsx(
    conn: Connection, out: Path, query: CustomerQuery, columns: list[str], keys: list[str]
) -> int:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False})
    ws = wb.add_worksheet("Customers")
    bold = wb.add_format({"bold": True})
    for c, head in enumerate(columns):
        ws.write_string(0, c, head, bold)
    n = 0
    for r in _rows(conn, query):
        n += 1
        ws.write_number(n, 0, r["id"])
        extra = r["extra"] or {}
        for c, value in enumerate(
            [r["name"], r["email"], r["phone"], *(extra.get(k) for k in keys)], start=1
        ):
            if value is not None:
                ws.write_string(n, c, _cell(value))
    wb.close()
    return n


def _write_parquet(conn: Connection, out: Path, query: CustomerQuery, keys: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("email", pa.string()),
            ("phone", pa.string()),
            *((extra_column(k), pa.string()) for k in keys),
            ("warnings", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("updated_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    n = 0
    with pq.ParquetWriter(str(out), schema) as writer:
        chunk: list[dict[str, Any]] = []
        for r in _rows(conn, query):
            extra = r["extra"] or {}
            chunk.append(
                {
                    "id": r["id"],
                    "name": r["name"],
                    "email": r["email"],
                    "phone": r["phone"],
                    **{
                        extra_column(k): None if extra.get(k) is None else _cell(extra[k])
                        for k in keys
                    },
                    "warnings": json.dumps(r["warnings"] or [], ensure_ascii=False),
                    "created_at": audit.aware(r["created_at"]),
                    "updated_at": audit.aware(r["updated_at"]),
                }
            )
            if len(chunk) >= _CHUNK:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                n += len(chunk)
                chunk = []
        if chunk or n == 0:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            n += len(chunk)
    return n


def export_table(
    out: Path,
    columns: list[str],
    rows: Iterable[list[Any]],
    *,
    format: str = "csv",
    sheet: str = "Export",
    raw: bool = False,
) -> ExportReport:
    """Write a table that another capability streams (a row at a time: memory stays flat)
    as CSV or XLSX, with the customers export's formula protection: in CSV a cell a
    spreadsheet would run gets its apostrophe (unless ``raw``); XLSX stores every text as
    text, never as a formula. ``None`` is an empty cell; an int or float stays a number."""
    if format not in TABLE_FORMATS:
        raise ValidationError(
            f"format: {format!r} is not one of {', '.join(TABLE_FORMATS)}", code="bad_format"
        )
    sweep(out.parent, f".{out.name}.", ".part")
    target = out.with_name(f".{out.name}.{os.getpid()}.part")
    n = neutralised = 0
    try:
        if format == "csv":
            with target.open("w", newline="", encoding="utf-8") as fh:
                fh.write(csv_line(columns if raw else [neutralise(c) for c in columns]))
                for row in rows:
                    cells = [_cell(v) for v in row]
                    if not raw:
                        safe = [neutralise(c) for c in cells]
                        neutralised += sum(a is not b for a, b in zip(cells, safe, strict=True))
                        cells = safe
                    fh.write(csv_line(cells))
                    n += 1
        else:
            import xlsxwriter

            wb = xlsxwriter.Workbook(
                str(target), {"constant_memory": True, "strings_to_formulas": False}
            )
            ws = wb.add_worksheet(sheet[:31])
            bold = wb.add_format({"bold": True})
            for c, head in enumerate(columns):
                ws.write_string(0, c, head, bold)
            for row in rows:
                n += 1
                for c, value in enumerate(row):
                    if isinstance(value, bool) or value is None:
                        if value is not None:
                            ws.write_string(n, c, "yes" if value else "no")
                    elif isinstance(value, int | float):
                        ws.write_number(n, c, value)
                    else:
                        ws.write_string(n, c, _cell(value))
            wb.close()
        os.replace(target, out)
    finally:
        target.unlink(missing_ok=True)
    return ExportReport(
        path=str(out), format=format, rows=n, columns=columns, neutralised=neutralised
    )
