"""SLA of tickets through the Hub, on both databases, with hand-computed due times."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from customer_flow.core.errors import ConfigError, StateError, ValidationError
from customer_flow.store.schema import tickets
from customer_flow.tickets.models import CommentCreate, TicketCreate, TicketQuery, TicketUpdate
from tickets_support import OFFICE, Clock, H, make_hub, utc


def new(**kw: object) -> TicketCreate:
    data: dict[str, object] = {"customer_id": 1, "type": "support", "subject": "Help"}
    data.update(kw)
    return TicketCreate.model_validate(data)


class TestHandComputed:
    """Type "support": first response 4h, resolution 8h. Calendar Mon–Fri 09:00–18:00 UTC."""

    def test_friday_1755(self, db_url: str, tmp_path: Path) -> None:
        """Opened Friday 27 Nov 17:55: first response (4h) due Monday 12:55 (5 min Friday,
        3h55 Monday); resolution (8h) due Monday 16:55 (5 min Friday, 7h55 Monday)."""
        clock = Clock(utc(2026, 11, 27, 17, 55))
        with make_hub(db_url, tmp_path, calendar=OFFICE, clock=clock) as hub:
            t = hub.open_ticket(new())
            assert utc(2026, 11, 30, 12, 55) == t.sla.first_response.due_at
            assert utc(2026, 11, 30, 16, 55) == t.sla.resolution.due_at
            assert utc(2026, 11, 30, 12, 55) == hub.ticket_due(t.id, "first_response")

    def test_holiday(self, db_url: str, tmp_path: Path) -> None:
        """The same ticket with Monday 30 Nov a holiday: first response due Tuesday 12:55."""
        clock = Clock(utc(2026, 11, 27, 17, 55))
        calendar = {**OFFICE, "holidays": ["2026-11-30"]}
        with make_hub(db_url, tmp_path, calendar=calendar, clock=clock) as hub:
            t = hub.open_ticket(new())
            assert utc(2026, 12, 1, 12, 55) == t.sla.first_response.due_at

    def test_pause_across_a_night(self, db_url: str, tmp_path: Path) -> None:
        """Opened Monday 09:00 (resolution 8h, due 17:00), pending from 16:00 to Tuesday 10:00:
        the pause is 2h Monday + 1h Tuesday = 3 business hours, so the resolution falls due
        Tuesday 11:00 (7h used before the pause, 1h left after it)."""
        clock = Clock(utc(2026, 11, 30, 9, 0))
        with make_hub(db_url, tmp_path, calendar=OFFICE, clock=clock) as hub:
            t = hub.open_ticket(new())
            hub.add_comment(t.id, CommentCreate(body="Which browser?"))
            assert utc(2026, 11, 30, 17) == hub.get_ticket(t.id).sla.resolution.due_at
            clock.now = utc(2026, 11, 30, 16)
            hub.set_ticket_status(t.id, "pending")
            clock.now = utc(2026, 12, 1, 9, 30)  # the night passes; the clock is frozen
            paused = hub.get_ticket(t.id)
            assert (paused.sla.paused, paused.sla.resolution.state) == (True, "at_risk")
            assert paused.sla.resolution.used_seconds == 7 * H
            clock.now = utc(2026, 12, 1, 10)
            hub.add_comment(t.id, CommentCreate(body="Firefox", by_customer=True))
            t = hub.get_ticket(t.id)
            assert (t.status, t.sla.paused_seconds) == ("open", 3 * H)
            assert utc(2026, 12, 1, 11) == t.sla.resolution.due_at
            assert (
                t.sla.resolution.used_seconds,
                t.sla.resolution.remaining_seconds,
            ) == (7 * H, 1 * H)

    def test_daylight_saving_change(self, db_url: str, tmp_path: Path) -> None:
        """New York, Mon–Fri 09:00–18:00: opened Friday 6 March 2026 17:00 EST (22:00Z), first
        response 4h: 1h Friday, 3h Monday 9 March from 09:00 EDT → 12:00 EDT = 16:00Z."""
        clock = Clock(utc(2026, 3, 6, 22, 0))
        calendar = {**OFFICE, "timezone": "America/New_York"}
        with make_hub(db_url, tmp_path, calendar=calendar, clock=clock) as hub:
            t = hub.open_ticket(new())
            assert utc(2026, 3, 9, 16, 0) == t.sla.first_response.due_at

    def test_priority_scaling(self, db_url: str, tmp_path: Path) -> None:
        """With factor 0.5 for urgent and 2 for low, the 4h first response target becomes 2h
        and 8h; Friday 17:55 → Monday 10:55 (urgent) and Monday 16:55 (low)."""
        clock = Clock(utc(2026, 11, 27, 17, 55))
        factors = {"urgent": 0.5, "low": 2.0}
        with make_hub(
            db_url, tmp_path, calendar=OFFICE, clock=clock, sla_priority_factors=factors
        ) as hub:
            urgent = hub.open_ticket(new(priority="urgent"))
            low = hub.open_ticket(new(priority="low"))
            normal = hub.open_ticket(new())
            assert urgent.sla.first_response.target_seconds == 2 * H
            assert utc(2026, 11, 30, 10, 55) == urgent.sla.first_response.due_at
            assert utc(2026, 11, 30, 16, 55) == low.sla.first_response.due_at
            assert utc(2026, 11, 30, 12, 55) == normal.sla.first_response.due_at
            # A custom default priority of the type is scaled the same way (Frappe #2405).
            complaint = hub.open_ticket(new(type="complaint"))
            assert complaint.sla.first_response.target_seconds == 30 * 60
            # Changing the priority rescales the running targets.
            moved = hub.update_ticket(normal.id, TicketUpdate(priority="urgent"))
            assert utc(2026, 11, 30, 10, 55) == moved.sla.first_response.due_at

    def test_type_with_no_sla(self, db_url: str, tmp_path: Path) -> None:
        """A type with no targets: state none, no due times, and asking for one is an error."""
        with make_hub(db_url, tmp_path, clock=Clock(utc(2026, 11, 30, 9))) as hub:
            t = hub.open_ticket(new(type="chat"))
            assert (
                t.sla.state,
                t.sla.first_response.due_at,
                t.sla.resolution.due_at,
            ) == ("none", None, None)
            with pytest.raises(StateError, match="has no resolution target: its type 'chat'"):
                hub.ticket_due(t.id)
            idea = hub.open_ticket(new(type="idea"))
            assert utc(2026, 12, 2, 9) == hub.ticket_due(idea.id, "first_response")
            with pytest.raises(StateError, match="no resolution target"):
                hub.ticket_due(idea.id, "resolution")
            with pytest.raises(ValidationError, match="target: expected"):
                hub.ticket_due(idea.id, "lunch")


class TestStates:
    def test_on_track_at_risk_breached(self, db_url: str, tmp_path: Path) -> None:
        """24×7, first response 4h, at-risk share 0.75: on track, at risk from 3h, breached
        after 4h; a late reply leaves it breached."""
        clock = Clock(utc(2026, 11, 30, 9))
        with make_hub(db_url, tmp_path, clock=clock) as hub:
            t = hub.open_ticket(new())
            states = []
            for minutes in (0, 179, 1, 60, 1):
                clock.advance(minutes * 60)
                states.append(hub.get_ticket(t.id).sla.first_response.state)
            assert states == ["on_track", "on_track", "at_risk", "at_risk", "breached"]
            hub.add_comment(t.id, CommentCreate(body="sorry for the wait"))
            t = hub.get_ticket(t.id)
            assert (t.sla.first_response.state, t.sla.state) == ("breached", "breached")

    def test_at_risk_share_is_configurable(self, db_url: str, tmp_path: Path) -> None:
        """With share 0.5 the 4h target is at risk after 2h."""
        clock = Clock(utc(2026, 11, 30, 9))
        with make_hub(db_url, tmp_path, clock=clock, sla_at_risk_share=0.5) as hub:
            t = hub.open_ticket(new())
            assert utc(2026, 11, 30, 11) == t.sla.first_response.at_risk_at

    def test_reply_in_time_is_met(self, db_url: str, tmp_path: Path) -> None:
        """A reply before the due time meets the target, whatever happens later."""
        clock = Clock(utc(2026, 11, 30, 9))
        with make_hub(db_url, tmp_path, clock=clock) as hub:
            t = hub.open_ticket(new())
            clock.advance(H)
            hub.add_comment(t.id, CommentCreate(body="on it"))
            clock.advance(30 * H)
            t = hub.get_ticket(t.id)
            assert (t.sla.first_response.state, t.sla.resolution.state) == ("met", "breached")

    def test_reply_while_pending_is_judged_without_the_pause(
        self, db_url: str, tmp_path: Path
    ) -> None:
        """Pending after 1h, an agent replies 5h later: 1h of the 4h target was used, so the
        reply is in time."""
        clock = Clock(utc(2026, 11, 30, 9))
        with make_hub(db_url, tmp_path, clock=clock) as hub:
            t = hub.open_ticket(new())
            clock.advance(H)
            hub.set_ticket_status(t.id, "pending")
            clock.advance(5 * H)
            hub.add_comment(t.id, CommentCreate(body="any news?"))
            t = hub.get_ticket(t.id)
            assert (t.sla.first_response.state, t.sla.paused) == ("met", True)
            assert utc(2026, 11, 30, 18) == t.sla.first_response.due_at
            # Reports read the pause that counted before the first response from a column.
            with hub.store.read() as conn:
                paused = conn.execute(
                    select(tickets.c.first_response_paused_seconds).where(tickets.c.id == t.id)
                ).scalar_one()
            assert paused == 5 * H

    def test_resolution_stops_the_first_response_clock(self, db_url: str, tmp_path: Path) -> None:
        """Resolved with no reply in 1h: both targets met, nothing runs any more."""
        clock = Clock(utc(2026, 11, 30, 9))
        with make_hub(db_url, tmp_path, clock=clock) as hub:
            t = hub.open_ticket(new())
            clock.advance(H)
            hub.set_ticket_status(t.id, "resolved")
            clock.advance(100 * H)
            t = hub.get_ticket(t.id)
            assert (
                t.sla.first_response.state,
                t.sla.resolution.state,
                t.sla.state,
            ) == ("met", "met", "met")

    def test_reopen_does_not_count_the_resolved_time(self, db_url: str, tmp_path: Path) -> None:
        """Resolved after 2h, reopened 10h later: the 8h resolution target is due 6h after the
        reopen."""
        clock = Clock(utc(2026, 11, 30, 9))
        with make_hub(db_url, tmp_path, clock=clock) as hub:
            t = hub.open_ticket(new())
            clock.advance(2 * H)
            hub.set_ticket_status(t.id, "resolved")
            clock.advance(10 * H)
            t = hub.reopen_ticket(t.id)
            assert utc(2026, 12, 1, 3) == t.sla.resolution.due_at

    def test_sql_filter_agrees_with_computed_state(self, db_url: str, tmp_path: Path) -> None:
        """For tickets in every state, the queue's SLA filter picks exactly those whose
        computed state matches, at several instants."""
        start = utc(2026, 11, 30, 9)
        clock = Clock(start)
        with make_hub(db_url, tmp_path, clock=clock) as hub:
            # (minutes after start, type, then: None, "reply" or "pending" 10 minutes later)
            plan = [
                (0, "support", None),
                (20, "support", "pending"),
                (30, "complaint", "reply"),
                (60, "chat", None),
                (90, "idea", None),
                (100, "support", "reply"),
                (200, "support", None),
                (280, "complaint", None),
            ]
            for minutes, kind, then in plan:
                clock.now = start.replace(hour=9 + minutes // 60, minute=minutes % 60)
                t = hub.open_ticket(new(type=kind))
                clock.advance(600)
                if then == "reply":
                    hub.add_comment(t.id, CommentCreate(body="hi"))
                elif then == "pending":
                    hub.set_ticket_status(t.id, "pending")
            seen: set[str] = set()
            for hours in (5, 6, 9, 30):
                clock.now = utc(2026, 11, 30, 9 + hours) if hours < 15 else utc(2026, 12, 1, 15)
                every = hub.list_tickets(TicketQuery(limit=100)).items
                for state in ("on_track", "at_risk", "breached"):
                    query = TicketQuery(sla=state, limit=100)  # type: ignore[arg-type]
                    listed = {t.id for t in hub.list_tickets(query).items}
                    assert {t.id for t in every if t.sla.state == state} == listed
                seen |= {t.sla.state for t in every}
            assert {"on_track", "at_risk", "breached", "none"} <= seen


class TestBadCalendar:
    def test_calendar_with_no_working_hours(self, db_url: str, tmp_path: Path) -> None:
        """A calendar with no working hours is a clear error when a ticket is opened."""
        with make_hub(db_url, tmp_path, calendar={"working_hours": {}}) as hub:
            with pytest.raises(ConfigError, match=r"calendar\.json: no working hours"):
                hub.open_ticket(new())
            assert hub.get_customer(1).id == 1  # everything else still works
