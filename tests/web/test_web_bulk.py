"""Bulk actions in the queue and the API (issue 17, item 5), in-process on SQLite and
PostgreSQL: the checkboxes carry the version each agent saw, a ticket changed meanwhile is
skipped and listed, a bad agent refuses all, viewers get no checkboxes and a 403."""

from __future__ import annotations

import re

from customer_flow.tickets.models import TicketCreate

from .conftest import Team, login
from .tickets_web_support import desk


def _open(team: Team, cid: int, **values: object) -> int:
    new = {"customer_id": cid, "type": "question", "subject": "Printer jam", **values}
    return team.hub.open_ticket(TicketCreate.model_validate(new)).id


def _picks(html: str) -> dict[int, str]:
    values = re.findall(r'name="ticket" value="([^"]+)"', html)
    return {int(v.split("@")[0]): v for v in values}


class TestBulkPage:
    def test_select_and_close_without_javascript(self, team: Team) -> None:
        cid = desk(team)
        a, b, c = (_open(team, cid) for _ in range(3))
        csrf = login(team.client, "agent@team.example.org")
        page = team.client.get("/tickets")
        picks = _picks(page.text)
        assert {a, b, c} == set(picks)
        assert 'src="/static/keys.js"' in page.text and "Keyboard shortcuts" in page.text
        r = team.client.post(
            "/tickets/bulk",
            data={"csrf_token": csrf, "action": "close", "ticket": [picks[a], picks[b]],
                  "back": "/tickets?status=all", "scope": "selected"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert "2 tickets changed" in r.text and 'href="/tickets?status=all"' in r.text
        assert ["closed", "closed", "new"] == [team.hub.get_ticket(i).status for i in (a, b, c)]

    def test_a_ticket_changed_meanwhile_is_listed_not_overwritten(self, team: Team) -> None:
        cid = desk(team)
        a, b = _open(team, cid), _open(team, cid)
        csrf = login(team.client, "agent@team.example.org")
        picks = _picks(team.client.get("/tickets").text)
        team.hub.assign_ticket(b, "agent2")  # another agent, after the page was shown
        r = team.client.post(
            "/tickets/bulk",
            data={"csrf_token": csrf, "action": "assign", "assignee": "agent@team.example.org",
                  "scope": "page", "page": list(picks.values())},
        )  # fmt: skip
        assert r.status_code == 200
        assert "1 ticket changed, 1 skipped" in r.text
        assert f"#{b}</a>: changed by someone else" in r.text
        assert "agent2@team.example.org" == team.hub.get_ticket(b).assignee
        assert "agent@team.example.org" == team.hub.get_ticket(a).assignee

    def test_a_viewer_as_assignee_refuses_all(self, team: Team) -> None:
        cid = desk(team)
        a = _open(team, cid)
        csrf = login(team.client, "agent@team.example.org")
        picks = _picks(team.client.get("/tickets").text)
        r = team.client.post(
            "/tickets/bulk",
            data={"csrf_token": csrf, "action": "assign", "assignee": "viewer@team.example.org",
                  "ticket": picks[a]},
        )  # fmt: skip
        assert r.status_code == 422
        assert "Nothing was changed" in r.text and "viewer" in r.text
        assert team.hub.get_ticket(a).assignee is None

    def test_nothing_selected_and_no_csrf(self, team: Team) -> None:
        desk(team)
        csrf = login(team.client, "agent@team.example.org")
        r = team.client.post("/tickets/bulk", data={"csrf_token": csrf, "action": "close"})
        assert r.status_code == 422 and "select at least one ticket" in r.text
        r = team.client.post("/tickets/bulk", data={"action": "close", "ticket": "1"})
        assert r.status_code == 403

    def test_a_viewer_sees_no_checkboxes_and_is_refused(self, team: Team) -> None:
        cid = desk(team)
        a = _open(team, cid)
        csrf = login(team.client, "viewer@team.example.org")
        page = team.client.get("/tickets")
        assert {} == _picks(page.text) and 'id="bulk-form"' not in page.text
        r = team.client.post(
            "/tickets/bulk", data={"csrf_token": csrf, "action": "close", "ticket": str(a)}
        )
        assert r.status_code == 403
        assert "new" == team.hub.get_ticket(a).status


class TestBulkApi:
    def test_bulk_with_versions(self, team: Team) -> None:
        cid = desk(team)
        a, b = _open(team, cid), _open(team, cid)
        seen = {i: team.hub.get_ticket(i).updated_at.isoformat() for i in (a, b)}
        team.hub.set_ticket_status(b, "open")
        body = {"action": "status", "status": "pending",
                "tickets": [{"id": i, "updated_at": seen[i]} for i in (a, b)]}  # fmt: skip
        r = team.client.post("/api/v1/bulk/tickets", json=body, headers=team["agent"].headers)
        assert r.status_code == 200, r.text
        assert [a] == r.json()["changed"]
        assert [[b, "changed_meanwhile"]] == [[s["id"], s["code"]] for s in r.json()["skipped"]]

    def test_refusals(self, team: Team) -> None:
        cid = desk(team)
        a = _open(team, cid)
        body = {"action": "close", "tickets": [{"id": a}]}
        r = team.client.post("/api/v1/bulk/tickets", json=body, headers=team["viewer"].headers)
        assert r.status_code == 403
        body = {"action": "assign", "assignee": "nobody-here", "tickets": [{"id": a}]}
        r = team.client.post("/api/v1/bulk/tickets", json=body, headers=team["agent"].headers)
        assert r.status_code == 422 and r.json()["code"] == "assignee_unknown"
        body = {"action": "close", "tickets": []}
        r = team.client.post("/api/v1/bulk/tickets", json=body, headers=team["agent"].headers)
        assert r.status_code == 422
        assert "new" == team.hub.get_ticket(a).status
