"""``/api/v1/reports``: the report as JSON (``Hub.report``'s own JSON, as ``customer-flow report
--format json`` prints it) and each of its tables as CSV (as ``--format csv --table NAME``).

The query parameters are the CLI's options: ``since`` and ``until`` as people type them (a bare
date as ``until`` includes that day), ``group_by``, ``interval`` and ``top``. The dashboard page
reads the same functions, so every door shows the same numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from customer_flow.core.errors import ValidationError
from customer_flow.core.models import WHITESPACE, Spec
from customer_flow.reports.models import GroupBy, Interval, Report, ReportQuery
from customer_flow.reports.period import parse_bound

from ..deps import UserHub

__all__ = ["TABLES", "report_csv", "report_query", "router"]

router = APIRouter(prefix="/reports", tags=["reports"])

#: The tables of ``Report.tables()``, in the order the CLI prints them.
TABLES = (
    "metrics",
    "tickets",
    "times",
    "sla",
    "timeline",
    "sla_by_type",
    "resolution_time",
    "backlog_age",
    "top_customers",
    "customers",
    "data_quality",
)
TableName = Literal[
    "metrics",
    "tickets",
    "times",
    "sla",
    "timeline",
    "sla_by_type",
    "resolution_time",
    "backlog_age",
    "top_customers",
    "customers",
    "data_quality",
]
# Bounds far outside any real data would overflow date arithmetic (a default ``since`` is 30
# days before ``until``): refuse them as the typo they are.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)

# The spec states the years a day inside the window: 1901 to 8998, so that no offset takes a
# bound past 1900 or 9000 once read in UTC.
_YEAR = "^(190[1-9]|19[1-9][0-9]|[2-7][0-9]{3}|8[0-8][0-9]{2}|899[0-8])-"
#: ``parse_bound`` reads a date or an ISO date-time; the spec names the two RFC 3339 forms
#: (``date``, ``date-time``). Blank is the default.
Bound = Annotated[
    str,
    Spec.of(
        anyOf=[
            {"format": "date", "pattern": _YEAR},
            {"format": "date-time", "pattern": _YEAR},
            {"pattern": f"^[{WHITESPACE}]*$"},
        ]
    ),
]
Since = Annotated[
    Bound | None,
    Query(
        max_length=40,
        description="Start of the period: a date (2026-11-01) or a date-time (2026-11-01T09:00Z; "
        "UTC unless it names an offset, and the offset may be left out), in the years 1901 to "
        "8998. Default: 30 days before `until`. It must come before `until`, and the period "
        "may hold at most 10,000 steps of the timeline's interval.",
    ),
]
Until = Annotated[
    Bound | None,
    Query(
        max_length=40,
        description="End of the period (excluded), in the same forms as `since`; a bare date "
        "includes that day. Default: now.",
    ),
]
GroupByQ = Annotated[GroupBy, Query(description="day, week, month, type, priority or assignee.")]
IntervalQ = Annotated[
    Interval | None,
    Query(description="Step of the timeline: day, week or month. Default: one that suits."),
]
Top = Annotated[int, Query(ge=1, le=1000, description="How many top customers to list.")]


def _bound(text: str | None, field: str, *, end: bool = False) -> datetime | None:
    if not text or not text.strip():
        return None
    value = parse_bound(text, field=field, end=end)
    if not _EARLIEST <= value <= _LATEST:
        raise ValidationError(
            f"{field}: {text!r} is outside the years 1900 to 9000",
            field=field,
            code="bad_instant",
        )
    return value


def report_query(
    since: str | None,
    until: str | None,
    group_by: GroupBy = "week",
    interval: Interval | None = None,
    top: int = 10,
) -> ReportQuery:
    """The ``ReportQuery`` the CLI builds from the same options."""
    return ReportQuery(
        since=_bound(since, "since"),
        until=_bound(until, "until", end=True),
        group_by=group_by,
        interval=interval,
        top=top,
    )


def report_csv(report: Report, table: str) -> str:
    """One table of the report as CSV, byte for byte what ``report --format csv`` prints."""
    return report.csv(table)


@router.get("", response_model=Report, summary="Ticket and customer metrics for a period")
def get_report(
    hub: UserHub,
    since: Since = None,
    until: Until = None,
    group_by: GroupByQ = "week",
    interval: IntervalQ = None,
    top: Top = 10,
) -> Response:
    """Volumes, backlog, first-reply and resolution times in business hours, SLA compliance,
    reopen rate, backlog age, top customers, customer growth and data quality: the JSON that
    `customer-flow report --format json` prints for the same options."""
    report = hub.report(report_query(since, until, group_by, interval, top))
    return Response(report.model_dump_json(), media_type="application/json")


@router.get(
    "/{table}.csv",
    summary="One table of the report as CSV",
    responses={200: {"description": "The table", "content": {"text/csv": {"schema": {}}}}},
)
def get_report_csv(
    hub: UserHub,
    table: Annotated[TableName, Path(description="Which table: " + ", ".join(TABLES) + ".")],
    since: Since = None,
    until: Until = None,
    group_by: GroupByQ = "week",
    interval: IntervalQ = None,
    top: Top = 10,
) -> Response:
    """The rows `customer-flow report --format csv --table TABLE` prints for the same options."""
    report = hub.report(report_query(since, until, group_by, interval, top))
    stamp = f"{report.since:%Y%m%d}-{report.until:%Y%m%d}"
    return Response(
        report_csv(report, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{table}-{stamp}.csv"'},
    )
