"""The ticket pages in-process, on SQLite and PostgreSQL: the queue and its filters (whole page
and HTMX fragment), the ticket page (SLA, comments, allowed status buttons), the forms without
JavaScript with their inline errors and CSRF, the customer page's tickets, and a bad calendar
file that breaks the ticket pages only."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import CommentCreate, TicketCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

from .conftest import PASSWORD, Team, login
from .tickets_web_support import EXAMPLES, desk


def _open(team: Team, cid: int, **values: object) -> int:
    new = {"customer_id": cid, "type": "question", "subject": "Printer jam", **values}
    return team.hub.open_ticket(TicketCreate.model_validate(new)).id


def _rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<a href="/tickets/(\d+)">', html)]


class TestQueuePage:
    def test_filters_narrow_the_queue_and_htmx_gets_the_results_only(self, team: Team) -> None:
        cid = desk(team)
        a = _open(team, cid, subject="Printer jam", assignee="agent2")
        b = _open(team, cid, type="complaint", subject="Rude")
        c = _open(team, cid, subject="Old")
        team.hub.close_ticket(c)
        login(team.client, "viewer@team.example.org")
        get = team.client.get
        page = get("/tickets")
        assert page.status_code == 200 and _rows(page.text) == [a, b]
        assert '<label for="status">Status</label>' in page.text
        assert _rows(get("/tickets", params={"status": "all"}).text) == [a, b, c]
        assert _rows(get("/tickets", params={"status": "closed"}).text) == [c]
        assert _rows(get("/tickets", params={"type": "complaint"}).text) == [b]
        assert _rows(get("/tickets", params={"priority": "urgent"}).text) == [b]
        assert _rows(get("/tickets", params={"assignee": "agent2"}).text) == [a]
        assert _rows(get("/tickets", params={"assignee": "-"}).text) == [b]
        assert _rows(get("/tickets", params={"sla": "on_track"}).text) == [a, b]
        assert _rows(get("/tickets", params={"search": "printer"}).text) == [a]
        assert _rows(get("/tickets", params={"customer_id": str(cid)}).text) == [a, b]
        fragment = get("/tickets", params={"search": "rude"}, headers={"HX-Target": "results"})
        assert _rows(fragment.text) == [b] and "<html" not in fragment.text

    def test_bad_filter_is_named_and_the_queue_still_shows(self, team: Team) -> None:
        cid = desk(team)
        a = _open(team, cid)
        login(team.client, "agent@team.example.org")
        page = team.client.get("/tickets", params={"status": "sleeping"})
        assert page.status_code == 200 and 'role="alert"' in page.text
        assert _rows(page.text) == [a]

    def test_paging_follows_the_next_link(self, team: Team) -> None:
        cid = desk(team)
        made = [_open(team, cid, subject=f"T{i}") for i in range(27)]
        login(team.client, "agent@team.example.org")
        first = team.client.get("/tickets")
        link = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert link is not None
        second = team.client.get(link.group(1).replace("&amp;", "&"))
        assert _rows(first.text) + _rows(second.text) == made


class TestTicketPage:
    def test_shows_sla_due_times_comments_and_only_allowed_moves(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        team.hub.add_comment(tid, CommentCreate(body="Public hello"))
        team.hub.add_comment(tid, CommentCreate(body="Team secret", public=False))
        ticket = team.hub.get_ticket(tid)
        login(team.client, "agent@team.example.org")
        html = team.client.get(f"/tickets/{tid}").text
        due = ticket.sla.resolution.due_at
        assert due is not None and due.strftime("%Y-%m-%d %H:%M") in html
        assert 'class="comment public"' in html and 'class="comment internal"' in html
        assert "Internal note" in html and "Team secret" in html
        moves = re.findall(r'name="status" value="(\w+)"', html)
        assert moves == ["pending", "resolved", "closed"]  # the ticket is open after the reply
        team.hub.close_ticket(tid)
        html = team.client.get(f"/tickets/{tid}").text
        assert re.findall(r'name="status" value="(\w+)"', html) == ["open"]
        assert ">Reopen</button>" in html

    def test_comment_status_and_assign_forms_work_without_javascript(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        csrf = login(team.client, "agent@team.example.org")
        post = team.client.post
        r = post(
            f"/tickets/{tid}/comments",
            data={"body": "A note", "visibility": "internal", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
        [note] = team.hub.list_comments(tid)
        assert (note.body, note.public, note.author) == ("A note", False, "agent@team.example.org")
        r = post(f"/tickets/{tid}/status", data={"status": "pending", "csrf_token": csrf})
        assert r.status_code == 200 and team.hub.get_ticket(tid).status == "pending"
        post(f"/tickets/{tid}/assign", data={"assignee": "agent2", "csrf_token": csrf})
        assert team.hub.get_ticket(tid).assignee == "agent2@team.example.org"
        r = post(f"/tickets/{tid}/status", data={"status": "new", "csrf_token": csrf})
        assert r.status_code == 409 and "cannot go from pending to new" in r.text

    def test_empty_comment_is_an_inline_error(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        csrf = login(team.client, "agent@team.example.org")
        r = team.client.post(f"/tickets/{tid}/comments", data={"body": "  ", "csrf_token": csrf})
        assert r.status_code == 422 and 'id="comment-error"' in r.text
        assert team.hub.list_comments(tid) == []

    def test_posts_without_the_csrf_token_are_refused(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        login(team.client, "agent@team.example.org")
        for path, data in [
            (f"/tickets/{tid}/comments", {"body": "x"}),
            (f"/tickets/{tid}/status", {"status": "closed"}),
            (f"/tickets/{tid}/assign", {"assignee": "x"}),
            (f"/tickets/{tid}/edit", {"subject": "Changed"}),
            ("/tickets/new", {"customer_id": str(cid), "type": "question", "subject": "x"}),
        ]:
            assert team.client.post(path, data=data).status_code == 403, path
        assert team.hub.list_comments(tid) == []
        assert team.hub.get_ticket(tid).status == "new"
        assert team.hub.get_ticket(tid).subject == "Printer jam"
        assert len(team.hub.list_tickets().items) == 1

    def test_viewer_sees_no_forms_and_cannot_post(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        csrf = login(team.client, "viewer@team.example.org")
        html = team.client.get(f"/tickets/{tid}").text
        assert f'action="/tickets/{tid}/comments"' not in html
        assert 'name="status"' not in html
        r = team.client.post(f"/tickets/{tid}/comments", data={"body": "x", "csrf_token": csrf})
        assert r.status_code == 403 and team.hub.list_comments(tid) == []


class TestOpenTicketForm:
    def test_from_the_customer_page_to_a_new_ticket(self, team: Team) -> None:
        """The customer page lists their tickets and links to the form with their ID filled."""
        cid = desk(team)
        older = _open(team, cid, subject="Older one")
        csrf = login(team.client, "agent@team.example.org")
        page = team.client.get(f"/customers/{cid}").text
        assert "Tickets appear here once" not in page
        assert f'href="/tickets/{older}">Older one</a>' in page
        assert f'href="/tickets/new?customer_id={cid}"' in page
        form = team.client.get("/tickets/new", params={"customer_id": cid}).text
        assert f'name="customer_id" value="{cid}" checked' in form
        r = team.client.post(
            "/tickets/new",
            data={
                "customer_id": str(cid),
                "type": "billing",
                "subject": "Charged twice",
                "description": "Twice!",
                "priority": "high",
                "tags": "refund, Card",
                "assignee": "",
                "fields.invoice_number": "INV-7",
                "fields.amount": "12.5",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        tid = int(r.headers["location"].rsplit("/", 1)[1])
        t = team.hub.get_ticket(tid)
        assert (t.subject, t.priority, t.tags, t.customer_id) == (
            "Charged twice",
            "high",
            ["refund", "card"],
            cid,
        )
        assert t.fields == {"invoice_number": "INV-7", "amount": 12.5}
        page = team.client.get(f"/customers/{cid}").text
        assert f'href="/tickets/{tid}">Charged twice</a>' in page

    def test_missing_required_field_of_the_type_is_an_inline_error(self, team: Team) -> None:
        cid = desk(team)
        csrf = login(team.client, "agent@team.example.org")
        data = {"customer_id": str(cid), "type": "bug_report", "subject": "Crash"}
        r = team.client.post("/tickets/new", data={**data, "csrf_token": csrf})
        assert r.status_code == 422
        assert 'aria-invalid="true"' in r.text and "required for type bug_report" in r.text
        assert 'value="Crash"' in r.text  # what was typed stays
        r = team.client.post("/tickets/new", data={**data, "subject": " ", "csrf_token": csrf})
        assert r.status_code == 422 and 'id="subject-error"' in r.text
        r = team.client.post(
            "/tickets/new", data={**data, "customer_id": "abc", "csrf_token": csrf}
        )
        assert r.status_code == 422 and 'id="customer_id-error"' in r.text
        assert team.hub.list_tickets().items == []

    def test_type_fields_fragment_for_htmx(self, team: Team) -> None:
        desk(team)
        login(team.client, "agent@team.example.org")
        r = team.client.get(
            "/tickets/new", params={"type": "technical_issue"}, headers={"HX-Target": "type-fields"}
        )
        assert "<html" not in r.text and 'name="fields.product"' in r.text
        assert '<option value="api"' in r.text


class TestBadCalendar:
    def test_customer_pages_work_and_ticket_pages_report_the_calendar(
        self, db_url: str, tmp_path: Path
    ) -> None:
        """A calendar file that is not JSON: the app starts, customers work, tickets say why."""
        bad = tmp_path / "calendar.json"
        bad.write_text("{not json", encoding="utf-8")
        settings = Settings(
            database_url=db_url,
            actor="tester",
            calendar_file=bad,
            password_memory_kib=19456,
            password_time_cost=2,
        )
        with Hub(settings) as hub:
            hub.load_ticket_types(EXAMPLES / "ticket_types.json")
            hub.add_user(UserCreate(email="a@team.example.org", role="agent", password=PASSWORD))
            cid = hub.add_customer(CustomerCreate(name="Still Here")).id
            app = create_app(hub=hub)
            assert app.state.sla_problem and "calendar.json" in app.state.sla_problem
            client = TestClient(app)
            login(client, "a@team.example.org")
            assert client.get("/customers").status_code == 200
            page = client.get(f"/customers/{cid}")
            assert page.status_code == 200 and "Still Here" in page.text
            assert "SLA calendar could not be read" in page.text
            for path in ("/tickets", "/tickets/1", "/tickets/new"):
                r = client.get(path)
                assert r.status_code == 503 and "calendar.json" in r.text, path
            # The API: customers answer; tickets are a problem naming the calendar.
            token = hub.create_token("t", user_id=hub.find_user("a@team.example.org").id).token
            h = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/customers", headers=h).status_code == 200
            r = client.get("/api/v1/tickets", headers=h)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert (r.status_code, r.json()["code"]) == (422, "calendar_invalid")


class TestSlaPolicyIsShared:
    def test_requests_reuse_the_policy_read_at_start_up(self, team: Team) -> None:
        desk(team)
        create_app(hub=team.hub)
        policy = team.hub._sla_policy
        assert policy is not None
        agent = team.hub.for_user(team["agent"].user)
        assert agent.sla_policy is policy


class TestEditTicketForm:
    def test_edit_changes_content_and_keeps_what_was_not_touched(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid, type="billing", subject="Old", fields={"invoice_number": "INV-1"})
        csrf = login(team.client, "agent@team.example.org")
        form = team.client.get(f"/tickets/{tid}/edit").text
        assert 'value="INV-1"' in form and 'value="Old"' in form
        r = team.client.post(
            f"/tickets/{tid}/edit",
            data={
                "subject": "New subject",
                "description": "More",
                "priority": "urgent",
                "tags": "a, b",
                "fields.invoice_number": "INV-2",
                "fields.amount": "",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        t = team.hub.get_ticket(tid)
        assert (t.subject, t.description, t.priority, t.tags) == (
            "New subject",
            "More",
            "urgent",
            ["a", "b"],
        )
        assert t.fields == {"invoice_number": "INV-2"}

    def test_bad_values_come_back_inline_and_change_nothing(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid, type="technical_issue", fields={"product": "api"})
        csrf = login(team.client, "agent@team.example.org")
        data = {"subject": "S", "priority": "low", "tags": "", "csrf_token": csrf}
        r = team.client.post(f"/tickets/{tid}/edit", data={**data, "fields.product": "fax"})
        assert r.status_code == 422 and 'aria-invalid="true"' in r.text
        r = team.client.post(f"/tickets/{tid}/edit", data={**data, "subject": ""})
        assert r.status_code == 422 and 'id="subject-error"' in r.text
        t = team.hub.get_ticket(tid)
        assert (t.subject, t.priority, t.fields) == ("Printer jam", "high", {"product": "api"})

    def test_take_it_assigns_the_ticket_to_me(self, team: Team) -> None:
        cid = desk(team)
        tid = _open(team, cid)
        login(team.client, "agent@team.example.org")
        page = team.client.get(f"/tickets/{tid}").text
        found = re.search(
            r'name="csrf_token" value="([^"]+)">\s*<input type="hidden" name="assignee" '
            r'value="agent@team.example.org">',
            page,
        )
        assert found is not None
        team.client.post(
            f"/tickets/{tid}/assign",
            data={"assignee": "agent@team.example.org", "csrf_token": found.group(1)},
        )
        assert team.hub.get_ticket(tid).assignee == "agent@team.example.org"
        assert ">Take it</button>" not in team.client.get(f"/tickets/{tid}").text
