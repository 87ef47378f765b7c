"""Jobs that failed for good (after their retries): one row each, never dropped silently."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Connection, select

from customer_flow.core.times import aware
from customer_flow.store.schema import job_failures

__all__ = ["JobFailure", "list_failures", "record"]


class JobFailure(BaseModel):
    """A job that failed after its retries, with the error of its last try."""

    id: int
    job: str
    error: str
    attempts: int
    failed_at: datetime


def record(conn: Connection, job: str, error: str, attempts: int, now: datetime) -> JobFailure:
    inserted = conn.execute(
        job_failures.insert().values(
            job=job[:100], error=error[:4000], attempts=attempts, failed_at=now
        )
    ).inserted_primary_key
    row = conn.execute(select(job_failures).where(job_failures.c.id == inserted[0])).one()  # type: ignore[index]
    return _failure(row)


def list_failures(conn: Connection, *, limit: int = 100) -> list[JobFailure]:
    rows = conn.execute(select(job_failures).order_by(job_failures.c.id.desc()).limit(limit))
    return [_failure(r) for r in rows]


def _failure(row: object) -> JobFailure:
    data = dict(row._mapping)  # type: ignore[attr-defined]
    data["failed_at"] = aware(data["failed_at"])  # SQLite hands back a naive UTC time
    return JobFailure.model_validate(data)
