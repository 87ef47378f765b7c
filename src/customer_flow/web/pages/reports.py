"""``/reports``: the dashboard. The same numbers as ``customer-flow report`` (every table of
``Report.tables()``), interactive charts drawn by the vendored Chart.js from a JSON data block
(no inline script: the CSP holds), and a "Download CSV" link under every chart and table that
is the CLI's ``--format csv --table NAME`` for the same period.

The period form is a plain GET form: it works without JavaScript. A rejected period shows the
message above the form and the report for the default period is not run.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from customer_flow.core.errors import ValidationError
from customer_flow.reports.models import GROUP_BYS, Interval

from ..api.reports import report_query
from .common import PageAuth, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

TITLES = {
    "timeline": "Tickets over time",
    "customers_over_time": "Customer growth",
    "sla_by_type": "SLA compliance by type",
    "resolution_time": "Resolution time (business hours)",
    "backlog_age": "Backlog age",
    "tickets": "Tickets",
    "times": "Business time to first reply and to resolution (hours, pauses excluded)",
    "sla": "SLA compliance (targets settled in the period)",
    "top_customers": "Top customers by tickets opened",
    "customers": "Customers",
    "data_quality": "Data quality (live customers, now)",
}
#: Charts: (id, title, the table its numbers come from, chart kind, columns drawn, y-axis unit).
CHARTS = [
    ("tickets-over-time", "timeline", "line", ["opened", "resolved", "backlog"], "tickets"),
    ("customer-growth", "timeline", "line", ["new customers", "customers"], "customers"),
    ("sla-by-type", "sla_by_type", "bar", ["SLA 1st reply %", "SLA resolution %", "SLA %"], "%"),
    ("resolution-time", "resolution_time", "bar", ["tickets"], "tickets"),
    ("backlog-age", "backlog_age", "bar", ["tickets"], "tickets"),
]
CHART_TITLES = {
    "tickets-over-time": "Tickets over time",
    "customer-growth": "Customer growth",
    "sla-by-type": "SLA compliance by type",
    "resolution-time": "Resolution time (business hours)",
    "backlog-age": "Backlog age",
}
#: The tables shown under the charts, in the CLI's order.
TABLES = [
    "tickets",
    "times",
    "sla",
    "top_customers",
    "customers",
    "data_quality",
]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _chart(
    chart_id: str, table: str, kind: str, columns: list[str], unit: str, tables: Any
) -> dict[str, Any]:
    headers, rows = tables[table]
    return {
        "id": chart_id,
        "table": table,
        "title": CHART_TITLES[chart_id],
        "kind": kind,
        "unit": unit,
        "xlabel": headers[0],
        "labels": [str(_plain(r[0])) for r in rows],
        "series": [
            {"label": c, "values": [r[headers.index(c)] for r in rows]}
            for c in columns
            if c in headers
        ],
    }


def cell(value: Any) -> str:
    """A table cell as the page shows it: the value itself, an em dash for none."""
    if value is None:
        return "—"
    return str(_plain(value))


@router.get("/reports")
def reports_page(
    request: Request,
    auth: PageAuth,
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    group_by: Annotated[str, Query(max_length=20)] = "week",
    interval: Annotated[str, Query(max_length=20)] = "",
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> Response:
    form = {
        "since": since,
        "until": until,
        "group_by": group_by,
        "interval": interval,
        "top": top,
    }
    params = urlencode({k: v for k, v in form.items() if v not in ("", None)})
    context: dict[str, Any] = {
        "form": form,
        "group_bys": GROUP_BYS,
        "intervals": ("day", "week", "month"),
        "error": None,
        "report": None,
    }
    try:
        if group_by not in GROUP_BYS:
            raise ValidationError(
                f"group-by: unknown grouping {group_by!r}; use {', '.join(GROUP_BYS)}"
            )
        if interval not in ("", "day", "week", "month"):
            raise ValidationError(f"interval: unknown step {interval!r}; use day, week or month")
        query = report_query(since, until, group_by, cast(Interval | None, interval or None), top)
        report = auth.hub.report(query)
    except ValidationError as exc:
        context["error"] = exc.message
        return render(request, "reports.html", context, auth=auth, status_code=422)
    tables = report.tables()
    context.update(
        report=report,
        tables=tables,
        titles=TITLES,
        table_names=TABLES,
        charts=[_chart(*c, tables) for c in CHARTS],
        query=("?" + params) if params else "",
        cell=cell,
    )
    return render(request, "reports.html", context, auth=auth)
