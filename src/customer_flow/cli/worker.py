"""``customer-flow worker``: the background worker, a huey consumer of the jobs that
``customer_flow/worker.py`` defines (mail fetch and send on a schedule, imports started from
the web). A job that fails is tried again, then kept for admins (``worker failures``). On
Redis several workers share the queue: each job is taken by one of them, and a job whose worker
died is taken again after ``job_lease_seconds`` (``jobs/queue.py``).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, get_hub, out, print_json, say

__all__ = ["register"]

worker_app = typer.Typer(
    help="The background worker: mail fetch and send on a schedule, web imports."
)


@worker_app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Fetch and send once, now, without the queue, and exit."),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            max=16,
            help="Jobs run at once. Default: 2 on PostgreSQL, so that a long web import never "
            "holds up the mail; 1 on SQLite, where a second job would only wait for the "
            "database's one writer.",
        ),
    ] = None,
) -> None:
    """Run the background worker: fetch mail and send the outbox every few minutes (and once
    at start), and run the imports started from the web. Stop it with Ctrl-C or SIGTERM;
    jobs in flight finish first."""
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
    from customer_flow.jobs.queue import ReliableRedisHuey
    from customer_flow.worker import make_queue

    huey = make_queue(hub.settings)
    huey.mail_fetch()
    huey.mail_send()
    if isinstance(huey, ReliableRedisHuey):
        huey.start_keeping_alive()
    if threads is None:
        threads = 2 if hub.store.dialect == "postgresql" else 1
    say(f"worker started (queue: {type(huey).__name__}, {threads} at once); stop with Ctrl-C")
    try:
        huey.create_consumer(workers=threads, worker_type="thread", periodic=True).run()
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
