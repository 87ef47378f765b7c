"""The background jobs: the huey queue and its tasks, shared by the worker (``customer-flow
worker``, which consumes them) and the web app (which enqueues imports).

A job only calls the Hub, like any door. Every ``mail_poll_minutes`` the worker fetches the
mailboxes and sends the outbox, as two jobs; an import started from the web is one job
(``import_job``). A job that fails is tried again (``job_retries`` times, ``job_retry_delay``
seconds apart), then kept in the database for admins (``customer-flow worker failures``):
never lost silently.

The queue is SQLite under the data folder by default (nothing to install), Redis with
``CUSTOMER_FLOW_QUEUE_URL=redis://host:6379/0`` for a team server (several workers share it:
``jobs/queue.py``), and ``memory://`` runs each
job at once in the caller (tests, demos: no worker needed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import Huey, MemoryHuey, SqliteHuey, crontab
from huey.api import Task
from huey.signals import SIGNAL_ERROR

from customer_flow.core.errors import ConfigError
from customer_flow.jobs.queue import ReliableRedisHuey

if TYPE_CHECKING:
    from customer_flow.core.config import Settings
    from customer_flow.hub import Hub

__all__ = ["JobError", "make_queue"]


class JobError(Exception):
    """A job did not do its work (a server down, a password missing): huey retries it."""


def make_queue(settings: Settings) -> Huey:
    """The huey queue the settings name, with the jobs registered on it."""
    url = settings.queue_url
    # One queue per database: two databases' workers on one Redis never take each other's jobs.
    name = f"customer-flow-{settings.data_dir().name}"
    huey: Huey
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        # Shared by several workers: a job whose worker dies is taken again (jobs/queue.py).
        huey = ReliableRedisHuey(name, url=url, lease=settings.job_lease_seconds)
    elif url == "memory://":
        huey = MemoryHuey(name, immediate=True)
    elif url and not url.startswith("sqlite:///"):
        raise ConfigError(
            f"queue_url: expected redis://..., sqlite:///... or memory://, got {url!r}"
        )
    else:
        path = Path(url.removeprefix("sqlite:///")) if url else settings.data_dir() / "queue.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(name, filename=str(path))
    _jobs(huey, settings)
    return huey


def _hub(settings: Settings) -> Hub:
    from customer_flow.hub import Hub

    return Hub(settings, actor="worker", create=False)


def _jobs(huey: Huey, settings: Settings) -> None:
    retry = {"retries": settings.job_retries, "retry_delay": settings.job_retry_delay}

    @huey.task(name="mail_fetch", **retry)
    def mail_fetch() -> dict[str, Any]:
        with _hub(settings) as hub:
            report = hub.fetch_mail()
        if report.errors:
            raise JobError("; ".join(report.errors))
        return report.model_dump()

    @huey.task(name="mail_send", **retry)
    def mail_send() -> dict[str, Any]:
        with _hub(settings) as hub:
            hub.notify_sla()
            report = hub.send_mail()
        # A message's own failure lives in the outbox (and on its ticket); the job fails only
        # when the server could not be used at all.
        if (
            report.configured
            and report.errors
            and not (report.sent or report.retrying or report.failed or report.uncertain)
        ):
            raise JobError("; ".join(report.errors))
        return report.model_dump()

    @huey.task(name="import_job", context=True, **retry)
    def import_job(job_id: int, task: Task | None = None) -> dict[str, Any]:
        # The last try ends the job for good; an earlier one leaves it queued for the next.
        final = task is None or not task.retries
        with _hub(settings) as hub:
            job = hub.run_import_job(job_id, final=final)
        return {"id": job.id, "status": job.status, "batch_id": job.batch_id}

    @huey.periodic_task(crontab(minute=f"*/{settings.mail_poll_minutes}"), name="mail_tick")
    def mail_tick() -> None:
        # Every worker's scheduler enqueues the tick: on a shared queue one of them runs it.
        minute = datetime.now(UTC).strftime("%Y%m%d%H%M")
        if isinstance(huey, ReliableRedisHuey) and not huey.once(f"mail_tick:{minute}"):
            return
        mail_fetch()
        mail_send()

    @huey.signal(SIGNAL_ERROR)
    def keep_failure(signal: str, task: Task, exc: BaseException | None = None) -> None:
        if task.retries:  # tried again later: not a failure yet
            return
        with _hub(settings) as hub:
            hub.record_job_failure(task.name, str(exc), settings.job_retries + 1)

    huey.mail_fetch = mail_fetch
    huey.mail_send = mail_send
    huey.import_job = import_job
