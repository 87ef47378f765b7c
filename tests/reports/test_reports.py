"""Reports through the Hub, on SQLite and PostgreSQL: the fixed data set of ``reports_support``
with every number worked out by hand (business-hours edges, pauses, a reopen), the groupings,
empty and reversed periods, and a cross-check of the percentiles against ``percentile_cont``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from customer_flow.core.errors import ValidationError
from customer_flow.hub import Hub
from customer_flow.reports.metrics import parse_bound, parse_group_by
from customer_flow.reports.models import Report, ReportQuery
from customer_flow.store.schema import tickets
from customer_flow.tickets.models import CommentCreate, TicketCreate
from reports_support import NOW, SINCE, UNTIL, build
from tickets_support import OFFICE, Clock, make_hub, utc

H = 3600


@pytest.fixture
def data(db_url: str, tmp_path: Path) -> Hub:
    hub = build(db_url, tmp_path)
    yield hub  # type: ignore[misc]
    hub.close()


def report(hub: Hub, group_by: str = "week", **kw: Any) -> Report:
    return hub.report(ReportQuery(since=kw.pop("since", SINCE), until=kw.pop("until", UNTIL),
                                  group_by=group_by, **kw))  # fmt: skip


def row(g: Any) -> tuple[Any, ...]:
    """The numbers of one group, durations in business hours."""

    def h(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds / H, 4)

    return (
        g.key,
        g.opened,
        g.resolved,
        g.backlog,
        g.first_response.count,
        h(g.first_response.median_seconds),
        h(g.first_response.p90_seconds),
        g.resolution.count,
        h(g.resolution.median_seconds),
        h(g.resolution.p90_seconds),
        (g.sla_first_response.met, g.sla_first_response.breached),
        (g.sla_resolution.met, g.sla_resolution.breached),
        g.sla.percent,
        g.reopen_rate,
    )


class TestWeeklyReport:
    def test_every_week_matches_the_hand_computed_numbers(self, data: Hub) -> None:
        """Per week: volumes, backlog, business-time percentiles, SLA and reopens by hand."""
        r = report(data)
        expected = [
            # T1, T3, T2 opened; T1 resolved; replies 2h and 2.5h: median 2.25h, p90
            # 2h + 0.9 x 0.5h; T3's reply breached (1 of 2), T1's resolution met.
            ("2026-11-02", 3, 1, 2, 2, 2.25, 2.45, 1, 7.0, 7.0, (1, 1), (1, 0), 66.67, 33.33),
            # T4, T5, T6 opened; T2 (3h after a 9h pause), T3 (11h after an 18h reopen pause)
            # and T5 (5h) resolved: median 5h, p90 5h + 0.8 x 6h; T4 breached both targets.
            ("2026-11-09", 3, 3, 2, 2, 0.5, 0.5, 3, 5.0, 9.8, (1, 1), (2, 1), 60.0, 0.0),
            # T7 closed unanswered within its first-reply target: both met.
            ("2026-11-16", 1, 1, 2, 0, None, None, 1, 2.0, 2.0, (1, 0), (1, 0), 100.0, 0.0),
        ]
        assert expected == [row(g) for g in r.groups]

    def test_totals_are_percentiles_of_the_whole_period_not_of_the_weeks(self, data: Hub) -> None:
        """Replies 0.5, 0.5, 2, 2.5 h: median 1.25 h, p90 2 + 0.7 x 0.5 = 2.35 h; resolutions
        2, 3, 5, 7, 11 h: median 5 h, p90 7 + 0.6 x 4 = 9.4 h; SLA 7 met of 10 settled."""
        total = report(data).totals
        assert row(total) == (
            "total",
            7,
            5,
            2,
            4,
            1.25,
            2.35,
            5,
            5.0,
            9.4,
            (3, 2),
            (4, 1),
            70.0,
            20.0,
        )

    def test_timeline_counts_customers_added_and_trashed(self, data: Hub) -> None:
        """C4 arrives in week 2 and goes to the trash in week 3 while C5 arrives."""
        r = report(data)
        assert [(p.start, p.new_customers, p.customers) for p in r.timeline] == [
            ("2026-11-02", 0, 3),
            ("2026-11-09", 1, 4),
            ("2026-11-16", 1, 4),
        ]
        assert (r.customers.new, r.customers.at_start, r.customers.at_end) == (2, 3, 4)

    def test_distributions_top_customers_and_data_quality(self, data: Hub) -> None:
        """Resolution bars, backlog age, top customers and the live records' quality."""
        r = report(data)
        assert [b.tickets for b in r.resolution_histogram] == [0, 2, 2, 1, 0, 0]
        # T4 (13.6 days old) and T6 (9.3 days) at 2026-11-23 00:00.
        assert [b.tickets for b in r.backlog_age] == [0, 0, 0, 2, 0]
        assert [(c.id, c.opened, c.unresolved) for c in r.top_customers] == [
            (1, 3, 1),
            (2, 2, 0),
            (3, 2, 1),
        ]
        dq = r.data_quality
        # C1, C2, C3, C5 live; C3's email is a documentation domain and its "+1 555" is kept
        # as given; C2 and C5 have E.164 phones.
        assert (
            dq.customers,
            dq.valid_email,
            dq.e164_phone,
            dq.with_warnings,
            dq.likely_duplicates,
        ) == (4, 2, 2, 1, 0)
        assert dq.shares["valid_email"] == 50.0

    def test_month_and_day_steps_add_up_to_the_same_totals(self, data: Hub) -> None:
        """Only the cut changes: a month or 21 days hold the same tickets as the weeks."""
        week = report(data).totals
        for step in ("day", "month"):
            r = report(data, step)
            assert row(week) == row(r.totals)
            assert sum(g.opened for g in r.groups) == 7
        assert len(report(data, "day").groups) == 21
        assert [g.key for g in report(data, "month").groups] == ["2026-11-01"]


class TestStoredDurations:
    def test_a_reply_while_pending_does_not_count_the_pause(
        self, db_url: str, tmp_path: Path
    ) -> None:
        """Opened Mon 09:00, pending 10:00-12:00, answered at 12:00 while still pending: 1h;
        resolved Tue 10:00 after resuming at 12:00 (9h + 1h - 2h = 8h)."""
        clock = Clock(utc(2026, 11, 2, 9))
        hub = make_hub(db_url, tmp_path, calendar=OFFICE, clock=clock)
        ticket = hub.open_ticket(TicketCreate(customer_id=1, type="support", subject="x"))
        clock.now = utc(2026, 11, 2, 10)
        hub.set_ticket_status(ticket.id, "pending")
        clock.now = utc(2026, 11, 2, 12)
        hub.add_comment(ticket.id, CommentCreate(body="answer"))
        hub.set_ticket_status(ticket.id, "open")
        clock.now = utc(2026, 11, 3, 10)
        hub.set_ticket_status(ticket.id, "resolved")
        totals = hub.report(ReportQuery(since=SINCE, until=UNTIL)).totals
        hub.close()
        assert (totals.first_response.median_seconds, totals.resolution.median_seconds) == (
            1 * H,
            8 * H,
        )
        # First reply due 13:00 + 2h pause = 15:00: met; resolution due 17:00 + 2h: Tue 10:00.
        assert (totals.sla.met, totals.sla.breached) == (2, 0)


class TestGroupings:
    def test_by_type(self, data: Hub) -> None:
        """support: replies 0.5h, 2h; resolutions 2h, 3h, 7h (p90 3 + 0.8 x 4 = 6.2h)."""
        r = report(data, "type")
        assert [row(g) for g in r.groups] == [
            ("chat", 1, 1, 0, 1, 0.5, 0.5, 1, 5.0, 5.0, (0, 0), (0, 0), None, 0.0),
            ("complaint", 1, 1, 0, 1, 2.5, 2.5, 1, 11.0, 11.0, (0, 1), (1, 0), 50.0, 100.0),
            ("idea", 1, 0, 1, 0, None, None, 0, None, None, (0, 0), (0, 0), None, None),
            ("support", 4, 3, 1, 2, 1.25, 1.85, 3, 3.0, 6.2, (3, 1), (3, 1), 75.0, 0.0),
        ]
        assert [g.key for g in r.sla_by_type if g.sla.settled] == ["complaint", "support"]

    def test_by_assignee_puts_the_unassigned_last(self, data: Hub) -> None:
        r = report(data, "assignee")
        assert [(g.key, g.opened, g.resolved, g.backlog) for g in r.groups] == [
            ("ana@team.example", 4, 2, 2),
            ("bob@team.example", 2, 2, 0),
            ("(unassigned)", 1, 1, 0),
        ]

    def test_by_priority_in_priority_order(self, data: Hub) -> None:
        r = report(data, "priority")
        assert [(g.key, g.opened) for g in r.groups] == [("low", 1), ("normal", 5), ("urgent", 1)]

    @pytest.mark.parametrize("group_by", ["type", "priority", "assignee", "day", "month"])
    def test_every_grouping_has_the_same_totals(self, data: Hub, group_by: str) -> None:
        """The same number in every place: a grouping only splits it."""
        assert row(report(data).totals) == row(report(data, group_by).totals)
        r = report(data, group_by)
        assert r.totals.opened == sum(g.opened for g in r.groups)
        assert r.totals.sla.met == sum(g.sla.met for g in r.groups)

    def test_sla_by_type_is_the_same_whatever_the_grouping(self, data: Hub) -> None:
        by_week = [(g.key, g.sla.met, g.sla.breached) for g in report(data).sla_by_type]
        by_type = [
            (g.key, g.sla.met, g.sla.breached)
            for g in report(data, "type").sla_by_type
            if g.sla.settled
        ]
        assert [("complaint", 1, 1), ("support", 6, 2)] == by_week == by_type


class TestPeriods:
    def test_a_period_with_no_tickets_is_an_honest_empty_report(self, data: Hub) -> None:
        r = report(data, since=utc(2026, 10, 1), until=utc(2026, 10, 15))
        assert r.empty
        assert (
            r.totals.opened,
            r.totals.resolved,
            r.totals.backlog,
            r.totals.first_response.count,
            r.totals.sla.percent,
        ) == (0, 0, 0, 0, None)
        assert [g.key for g in r.groups] == ["2026-09-28", "2026-10-05", "2026-10-12"]

    def test_backlog_age_edges(self, data: Hub) -> None:
        """At Tue 10 09:00, T4 is exactly 1 day old (so 1-3 days) and T2 (resolved at noon)
        is still in the backlog at 2 days 23 hours."""
        r = report(data, until=utc(2026, 11, 10, 9))
        assert [b.tickets for b in r.backlog_age] == [0, 2, 0, 0, 0]
        assert r.totals.backlog == 2

    def test_the_default_period_is_the_30_days_before_now(self, data: Hub) -> None:
        r = data.report(ReportQuery())
        assert (NOW - timedelta(days=30), NOW, "week") == (r.since, r.until, r.interval)
        # Now (Wed 25 12:00): T4 and T6 remain, 16 and 11.8 days old.
        assert [b.tickets for b in r.backlog_age] == [0, 0, 0, 2, 0]

    @pytest.mark.parametrize("until", [SINCE, SINCE - timedelta(days=1)])
    def test_since_at_or_after_until_is_rejected(self, data: Hub, until: Any) -> None:
        with pytest.raises(ValidationError, match="give --since before --until"):
            report(data, until=until)

    def test_too_many_steps_ask_for_a_coarser_one(self, data: Hub) -> None:
        with pytest.raises(ValidationError, match="choose a coarser step"):
            report(data, "day", since=utc(1990, 1, 1))
        assert report(data, "month", since=utc(1990, 1, 1)).totals.opened == 7

    def test_an_empty_database_reports_zeros(self, hub: Hub) -> None:
        r = hub.report(ReportQuery(group_by="type"))
        assert r.empty and r.groups == [] and r.top_customers == []
        assert r.data_quality.customers == 0 and r.data_quality.shares["valid_email"] is None


class TestInput:
    def test_bounds_accept_dates_and_times_and_an_until_date_includes_the_day(self) -> None:
        assert utc(2026, 11, 2) == parse_bound("2026-11-02", field="since")
        assert utc(2026, 11, 3) == parse_bound("2026-11-02", field="until", end=True)
        assert utc(2026, 11, 2, 8) == parse_bound("2026-11-02T09:00+01:00", field="since")

    @pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-11-02T25:00"])
    def test_a_bad_bound_names_the_option(self, text: str) -> None:
        with pytest.raises(ValidationError, match=r"^until: expected a date like"):
            parse_bound(text, field="until")

    def test_an_unknown_grouping_lists_the_known_ones(self) -> None:
        with pytest.raises(ValidationError, match="unknown grouping 'year'; use day, week"):
            parse_group_by("year")
        assert parse_group_by(" Type ") == "type"


class TestAgreement:
    def test_percentiles_equal_percentile_cont_on_postgresql(self, data: Hub) -> None:
        """PostgreSQL's own percentile_cont gives the numbers the portable SQL gives."""
        if data.store.engine.dialect.name != "postgresql":
            pytest.skip("percentile_cont is PostgreSQL's")
        t = tickets.c
        stmt = select(
            func.percentile_cont(0.5).within_group(t.resolution_seconds),
            func.percentile_cont(0.9).within_group(t.resolution_seconds),
        ).where(t.resolved_at >= SINCE, t.resolved_at < UNTIL)
        with data.store.read() as conn:
            median, p90 = conn.execute(stmt).one()
        total = report(data).totals.resolution
        assert (pytest.approx(median), pytest.approx(p90)) == (
            total.median_seconds,
            total.p90_seconds,
        )

    def test_the_json_every_door_returns_carries_the_derived_numbers(self, data: Hub) -> None:
        """What a dashboard endpoint returns: percentages included, round-trips to a Report."""
        r = report(data)
        dumped = r.model_dump(mode="json")
        assert dumped["totals"]["sla"]["percent"] == 70.0
        assert dumped["totals"]["reopen_rate"] == 20.0
        again = Report.model_validate(dumped)
        assert row(r.totals) == row(again.totals)
        headers, rows = r.tables()["metrics"]
        assert rows[-1][:5] == ["total", 7, 5, 2, 20.0]
        assert len(headers) == len(rows[0])
