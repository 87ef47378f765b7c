"""Canned replies in the web and the API (issue 17, item 6), in-process on SQLite and
PostgreSQL: the /canned page (add, refuse an unknown placeholder, edit, delete), inserting one
in the reply box without JavaScript, "Send and set pending" / "Send and resolve", and the API's
CRUD and filled-in list."""

from __future__ import annotations

import re

from customer_flow.tickets.models import CannedCreate, TicketCreate

from .conftest import Team, login
from .tickets_web_support import desk


def _open(team: Team, cid: int) -> int:
    new = {"customer_id": cid, "type": "question", "subject": "Printer jam"}
    return team.hub.open_ticket(TicketCreate.model_validate(new)).id


class TestCannedPages:
    def test_add_refuse_edit_delete(self, team: Team) -> None:
        csrf = login(team.client, "agent@team.example.org")
        post = team.client.post
        r = post("/canned", data={"csrf_token": csrf, "title": "Bad", "body": "Hi {custmer.name}"})
        assert r.status_code == 422
        assert "unknown placeholder {custmer.name}" in r.text
        assert "Hi {custmer.name}</textarea>" in r.text  # what was typed stays
        r = post("/canned", data={"csrf_token": csrf, "title": "Hi", "body": "Hi {customer.name}"})
        assert r.status_code == 200 and "Hi {customer.name}" in r.text
        agent = team.hub.as_actor("agent@team.example.org", "agent", user_id=team["agent"].user.id)
        [reply] = agent.list_canned_replies()
        assert not reply.shared and "agent@team.example.org" == reply.owner
        r = post(f"/canned/{reply.id}/edit", data={"csrf_token": csrf, "title": "Hello",
                                                     "body": "Hello {customer.name}"})  # fmt: skip
        assert r.status_code == 200 and "Hello {customer.name}" in r.text
        login(team.client, "agent2@team.example.org")
        assert "Hello {customer.name}" not in team.client.get("/canned").text
        assert 404 == team.client.get(f"/canned/{reply.id}/edit").status_code
        csrf = login(team.client, "agent@team.example.org")
        assert post(f"/canned/{reply.id}/delete", data={"csrf_token": csrf}).status_code == 200
        assert "No canned replies yet" in team.client.get("/canned").text

    def test_only_an_admin_sees_the_share_box(self, team: Team) -> None:
        login(team.client, "agent@team.example.org")
        assert 'name="shared"' not in team.client.get("/canned").text
        csrf = login(team.client, "admin@team.example.org")
        assert 'name="shared"' in team.client.get("/canned").text
        form = {"title": "All", "body": "x", "shared": "yes", "shared_offered": "yes"}
        r = team.client.post("/canned", data={"csrf_token": csrf, **form})
        assert r.status_code == 200
        login(team.client, "agent@team.example.org")
        assert "All" in team.client.get("/canned").text


class TestReplyBox:
    def test_insert_without_javascript_and_send_and_resolve(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        team.hub.add_canned_reply(
            CannedCreate(title="Thanks", body="Thanks {customer.name}, ticket {ticket.id}",
                         shared=True)
        )  # fmt: skip
        csrf = login(team.client, "agent@team.example.org")
        page = team.client.get(f"/tickets/{tid}")
        assert f'data-text="Thanks Ticket Customer, ticket {tid}"' in page.text
        assert "Send and set pending" in page.text and "Send and resolve" in page.text
        cid_ = re.search(r'<option value="(\d+)" data-text=', page.text)
        assert cid_ is not None
        r = team.client.post(
            f"/tickets/{tid}/canned",
            data={"csrf_token": csrf, "body": "Hello.", "canned": cid_.group(1)},
        )
        assert r.status_code == 200
        assert f"Hello.\n\nThanks Ticket Customer, ticket {tid}</textarea>" in r.text
        r = team.client.post(
            f"/tickets/{tid}/comments",
            data={"csrf_token": csrf, "body": "All fixed", "set_status": "resolved"},
        )
        assert r.status_code == 200
        assert "resolved" == team.hub.get_ticket(tid).status
        assert ["All fixed"] == [c.body for c in team.hub.list_comments(tid)]

    def test_a_refused_move_keeps_the_text_and_saves_nothing(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        team.hub.close_ticket(tid)
        csrf = login(team.client, "agent@team.example.org")
        r = team.client.post(
            f"/tickets/{tid}/comments",
            data={"csrf_token": csrf, "body": "Late words", "set_status": "pending"},
        )
        assert r.status_code == 409 and "Late words</textarea>" in r.text
        assert [] == team.hub.list_comments(tid)


class TestCannedApi:
    def test_crud_and_filled_in(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        h = team["agent"].headers
        api = team.client
        r = api.post("/api/v1/canned-replies", json={"title": "t", "body": "{nope}"}, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "placeholder_unknown"
        r = api.post("/api/v1/canned-replies", json={"title": "t", "body": "x", "shared": True},
                     headers=h)  # fmt: skip
        assert r.status_code == 403
        r = api.post("/api/v1/canned-replies", json={"title": "t", "body": "#{ticket.id}"},
                     headers=h)  # fmt: skip
        assert r.status_code == 201
        rid = r.json()["id"]
        filled = api.get(f"/api/v1/tickets/{tid}/canned-replies", headers=h).json()
        assert [f"#{tid}"] == [f["text"] for f in filled]
        other = team["agent2"].headers
        assert 404 == api.get(f"/api/v1/canned-replies/{rid}", headers=other).status_code
        r = api.patch(f"/api/v1/canned-replies/{rid}", json={"title": "u"}, headers=h)
        assert r.status_code == 200 and "u" == r.json()["title"]
        assert 200 == api.delete(f"/api/v1/canned-replies/{rid}", headers=h).status_code
        assert [] == api.get("/api/v1/canned-replies", headers=h).json()

    def test_comment_with_set_status(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        body = {"body": "Need your model", "set_status": "pending"}
        r = team.client.post(f"/api/v1/tickets/{tid}/comments", json=body,
                             headers=team["agent"].headers)  # fmt: skip
        assert r.status_code == 201
        assert "pending" == team.hub.get_ticket(tid).status
