"""Teams and assignment through the API and the ticket page (issue 17): an assignee is an
active agent, a refusal is RFC 9457 problem JSON (or a message by the form) and changes
nothing, and teams are an admin's to change."""

from __future__ import annotations

import re

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.teams.models import TeamCreate
from customer_flow.tickets.models import TicketCreate

from .conftest import Team, login
from .tickets_web_support import desk


def _ticket(team: Team) -> int:
    cid = desk(team)
    return team.hub.open_ticket(
        TicketCreate(customer_id=cid, type="question", subject="Help", assignee="agent")
    ).id


class TestAssignmentApi:
    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"assignee": "viewer@team.example.org"}, "assignee_not_agent"),
            ({"assignee": "anna@team.pt"}, "assignee_unknown"),
            ({"team": "empty"}, "team_has_no_agents"),
            ({"team": "nope"}, "team_unknown"),
            ({"assignee": "admin", "team": "desk"}, "assignee_not_in_team"),
        ],
    )
    def test_refusals_are_problem_json_and_change_nothing(
        self, team: Team, body: dict[str, str], code: str
    ) -> None:
        """A viewer, a stranger, a team with no agents, an unknown team, an agent outside
        the team: 422 with the code, and the ticket keeps its agent."""
        tid = _ticket(team)
        team.hub.add_team(TeamCreate(key="empty"))
        team.hub.add_team(TeamCreate(key="desk"))
        team.hub.add_team_member("desk", "agent2")
        r = team.client.put(
            f"/api/v1/tickets/{tid}/assignee", json=body, headers=team["agent"].headers
        )
        assert (422, code) == (r.status_code, r.json()["code"])
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "agent@team.example.org" == team.hub.get_ticket(tid).assignee

    def test_a_disabled_agent_is_refused(self, team: Team) -> None:
        tid = _ticket(team)
        team.hub.disable_user(team["agent2"].user.id)
        r = team.client.put(
            f"/api/v1/tickets/{tid}/assignee",
            json={"assignee": "agent2@team.example.org"},
            headers=team["agent"].headers,
        )
        assert (422, "assignee_disabled") == (r.status_code, r.json()["code"])
        assert "agent2@team.example.org is disabled" in r.json()["detail"]

    def test_a_team_alone_gives_the_ticket_to_its_next_agent(self, team: Team) -> None:
        tid = _ticket(team)
        h = team["admin"].headers
        assert 201 == team.client.post("/api/v1/teams", json={"key": "desk"}, headers=h).status_code
        r = team.client.post("/api/v1/teams/desk/members", json={"agent": "agent2"}, headers=h)
        assert ["agent2@team.example.org"] == [m["key"] for m in r.json()["members"]]
        r = team.client.put(f"/api/v1/tickets/{tid}/assignee", json={"team": "desk"}, headers=h)
        assert ("agent2@team.example.org", "desk") == (r.json()["assignee"], r.json()["team"])
        listed = team.client.get("/api/v1/tickets", params={"team": "desk"}, headers=h).json()
        assert [tid] == [t["id"] for t in listed["items"]]


class TestTeamsApi:
    def test_admin_manages_teams_others_read_them(self, team: Team) -> None:
        c, admin, agent = team.client, team["admin"].headers, team["agent"].headers
        r = c.post("/api/v1/teams", json={"key": "billing", "name": "Billing"}, headers=agent)
        assert 403 == r.status_code
        r = c.post("/api/v1/teams", json={"key": "billing", "name": "Billing"}, headers=admin)
        assert (201, "round_robin") == (r.status_code, r.json()["assignment"])
        assert 409 == c.post("/api/v1/teams", json={"key": "billing"}, headers=admin).status_code
        r = c.patch("/api/v1/teams/billing", json={"assignment": "none"}, headers=admin)
        assert "none" == r.json()["assignment"]
        c.post("/api/v1/teams/billing/members", json={"agent": "agent"}, headers=admin)
        r = c.delete("/api/v1/teams/billing/members/agent@team.example.org", headers=admin)
        assert [] == r.json()["members"]
        r = c.delete("/api/v1/teams/billing/members/agent@team.example.org", headers=admin)
        assert (404, "member_not_found") == (r.status_code, r.json()["code"])
        assert ["billing"] == [t["key"] for t in c.get("/api/v1/teams", headers=agent).json()]
        agents = c.get("/api/v1/agents", headers=team["viewer"].headers).json()
        assert ["admin", "agent", "agent2"] == [a["name"] for a in agents]
        r = c.post(
            "/api/v1/teams/billing/members",
            json={"agent": "viewer@team.example.org"},
            headers=admin,
        )
        assert (422, "assignee_not_agent") == (r.status_code, r.json()["code"])
        assert 404 == c.get("/api/v1/teams/nope", headers=agent).status_code

    def test_unmatched_assignees_is_listed(self, team: Team) -> None:
        r = team.client.get("/api/v1/agents/unmatched-assignees", headers=team["agent"].headers)
        assert (200, []) == (r.status_code, r.json())


class TestAssignForm:
    def test_the_form_offers_agents_and_teams_and_names_a_refusal(self, team: Team) -> None:
        """The select lists active agents only; a team with no agents is refused next to the
        form (422), and a good choice redirects."""
        tid = _ticket(team)
        team.hub.add_team(TeamCreate(key="empty", name="Empty desk"))
        csrf = login(team.client, "agent@team.example.org")
        page = team.client.get(f"/tickets/{tid}").text
        options = re.findall(r'<option value="([^"]*)"', page.split('id="assign-to"')[1])
        assert "agent2@team.example.org" in options and "viewer@team.example.org" not in options
        assert "Empty desk" in page
        r = team.client.post(f"/tickets/{tid}/assign", data={"team": "empty", "csrf_token": csrf})
        assert 422 == r.status_code
        assert "team &#39;empty&#39; has no active agents" in r.text
        assert 'id="assign-error"' in r.text
        r = team.client.post(
            f"/tickets/{tid}/assign",
            data={"assignee": "agent2@team.example.org", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert 303 == r.status_code
        assert "agent2@team.example.org" == team.hub.get_ticket(tid).assignee

    def test_the_new_ticket_form_takes_an_agent_and_a_team(self, team: Team) -> None:
        cid = desk(team)
        team.hub.add_team(TeamCreate(key="desk", assignment="none"))
        team.hub.add_team_member("desk", "agent2")
        csrf = login(team.client, "agent@team.example.org")
        assert 'name="team"' in team.client.get("/tickets/new").text
        data = {"customer_id": str(cid), "type": "question", "subject": "S", "team": "desk"}
        r = team.client.post(
            "/tickets/new", data={**data, "csrf_token": csrf}, follow_redirects=False
        )
        assert 303 == r.status_code
        tid = int(r.headers["location"].rsplit("/", 1)[1])
        assert ("desk", None) == (team.hub.get_ticket(tid).team, team.hub.get_ticket(tid).assignee)
        r = team.client.post(
            "/tickets/new",
            data={**data, "assignee": "viewer@team.example.org", "csrf_token": csrf},
        )
        assert 422 == r.status_code and 'id="assignee-error"' in r.text


class TestQueueViewsApi:
    def test_view_mine_is_the_callers(self, team: Team) -> None:
        """``view=mine`` lists the calling user's tickets; the items name their customer and
        the next due target."""
        tid = _ticket(team)  # assigned to agent@team.example.org
        for who, expected in (("agent", [tid]), ("agent2", [])):
            r = team.client.get(
                "/api/v1/tickets", params={"view": "mine"}, headers=team[who].headers
            )
            assert expected == [t["id"] for t in r.json()["items"]]
        [item] = team.client.get("/api/v1/tickets", headers=team["agent"].headers).json()["items"]
        assert ("Ticket Customer", "first_response") == (
            item["customer_name"],
            item["sla"]["next_due"],
        )


class TestCustomerBesideTheTicket:
    def test_the_ticket_page_shows_the_customer_and_their_tickets(self, team: Team) -> None:
        """Name, email and phone with links; the other open tickets; the recently closed."""
        cid = team.hub.add_customer(
            CustomerCreate(name="Rita Pires", email="rita@pires.pt", phone="+351912345678")
        ).id
        desk(team)

        def opened(subject: str) -> int:
            new = TicketCreate(customer_id=cid, type="question", subject=subject)
            return team.hub.open_ticket(new).id

        this, other, done = opened("This one"), opened("Other open"), opened("Done before")
        team.hub.close_ticket(done)
        login(team.client, "viewer@team.example.org")
        page = team.client.get(f"/tickets/{this}").text
        card = page.split('class="card customer-card"')[1].split("</aside>")[0]
        assert f'<a href="/customers/{cid}">Rita Pires</a>' in card
        assert 'href="mailto:rita@pires.pt"' in card and 'href="tel:+351912345678"' in card
        opens, recent = card.split("Recently resolved or closed")
        assert f'href="/tickets/{other}">Other open</a>' in opens
        assert f'href="/tickets/{this}"' not in card
        assert f'href="/tickets/{done}">Done before</a>' in recent


class TestCustomerSearchInTheNewTicketForm:
    def test_find_by_name_email_or_phone_then_open(self, team: Team) -> None:
        """The search fragment lists matches as choices; the form without JavaScript finds
        them too; the chosen one gets the ticket; no choice is an inline error."""
        desk(team)
        cid = team.hub.add_customer(
            CustomerCreate(name="Rita Pires", email="rita@pires.pt", phone="+351912345678")
        ).id
        team.hub.add_customer(CustomerCreate(name="Rui Costa", email="rui@costa.pt"))
        csrf = login(team.client, "agent@team.example.org")
        for text in ("rita", "PIRES.pt", "912345678"):
            r = team.client.get("/tickets/new/customers", params={"customer_q": text})
            assert [str(cid)] == re.findall(r'name="customer_id" value="(\d+)"', r.text), text
            assert "<html" not in r.text
        r = team.client.get("/tickets/new/customers", params={"customer_q": "zzz"})
        assert "No customer matches zzz." in r.text
        form = team.client.get("/tickets/new", params={"customer_q": "rita"}).text
        assert f'name="customer_id" value="{cid}" checked' in form
        data = {"type": "question", "subject": "Help", "csrf_token": csrf}
        r = team.client.post("/tickets/new", data={**data, "customer_q": "r"})
        assert 422 == r.status_code and "choose the customer" in r.text
        r = team.client.post(
            "/tickets/new", data={**data, "customer_id": str(cid)}, follow_redirects=False
        )
        assert 303 == r.status_code
        assert [cid] == [t.customer_id for t in team.hub.list_tickets().items]
