"""The business calendar and SLA arithmetic (sla.py): hand-computed cases and properties."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from customer_flow.core.errors import ConfigError
from customer_flow.tickets.calendar import (
    MAX_SEARCH_DAYS,
    Calendar,
    SlaPolicy,
    load_calendar,
    overall_state,
    target_state,
)

H = 3600
OFFICE = {day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class TestDefaultCalendar:
    def test_default_is_24x7_utc(self) -> None:
        """With no calendar file, every second counts: 4h after Friday 17:55 is 21:55."""
        cal = Calendar()
        assert utc(2026, 11, 27, 21, 55) == cal.add(utc(2026, 11, 27, 17, 55), 4 * H)
        assert cal.between(utc(2026, 11, 23), utc(2026, 11, 30)) == 7 * 24 * H

    def test_load_calendar_none_is_default(self) -> None:
        """No calendar file means the 24×7 default."""
        assert Calendar() == load_calendar(None)


class TestOfficeHours:
    """Mon–Fri 09:00–18:00 UTC: hand-computed due times."""

    cal = Calendar.build(working_hours=OFFICE)  # type: ignore[arg-type]

    def test_friday_1755_rolls_over_the_weekend(self) -> None:
        """Opened Friday 17:55 with 4h: 5 minutes on Friday, 3h55 on Monday → Monday 12:55."""
        assert utc(2026, 11, 30, 12, 55) == self.cal.add(utc(2026, 11, 27, 17, 55), 4 * H)

    def test_opened_at_night_starts_next_morning(self) -> None:
        """Opened Tuesday 22:00 with 1h: due Wednesday 10:00."""
        assert utc(2026, 11, 25, 10, 0) == self.cal.add(utc(2026, 11, 24, 22, 0), H)

    def test_holiday_is_skipped(self) -> None:
        """The Friday 17:55 ticket with Monday a holiday falls due on Tuesday 12:55."""
        cal = Calendar.build(working_hours=OFFICE, holidays=["2026-11-30"])  # type: ignore[arg-type]
        assert utc(2026, 12, 1, 12, 55) == cal.add(utc(2026, 11, 27, 17, 55), 4 * H)

    def test_due_exactly_at_closing_time(self) -> None:
        """9h from Monday 09:00 is Monday 18:00, not Tuesday 09:00."""
        assert utc(2026, 11, 30, 18, 0) == self.cal.add(utc(2026, 11, 30, 9, 0), 9 * H)

    def test_between_counts_only_working_hours(self) -> None:
        """From Friday 17:00 to Monday 10:00 there are 2 business hours."""
        assert self.cal.between(utc(2026, 11, 27, 17), utc(2026, 11, 30, 10)) == 2 * H

    def test_between_of_a_reversed_span_is_zero(self) -> None:
        """An end before the start measures nothing."""
        assert self.cal.between(utc(2026, 11, 30, 10), utc(2026, 11, 27, 17)) == 0

    def test_split_day(self) -> None:
        """With a lunch break 12:30–13:30, 4h from 10:00 is 15:00."""
        cal = Calendar.build(working_hours={"mon": ["09:00-12:30", "13:30-18:00"]})
        assert utc(2026, 11, 30, 15, 0) == cal.add(utc(2026, 11, 30, 10, 0), 4 * H)

    def test_zero_seconds_is_the_start(self) -> None:
        """Adding nothing leaves the instant as it is."""
        assert utc(2026, 11, 28, 3) == self.cal.add(utc(2026, 11, 28, 3), 0)


class TestDaylightSaving:
    def test_office_hours_across_spring_forward(self) -> None:
        """New York, Mon–Fri 9–18: Friday 6 March 2026 17:00 EST (22:00Z) + 2h: 1h on Friday,
        1h on Monday 9 March from 09:00 EDT → 10:00 EDT = 14:00Z (the offset changed)."""
        cal = Calendar.build(timezone="America/New_York", working_hours=OFFICE)  # type: ignore[arg-type]
        assert utc(2026, 3, 9, 14, 0) == cal.add(utc(2026, 3, 6, 22, 0), 2 * H)

    def test_local_24x7_has_a_23_hour_day(self) -> None:
        """New York around the clock: Saturday 7 March 12:00 EST + 24h is Sunday 13:00 EDT."""
        ny = ZoneInfo("America/New_York")
        cal = Calendar.build(timezone="America/New_York")
        start = datetime(2026, 3, 7, 12, tzinfo=ny)
        assert datetime(2026, 3, 8, 13, tzinfo=ny) == cal.add(start, 24 * H)
        day = cal.between(datetime(2026, 3, 8, tzinfo=ny), datetime(2026, 3, 9, tzinfo=ny))
        assert day == 23 * H

    def test_fall_back_sunday_has_25_hours(self) -> None:
        """A Sunday 00:00–24:00 calendar on 1 November 2026 (New York falls back) holds 25h."""
        ny = ZoneInfo("America/New_York")
        cal = Calendar.build(timezone="America/New_York", working_hours={"sun": "00:00-24:00"})
        assert (
            cal.between(datetime(2026, 11, 1, tzinfo=ny), datetime(2026, 11, 2, tzinfo=ny))
            == 25 * H
        )

    def test_nine_hour_days_stay_nine_hours(self) -> None:
        """Lisbon 9–18 around 29 March 2026: Friday plus Monday is 18 business hours."""
        lx = ZoneInfo("Europe/Lisbon")
        cal = Calendar.build(timezone="Europe/Lisbon", working_hours=OFFICE)  # type: ignore[arg-type]
        start, end = datetime(2026, 3, 27, 9, tzinfo=lx), datetime(2026, 3, 30, 18, tzinfo=lx)
        assert cal.between(start, end) == 18 * H


class TestCalendarErrors:
    def test_no_working_hours_is_a_config_error(self) -> None:
        """A calendar with no working hours cannot run a clock: a clear error."""
        with pytest.raises(ConfigError, match="no working hours"):
            Calendar.build(working_hours={})

    def test_no_working_hours_in_a_file(self, tmp_path: Path) -> None:
        """The file's name is in the error."""
        path = tmp_path / "calendar.json"
        path.write_text(json.dumps({"timezone": "UTC", "working_hours": {"sat": []}}))
        with pytest.raises(ConfigError, match=r"calendar\.json: no working hours"):
            load_calendar(path)

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
            ({"working_hours": {"monday": "09:00-18:00"}}, "unknown day 'monday'"),
            ({"working_hours": {"mon": "18:00-09:00"}}, "not an interval within one day"),
            ({"working_hours": {"mon": "9 to 5"}}, 'expected an interval like "09:00-18:00"'),
            ({"working_hours": {"mon": ["09:00-13:00", "12:00-18:00"]}}, "intervals overlap"),
            ({"holidays": ["25/12/2026"]}, r"holidays\[0\]: expected a date"),
            ({"hours": {}}, "unknown key 'hours'"),
        ],
    )
    def test_bad_calendar_files(self, tmp_path: Path, document: dict, message: str) -> None:  # type: ignore[type-arg]
        """Each mistake in a calendar file is named."""
        path = tmp_path / "cal.json"
        path.write_text(json.dumps(document))
        with pytest.raises(ConfigError, match=message):
            load_calendar(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A calendar file that is not there is named."""
        with pytest.raises(ConfigError, match="no such calendar file"):
            load_calendar(tmp_path / "nope.json")

    def test_holiday_on_the_only_working_day_moves_a_week(self) -> None:
        """Monday is the only working day and this Monday is a holiday: due next Monday."""
        cal = Calendar.build(working_hours={"mon": "09:00-10:00"}, holidays=["2026-11-30"])
        assert utc(2026, 12, 7, 10) == cal.add(utc(2026, 11, 30, 8), H)

    def test_bad_priority_factor(self) -> None:
        """Priority factors must name a priority and be positive."""
        with pytest.raises(ConfigError, match="unknown priority 'critical'"):
            SlaPolicy(priority_factors={"critical": 0.5})
        with pytest.raises(ConfigError, match="expected a number above 0"):
            SlaPolicy(priority_factors={"urgent": 0})
        with pytest.raises(ConfigError, match="sla_at_risk_share"):
            SlaPolicy(at_risk_share=1.5)


class TestTargetState:
    due, risk = utc(2026, 11, 30, 12), utc(2026, 11, 30, 11)

    @pytest.mark.parametrize(
        ("stopped", "clock", "expected"),
        [
            (None, utc(2026, 11, 30, 10), "on_track"),
            (None, utc(2026, 11, 30, 11), "at_risk"),
            (None, utc(2026, 11, 30, 12), "at_risk"),
            (None, utc(2026, 11, 30, 12, 0, 1), "breached"),
            (utc(2026, 11, 30, 11, 59), utc(2026, 12, 9), "met"),
            (utc(2026, 11, 30, 12, 1), utc(2026, 12, 9), "breached"),
        ],
    )
    def test_states(self, stopped: datetime | None, clock: datetime, expected: str) -> None:
        """On track, at risk from the risk instant, breached after the due instant; met when
        stopped in time."""
        assert expected == target_state(self.due, self.risk, stopped, clock)

    def test_no_target_is_none(self) -> None:
        """A target the type does not set has state none."""
        assert target_state(None, None, None, utc(2026, 1, 1)) == "none"

    def test_overall_is_the_worst(self) -> None:
        """A ticket's state is its worst target's."""
        assert overall_state("met", "breached") == "breached"
        assert overall_state("on_track", "at_risk") == "at_risk"
        assert overall_state("none", "on_track") == "on_track"


# -- properties ---------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Lisbon", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    hours: dict[str, list[str]] = {}
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        cuts = sorted(draw(st.sets(st.integers(0, 48), max_size=4)))
        if len(cuts) % 2:
            cuts = cuts[:-1]
        hours[day] = [
            f"{a // 2:02d}:{30 * (a % 2):02d}-{b // 2:02d}:{30 * (b % 2):02d}"
            for a, b in zip(cuts[::2], cuts[1::2], strict=True)
            if b > a
        ]
    if not any(hours.values()):
        hours["wed"] = ["09:00-17:00"]
    holidays = draw(st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=20))
    return Calendar.build(
        timezone=draw(st.sampled_from(ZONES)),
        working_hours=hours,  # type: ignore[arg-type]
        holidays=[d.isoformat() for d in holidays],
    )


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def within_horizon(cal: Calendar, seconds: int) -> bool:
    """Whether ``seconds`` of business time end within the years ``Calendar.add`` searches
    (``MAX_SEARCH_DAYS``; past them it refuses with ``calendar_no_hours``), with a year to spare
    for the holidays: a calendar drawn with 30 minutes a week needs 20 years for 30 days."""
    weekly = 60 * sum(e - s for day in cal.hours for s, e in day)
    return weekly * 52 * (MAX_SEARCH_DAYS // 366 - 1) > seconds


class TestProperties:
    @SLOW
    @given(calendars(), instants, st.integers(0, 30 * 24 * H))
    def test_add_then_measure_gives_the_amount_back(
        self, cal: Calendar, start: datetime, seconds: int
    ) -> None:
        """Business time added to an instant measures back to the same amount."""
        assume(within_horizon(cal, seconds))
        assert seconds == pytest.approx(cal.between(start, cal.add(start, seconds)), abs=1e-6)

    @SLOW
    @given(calendars(), instants, st.integers(1, 30 * 24 * H))
    def test_due_is_never_in_non_working_time(
        self, cal: Calendar, start: datetime, seconds: int
    ) -> None:
        """The instant just before a due time is working time: a due time never falls in a
        night, a weekend or a holiday."""
        assume(within_horizon(cal, seconds))
        due = cal.add(start, seconds)
        assert cal.is_working(due - timedelta(microseconds=1))

    @SLOW
    @given(calendars(), instants, st.integers(0, 10 * 24 * H), st.integers(0, 10 * 24 * H))
    def test_measuring_is_additive(
        self, cal: Calendar, start: datetime, first: int, second: int
    ) -> None:
        """Business time from a to c is from a to b plus from b to c."""
        b, c = start + timedelta(seconds=first), start + timedelta(seconds=first + second)
        whole = cal.between(start, c)
        assert whole == pytest.approx(cal.between(start, b) + cal.between(b, c), abs=1e-6)

    @SLOW
    @given(calendars(), instants, st.integers(0, 10 * 24 * H), st.integers(0, 10 * 24 * H))
    def test_adding_in_two_steps_is_adding_once(
        self, cal: Calendar, start: datetime, first: int, second: int
    ) -> None:
        """Pausing nowhere: adding a then b equals adding a + b."""
        assume(within_horizon(cal, first + second))
        assert cal.add(cal.add(start, first), second) == cal.add(start, first + second)
