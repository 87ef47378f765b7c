"""The period of a report: its bounds as people type them, its defaults and its time steps.

Pure functions (no database): ``reports.py`` uses them, and so can a web form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from customer_flow.core.errors import ValidationError
from customer_flow.reports.models import GROUP_BYS, GroupBy, Interval, ReportQuery

__all__ = [
    "DEFAULT_DAYS",
    "MAX_STEPS",
    "as_utc",
    "parse_bound",
    "parse_group_by",
    "resolve_period",
    "steps",
]

DEFAULT_DAYS = 30
#: The most steps a timeline may have (27 years by day): a guard against a typo'd --since.
MAX_STEPS = 10_000


def resolve_period(query: ReportQuery, now: datetime) -> tuple[datetime, datetime, Interval]:
    """The period's bounds in UTC and the timeline's step; rejects an empty or reversed one."""
    until = as_utc(query.until) if query.until else now
    since = as_utc(query.since) if query.since else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValidationError(
            f"since: the period starts ({since:%Y-%m-%d %H:%M}) at or after it ends "
            f"({until:%Y-%m-%d %H:%M} UTC): give --since before --until",
            field="since",
            code="period_reversed",
        )
    if query.interval is not None:
        interval: Interval = query.interval
    elif query.group_by in ("day", "week", "month"):
        interval = query.group_by
    else:
        days = (until - since).days
        interval = "day" if days <= 62 else "week" if days <= 366 else "month"
    per_step = {"day": 1, "week": 7, "month": 28}[interval]
    if (until - since).days / per_step > MAX_STEPS:
        raise ValidationError(
            f"group-by: {(until - since).days:,} days in {interval}s is more than "
            f"{MAX_STEPS:,} steps; choose a coarser step or a shorter period",
            field="group_by",
            code="too_many_steps",
        )
    return since, until, interval


def parse_bound(text: str, *, field: str, end: bool = False) -> datetime:
    """A period bound typed by a person: ``2026-11-01`` or an ISO date-time (UTC unless it
    names an offset). A bare date as the ``end`` bound includes that whole day."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end else 0), datetime.min.time(), UTC)
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValidationError(
            f"{field}: expected a date like 2026-11-01 or a date-time like 2026-11-01T09:00, "
            f"got {text!r}",
            field=field,
            code="bad_instant",
        ) from exc


def parse_group_by(text: str) -> GroupBy:
    """A grouping typed by a person, checked against the known ones."""
    value = text.strip().lower()
    if value not in GROUP_BYS:
        raise ValidationError(
            f"group-by: unknown grouping {text!r}; use {', '.join(GROUP_BYS)}",
            field="group_by",
            code="bad_group_by",
        )
    return value


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _step_start(day: date, interval: Interval) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_step(day: date, interval: Interval) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    if interval == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def steps(since: datetime, until: datetime, interval: Interval) -> list[date]:
    """The starts of every step that overlaps the period (at most a few thousand)."""
    out = []
    day = _step_start(since.date(), interval)
    while datetime.combine(day, datetime.min.time(), UTC) < until:
        out.append(day)
        day = _next_step(day, interval)
    return out
