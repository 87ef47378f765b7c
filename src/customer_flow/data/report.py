"""The import report, its options and the rejects file: what ``imports`` and ``loading`` share.

Pydantic models, so that the CLI prints them as JSON and the web app can return them as they are.
"""

from __future__ import annotations

import io
import os
import re
import shutil
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
    "KeptCustomer",
    "RejectedRow",
    "RejectsWriter",
    "RevertResult",
    "RowOutcome",
    "csv_line",
    "listing",
    "neutralise",
    "sweep",
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
    # Refuse the file (TooLargeError, HTTP 413) past this many records: the web app's limit.
    max_rows: int | None = Field(default=None, ge=1)


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


class KeptCustomer(BaseModel):
    """A customer a revert left as it is, and why."""

    id: int
    name: str | None
    reason: str


class RevertResult(ImportBatch):
    """A revert: the batch as it now is, what was undone, and the customers that stayed."""

    removed: int = Field(description="Customers the import created, removed again")
    restored: int = Field(description="Customers the import updated, given their values back")
    kept: list[KeptCustomer] = Field(
        default_factory=list,
        description="Customers that stayed as they are (--skip-changed), with the reason",
    )


#: Told the rows read so far and about how many the file has (None: unknown).
Progress = Callable[[int, int | None], None]


# -- the rejects file ----------------------------------------------------------------------


#: What an import takes the leading apostrophe of (``cleaning.strip_export_quotes``), after
#: the apostrophe: ``=``, ``+``, ``-``, ``@``, tab or CR, after any number of apostrophes.
TRIGGER = r"^'*[=+\-@\t\r]"
#: ``+``, ``-``, tab or CR before a plain number (``+13125606670``, ``-12.5``, a phone's
#: ``;ext=12``) runs nothing: left as it is, so that other tools see a number.
PLAIN_NUMBER = r"^[+\-\t\r][0-9]+(?:\.[0-9]+)?(?:;ext=[0-9]+)?$"
_TRIGGER_RE = re.compile(TRIGGER)
_PLAIN_RE = re.compile(PLAIN_NUMBER.removesuffix("$"))


def neutralise(value: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with an apostrophe: ``=`` or
    ``@`` first, or ``+``, ``-``, tab or CR before anything but a plain number; and a value
    that starts with apostrophes before one of these, which an import would take one of. An
    import of the file takes the added apostrophe off again, so the value comes back as it was."""
    if _TRIGGER_RE.match(value) and not _PLAIN_RE.fullmatch(value):
        return "'" + value
    return value


def listing(names: list[str], limit: int = 20, width: int = 60) -> str:
    """Names for a message or a note: the first ``limit``, each cut to ``width`` characters
    (saying how long it was), and how many more."""
    shown = [
        n if len(n) <= width else f"{n[:width]}… ({len(n):,} characters)" for n in names[:limit]
    ]
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def csv_line(cells: list[str]) -> str:
    """One CSV line, quoting only where needed: like the csv module's minimal quoting, but a
    bare CR is quoted too, so that no reader takes it for a line break."""
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _SPECIAL.search(c) else c for c in cells)
        + "\n"
    )


_SPECIAL = re.compile(r'[",\r\n]')


def sweep(folder: Path, prefix: str, suffix: str = "") -> None:
    """Remove what a killed run left in ``folder``: the entries named ``PREFIX<pid>...SUFFIX``
    whose process ID is that of a process that is gone."""
    try:
        found = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in found:
        if not entry.name.endswith(suffix):
            continue
        pid = re.match(r"[0-9]+", entry.name[len(prefix) :])
        if pid is None or int(pid[0]) == os.getpid() or _alive(int(pid[0])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass  # someone else's, or gone already


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class RejectsWriter:
    """Writes the rejects file as rows come: row, column, code, message, original values.

    Each batch's problems arrive as one frame (``row, column, code, message`` and the original
    values in the header's order) and are written by Polars, with the same minimal quoting as
    ``csv_line`` and every cell that starts like a formula neutralised. The file is written
    under a temporary name beside its place (``.NAME.PID.part``) and renamed when the import
    ends (``close``): a run that is killed leaves no half-written rejects file, and the next run
    removes its temporary one."""

    def __init__(self, path: Path | None, header: list[str]) -> None:
        self.path = path
        self.header = header
        self._fh: io.TextIOWrapper | None = None
        self._part: Path | None = None
        self.written = False  # the rejects file is in place
        if path is not None:
            sweep(path.parent, f".{path.name}.", ".part")

    def write(self, problems: pl.DataFrame) -> None:
        if self.path is None or problems.height == 0:
            return
        if self._fh is None:
            self._part = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
            # It holds rejected rows, personal data: readable by its owner only (0600).
            self._fh = open(  # noqa: SIM115 - closed by close()
                self._part, "w", newline="", encoding="utf-8", opener=_private_opener
            )
            self._fh.write(csv_line([*REJECTS_HEAD, *self.header]))
        cells = [pl.col(problems.columns[0]).cast(pl.String)]
        cells += [_cell(pl.col(c)).alias(c) for c in problems.columns[1:]]
        problems.select(cells).write_csv(
            self._fh, include_header=False, quote_style="necessary", null_value=""
        )

    @property
    def started(self) -> bool:
        """Some rejected row was written (the file is in place once ``close`` keeps it)."""
        return self._part is not None

    def close(self, *, keep: bool = True) -> None:
        """Put the rejects file in its place (``keep``), or drop what was written."""
        if self._fh is None or self._part is None or self.path is None:
            return
        self._fh.close()
        self._fh = None
        if keep:
            os.replace(self._part, self.path)
            self.written = True
        else:
            self._part.unlink(missing_ok=True)


def _private_opener(path: str, flags: int) -> int:
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there already keeps its mode otherwise
    return fd


def _cell(value: pl.Expr) -> pl.Expr:
    """``neutralise``, as an expression; an empty value is written as nothing (not "")."""
    text = value.cast(pl.String)
    formula = text.str.contains(TRIGGER) & ~text.str.contains(PLAIN_NUMBER)
    return (
        pl.when(text == "")
        .then(pl.lit(None, dtype=pl.String))
        .when(formula)
        .then(pl.lit("'") + text)
        .otherwise(text)
    )
