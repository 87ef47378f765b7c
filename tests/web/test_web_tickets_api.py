"""``/api/v1/tickets`` in-process on SQLite and PostgreSQL: the whole life of a ticket, the
queue's filters and keyset pages, comments and notes, the timeline, and the errors as problem
details."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Team
from .tickets_web_support import desk


def _open(team: Team, cid: int, who: str = "agent", **body: Any) -> dict[str, Any]:
    payload = {"customer_id": cid, "type": "question", "subject": "Where is my invoice?"}
    r = team.client.post("/api/v1/tickets", json={**payload, **body}, headers=team[who].headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


class TestTicketLifecycle:
    def test_open_read_change_assign_comment_resolve_close_reopen(self, team: Team) -> None:
        """A ticket through every write route; each answer shows the new state."""
        cid = desk(team)
        c, h = team.client, team["agent"].headers
        t = _open(team, cid, tags=["Billing", "billing"], description="Line one")
        tid = t["id"]
        assert (t["status"], t["priority"], t["tags"]) == ("new", "low", ["billing"])
        assert t["sla"]["first_response"]["due_at"] is not None
        got = c.get(f"/api/v1/tickets/{tid}", headers=team["viewer"].headers).json()
        assert got["subject"] == "Where is my invoice?" and got["sla"]["state"] == "on_track"
        r = c.patch(f"/api/v1/tickets/{tid}", json={"priority": "urgent"}, headers=h)
        assert r.json()["priority"] == "urgent"
        r = c.put(f"/api/v1/tickets/{tid}/assignee", json={"assignee": "Agent2"}, headers=h)
        assert r.json()["assignee"] == "agent2@team.example.org"
        r = c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "Looking"}, headers=h)
        assert r.status_code == 201 and r.json()["author"] == "agent@team.example.org"
        after = c.get(f"/api/v1/tickets/{tid}", headers=h).json()
        assert after["status"] == "open" and after["first_response_at"] is not None
        r = c.post(f"/api/v1/tickets/{tid}/status", json={"status": "pending"}, headers=h)
        assert r.json()["status"] == "pending" and r.json()["sla"]["paused"] is True
        r = c.post(f"/api/v1/tickets/{tid}/status", json={"status": "resolved"}, headers=h)
        assert r.json()["status"] == "resolved"
        r = c.post(f"/api/v1/tickets/{tid}/close", json={"note": "done"}, headers=h)
        assert r.json()["status"] == "closed"
        r = c.post(f"/api/v1/tickets/{tid}/reopen", headers=h)
        assert r.json()["status"] == "open" and r.json()["reopened_count"] == 1
        r = c.put(f"/api/v1/tickets/{tid}/assignee", json={"assignee": None}, headers=h)
        assert r.json()["assignee"] is None
        history = c.get(f"/api/v1/tickets/{tid}/history", headers=h).json()
        actions = [e["action"] for e in history]
        assert actions[0] == "create" and len(actions) >= 8
        assert {"agent@team.example.org"} == {e["actor"] for e in history}
        assert any(e["note"] == "done" for e in history)

    def test_public_replies_and_internal_notes(self, team: Team) -> None:
        """Notes are listed by default and left out with include_notes=false."""
        cid = desk(team)
        c, h = team.client, team["agent"].headers
        tid = _open(team, cid)["id"]
        c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "Hello"}, headers=h)
        c.post(
            f"/api/v1/tickets/{tid}/comments",
            json={"body": "Secret", "public": False},
            headers=h,
        )
        every = c.get(f"/api/v1/tickets/{tid}/comments", headers=h).json()
        assert [(x["body"], x["public"]) for x in every] == [("Hello", True), ("Secret", False)]
        public = c.get(
            f"/api/v1/tickets/{tid}/comments", params={"include_notes": False}, headers=h
        ).json()
        assert [x["body"] for x in public] == ["Hello"]

    def test_purge_is_admin_only_and_needs_a_closed_ticket(self, team: Team) -> None:
        cid = desk(team)
        c = team.client
        tid = _open(team, cid)["id"]
        r = c.post(f"/api/v1/tickets/{tid}/purge", headers=team["admin"].headers)
        assert (r.status_code, r.json()["code"]) == (409, "not_closed")
        c.post(f"/api/v1/tickets/{tid}/close", headers=team["agent"].headers)
        assert (
            c.post(f"/api/v1/tickets/{tid}/purge", headers=team["agent"].headers).status_code == 403
        )
        assert (
            c.post(f"/api/v1/tickets/{tid}/purge", headers=team["admin"].headers).status_code == 200
        )
        r = c.get(f"/api/v1/tickets/{tid}", headers=team["admin"].headers)
        assert (r.status_code, r.json()["code"]) == (404, "ticket_purged")
        # The timeline stays.
        assert c.get(f"/api/v1/tickets/{tid}/history", headers=team["admin"].headers).json()


class TestQueue:
    def test_filters_narrow_the_queue(self, team: Team) -> None:
        """Status, type, priority, assignee, unassigned, customer and text each narrow it."""
        cid = desk(team)
        other = desk(team)
        c, h = team.client, team["viewer"].headers
        a = _open(team, cid, subject="Printer on fire", assignee="agent2")["id"]
        b = _open(team, cid, type="complaint", subject="Rude reply")["id"]
        d = _open(team, other, subject="Closed one", priority="high")["id"]
        c.post(f"/api/v1/tickets/{d}/close", headers=team["agent"].headers)

        def ids(**params: Any) -> list[int]:
            r = c.get("/api/v1/tickets", params=params, headers=h)
            assert r.status_code == 200, r.text
            return [t["id"] for t in r.json()["items"]]

        assert ids() == [a, b]  # the open queue leaves the closed one out
        assert ids(all_statuses=True) == [a, b, d]
        assert ids(status="closed") == [d]
        assert ids(status=["new", "closed"]) == [a, b, d]
        assert ids(type="complaint") == [b]
        assert ids(priority="urgent") == [b]
        assert ids(priority=["low", "urgent"]) == [a, b]
        assert ids(assignee="agent2") == [a]
        assert ids(assignee="agent2@team.example.org") == [a]
        assert ids(unassigned=True) == [b]
        assert ids(customer_id=other, all_statuses=True) == [d]
        assert ids(search="printer") == [a]
        assert ids(sla="on_track") == [a, b]
        assert ids(sla="breached") == []
        assert ids(sort="-id", all_statuses=True) == [d, b, a]

    def test_keyset_pages_have_no_gaps_or_repeats(self, team: Team) -> None:
        cid = desk(team)
        made = [_open(team, cid, subject=f"T{i}")["id"] for i in range(7)]
        seen: list[int] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 3}
            if after:
                params["after"] = after
            page = team.client.get(
                "/api/v1/tickets", params=params, headers=team["agent"].headers
            ).json()
            seen += [t["id"] for t in page["items"]]
            after = page["next"]
            if not after:
                break
        assert seen == made


class TestTicketProblems:
    def test_missing_ticket_is_a_404_problem(self, team: Team) -> None:
        desk(team)
        h = team["agent"].headers
        for method, path in [
            ("get", "/api/v1/tickets/999"),
            ("get", "/api/v1/tickets/999/comments"),
            ("get", "/api/v1/tickets/999/history"),
            ("post", "/api/v1/tickets/999/close"),
        ]:
            r = getattr(team.client, method)(path, headers=h)
            assert r.status_code == 404, path
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "ticket_not_found"

    def test_refused_status_change_names_the_allowed_ones(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)["id"]
        h = team["agent"].headers
        team.client.post(f"/api/v1/tickets/{tid}/close", headers=h)
        r = team.client.post(f"/api/v1/tickets/{tid}/status", json={"status": "pending"}, headers=h)
        assert r.status_code == 409 and "open" in r.json()["detail"]
        r = team.client.post(f"/api/v1/tickets/{tid}/reopen", headers=h)
        assert r.status_code == 200
        r = team.client.post(f"/api/v1/tickets/{tid}/reopen", headers=h)
        assert (r.status_code, r.json()["code"]) == (409, "not_reopenable")

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            ({"type": "technical_issue"}, 422, "fields.product"),
            ({"subject": "   "}, 422, "subject"),
            ({"type": "nope"}, 404, None),
            ({"customer_id": 99999}, 404, None),
            ({"priority": "whenever"}, 422, "priority"),
            ({"customer_id": "one"}, 422, "customer_id"),
            ({"surprise": 1}, 422, "surprise"),
        ],
    )
    def test_bad_bodies_are_refused_with_the_field(
        self, team: Team, body: dict[str, Any], status: int, field: str | None
    ) -> None:
        cid = desk(team)
        payload = {"customer_id": cid, "type": "question", "subject": "S", **body}
        r = team.client.post("/api/v1/tickets", json=payload, headers=team["agent"].headers)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        if field:
            assert r.json()["field"] == field
        assert (
            team.client.get(
                "/api/v1/tickets", params={"all_statuses": True}, headers=team["agent"].headers
            ).json()["items"]
            == []
        )

    def test_empty_comment_and_bad_cursor(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)["id"]
        h = team["agent"].headers
        r = team.client.post(f"/api/v1/tickets/{tid}/comments", json={"body": " "}, headers=h)
        assert (r.status_code, r.json()["field"]) == (422, "body")
        r = team.client.get("/api/v1/tickets", params={"after": "garbage"}, headers=h)
        assert (r.status_code, r.json()["code"]) == (422, "bad_cursor")

    def test_an_agent_cannot_post_under_another_name(self, team: Team) -> None:
        """An agent's reply is by the signed-in user; only a customer's comment names its
        author (the name on their email)."""
        cid = desk(team)
        tid = _open(team, cid)["id"]
        h = team["agent"].headers
        url = f"/api/v1/tickets/{tid}/comments"
        r = team.client.post(url, json={"body": "x", "author": "admin"}, headers=h)
        assert (r.status_code, r.json()["code"]) == (422, "author_not_customer")
        mine = team.client.post(url, json={"body": "x"}, headers=h).json()
        assert mine["author"] == team["agent"].user.email
        theirs = team.client.post(
            url, json={"body": "y", "by_customer": True, "author": "Ana Lima"}, headers=h
        ).json()
        assert (theirs["author"], theirs["by_customer"]) == ("Ana Lima", True)
        bodies = [c["body"] for c in team.client.get(url, headers=h).json()]
        assert bodies == ["x", "y"]

    def test_viewer_writes_are_refused_before_anything_changes(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)["id"]
        h = team["viewer"].headers
        r = team.client.post(f"/api/v1/tickets/{tid}/comments", json={"body": "x"}, headers=h)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        assert team.client.get(f"/api/v1/tickets/{tid}/comments", headers=h).json() == []
