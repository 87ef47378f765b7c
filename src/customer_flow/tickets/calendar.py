"""SLA arithmetic: the business calendar and time measured in it.

A ``Calendar`` says when the team works: a time zone, working hours per weekday (local wall
time, any number of intervals a day) and holidays (local dates). The default is 24×7 in UTC.
Everything here is pure: instants go in and come out as timezone-aware UTC datetimes.

Business time is the length of the working intervals that overlap a span. A daylight-saving
change is handled by building each working interval from local wall times and converting its
two ends to UTC: a 24×7 local calendar has a 23-hour day in spring and a 25-hour one in autumn.

How a ticket's SLA works (the rules ``tickets.py`` applies):

- a target (first response, resolution) is a number of business seconds from the type, scaled by
  a per-priority factor: ``scaled = round(target * factor[priority])``;
- the clock pauses while the ticket is pending (and, after a reopen, for the time it was
  resolved): the business seconds of every pause add up in ``paused_seconds``;
- so the due instant is ``add_business(created_at, scaled + paused_seconds)``, and the at-risk
  instant is ``add_business(created_at, ceil(scaled * at_risk_share) + paused_seconds)``;
- a target's state: ``met`` (stopped on time), ``breached`` (late, stopped or not), ``at_risk``
  (its share is used), ``on_track``, or ``none`` (the type sets no such target).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from customer_flow.core.errors import ConfigError, ValidationError

__all__ = [
    "DEFAULT_AT_RISK_SHARE",
    "WEEKDAYS",
    "Calendar",
    "SlaPolicy",
    "TargetState",
    "due_at",
    "load_calendar",
    "scaled_target",
    "target_state",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_AT_RISK_SHARE = 0.75
#: How far ahead a due time is searched before the calendar is declared unusable.
MAX_SEARCH_DAYS = 366 * 20
TargetState = Literal["none", "on_track", "at_risk", "breached", "met"]
_INTERVAL = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})\s*$")

# A working interval in local wall time: minutes from midnight, end exclusive, end <= 1440.
Slot = tuple[int, int]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Calendar:
    """When the team works. Build one with ``Calendar.build`` or ``load_calendar``."""

    timezone: str = "UTC"
    #: Weekday (0 = Monday) → sorted, non-overlapping working slots.
    hours: tuple[tuple[Slot, ...], ...] = (((0, 1440),),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not any(self.hours):
            raise ConfigError(
                "calendar: no working hours on any day: an SLA clock could never run",
                code="calendar_no_hours",
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def always(self) -> bool:
        """24×7 with no holidays: business time is plain elapsed time."""
        return not self.holidays and all(slots == ((0, 1440),) for slots in self.hours)

    @classmethod
    def build(
        cls,
        *,
        timezone: str = "UTC",
        working_hours: dict[str, list[str] | str] | None = None,
        holidays: list[str] | None = None,
        source: str = "calendar",
    ) -> Calendar:
        """A calendar from plain values, as a JSON calendar file holds them::

            {"timezone": "Europe/Lisbon",
             "working_hours": {"mon": "09:00-18:00", "tue": ["09:00-12:30", "13:30-18:00"]},
             "holidays": ["2026-12-25"]}

        Days left out of ``working_hours`` are days off; ``working_hours`` left out is 24×7.
        """
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"{source}: timezone: unknown time zone {timezone!r}", code="calendar_invalid"
            ) from exc
        if working_hours is None:
            hours: list[tuple[Slot, ...]] = [((0, 1440),)] * 7
        else:
            if not isinstance(working_hours, dict):
                raise ConfigError(
                    f"{source}: working_hours: expected an object of weekdays",
                    code="calendar_invalid",
                )
            unknown = sorted(set(working_hours) - set(WEEKDAYS))
            if unknown:
                raise ConfigError(
                    f"{source}: working_hours: unknown day {unknown[0]!r}; "
                    f"use {', '.join(WEEKDAYS)}",
                    code="calendar_invalid",
                )
            hours = [
                _parse_slots(working_hours.get(day, []), f"{source}: working_hours.{day}")
                for day in WEEKDAYS
            ]
        days: set[date] = set()
        for i, text in enumerate(holidays or []):
            try:
                days.add(date.fromisoformat(str(text)))
            except ValueError as exc:
                raise ConfigError(
                    f"{source}: holidays[{i}]: expected a date like 2026-12-25, got {text!r}",
                    code="calendar_invalid",
                ) from exc
        try:
            return cls(timezone=timezone, hours=tuple(hours), holidays=frozenset(days))
        except ConfigError as exc:
            raise ConfigError(
                f"{source}: no working hours on any day: an SLA clock could never run",
                code=exc.code,
            ) from exc

    # -- the working intervals ---------------------------------------------------------------

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of one local date, as UTC instants."""
        if day in self.holidays:
            return []
        zone = self.zone
        out = []
        for start, end in self.hours[day.weekday()]:
            s = datetime.combine(day, time(start // 60, start % 60), zone)
            e = (
                datetime.combine(day + timedelta(days=1), time(0), zone)
                if end == 1440
                else datetime.combine(day, time(end // 60, end % 60), zone)
            )
            su, eu = s.astimezone(UTC), e.astimezone(UTC)
            if eu > su:  # a slot swallowed by a spring-forward gap has no length
                out.append((su, eu))
        return out

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of business time have passed since ``start``.

        With 0 seconds it is ``start`` itself. The answer always lies in a working interval
        (its end included), never in the time between them.
        """
        start = _utc(start)
        if seconds < 0:
            raise ValidationError("business time to add must not be negative", code="sla_negative")
        if seconds == 0 or self.always:
            return start + timedelta(seconds=seconds)
        left = timedelta(seconds=seconds)
        day = self._local_date(start) - timedelta(days=1)
        for _ in range(MAX_SEARCH_DAYS):
            for s, e in self._day_intervals(day):
                if e <= start:
                    continue
                s = max(s, start)
                if e - s >= left:
                    return s + left
                left -= e - s
            day += timedelta(days=1)
        raise ConfigError(
            f"calendar: no working time found within {MAX_SEARCH_DAYS // 366} years "
            "(are all days holidays?)",
            code="calendar_no_hours",
        )

    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds between two instants; 0 when ``end`` is not after ``start``."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        total = timedelta()
        day = self._local_date(start) - timedelta(days=1)
        last = self._local_date(end) + timedelta(days=1)
        while day <= last:
            for s, e in self._day_intervals(day):
                s, e = max(s, start), min(e, end)
                if e > s:
                    total += e - s
            day += timedelta(days=1)
        return total.total_seconds()

    def is_working(self, instant: datetime) -> bool:
        """Whether ``instant`` falls inside a working interval (start included, end not)."""
        instant = _utc(instant)
        day = self._local_date(instant)
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            if any(s <= instant < e for s, e in self._day_intervals(d)):
                return True
        return False

    def describe(self) -> dict[str, Any]:
        """The calendar as the JSON a calendar file holds."""
        return {
            "timezone": self.timezone,
            "working_hours": {
                WEEKDAYS[i]: [f"{_hm(s)}-{_hm(e)}" for s, e in slots]
                for i, slots in enumerate(self.hours)
                if slots
            },
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }


@dataclass(frozen=True)
class SlaPolicy:
    """The calendar plus the two knobs of the SLA: priority factors and the at-risk share.

    ``priority_factors`` multiply a type's targets: with ``{"urgent": 0.5}`` an urgent ticket of
    a type whose first response target is 4h must be answered within 2 business hours. A
    priority left out has factor 1. ``at_risk_share`` is the share of a target that, once used,
    makes it at risk (0.75: after 3h of a 4h target).
    """

    calendar: Calendar = field(default_factory=Calendar)
    priority_factors: dict[str, float] = field(default_factory=dict)
    at_risk_share: float = DEFAULT_AT_RISK_SHARE

    def __post_init__(self) -> None:
        priorities = ("low", "normal", "high", "urgent")
        for key, factor in self.priority_factors.items():
            if key not in priorities:
                raise ConfigError(
                    f"sla_priority_factors: unknown priority {key!r}; use {', '.join(priorities)}",
                    code="sla_invalid",
                )
            if not (isinstance(factor, int | float) and 0 < factor <= 100):
                raise ConfigError(
                    f"sla_priority_factors.{key}: expected a number above 0, got {factor!r}",
                    code="sla_invalid",
                )
        if not 0 < self.at_risk_share <= 1:
            raise ConfigError(
                f"sla_at_risk_share: expected a share above 0 and at most 1, "
                f"got {self.at_risk_share!r}",
                code="sla_invalid",
            )

    def factor(self, priority: str) -> float:
        return float(self.priority_factors.get(priority, 1.0))


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_slots(value: Any, where: str) -> tuple[Slot, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(
            f'{where}: expected "HH:MM-HH:MM" or a list of them', code="calendar_invalid"
        )
    slots: list[Slot] = []
    for item in items:
        m = _INTERVAL.match(item) if isinstance(item, str) else None
        if m is None:
            raise ConfigError(
                f'{where}: expected an interval like "09:00-18:00", got {item!r}',
                code="calendar_invalid",
            )
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440 or end <= start:
            raise ConfigError(
                f"{where}: {item!r} is not an interval within one day (end after start, "
                "at most 24:00)",
                code="calendar_invalid",
            )
        slots.append((start, end))
    slots.sort()
    for (_, e1), (s2, _) in itertools.pairwise(slots):
        if s2 < e1:
            raise ConfigError(f"{where}: intervals overlap", code="calendar_invalid")
    return tuple(slots)


def load_calendar(path: Path | None) -> Calendar:
    """The calendar in a JSON file, or 24×7 UTC when ``path`` is None."""
    if path is None:
        return Calendar()
    name = path.name
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such calendar file", code="file_not_found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", code="file_unreadable") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{name}: not valid JSON: {exc}", code="calendar_invalid") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{name}: expected a JSON object", code="calendar_invalid")
    unknown = sorted(set(document) - {"timezone", "working_hours", "holidays"})
    if unknown:
        raise ConfigError(
            f"{name}: unknown key {unknown[0]!r}; allowed: holidays, timezone, working_hours",
            code="calendar_invalid",
        )
    holidays = document.get("holidays", [])
    if not isinstance(holidays, list):
        raise ConfigError(f"{name}: holidays: expected a list of dates", code="calendar_invalid")
    return Calendar.build(
        timezone=str(document.get("timezone", "UTC")),
        working_hours=document.get("working_hours"),
        holidays=holidays,
        source=name,
    )


# -- targets -------------------------------------------------------------------------------


def scaled_target(seconds: int | None, factor: float) -> int | None:
    """A type's target scaled by its priority factor, in whole seconds (None stays None)."""
    if seconds is None:
        return None
    return max(0, round(seconds * factor))


def due_at(
    calendar: Calendar, created_at: datetime, target: int | None, paused_seconds: float
) -> datetime | None:
    """When a target of ``target`` business seconds falls due, given the pauses so far."""
    if target is None:
        return None
    return calendar.add(created_at, target + paused_seconds)


def risk_at(
    calendar: Calendar,
    created_at: datetime,
    target: int | None,
    paused_seconds: float,
    share: float,
) -> datetime | None:
    """When ``share`` of a target is used: from then on the target is at risk."""
    if target is None:
        return None
    return calendar.add(created_at, math.ceil(target * share) + paused_seconds)


def target_state(
    due: datetime | None,
    risk: datetime | None,
    stopped: datetime | None,
    clock: datetime,
) -> TargetState:
    """One target's state. ``stopped`` is when it was met (first response, resolution);
    ``clock`` is now, or when the clock paused."""
    if due is None:
        return "none"
    if stopped is not None:
        return "met" if stopped <= due else "breached"
    if clock > due:
        return "breached"
    if risk is not None and clock >= risk:
        return "at_risk"
    return "on_track"


_WORST: dict[TargetState, int] = {"breached": 4, "at_risk": 3, "on_track": 2, "met": 1, "none": 0}


def overall_state(*states: TargetState) -> TargetState:
    """A ticket's state: the worst of its targets' (breached > at risk > on track > met)."""
    return max(states, key=lambda s: _WORST[s], default="none")
