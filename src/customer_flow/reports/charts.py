"""Charts of a ``Report``: PNG and SVG files drawn with matplotlib (no display needed).

Each chart is drawn from the report itself, so it shows the numbers the tables show. Figures
are built with ``matplotlib.figure.Figure`` (the Agg canvas), never ``pyplot``: no global state,
no GUI backend, safe in a server.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from customer_flow.core.errors import ValidationError
from customer_flow.reports.models import Report

__all__ = ["CHARTS", "check_writable", "write_charts"]

FORMATS = ("png", "svg")
_BLUE, _GREEN, _ORANGE, _GREY = "#3465a4", "#4e9a06", "#ce5c00", "#555753"


def _period(report: Report) -> str:
    return f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC"


def _figure(title: str, report: Report) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"{title}\n{_period(report)}", fontsize=13)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def _whole(axis: Any) -> None:
    """Counts have whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _no_data(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"No {what} in this period", ha="center", va="center", fontsize=14,
            transform=ax.transAxes, color=_GREY)  # fmt: skip


def _ticks(ax: Any, labels: list[str]) -> None:
    step = max(1, len(labels) // 16)  # at most ~16 labels, so they stay readable
    positions = list(range(0, len(labels), step))
    ax.set_xticks(positions, [labels[i] for i in positions], rotation=45, ha="right")


def tickets_over_time(report: Report) -> Any:
    fig, ax = _figure(f"Tickets over time (per {report.interval})", report)
    points = report.timeline
    x = list(range(len(points)))
    width = 0.4
    ax.bar([i - width / 2 for i in x], [p.opened for p in points], width, label="opened",
           color=_BLUE)  # fmt: skip
    ax.bar([i + width / 2 for i in x], [p.resolved for p in points], width, label="resolved",
           color=_GREEN)  # fmt: skip
    ax.plot(x, [p.backlog for p in points], color=_ORANGE, marker="o", markersize=3,
            label="backlog (end of step)")  # fmt: skip
    _ticks(ax, [p.start for p in points])
    ax.set_xlabel(f"{report.interval} starting (UTC)")
    ax.set_ylabel("tickets")
    _whole(ax.yaxis)
    ax.legend(loc="upper left")
    if not any(p.opened or p.resolved or p.backlog for p in points):
        _no_data(ax, "tickets")
    return fig


def sla_by_type(report: Report) -> Any:
    fig, ax = _figure("SLA compliance by ticket type", report)
    rows = [g for g in report.sla_by_type if g.sla.settled]
    if not rows:
        _no_data(ax, "settled SLA targets")
    y = list(range(len(rows)))
    height = 0.38
    fr = [g.sla_first_response.percent or 0 for g in rows]
    res = [g.sla_resolution.percent or 0 for g in rows]
    ax.barh([i - height / 2 for i in y], fr, height, label="first response", color=_BLUE)
    ax.barh([i + height / 2 for i in y], res, height, label="resolution", color=_GREEN)
    for i, g in enumerate(rows):
        for offset, part in ((-height / 2, g.sla_first_response), (height / 2, g.sla_resolution)):
            if part.settled:
                label = f"{part.percent:.0f}% of {part.settled}"
                ax.text((part.percent or 0) + 1, i + offset, label, va="center", fontsize=8)
    ax.set_yticks(y, [g.key for g in rows])
    ax.set_xlim(0, 115)
    ax.set_xlabel("targets met (% of targets settled in the period)")
    ax.set_ylabel("ticket type")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def _bars(report: Report, title: str, rows: list[Any], xlabel: str, what: str) -> Any:
    fig, ax = _figure(title, report)
    labels = [b.bucket for b in rows]
    counts = [b.tickets for b in rows]
    bars = ax.bar(labels, counts, color=_BLUE)
    ax.bar_label(bars, padding=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tickets")
    _whole(ax.yaxis)
    if not any(counts):
        _no_data(ax, what)
    return fig


def resolution_time(report: Report) -> Any:
    calendar = report.calendar.get("timezone", "UTC")
    return _bars(
        report,
        "Resolution time (business hours, pauses excluded)",
        report.resolution_histogram,
        f"business time from creation to resolution (calendar: {calendar})",
        "resolved tickets",
    )


def backlog_age(report: Report) -> Any:
    return _bars(
        report,
        f"Backlog age at {report.until:%Y-%m-%d %H:%M} UTC",
        report.backlog_age,
        "age of unresolved tickets (calendar time since creation)",
        "unresolved tickets",
    )


def customer_growth(report: Report) -> Any:
    fig, ax = _figure(f"Customer growth (per {report.interval})", report)
    points = report.timeline
    x = list(range(len(points)))
    ax.bar(x, [p.new_customers for p in points], color=_BLUE, label="new customers")
    ax.set_ylabel("new customers")
    other = ax.twinx()
    other.plot(x, [p.customers for p in points], color=_ORANGE, marker="o", markersize=3,
               label="live customers (end of step)")  # fmt: skip
    other.set_ylabel("live customers")
    other.set_ylim(bottom=0)
    _whole(ax.yaxis)
    _whole(other.yaxis)
    _ticks(ax, [p.start for p in points])
    ax.set_xlabel(f"{report.interval} starting (UTC)")
    handles = ax.get_legend_handles_labels()
    more = other.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
    if not any(p.customers or p.new_customers for p in points):
        _no_data(ax, "customers")
    return fig


CHARTS: dict[str, Callable[[Report], Any]] = {
    "tickets_over_time": tickets_over_time,
    "sla_by_type": sla_by_type,
    "resolution_time": resolution_time,
    "backlog_age": backlog_age,
    "customer_growth": customer_growth,
}


def check_writable(directory: Path) -> None:
    """Make ``directory`` if needed and prove a file can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".cf_", delete=True):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValidationError(
            f"plot: cannot write charts to {directory}: {reason}",
            field="plot",
            code="plot_dir_unwritable",
        ) from exc


def write_charts(report: Report, directory: Path) -> list[Path]:
    """Draw every chart as PNG and SVG in ``directory`` (created if missing); returns the files.

    An unwritable directory raises ``ValidationError`` before anything is drawn.
    """
    check_writable(directory)
    written = []
    for name, draw in CHARTS.items():
        fig = draw(report)
        for fmt in FORMATS:
            path = directory / f"{name}.{fmt}"
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                fig.savefig(tmp, format=fmt)
                os.replace(tmp, path)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise ValidationError(
                    f"plot: cannot write {path}: {exc.strerror or exc}",
                    field="plot",
                    code="plot_dir_unwritable",
                ) from exc
            written.append(path)
    return written
