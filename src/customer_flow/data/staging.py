"""Uploaded import files, staged on disk between the preview and the import, and the rejects
files kept for each import made from the web. Files only: no database. The web app stages an
upload here; the worker (``customer-flow worker``) reads it and keeps the batch's files.

- An upload is copied to ``<root>/uploads/<token>/file/<its name>``, with ``owner.json`` naming the
  user who sent it. The token is random (``secrets``) and only its owner may use it; it expires
  after ``PREVIEW_TTL`` seconds (swept when the next file arrives). The preview's rejects file
  sits beside it.
- When an import commits, its rejects file moves to ``<root>/batches/<id>/`` with the report,
  and the staged upload is deleted.

``<root>`` is the ``import_dir`` setting (``CUSTOMER_FLOW_IMPORT_DIR``), else a folder in the
user data folder keyed by the database URL (``Settings.resolved_import_dir``); the web app may
override it (``app.state.import_dir``, ``web.uploads.root``). The files
hold personal data (rejected rows), so every folder here is made 0700 and every file 0600, and
staged uploads past their time to live are removed when the next one arrives. Every app server
and every worker must see that folder at the same path (a network mount when they run on
several machines): an upload staged by one server is read by whichever worker takes its job.
The README and docs/deploy say so.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from customer_flow.core.errors import NotFoundError, ValidationError
from customer_flow.data.report import ImportBatch, ImportOptions, ImportReport

__all__ = [
    "ALLOWED_SUFFIXES",
    "PREVIEW_TTL",
    "Staged",
    "batch_rejects",
    "batch_report",
    "discard",
    "find",
    "import_options",
    "keep_batch",
    "public",
    "safe_name",
    "scrubbed",
    "stage",
    "staged_at",
]

ALLOWED_SUFFIXES = (
    ".csv", ".tsv", ".tab", ".txt", ".xlsx", ".xlsm", ".jsonl", ".ndjson", ".json", ".parquet"
)  # fmt: skip
PREVIEW_TTL = 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_OWNER = "owner.json"
DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class Staged:
    """An uploaded file waiting for its import."""

    token: str
    folder: Path
    name: str

    @property
    def path(self) -> Path:
        # In a folder of its own, so that no name can be that of a rejects file beside it.
        return self.folder / "file" / self.name

    @property
    def preview_rejects(self) -> Path:
        return self.folder / "preview.rejects.csv"

    @property
    def import_rejects(self) -> Path:
        return self.folder / "import.rejects.csv"


def _private_dir(path: Path) -> None:
    """Make ``path`` (and missing parents) a folder only its owner may open. The mode is set
    after creating, since ``mkdir`` applies the umask and ignores ``mode`` for parents."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)


def _private_file(path: Path) -> IO[bytes]:
    """A new file only its owner may read, opened for writing (never an existing one)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    return os.fdopen(fd, "wb")


def _write_private(path: Path, text: str) -> None:
    with _private_file(path) as out:
        out.write(text.encode("utf-8"))


def safe_name(filename: str | None) -> str:
    """The upload's own name, without folders or control characters; refused (422) unless it
    ends in a suffix the importer reads."""
    raw = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(c for c in unicodedata.normalize("NFC", raw) if c.isprintable()).strip()
    suffix = PurePosixPath(name).suffix.lower()
    if not name:
        raise ValidationError("choose a file to upload", code="no_file", field="file")
    if suffix not in ALLOWED_SUFFIXES:
        raise ValidationError(
            f"{name[:100]}: upload a CSV, TSV, XLSX or JSON Lines file "
            f"({', '.join(ALLOWED_SUFFIXES)})",
            code="unsupported_file",
            field="file",
        )
    stem = PurePosixPath(name).stem.lstrip(".") or "upload"
    return stem[:150] + suffix


def stage(base: Path, source: IO[bytes], filename: str | None, user_id: int) -> Staged:
    """Copy an upload to its own folder under ``base``, owned by ``user_id``."""
    name = safe_name(filename)
    _sweep(base)
    token = secrets.token_urlsafe(24)
    folder = base / "uploads" / token
    staged = Staged(token=token, folder=folder, name=name)
    for level in (base, base / "uploads", folder, staged.path.parent):
        _private_dir(level)
    with _private_file(staged.path) as out:
        shutil.copyfileobj(source, out, 1 << 20)
    owner = {"user_id": user_id, "name": name, "created": time.time()}
    _write_private(folder / _OWNER, json.dumps(owner))
    return staged


def find(base: Path, token: str, user_id: int) -> Staged:
    """The staged upload ``token`` of ``user_id``; 404 when unknown, expired or someone else's."""
    gone = NotFoundError(
        "no such upload: it expired or was imported already; upload the file again",
        code="upload_not_found",
        field="upload",
    )
    if not _TOKEN.match(token or ""):
        raise gone
    folder = base / "uploads" / token
    try:
        owner = json.loads((folder / _OWNER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise gone from None
    if owner.get("user_id") != user_id or time.time() - owner["created"] > PREVIEW_TTL:
        raise gone
    return Staged(token=token, folder=folder, name=str(owner["name"]))


def staged_at(folder: Path) -> Staged:
    """The staged upload in ``folder`` (``<root>/uploads/<token>``), as the worker finds it;
    ``FileNotFoundError`` when the folder or its file is not there."""
    owner = json.loads((folder / _OWNER).read_text(encoding="utf-8"))
    staged = Staged(token=folder.name, folder=folder, name=str(owner["name"]))
    if not staged.path.is_file():
        raise FileNotFoundError(str(staged.path))
    return staged


def discard(staged: Staged) -> None:
    shutil.rmtree(staged.folder, ignore_errors=True)


def _sweep(base: Path) -> None:
    """Remove staged uploads older than the time to live."""
    uploads = base / "uploads"
    if not uploads.is_dir():
        return
    cutoff = time.time() - PREVIEW_TTL
    for folder in uploads.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def import_options(
    *,
    on_conflict: str = "skip",
    mapping: list[str] | None = None,
    ignore_unknown: bool = False,
    max_errors: int | None = None,
    rejects_path: Path | None = None,
    reject_duplicates: bool = False,
    max_rows: int | None = None,
) -> ImportOptions:
    """The import's options from form fields; ``mapping`` holds ``Source=Target`` lines.
    ``max_rows`` is the web's row limit (``Settings.web_import_max_rows``)."""
    pairs: dict[str, str] = {}
    for item in mapping or []:
        for line in item.splitlines():
            if not line.strip():
                continue
            source, sep, target = line.partition("=")
            if not sep or not source.strip() or not target.strip():
                raise ValidationError(
                    f"mapping: {line.strip()[:100]!r} is not 'Source column=Field'",
                    code="bad_mapping",
                    field="mapping",
                )
            pairs[source.strip()] = target.strip()
    if on_conflict not in ("skip", "update", "fail"):
        raise ValidationError(
            "on_conflict: choose skip, update or fail", code="invalid", field="on_conflict"
        )
    return ImportOptions(
        mapping=pairs,
        ignore_unknown=ignore_unknown,
        on_conflict=on_conflict,
        max_errors=max_errors,
        rejects_path=rejects_path,
        reject_duplicates=reject_duplicates,
        max_rows=max_rows,
    )


def public(report: ImportReport, staged: Staged) -> ImportReport:
    """The report without server paths (the rejects file is offered as a download instead)."""
    return report.model_copy(update={"rejects_file": None})


def scrubbed(exc: ValidationError, staged: Staged) -> ValidationError:
    """The error with the staged folder's paths taken out of its message."""
    message = re.sub(r"; see \S*" + re.escape(staged.token) + r"\S*", "", exc.message)
    return type(exc)(message, code=exc.code, field=exc.field)  # a TooLargeError stays 413


def keep_batch(base: Path, staged: Staged, report: ImportReport) -> None:
    """After an import: keep its report and rejects file, and drop the staged upload."""
    assert report.batch_id is not None
    folder = base / "batches" / str(report.batch_id)
    shutil.rmtree(folder, ignore_errors=True)
    for level in (base, base / "batches", folder):
        _private_dir(level)
    if staged.import_rejects.exists():
        staged.import_rejects.replace(folder / "rejects.csv")
    kept = {**public(report, staged).model_dump(mode="json"), "kept_at": time.time()}
    _write_private(folder / "report.json", json.dumps(kept))
    discard(staged)


def _kept(base: Path, batch: ImportBatch) -> tuple[Path, dict[str, Any]] | None:
    """The batch's folder and report, when they belong to this very batch (an ID can come
    back after a database is reset, so the counts must match too)."""
    folder = base / "batches" / str(batch.id)
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (
        all(
            report.get(k) == getattr(batch, k)
            for k in ("source", "rows_read", "imported", "updated", "rejected")
        )
        and 0 <= float(report.get("kept_at", -1)) - batch.created_at.timestamp() < 86400
    )
    report.pop("kept_at", None)
    return (folder, report) if same else None


def batch_report(base: Path, batch: ImportBatch) -> ImportReport | None:
    """The full report of an import made in the web app (``None`` for one from the CLI)."""
    kept = _kept(base, batch)
    return ImportReport.model_validate(kept[1]) if kept else None


def batch_rejects(base: Path, batch: ImportBatch) -> Path:
    """The rejects file of an import made in the web app; 404 when there is none."""
    kept = _kept(base, batch)
    if batch.rejected == 0:
        raise NotFoundError(f"import {batch.id} rejected no rows", code="no_rejects")
    if kept is None or not (kept[0] / "rejects.csv").exists():
        raise NotFoundError(
            f"import {batch.id} was not made in the web app; its rejects file is where the "
            "CLI wrote it",
            code="no_rejects",
        )
    return kept[0] / "rejects.csv"
