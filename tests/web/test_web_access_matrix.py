"""Route × role × (own object or someone else's): every cell of the API's access matrix.

"Own" and "other" mean what the object's owner is:
- users and tokens belong to a user: "own" is the caller's account or token, "other" another
  user's. A user may see themself, change their own password and manage their own tokens;
  an admin may do it for anyone, and alone may list, add and disable users.
- tickets belong to the team too: "own" is a ticket the caller opened (a viewer cannot open
  one, so an admin opens it for them) and that is assigned to the caller (a viewer cannot
  work tickets, so theirs is unassigned); "other" one another agent opened and holds.
  Again the role alone decides, and both columns must agree.
- teams and agents belong to the team: everyone reads them, an admin alone changes teams.
- imports belong to the team: "own" is a batch the caller imported (a viewer's by an admin),
  "other" one another agent imported; the role alone decides. A preview's staged upload
  belongs to its uploader: only they may read its rejects (anyone else gets 404).
- customers and ticket types belong to the team, not to a user: "own" is a customer the caller
  created, "other" one another agent created. The role alone decides, so both columns agree:
  that they do is what these cells check (no hidden per-creator rule, no leak either way).
Expected outcome per cell: "ok" (2xx) or the status of the refusal.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.teams.models import TeamCreate
from customer_flow.tickets.models import TicketCreate
from customer_flow.web import uploads

from .conftest import PASSWORD, Team
from .tickets_web_support import EXAMPLES

ALL = {"admin", "agent", "viewer"}
WRITERS = {"admin", "agent"}
ADMIN = {"admin"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {id}: filled with the own or the other object's ID
    body: Any
    own: set[str]  # roles allowed on their own object
    other: set[str]  # roles allowed on someone else's
    target: str  # which object {id} names: customer, trash, ticket, closed, user, token or none
    refused: int = 403  # the status of a refusal in this route
    upload: bool = False  # send a CSV file as multipart instead of a JSON body


ROUTES = [
    Route("GET", "/api/v1/customers", None, ALL, ALL, "none"),
    Route("POST", "/api/v1/customers", {"name": "New"}, WRITERS, WRITERS, "none"),
    Route("GET", "/api/v1/customers/{id}", None, ALL, ALL, "customer"),
    Route("PATCH", "/api/v1/customers/{id}", {"name": "Changed"}, WRITERS, WRITERS, "customer"),
    Route("DELETE", "/api/v1/customers/{id}", None, WRITERS, WRITERS, "customer"),
    Route("POST", "/api/v1/customers/{id}/restore", None, WRITERS, WRITERS, "trash"),
    Route("POST", "/api/v1/customers/{id}/purge", None, ADMIN, ADMIN, "trash"),
    Route("GET", "/api/v1/customers/{id}/history", None, ALL, ALL, "customer"),
    Route("GET", "/api/v1/ticket-types", None, ALL, ALL, "none"),
    Route("PUT", "/api/v1/ticket-types", {"question": "Question"}, ADMIN, ADMIN, "none"),
    Route("GET", "/api/v1/exports/customers?format=csv", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/users", None, ADMIN, ADMIN, "none"),
    Route(
        "POST",
        "/api/v1/users",
        {"email": "n@team.example.org", "password": "long enough", "role": "viewer"},
        ADMIN,
        ADMIN,
        "none",
    ),
    Route("GET", "/api/v1/users/me", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/users/{id}", None, ALL, ADMIN, "user"),
    Route(
        "PUT",
        "/api/v1/users/{id}/password",
        {"password": "a new secret", "current_password": PASSWORD},
        ALL,
        ADMIN,
        "user",
    ),
    Route("POST", "/api/v1/users/{id}/disable", None, ADMIN, ADMIN, "user"),
    Route("GET", "/api/v1/tokens?user_id={id}", None, ALL, ADMIN, "user"),
    Route("POST", "/api/v1/tokens", {"name": "for {id}", "user_id": "{id}"}, ALL, ADMIN, "user"),
    # Someone else's token is not theirs to know about: 404, not 403.
    Route("DELETE", "/api/v1/tokens/{id}", None, ALL, ADMIN, "token", refused=404),
    # -- tickets ({id} of the POST is the customer the ticket is for)
    Route("GET", "/api/v1/tickets", None, ALL, ALL, "none"),
    Route(
        "POST",
        "/api/v1/tickets",
        {"customer_id": "{id}", "type": "question", "subject": "Help"},
        WRITERS,
        WRITERS,
        "customer",
    ),
    Route("GET", "/api/v1/tickets/{id}", None, ALL, ALL, "ticket"),
    Route("PATCH", "/api/v1/tickets/{id}", {"priority": "high"}, WRITERS, WRITERS, "ticket"),
    Route(
        "PUT",
        "/api/v1/tickets/{id}/assignee",
        {"assignee": "agent2@team.example.org"},
        WRITERS,
        WRITERS,
        "ticket",
    ),
    Route("GET", "/api/v1/agents/unmatched-assignees", None, ALL, ALL, "none"),
    Route("POST", "/api/v1/tickets/{id}/status", {"status": "pending"}, WRITERS, WRITERS, "ticket"),
    Route("POST", "/api/v1/tickets/{id}/close", None, WRITERS, WRITERS, "ticket"),
    Route("POST", "/api/v1/tickets/{id}/reopen", None, WRITERS, WRITERS, "closed"),
    Route("GET", "/api/v1/tickets/{id}/comments", None, ALL, ALL, "ticket"),
    Route("POST", "/api/v1/tickets/{id}/comments", {"body": "Hi"}, WRITERS, WRITERS, "ticket"),
    Route("GET", "/api/v1/tickets/{id}/history", None, ALL, ALL, "ticket"),
    Route("GET", "/api/v1/tickets/{id}/attachments", None, ALL, ALL, "ticket"),
    Route("GET", "/api/v1/mail/accounts", None, ADMIN, ADMIN, "none"),
    Route("GET", "/api/v1/mail/inbound", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/mail/outbox", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/mail/notifications/{id}", None, ALL, ADMIN, "user"),
    Route("PUT", "/api/v1/mail/notifications/{id}", {"new_ticket": True}, ALL, ADMIN, "user"),
    Route("POST", "/api/v1/tickets/{id}/purge", None, ADMIN, ADMIN, "closed"),
    # -- teams and agents ({id}: a team made for the cell)
    Route("GET", "/api/v1/agents", None, ALL, ALL, "none"),
    Route("GET", "/api/v1/teams", None, ALL, ALL, "none"),
    Route("POST", "/api/v1/teams", {"key": "t"}, ADMIN, ADMIN, "none"),
    Route("GET", "/api/v1/teams/{id}", None, ALL, ALL, "team"),
    Route("PATCH", "/api/v1/teams/{id}", {"assignment": "none"}, ADMIN, ADMIN, "team"),
    Route(
        "POST",
        "/api/v1/teams/{id}/members",
        {"agent": "agent@team.example.org"},
        ADMIN,
        ADMIN,
        "team",
    ),
    Route(
        "DELETE", "/api/v1/teams/{id}/members/agent2@team.example.org", None, ADMIN, ADMIN, "team"
    ),
    # -- imports ({id}: a batch made through the API, or a preview's upload token)
    Route("GET", "/api/v1/imports", None, ALL, ALL, "none"),
    Route("POST", "/api/v1/imports/preview", None, WRITERS, WRITERS, "none", upload=True),
    Route("POST", "/api/v1/imports", None, WRITERS, WRITERS, "none", upload=True),
    Route("GET", "/api/v1/imports/{id}", None, ALL, ALL, "batch"),
    Route("GET", "/api/v1/imports/{id}/rejects", None, ALL, ALL, "batch"),
    Route("POST", "/api/v1/imports/{id}/revert", None, WRITERS, WRITERS, "batch"),
    Route("GET", "/api/v1/imports/previews/{id}/rejects", None, ALL, set(), "preview", 404),
]

IMPORT_CSV = "Name,Email\nRow {n},row{n}@example.com\nBad,not-an-email\n"


_rows = itertools.count(1)


def _csv() -> dict[str, tuple[str, bytes, str]]:
    body = IMPORT_CSV.format(n=next(_rows)).encode()
    return {"file": ("cell.csv", body, "text/csv")}


def _fill(value: Any, object_id: int | str) -> Any:
    if isinstance(value, str):
        return object_id if value == "{id}" else value.replace("{id}", str(object_id))
    if isinstance(value, dict):
        return {k: _fill(v, object_id) for k, v in value.items()}
    return value


def _target(team: Team, route: Route, role: str, whose: str) -> int:
    """A fresh object for the cell: the caller's own, or another user's."""
    me = team[role]
    # For an admin, "other" is the agent; for everyone else, another person than themself.
    other = team["agent2"] if role != "agent2" else team["agent"]
    owner = me if whose == "own" else other
    hub = team.hub.for_user(owner.user)
    if route.path.startswith("/api/v1/tickets") and not team.hub.list_ticket_types():
        team.hub.load_ticket_types(EXAMPLES / "ticket_types.json")
    if route.target in ("ticket", "closed"):
        # Opened by the owner and assigned to them (a viewer's is opened by an admin).
        maker = hub if owner.user.role != "viewer" else team.hub
        customer = team.hub.add_customer(CustomerCreate(name=f"{whose} of {role}"))
        new = TicketCreate(
            customer_id=customer.id,
            type="question",
            subject=f"{whose} of {role}",
            assignee=owner.user.email if owner.user.role != "viewer" else None,
        )
        ticket = maker.open_ticket(new)
        if route.target == "closed":
            maker.close_ticket(ticket.id)
        return ticket.id
    if route.target in ("customer", "trash"):
        # Created by the owner (agents and admins can; a viewer's "own" is made by an admin
        # for them, since they cannot create: customers are the team's either way).
        maker = hub if owner.user.role != "viewer" else team.hub
        c = maker.add_customer(CustomerCreate(name=f"{whose} of {role}"))
        if route.target == "trash":
            maker.delete_customer(c.id)
        return c.id
    if route.target == "batch":
        # Imported through the API by the owner (a viewer's by an admin), with one reject.
        maker = owner if owner.user.role != "viewer" else team["admin"]
        r = team.client.post("/api/v1/imports", files=_csv(), headers=maker.headers)
        assert 201 == r.status_code, r.text
        return int(r.json()["batch_id"])
    if route.target == "preview":
        # Staged for the owner (as a viewer's would be from before a change of role).
        base = uploads.root_of(team.client.app)  # type: ignore[arg-type]
        staged = uploads.stage(base, io.BytesIO(b"x"), "p.csv", owner.user.id)
        staged.preview_rejects.write_text("row,column,code,message\n", encoding="utf-8")
        return staged.token  # type: ignore[return-value]
    if route.target == "team":
        key = f"team-{next(_rows)}"
        team.hub.add_team(TeamCreate(key=key))
        team.hub.add_team_member(key, "agent2@team.example.org")
        return key  # type: ignore[return-value]
    if route.target == "user":
        return owner.user.id
    if route.target == "token":
        return team.hub.create_token("cell", user_id=owner.user.id).id
    return 0


@pytest.mark.parametrize(
    "route", ROUTES, ids=[f"{r.method} {r.path.split('?')[0]}" for r in ROUTES]
)
class TestAccessMatrix:
    def test_every_role_and_owner_gets_the_expected_answer(self, team: Team, route: Route) -> None:
        """Six cells per route: admin, agent and viewer, each on their own object and on
        someone else's. Each cell runs on fresh objects; every wrong cell is listed."""
        wrong: list[str] = []
        for role in sorted(ALL):
            # "other" first: an admin disabling their own account must not end the other cell.
            for whose in ("other", "own"):
                allowed = role in (route.own if whose == "own" else route.other)
                object_id = _target(team, route, role, whose)
                if route.path == "/api/v1/users/{id}/disable" and allowed and whose == "own":
                    team.add(f"spare-admin-{role}", "admin")  # never the last admin
                path = _fill(route.path, object_id)
                body = _fill(route.body, object_id)
                if route.path == "/api/v1/users" and route.method == "POST":
                    body = {**body, "email": f"n-{role}-{whose}@team.example.org"}
                if route.path == "/api/v1/teams" and route.method == "POST":
                    body = {"key": f"t-{role}-{whose}"}
                call: Callable[..., Any] = getattr(team.client, route.method.lower())
                kwargs: dict[str, Any] = {"headers": team[role].headers}
                if body is not None:
                    kwargs["json"] = body
                if route.upload:
                    kwargs["files"] = _csv()
                r = call(path, **kwargs)
                got_ok = 200 <= r.status_code < 300
                if allowed and not got_ok:
                    wrong.append(f"{role}/{whose}: expected 2xx, got {r.status_code} {r.text}")
                if not allowed and r.status_code != route.refused:
                    wrong.append(
                        f"{role}/{whose}: expected {route.refused}, got {r.status_code} {r.text}"
                    )
                if route.path.endswith("/password") and got_ok:
                    # The token still works after a password change; sessions ended.
                    assert (
                        team.client.get("/api/v1/users/me", headers=team[role].headers).status_code
                        == 200
                    )
        assert wrong == []


class TestListingsShowOnlyWhatIsYours:
    def test_token_list_of_a_non_admin_holds_only_their_tokens(self, team: Team) -> None:
        r = team.client.get("/api/v1/tokens", headers=team["agent"].headers)
        assert {team["agent"].user.id} == {t["user_id"] for t in r.json()}
        r = team.client.get("/api/v1/tokens", headers=team["admin"].headers)
        assert len({t["user_id"] for t in r.json()}) == len(team.people)

    def test_token_listing_never_shows_secrets(self, team: Team) -> None:
        r = team.client.get("/api/v1/tokens", headers=team["admin"].headers)
        assert all("token" not in t for t in r.json())
        assert all(p.token not in r.text for p in team.people.values())

    def test_users_never_show_password_hashes(self, team: Team) -> None:
        r = team.client.get("/api/v1/users", headers=team["admin"].headers)
        assert "argon2" not in r.text and "password" not in r.text
