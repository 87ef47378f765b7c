"""The report's schemas: what ``Hub.report`` takes and returns, the same for every door.

``Report`` is what the CLI prints (Rich, JSON, CSV, Markdown), what ``--plot`` draws, and what a
web dashboard endpoint returns as JSON: ``report.model_dump(mode="json")``. ``Report.tables()``
flattens it into named tables (headers and rows) so that CSV, Markdown and a dashboard's "download
as CSV" all show the same numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

__all__ = [
    "GROUP_BYS",
    "Bucket",
    "CustomerGrowth",
    "DataQuality",
    "Durations",
    "GroupBy",
    "GroupMetrics",
    "Interval",
    "Report",
    "ReportQuery",
    "SlaCompliance",
    "TimelinePoint",
    "TopCustomer",
]

Interval = Literal["day", "week", "month"]
GroupBy = Literal["day", "week", "month", "type", "priority", "assignee"]
GROUP_BYS: tuple[GroupBy, ...] = ("day", "week", "month", "type", "priority", "assignee")


class ReportQuery(BaseModel):
    """Which period, and how to group it.

    The period is ``[since, until)``; ``until`` defaults to now and ``since`` to 30 days before
    ``until``. ``interval`` is the step of the timeline; left out, it is ``group_by`` when that
    is a time step, else day (≤ 62 days), week (≤ 1 year) or month.
    """

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = None
    until: datetime | None = None
    group_by: GroupBy = "week"
    interval: Interval | None = None
    top: int = Field(default=10, ge=1, le=1000)


class Durations(BaseModel):
    """Median and 90th percentile of business-time durations, in seconds.

    Percentiles interpolate between the two nearest ranks, as PostgreSQL's ``percentile_cont``
    does; None when there is nothing to measure.
    """

    count: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None


class SlaCompliance(BaseModel):
    """SLA targets settled in the period: met on time, or breached (their due instant passed)."""

    met: int = 0
    breached: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def settled(self) -> int:
        return self.met + self.breached

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> float | None:
        """Met as a share of settled, in per cent (two decimals); None when none settled."""
        return None if not self.settled else round(100.0 * self.met / self.settled, 2)

    def __add__(self, other: SlaCompliance) -> SlaCompliance:
        return SlaCompliance(met=self.met + other.met, breached=self.breached + other.breached)


class GroupMetrics(BaseModel):
    """The ticket metrics of one group (a time step, a type, a priority or an assignee)."""

    key: str
    #: Tickets created in the period (in the step).
    opened: int = 0
    #: Tickets resolved (or closed without resolution) in the period.
    resolved: int = 0
    #: Tickets not resolved at the end of the period (of the step).
    backlog: int = 0
    #: Business time from creation to the first public agent reply, for replies in the period.
    first_response: Durations = Field(default_factory=Durations)
    #: Business time from creation to resolution, for resolutions in the period.
    resolution: Durations = Field(default_factory=Durations)
    sla_first_response: SlaCompliance = Field(default_factory=SlaCompliance)
    sla_resolution: SlaCompliance = Field(default_factory=SlaCompliance)
    #: Of the tickets opened in the period that have been resolved, how many were reopened.
    reopened: int = 0
    resolved_once: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sla(self) -> SlaCompliance:
        """Both targets together."""
        return self.sla_first_response + self.sla_resolution

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reopen_rate(self) -> float | None:
        return (
            None if not self.resolved_once else round(100.0 * self.reopened / self.resolved_once, 2)
        )


class TimelinePoint(BaseModel):
    """One step of the timeline: tickets in and out, and the customers added."""

    start: str
    opened: int = 0
    resolved: int = 0
    backlog: int = 0
    new_customers: int = 0
    #: Live customers (created, not in the trash) at the end of the step.
    customers: int = 0


class Bucket(BaseModel):
    """A bar of a distribution: tickets with a value in ``[min_seconds, max_seconds)``."""

    bucket: str
    min_seconds: int
    max_seconds: int | None
    tickets: int = 0


class TopCustomer(BaseModel):
    id: int
    name: str
    opened: int
    #: Of them, still in the backlog at the end of the period.
    unresolved: int


class CustomerGrowth(BaseModel):
    new: int = 0
    #: Live customers at the start and at the end of the period.
    at_start: int = 0
    at_end: int = 0


class DataQuality(BaseModel):
    """The state of the live customer records now (not limited to the period)."""

    customers: int = 0
    valid_email: int = 0
    e164_phone: int = 0
    with_warnings: int = 0
    #: Live customers sharing a normalised email or phone with another live customer, less the
    #: pairs dismissed as "not a duplicate" (see ``reports.py``). None only in a report saved
    #: before it was counted.
    likely_duplicates: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shares(self) -> dict[str, float | None]:
        """Each count as a share of the live customers, in per cent."""
        return {
            "valid_email": self.share(self.valid_email),
            "e164_phone": self.share(self.e164_phone),
            "with_warnings": self.share(self.with_warnings),
            "likely_duplicates": self.share(self.likely_duplicates),
        }

    def share(self, count: int | None) -> float | None:
        if count is None or not self.customers:
            return None
        return round(100.0 * count / self.customers, 2)


class Report(BaseModel):
    """Every metric for one period; see ``reports.py`` for each definition."""

    since: datetime
    until: datetime
    generated_at: datetime
    group_by: GroupBy
    interval: Interval
    #: The business calendar the durations were measured in (its JSON form).
    calendar: dict[str, Any]
    totals: GroupMetrics
    groups: list[GroupMetrics]
    timeline: list[TimelinePoint]
    sla_by_type: list[GroupMetrics]
    resolution_histogram: list[Bucket]
    backlog_age: list[Bucket]
    top_customers: list[TopCustomer]
    customers: CustomerGrowth
    data_quality: DataQuality

    @property
    def empty(self) -> bool:
        return not (self.totals.opened or self.totals.resolved or self.totals.backlog)

    def csv(self, table: str) -> str:
        """One table as CSV, the same for the CLI and the web download. Text cells that a
        spreadsheet would run as a formula (a customer named ``=HYPERLINK(...)``) are defused
        with a leading apostrophe, as in customer exports; numbers are left as they are."""
        import csv
        import io

        from customer_flow.data.report import neutralise

        headers, rows = self.tables()[table]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(
            [
                ["" if v is None else neutralise(v) if isinstance(v, str) else v for v in row]
                for row in rows
            ]
        )
        return buffer.getvalue()

    def tables(self) -> dict[str, tuple[list[str], list[list[Any]]]]:
        """The report as named tables of plain values: the rows every format prints."""
        hours = _hours

        def volume(g: GroupMetrics) -> list[Any]:
            return [g.opened, g.resolved, g.backlog, g.reopen_rate]

        def times(g: GroupMetrics) -> list[Any]:
            return [
                g.first_response.count,
                hours(g.first_response.median_seconds),
                hours(g.first_response.p90_seconds),
                g.resolution.count,
                hours(g.resolution.median_seconds),
                hours(g.resolution.p90_seconds),
            ]

        def sla(g: GroupMetrics) -> list[Any]:
            return [
                g.sla_first_response.percent,
                g.sla_resolution.percent,
                g.sla.percent,
                g.sla.met,
                g.sla.breached,
            ]

        every = [*self.groups, self.totals]
        volume_h = ["opened", "resolved", "backlog", "reopen %"]
        times_h = [
            "replies",
            "1st reply median h",
            "1st reply p90 h",
            "resolutions",
            "resolution median h",
            "resolution p90 h",
        ]
        sla_h = ["SLA 1st reply %", "SLA resolution %", "SLA %", "met", "breached"]
        key = self.group_by
        dq = self.data_quality
        return {
            "metrics": (
                [key, *volume_h, *times_h, *sla_h],
                [[g.key, *volume(g), *times(g), *sla(g)] for g in every],
            ),
            "tickets": ([key, *volume_h], [[g.key, *volume(g)] for g in every]),
            "times": ([key, *times_h], [[g.key, *times(g)] for g in every]),
            "sla": ([key, *sla_h], [[g.key, *sla(g)] for g in every]),
            "timeline": (
                [self.interval, "opened", "resolved", "backlog", "new customers", "customers"],
                [
                    [p.start, p.opened, p.resolved, p.backlog, p.new_customers, p.customers]
                    for p in self.timeline
                ],
            ),
            "sla_by_type": (["type", *sla_h], [[g.key, *sla(g)] for g in self.sla_by_type]),
            "resolution_time": (
                ["business time to resolve", "tickets"],
                [[b.bucket, b.tickets] for b in self.resolution_histogram],
            ),
            "backlog_age": (
                ["age", "tickets"],
                [[b.bucket, b.tickets] for b in self.backlog_age],
            ),
            "top_customers": (
                ["customer", "name", "opened", "unresolved"],
                [[c.id, c.name, c.opened, c.unresolved] for c in self.top_customers],
            ),
            "customers": (
                ["new in period", "live at start", "live at end"],
                [[self.customers.new, self.customers.at_start, self.customers.at_end]],
            ),
            "data_quality": (
                ["measure", "customers", "share %"],
                [
                    ["live customers", dq.customers, None],
                    ["valid email", dq.valid_email, dq.share(dq.valid_email)],
                    ["normalised (E.164) phone", dq.e164_phone, dq.share(dq.e164_phone)],
                    ["open warnings", dq.with_warnings, dq.share(dq.with_warnings)],
                    [
                        "likely duplicates",
                        dq.likely_duplicates,
                        dq.share(dq.likely_duplicates),
                    ],
                ],
            ),
        }


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)
