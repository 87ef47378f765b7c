"""Imports started from the web, run by the worker: one row per job (a preview or an import of a
staged upload) and the progress file beside the upload.

The row says what to do and how it ended; the Hub turns an import's row ``done`` in the
import's own transaction (``finish``), so a job retried after a crash never imports twice.
Progress (rows read, about how many the file holds) is written to ``progress.json`` in the
staged upload's folder, not the database: on SQLite the import holds the write lock while it
runs, and that folder is shared by every app server and worker anyway (it holds the upload).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, select

from customer_flow.core.errors import NotFoundError
from customer_flow.store.schema import import_jobs

__all__ = ["ImportJob", "create", "fail", "finish", "get", "read_progress", "start",
           "write_progress"]  # fmt: skip

PROGRESS = "progress.json"
Kind = Literal["preview", "import"]
Status = Literal["queued", "running", "done", "failed"]


class ImportJob(BaseModel):
    """A preview or an import started from the web, as the worker left it."""

    id: int
    kind: Kind
    status: Status
    user_id: int | None
    actor: str
    role: str
    source: str
    folder: str
    options: dict[str, Any]
    report: dict[str, Any] | None
    batch_id: int | None
    error: str | None
    error_status: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: Rows read so far and about how many the file holds (``None``: not known yet).
    rows_done: int = 0
    rows_total: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def _job(row: Any) -> ImportJob:
    data = dict(row._mapping)
    data["options"] = json.loads(data["options"])
    data["report"] = json.loads(data["report"]) if data["report"] else None
    job = ImportJob.model_validate(data)
    if job.status == "done" and job.report:
        read = int(job.report.get("rows_read", 0)) + int(job.report.get("blank_rows", 0))
        return job.model_copy(update={"rows_done": read, "rows_total": read})
    done, total = read_progress(Path(job.folder))
    return job.model_copy(update={"rows_done": done, "rows_total": total})


def create(
    conn: Connection,
    *,
    kind: Kind,
    user_id: int | None,
    actor: str,
    role: str,
    source: str,
    folder: Path,
    options: dict[str, Any],
    now: datetime,
) -> ImportJob:
    inserted = conn.execute(
        import_jobs.insert().values(
            kind=kind, status="queued", user_id=user_id, actor=actor[:255], role=role,
            source=source[:255], folder=str(folder), options=json.dumps(options),
            attempts=0, created_at=now,
        )
    ).inserted_primary_key  # fmt: skip
    return get(conn, int(inserted[0]))  # type: ignore[index]


def get(conn: Connection, job_id: int) -> ImportJob:
    row = conn.execute(select(import_jobs).where(import_jobs.c.id == job_id)).first()
    if row is None:
        raise NotFoundError(f"no import job {job_id}", code="import_job_not_found")
    return _job(row)


def start(conn: Connection, job_id: int, now: datetime) -> None:
    """The worker took the job (again): one more attempt."""
    conn.execute(
        import_jobs.update()
        .where(import_jobs.c.id == job_id)
        .values(status="running", started_at=now, attempts=import_jobs.c.attempts + 1)
    )


def finish(
    conn: Connection,
    job_id: int,
    report: dict[str, Any],
    batch_id: int | None,
    now: datetime,
) -> bool:
    """Mark the job done with its report; False when it was done already (then the caller's
    transaction must not commit a second import)."""
    changed = conn.execute(
        import_jobs.update()
        .where(import_jobs.c.id == job_id, import_jobs.c.status != "done")
        .values(
            status="done", report=json.dumps(report), batch_id=batch_id, error=None,
            error_status=None, finished_at=now,
        )
    ).rowcount  # fmt: skip
    return bool(changed)


def fail(
    conn: Connection, job_id: int, error: str, status: int, now: datetime, *, final: bool
) -> None:
    """Record the job's error: for good (``final``), or until its next try."""
    conn.execute(
        import_jobs.update()
        .where(import_jobs.c.id == job_id, import_jobs.c.status != "done")
        .values(
            status="failed" if final else "queued",
            error=error[:4000],
            error_status=status,
            finished_at=now if final else None,
        )
    )


def write_progress(folder: Path, done: int, total: int | None) -> None:
    """Replace the progress file in one rename (a reader never sees half of it)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".progress-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"done": done, "total": total}, handle)
        os.replace(tmp, folder / PROGRESS)
    except OSError:  # progress is a courtesy: never fail the import for it
        return


def read_progress(folder: Path) -> tuple[int, int | None]:
    try:
        data = json.loads((folder / PROGRESS).read_text(encoding="utf-8"))
        total = data.get("total")
        return int(data["done"]), (int(total) if total is not None else None)
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None
