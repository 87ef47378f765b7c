"""People-readable history (issue 17): a ticket's timeline on its page names changes as a
person reads them ("Status: open → pending", "Clock paused"), shows times to the minute with the
full value on hover, and never shows internal field names or dict reprs."""

from __future__ import annotations

from datetime import UTC, datetime

from customer_flow.core.history import Change, changes, show
from customer_flow.core.models import AuditEntry
from customer_flow.tickets.models import CommentCreate, TicketCreate, TicketUpdate

from .conftest import Team, login
from .tickets_web_support import desk


def entry(action: str, before: dict | None, after: dict | None) -> AuditEntry:  # type: ignore[type-arg]
    return AuditEntry(
        id=1,
        at=datetime(2026, 12, 6, 3, 25, 44, 561146, tzinfo=UTC),
        actor="ana@team.example",
        action=action,
        entity="ticket",
        entity_id="1",
        before=before,
        after=after,
        note=None,
    )


class TestChanges:
    def test_a_pause_is_an_event_and_bookkeeping_is_hidden(self) -> None:
        e = entry(
            "status",
            {"status": "open", "paused_at": None, "paused_seconds": 0, "queue_due_at": "x"},
            {"status": "pending", "paused_at": "2026-12-06T03:25:44.561146Z", "paused_seconds": 5},
        )
        assert [Change("Status", "open", "pending"), Change("Clock paused")] == changes(e)

    def test_extra_fields_one_per_line_and_times_to_the_minute(self) -> None:
        e = entry(
            "update",
            {"fields": {"product": "api"}, "resolution_due_at": "2026-12-07T10:00:30.5+00:00"},
            {
                "fields": {"product": "web app", "count": 2},
                "resolution_due_at": "2026-12-08T10:00:00+00:00",
            },
        )
        got = changes(e)
        assert [("Product", "api", "web app"), ("Count", "—", "2")] == [
            (c.label, c.before, c.after) for c in got[:2]
        ]
        due = got[2]
        assert ("Resolution due", "2026-12-07 10:00 UTC") == (due.label, due.before)
        assert "2026-12-07T10:00:30.5+00:00" == due.before_full

    def test_values_are_plain_text(self) -> None:
        assert "Product: web app, Count: 2" == show({"product": "web app", "count": 2})
        assert "vip, login" == show(["vip", "login"])
        assert ("—", "yes") == (show(None), show(True))


class TestTimelineOnThePage:
    def test_no_internal_names_or_reprs_reach_the_page(self, team: Team) -> None:
        cid = desk(team)
        tid = team.hub.open_ticket(
            TicketCreate(
                customer_id=cid, type="technical_issue", subject="S", fields={"product": "web app"}
            )
        ).id
        team.hub.add_comment(tid, CommentCreate(body="Looking into it"))
        team.hub.set_ticket_status(tid, "pending")
        team.hub.update_ticket(tid, TicketUpdate(fields={"product": "api"}))
        login(team.client, "viewer@team.example.org")
        page = team.client.get(f"/tickets/{tid}").text
        timeline = page.split('class="changes"', 1)[1]
        assert "<strong>Status</strong>: open → pending" in timeline
        assert "<strong>Clock paused</strong>" in timeline
        assert "Public reply" in timeline and "Looking into it" in timeline
        for internal in ("paused_at", "paused_seconds", "queue_due_at", "{&#39;", "{'"):
            assert internal not in timeline, internal
        assert 'title="20' in timeline  # the full instant on hover
