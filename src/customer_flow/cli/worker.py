"""``customer-flow worker``: the background worker, a huey consumer.

Every ``mail_poll_minutes`` it fetches the mailboxes and sends the outbox, as two jobs. A job
that fails is tried again (``job_retries`` times, ``job_retry_delay`` seconds apart), then
kept in the database for admins (``customer-flow worker failures``): never lost silently.

The queue is SQLite under the data folder by default (nothing to install), Redis with
``CUSTOMER_FLOW_QUEUE_URL=redis://host:6379/0`` for a team server: there several workers share
the queue, each job is taken by one of them, and a job whose worker died is taken again after
``job_lease_seconds`` (``jobs/queue.py``). The jobs themselves only
call the Hub, like any other door.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from huey import Huey, SqliteHuey, crontab
from huey.api import Task
from huey.signals import SIGNAL_ERROR
from rich.table import Table

from customer_flow.cli.common import JsonOpt, get_hub, out, print_json, say
from customer_flow.core.errors import ConfigError
from customer_flow.jobs.queue import ReliableRedisHuey

if TYPE_CHECKING:  # --help imports no Pydantic or SQLAlchemy (tests/cli/test_cli_startup.py)
    from customer_flow.core.config import Settings
    from customer_flow.hub import Hub

__all__ = ["JobError", "make_queue", "register"]

worker_app = typer.Typer(help="The background worker: mail fetch and send on a schedule.")


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
    elif url and not url.startswith("sqlite:///"):
        raise ConfigError(f"queue_url: expected redis://... or sqlite:///..., got {url!r}")
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
            and not (report.sent or report.retrying or report.failed)
        ):
            raise JobError("; ".join(report.errors))
        return report.model_dump()

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


@worker_app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Fetch and send once, now, without the queue, and exit."),
    ] = False,
) -> None:
    """Run the background worker: fetch mail and send the outbox every few minutes (and once
    at start). Stop it with Ctrl-C or SIGTERM; jobs in flight finish first."""
    if ctx.invoked_subcommand is not None:
        return
    hub = get_hub(ctx)
    if once:
        fetched = hub.fetch_mail()
        hub.notify_sla()
        sent = hub.send_mail()
        say(f"fetched {len(fetched.tickets)} tickets, {len(fetched.comments)} comments; "
            f"sent {len(sent.sent)}")  # fmt: skip
        errors = fetched.errors + (sent.errors if sent.configured else [])
        for error in errors:
            say(f"error: {error}")
        raise typer.Exit(1 if errors else 0)
    hub.store  # noqa: B018 -- open (and migrate) the database before the first job needs it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    huey = make_queue(hub.settings)
    huey.mail_fetch()
    huey.mail_send()
    if isinstance(huey, ReliableRedisHuey):
        huey.start_keeping_alive()
    say(f"worker started (queue: {type(huey).__name__}); stop with Ctrl-C")
    try:
        huey.create_consumer(workers=1, periodic=True).run()
    finally:
        if isinstance(huey, ReliableRedisHuey):
            huey.stop_keeping_alive()


@worker_app.command("failures")
def failures(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The jobs that failed after their retries, newest first."""
    rows = get_hub(ctx).list_job_failures(limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("ID", "Job", "Failed at", "Tries", "Error"):
        table.add_column(column, overflow="fold")
    for f in rows:
        table.add_row(str(f.id), f.job, f"{f.failed_at:%Y-%m-%d %H:%M}", str(f.attempts), f.error)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the root app."""
    app.add_typer(worker_app, name="worker")
