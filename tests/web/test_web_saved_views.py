"""Saved views (issue 17, item 3) in-process on SQLite and PostgreSQL: saved from the queue
with its filters and sort, listed as links that open the same queue, personal or shared, and
the same in the API (CRUD, `GET /tickets?saved_view=`) and the CLI."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.tickets.models import TicketCreate

from .conftest import Team, login
from .tickets_web_support import desk


def _open(team: Team, cid: int, **kw: object) -> int:
    new = {"customer_id": cid, "type": "question", "subject": "s", **kw}
    return team.hub.open_ticket(TicketCreate.model_validate(new)).id


class TestSavedViewsPage:
    def test_save_open_and_delete(self, team: Team) -> None:
        cid = desk(team)
        urgent = _open(team, cid, priority="urgent")
        _open(team, cid, priority="low")
        csrf = login(team.client, "agent@team.example.org")
        r = team.client.post(
            "/tickets/views",
            data={"csrf_token": csrf, "title": "Hot ones", "priority": "urgent",
                  "sort": "-updated"},
        )  # fmt: skip
        assert r.status_code == 200
        page = team.client.get("/tickets")
        link = re.search(r'<a href="([^"]+)"[^>]*>Hot ones</a>', page.text)
        assert link is not None
        url = link.group(1).replace("&amp;", "&")
        assert "priority=urgent" in url and "sort=-updated" in url
        shown = team.client.get(url)
        assert [urgent] == [int(x) for x in re.findall(r'data-ticket="(\d+)"', shown.text)]
        assert 'aria-current="page">Hot ones' in shown.text
        login(team.client, "agent2@team.example.org")
        assert "Hot ones" not in team.client.get("/tickets").text  # personal
        csrf = login(team.client, "agent@team.example.org")
        [view] = team.hub.as_actor("agent@team.example.org", "agent",
                                   user_id=team["agent"].user.id).list_saved_views()  # fmt: skip
        r = team.client.post(f"/tickets/views/{view.id}/delete", data={"csrf_token": csrf})
        assert r.status_code == 200 and "Hot ones" not in r.text

    def test_a_view_of_several_statuses_shows_and_keeps_them_all(self, team: Team) -> None:
        """A view saved with statuses open and pending opens the queue with both in the
        filter form (not only the first), lists both kinds, and the form, submitted again
        with another filter beside it, keeps both."""
        cid = desk(team)
        fresh = _open(team, cid, priority="high")  # new
        opened = _open(team, cid, priority="high")
        team.hub.set_ticket_status(opened, "open")
        waiting = _open(team, cid, priority="low")
        team.hub.set_ticket_status(waiting, "pending")
        h = team["agent"].headers
        body = {"title": "In progress", "query": {"status": ["open", "pending"]}}
        assert 201 == team.client.post("/api/v1/saved-views", json=body, headers=h).status_code
        login(team.client, "agent@team.example.org")
        link = re.search(
            r'<a href="([^"]+)"[^>]*>In progress</a>', team.client.get("/tickets").text
        )
        assert link is not None
        shown = team.client.get(link.group(1).replace("&amp;", "&"))
        listed = {int(x) for x in re.findall(r'data-ticket="(\d+)"', shown.text)}
        assert {opened, waiting} == listed and fresh not in listed
        status_field = re.search(r'<select id="status".*?</select>', shown.text, re.S)
        assert status_field is not None
        selected = re.findall(r'<option value="([^"]*)" selected>', status_field.group(0))
        assert ["open,pending"] == selected
        assert 'aria-current="page">In progress' in shown.text
        # The form submitted as the browser sends it: every field, the status as shown.
        again = team.client.get("/tickets", params={"status": "open,pending", "priority": "high"})
        assert [opened] == [int(x) for x in re.findall(r'data-ticket="(\d+)"', again.text)]
        status_field = re.search(r'<select id="status".*?</select>', again.text, re.S)
        assert status_field is not None
        assert ["open,pending"] == re.findall(
            r'<option value="([^"]*)" selected>', status_field.group(0)
        )
        bad = team.client.get("/tickets", params={"status": "open,sleeping"})
        assert bad.status_code == 200 and "sleeping" in bad.text  # the one-line error shown

    def test_a_blank_name_is_refused(self, team: Team) -> None:
        desk(team)
        csrf = login(team.client, "agent@team.example.org")
        r = team.client.post("/tickets/views", data={"csrf_token": csrf, "title": "  "})
        assert r.status_code == 422 and "needs a title" in r.text


class TestSavedViewsApiAndCli:
    def test_api(self, team: Team) -> None:
        cid = desk(team)
        mine = _open(team, cid, assignee="agent")
        _open(team, cid)
        h = team["agent"].headers
        body = {"title": "Mine by due", "query": {"view": "mine", "sort": "due"}}
        r = team.client.post("/api/v1/saved-views", json=body, headers=h)
        assert r.status_code == 201, r.text
        vid = r.json()["id"]
        r = team.client.get("/api/v1/tickets", params={"saved_view": vid}, headers=h)
        assert [mine] == [t["id"] for t in r.json()["items"]]
        bad = {"title": "x", "query": {"colour": "red"}}
        r = team.client.post("/api/v1/saved-views", json=bad, headers=h)
        assert r.status_code == 422 and "colour" in r.json()["detail"]
        bad = {"title": "x", "query": {"sort": "shoe size"}}
        assert 422 == team.client.post("/api/v1/saved-views", json=bad, headers=h).status_code
        other = team["agent2"].headers
        assert 404 == team.client.get(f"/api/v1/saved-views/{vid}", headers=other).status_code
        r = team.client.get("/api/v1/tickets", params={"saved_view": vid}, headers=other)
        assert r.status_code == 404
        r = team.client.patch(f"/api/v1/saved-views/{vid}", json={"title": "Mine"}, headers=h)
        assert r.status_code == 200 and "Mine" == r.json()["title"]
        assert 200 == team.client.delete(f"/api/v1/saved-views/{vid}", headers=h).status_code

    def test_cli(self, team: Team, db_url: str) -> None:
        cid = desk(team)
        urgent = _open(team, cid, priority="urgent")
        runner = CliRunner()
        base = ["--db", db_url]
        r = runner.invoke(app, [*base, "views", "add", "Urgent", "--priority", "urgent",
                                "--shared", "--json"])  # fmt: skip
        assert r.exit_code == 0, r.stderr
        import json

        vid = json.loads(r.stdout)["id"]
        r = runner.invoke(app, [*base, "tickets", "list", "--saved-view", str(vid), "--json"])
        assert [urgent] == [t["id"] for t in json.loads(r.stdout)]
        r = runner.invoke(app, [*base, "views", "add", "Bad", "--sort", "shoe", "--shared"])
        assert r.exit_code == 1 and "sort" in r.stderr and "Traceback" not in r.stderr
        assert 0 == runner.invoke(app, [*base, "views", "delete", str(vid)]).exit_code
