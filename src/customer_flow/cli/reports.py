"""The ``report`` command: a thin door over ``Hub.report``.

Registered on the root app at the end of ``cli.py``. Rich tables by default; ``--format``
json, csv or markdown on stdout; ``--plot DIR`` also writes the charts (PNG and SVG). Every format
prints ``Report.tables()``, so the numbers are the same wherever they are shown.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from customer_flow.cli.common import get_hub, out, print_json, say
from customer_flow.core.errors import ValidationError

if TYPE_CHECKING:
    from customer_flow.reports.models import Report

__all__ = ["report"]

FORMATS = ("table", "json", "csv", "markdown")
TITLES = {
    "metrics": "Every ticket metric",
    "tickets": "Tickets",
    "times": "Business time to first reply and to resolution (hours, pauses excluded)",
    "sla": "SLA compliance (targets settled in the period)",
    "timeline": "Timeline",
    "sla_by_type": "SLA compliance by type",
    "resolution_time": "Resolution time (business hours)",
    "backlog_age": "Backlog age",
    "top_customers": "Top customers by tickets opened",
    "customers": "Customers",
    "data_quality": "Data quality (live customers, now)",
}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _markdown(name: str, headers: list[str], rows: list[list[Any]]) -> str:
    def esc(v: Any) -> str:
        return _cell(v).replace("|", "\\|")

    lines = [f"## {TITLES[name]}", "", "| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _headline(report: Report) -> str:
    cal = report.calendar
    return (
        f"Report {report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC, "
        f"by {report.group_by}; business time in {cal.get('timezone', 'UTC')}"
        + ("" if cal.get("working_hours") else " (24×7)")
    )


def report(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start of the period: 2026-11-01 or 2026-11-01T09:00 (UTC unless an offset "
            "is given). Default: 30 days before --until.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="End of the period (excluded); a bare date includes that day. Default: now.",
            show_default=False,
        ),
    ] = None,
    group_by: Annotated[
        str,
        typer.Option("--group-by", help="day, week, month, type, priority or assignee."),
    ] = "week",
    interval: Annotated[
        str | None,
        typer.Option(
            help="Step of the timeline and charts: day, week or month. Default: the "
            "--group-by step, or one that suits the period's length.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="How many top customers to list.", min=1)] = 10,
    fmt: Annotated[
        str, typer.Option("--format", help="table (Rich), json, csv or markdown.")
    ] = "table",
    table: Annotated[
        str | None,
        typer.Option(
            help="Only this table (csv prints one table; default metrics): "
            + ", ".join(TITLES)
            + ".",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write the charts as PNG and SVG into this folder.", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="First count the report rollup again from every ticket: after tickets were "
            "changed outside Customer_Flow (seconds per million tickets).",
        ),
    ] = False,
) -> None:
    """Ticket and customer metrics for a period: volumes, backlog, response and resolution
    times in business hours, SLA compliance, reopen rate, top customers and data quality."""
    from customer_flow.reports.metrics import parse_bound, parse_group_by
    from customer_flow.reports.models import ReportQuery

    fmt = "json" if as_json else fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValidationError(f"format: unknown format {fmt!r}; use {', '.join(FORMATS)}")
    if table is not None and table not in TITLES:
        raise ValidationError(f"table: unknown table {table!r}; use {', '.join(TITLES)}")
    if interval is not None and interval not in ("day", "week", "month"):
        raise ValidationError(f"interval: unknown step {interval!r}; use day, week or month")
    query = ReportQuery(
        since=parse_bound(since, field="since") if since else None,
        until=parse_bound(until, field="until", end=True) if until else None,
        group_by=parse_group_by(group_by),
        interval=interval,
        top=top,
    )
    hub = get_hub(ctx)
    if rebuild:
        hub.rebuild_report_rollup()
    if plot is not None:
        from customer_flow.reports.charts import check_writable

        check_writable(plot)  # before the report runs: a bad folder fails fast
    result = hub.report(query)
    tables = result.tables()
    # "metrics" is the other three side by side: one wide table for CSV, too wide for a screen.
    # By type, "sla" already is the SLA by type.
    skip = {"metrics", "sla_by_type"} if result.group_by == "type" else {"metrics"}
    chosen = [table] if table else [n for n in tables if n not in skip]
    if fmt == "json":
        print_json(result)
    elif fmt == "csv":
        sys.stdout.write(result.csv(table or "metrics"))
    elif fmt == "markdown":
        sys.stdout.write(f"# {_headline(result)}\n\n")
        sys.stdout.write("\n".join(_markdown(n, *tables[n]) for n in chosen))
    else:
        out.print(_headline(result), markup=False, highlight=False, soft_wrap=True)
        if result.empty:
            out.print("No tickets opened, resolved or waiting in this period.", style="dim")
        for name in chosen:
            headers, rows = tables[name]
            if not rows:
                continue
            t = Table(title=TITLES[name], title_justify="left")
            for i, h in enumerate(headers):
                t.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
            for row in rows:
                t.add_row(*(_cell(v) for v in row))
            out.print(t)
    if plot is not None:
        from customer_flow.reports.charts import write_charts

        files = write_charts(result, plot)
        say(f"wrote {len(files)} chart files to {plot}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("report")(report)
