"""The import report, its options and the rejects file: what ``imports`` and ``loading`` share.

Pydantic models, so that the CLI prints them as JSON and the web app can return them as they are.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, Field

__all__ = [
    "DuplicateRef",
    "DuplicateRow",
    "ImportBatch",
    "ImportOptions",
    "ImportReport",
    "RejectedRow",
    "RejectsWriter",
    "RowOutcome",
    "csv_line",
    "neutralise",
]

OnConflict = Literal["skip", "update", "fail"]
REJECTS_HEAD = ("row", "column", "code", "message")
Problem = tuple[int, str, str, str, list[str | None]]  # row, column, code, message, values
KEEP = 20  # rejects and outcomes kept in the report itself
KEEP_DUPLICATES = 100  # rows imported as possible duplicates, listed in the report


class ImportOptions(BaseModel):
    """How to read and load a file."""

    mapping: dict[str, str] = Field(default_factory=dict)
    ignore_unknown: bool = False
    on_conflict: OnConflict = "skip"
    reject_duplicates: bool = False  # reject possible duplicates instead of importing them flagged
    max_errors: int | None = Field(default=None, ge=0)
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    # 50,000: the duplicate check's per-batch frames keep a 1,000,000-row import under 1 GB
    # (about 15 % more CPU than 100,000; see benchmarks/RESULTS.md).
    batch_rows: int = Field(default=50_000, ge=1)
    rejects_path: Path | None = None


class RejectedRow(BaseModel):
    """One problem of one rejected row, as in the rejects file."""

    row: int
    column: str
    code: str
    message: str
    values: dict[str, str | None]


class RowOutcome(BaseModel):
    """What happened to one row (the report keeps the first few of each kind, for a preview)."""

    row: int
    action: Literal["create", "update", "unchanged", "skip"]
    id: int | None
    name: str
    email: str | None
    phone: str | None
    changes: dict[str, list[Any]] = Field(default_factory=dict)


class DuplicateRef(BaseModel):
    """A customer (or an earlier row of the file) that an imported row looks like, and why."""

    id: int | None = Field(description="The customer's ID (None: a row that was not imported)")
    row: int | None = Field(description="Its row in this file; None for a customer already there")
    name: str
    probability: float | None = Field(
        default=None, description="The duplicates model's probability that they are one person"
    )
    reasons: list[str]


class DuplicateRow(BaseModel):
    """A row imported although it looks like other customers (flagged for review)."""

    row: int
    id: int | None
    candidates: list[DuplicateRef]


class ImportReport(BaseModel):
    """Everything an import (or a dry run, or a validation) found and did."""

    source: str
    format: str
    encoding: str
    delimiter: str | None = None
    dry_run: bool = False
    validated_only: bool = False  # validate FILE: ``imported`` counts the valid rows
    batch_id: int | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    rows_read: int = 0
    blank_rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # of unchanged: matches left alone by --on-conflict skip
    rejected: int = 0
    cleaning: dict[str, int] = Field(default_factory=dict)
    errors: dict[str, int] = Field(default_factory=dict)
    warnings: dict[str, int] = Field(default_factory=dict)
    rejects: list[RejectedRow] = Field(default_factory=list)
    outcomes: list[RowOutcome] = Field(default_factory=list)
    possible_duplicates: int = 0  # new rows that look like a customer or an earlier row
    duplicates: list[DuplicateRow] = Field(default_factory=list)  # the first few flagged
    rejects_file: str | None = None

    @property
    def accounted(self) -> bool:
        """imported + updated + unchanged + rejected == rows read."""
        return self.imported + self.updated + self.unchanged + self.rejected == self.rows_read

    def balance(self) -> str:
        """The line every report ends with: where each row read went."""
        if self.validated_only:
            return (
                f"{self.imported:,} valid + {self.rejected:,} rejected = "
                f"{self.rows_read:,} rows read"
            )
        return (
            f"{self.imported:,} imported + {self.updated:,} updated + {self.unchanged:,} "
            f"unchanged + {self.rejected:,} rejected = {self.rows_read:,} rows read"
        )


class ImportBatch(BaseModel):
    """A past import, as ``imports list`` shows it."""

    id: int
    created_at: datetime
    actor: str
    source: str
    on_conflict: str
    rows_read: int
    imported: int
    updated: int
    unchanged: int
    rejected: int
    status: str
    reverted_at: datetime | None = None
    reverted_by: str | None = None


Progress = Callable[[int], None]


# -- the rejects file ----------------------------------------------------------------------


def neutralise(value: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with an apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_line(cells: list[str]) -> str:
    """One CSV line, quoting only where needed: like the csv module's minimal quoting, but a
    bare CR is quoted too, so that no reader takes it for a line break."""
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _SPECIAL.search(c) else c for c in cells)
        + "\n"
    )


_SPECIAL = re.compile(r'[",\r\n]')


class RejectsWriter:
    """Writes the rejects file as rows come: row, column, code, message, original values.

    Each batch's problems arrive as one frame (``row, column, code, message`` and the original
    values in the header's order) and are written by Polars, with the same minimal quoting as
    ``csv_line`` and every cell that starts like a formula neutralised."""

    def __init__(self, path: Path | None, header: list[str]) -> None:
        self.path = path
        self.header = header
        self._fh: io.TextIOWrapper | None = None

    def write(self, problems: pl.DataFrame) -> None:
        if self.path is None or problems.height == 0:
            return
        if self._fh is None:
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._fh.write(csv_line([*REJECTS_HEAD, *self.header]))
        cells = [pl.col(problems.columns[0]).cast(pl.String)]
        cells += [_cell(pl.col(c)).alias(c) for c in problems.columns[1:]]
        problems.select(cells).write_csv(
            self._fh, include_header=False, quote_style="necessary", null_value=""
        )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _cell(value: pl.Expr) -> pl.Expr:
    """``neutralise``, as an expression; an empty value is written as nothing (not "")."""
    text = value.cast(pl.String)
    formula = text.str.contains(r"^[=+\-@\t\r]")
    return (
        pl.when(text == "")
        .then(pl.lit(None, dtype=pl.String))
        .when(formula)
        .then(pl.lit("'") + text)
        .otherwise(text)
    )
