"""Agents and teams (issue 17) on SQLite and PostgreSQL: an assignee is an active agent, teams
group agents, round-robin gives a team's tickets out in turn, a ticket type names a default
team, and every bad assignment is one line that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from customer_flow.core.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from customer_flow.hub import Hub
from customer_flow.store.schema import users
from customer_flow.teams.models import TeamCreate, TeamUpdate
from customer_flow.tickets.models import TicketCreate, TicketQuery
from tickets_support import TYPES, Clock, add_agent, agent_key, make_hub, utc, write_json


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    """Agents ana, bo and bob; a viewer vic; a disabled agent dan; customer 1."""
    h = make_hub(db_url, tmp_path, clock=Clock(utc(2026, 12, 1, 9)))
    add_agent(h, "vic", role="viewer")
    add_agent(h, "dan", active=False)
    yield h
    h.close()


def new(**kw: Any) -> TicketCreate:
    return TicketCreate.model_validate({"customer_id": 1, "type": "support", "subject": "Hi", **kw})


def set_user(hub: Hub, who: str, **values: Any) -> None:
    """Change a user behind the Hub's back (the Hub has no rename or role change yet)."""
    with hub.store.write() as conn:
        conn.execute(update(users).where(users.c.name == who).values(**values))


def team(hub: Hub, key: str, *members: str, assignment: str = "round_robin") -> None:
    hub.add_team(TeamCreate(key=key, assignment=assignment))  # type: ignore[arg-type]
    for m in members:
        hub.add_team_member(key, m)


class TestAgents:
    def test_an_agent_is_named_by_email_in_any_case_or_by_name(self, hub: Hub) -> None:
        """An email (any case) or a unique name names the same user; the email key is kept."""
        t = hub.open_ticket(new(assignee="ANA@team.EXAMPLE"))
        assert agent_key("ana") == t.assignee
        assert agent_key("bob") == hub.assign_ticket(t.id, "  Bob ").assignee

    @pytest.mark.parametrize(
        ("who", "code", "message"),
        [
            ("vic", "assignee_not_agent", "vic@team.example is a viewer and cannot work tickets"),
            ("dan", "assignee_disabled", "dan@team.example is disabled and cannot work tickets"),
            ("anna@team.pt", "assignee_unknown", "no user 'anna@team.pt'"),
        ],
    )
    def test_a_viewer_a_disabled_user_or_a_stranger_is_refused(
        self, hub: Hub, who: str, code: str, message: str
    ) -> None:
        """Opening or assigning to someone who is not an active agent is one line naming why,
        and the ticket is left as it was."""
        with pytest.raises(ValidationError, match=message) as opened:
            hub.open_ticket(new(assignee=who))
        assert (code, "assignee") == (opened.value.code, opened.value.field)
        assert hub.list_tickets().items == []
        t = hub.open_ticket(new(assignee="ana"))
        with pytest.raises(ValidationError, match=message):
            hub.assign_ticket(t.id, who)
        assert agent_key("ana") == hub.get_ticket(t.id).assignee
        assert [e.action for e in hub.ticket_history(t.id)] == ["create"]

    def test_a_name_two_users_share_is_refused(self, hub: Hub) -> None:
        """Two users called the same: the name is ambiguous, the email is asked for."""
        add_agent(hub, "Ana Lima")
        set_user(hub, "bob", name="Ana Lima")
        with pytest.raises(ValidationError, match="2 users are named 'ana lima'"):
            hub.open_ticket(new(assignee="ana lima"))

    def test_the_agent_list_has_active_agents_and_admins_only(self, hub: Hub) -> None:
        """Viewers and disabled users are not agents; an admin is."""
        add_agent(hub, "ada", role="admin")
        assert [a.name for a in hub.list_agents()] == ["ada", "ana", "bo", "bob"]

    def test_the_queue_filter_takes_a_name_or_an_email(self, hub: Hub) -> None:
        """``assignee=ana`` and ``assignee=ana@team.example`` find the same tickets."""
        a = hub.open_ticket(new(assignee="ana")).id
        hub.open_ticket(new(assignee="bo"))
        for given in ("ana", "ANA@team.example"):
            items = hub.list_tickets(TicketQuery(assignee=given)).items
            assert [a] == [t.id for t in items]
        assert hub.list_tickets(TicketQuery(assignee="nobody")).items == []


class TestTeams:
    def test_create_list_add_and_remove_members(self, hub: Hub) -> None:
        """A team lists its members; a member added twice is there once; removing one keeps
        the others."""
        hub.add_team(TeamCreate(key="billing", name=" Billing  desk "))
        hub.add_team_member("billing", "ana")
        hub.add_team_member("billing", "bo@team.example")
        t = hub.add_team_member("billing", "Ana")
        assert ("Billing desk", ["ana", "bo"], 2) == (
            t.name,
            [m.name for m in t.members],
            t.active_members,
        )
        t = hub.remove_team_member("billing", "ana")
        assert [m.name for m in t.members] == ["bo"]
        assert [x.key for x in hub.list_teams()] == ["billing"]

    def test_bad_team_operations_are_one_line(self, hub: Hub) -> None:
        """A duplicate key, an unknown team, a viewer as member, a non-member removed."""
        team(hub, "billing", "ana")
        with pytest.raises(ConflictError, match="team 'billing' exists already"):
            hub.add_team(TeamCreate(key="billing"))
        with pytest.raises(NotFoundError, match="no team 'nope'"):
            hub.add_team_member("nope", "ana")
        with pytest.raises(ValidationError, match="is a viewer"):
            hub.add_team_member("billing", "vic")
        with pytest.raises(NotFoundError, match="'bob' is not in team 'billing'"):
            hub.remove_team_member("billing", "bob")
        assert [m.name for m in hub.get_team("billing").members] == ["ana"]

    def test_a_viewer_may_not_manage_teams(self, hub: Hub) -> None:
        """Teams are an admin's to change."""
        from customer_flow.core.errors import PermissionDeniedError

        with pytest.raises(PermissionDeniedError):
            hub.as_actor("vic", "viewer").add_team(TeamCreate(key="x"))
        with pytest.raises(PermissionDeniedError):
            hub.as_actor("bo", "agent").add_team(TeamCreate(key="x"))


class TestRoundRobin:
    def test_a_team_gives_its_tickets_out_in_turn_skipping_the_inactive(self, hub: Hub) -> None:
        """ana, bo, bob, ana, ...; a member disabled meanwhile is skipped."""
        team(hub, "support", "bob", "ana", "bo")
        got = [hub.open_ticket(new(team="support")).assignee for _ in range(4)]
        assert [agent_key(n) for n in ("ana", "bo", "bob", "ana")] == got
        set_user(hub, "bo", active=False)
        got = [hub.open_ticket(new(team="support")).assignee for _ in range(2)]
        assert [agent_key("bob"), agent_key("ana")] == got

    def test_a_team_without_round_robin_keeps_the_ticket_in_its_queue(self, hub: Hub) -> None:
        """Assignment "none": the ticket is the team's, nobody's in it yet."""
        team(hub, "l2", "ana", assignment="none")
        t = hub.open_ticket(new(team="l2"))
        assert (t.team, t.assignee) == ("l2", None)
        assert [t.id] == [x.id for x in hub.list_tickets(TicketQuery(team="l2")).items]

    def test_switching_a_team_to_round_robin(self, hub: Hub) -> None:
        """The rule is per team and can change."""
        team(hub, "l2", "bo", assignment="none")
        hub.update_team("l2", TeamUpdate(assignment="round_robin"))
        assert agent_key("bo") == hub.open_ticket(new(team="l2")).assignee

    def test_a_team_with_no_agents_is_refused(self, hub: Hub) -> None:
        """A team whose only member is disabled (or with none) cannot take a ticket: opening
        or assigning says so, and nothing is written."""
        team(hub, "empty")
        team(hub, "ghosts", "bob")
        set_user(hub, "bob", active=False)
        for key in ("empty", "ghosts"):
            with pytest.raises(ValidationError, match=f"team '{key}' has no active agents"):
                hub.open_ticket(new(team=key))
        t = hub.open_ticket(new())
        with pytest.raises(ValidationError, match="team 'empty' has no active agents") as err:
            hub.assign_ticket(t.id, None, team="empty")
        assert "team_has_no_agents" == err.value.code
        assert (None, None) == (hub.get_ticket(t.id).team, hub.get_ticket(t.id).assignee)

    def test_an_agent_and_a_team_together_must_match(self, hub: Hub) -> None:
        """Naming both: the agent must be in the team; then no round-robin is needed."""
        team(hub, "billing", "ana")
        t = hub.open_ticket(new())
        with pytest.raises(ValidationError, match=r"bo@team\.example is not in team 'billing'"):
            hub.assign_ticket(t.id, "bo", team="billing")
        t = hub.assign_ticket(t.id, "ana", team="billing")
        assert (t.assignee, t.team) == (agent_key("ana"), "billing")
        t = hub.assign_ticket(t.id, None)
        assert (t.assignee, t.team) == (None, None)

    def test_an_unknown_team_is_a_bad_value(self, hub: Hub) -> None:
        with pytest.raises(ValidationError, match="no team 'nope'"):
            hub.open_ticket(new(team="nope"))


class TestDefaultTeam:
    def types(self, tmp_path: Path, team_key: str) -> Path:
        doc = dict(TYPES)
        doc["support"] = {**TYPES["support"], "default_team": team_key}
        return write_json(tmp_path / "types2.json", doc)

    def test_a_type_sends_its_tickets_to_its_team(self, hub: Hub, tmp_path: Path) -> None:
        """A type's default team takes the ticket (round-robin) unless another is named."""
        team(hub, "support", "bo")
        team(hub, "other", "ana")
        hub.load_ticket_types(self.types(tmp_path, "support"))
        assert "support" == hub.get_ticket_type("support").default_team
        t = hub.open_ticket(new())
        assert (t.team, t.assignee) == ("support", agent_key("bo"))
        t = hub.open_ticket(new(team="other"))
        assert (t.team, t.assignee) == ("other", agent_key("ana"))

    def test_a_default_team_with_no_agents_queues_the_ticket(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        """A customer's ticket is never refused for its type's team: it waits, unassigned."""
        team(hub, "support")
        hub.load_ticket_types(self.types(tmp_path, "support"))
        t = hub.open_ticket(new())
        assert (t.team, t.assignee) == ("support", None)

    def test_a_file_naming_an_unknown_team_is_refused(self, hub: Hub, tmp_path: Path) -> None:
        """The team must exist first; the types stay as they were."""
        with pytest.raises(ConfigError, match=r"\$\.support\.default_team: no team 'ghost'"):
            hub.load_ticket_types(self.types(tmp_path, "ghost"))
        assert hub.get_ticket_type("support").default_team is None

    def test_the_schema_checks_the_key(self, tmp_path: Path) -> None:
        """A default team that is no team key is refused by the file check."""
        doc = {"a": {"name": "A", "default_team": "Not A Key"}}
        with pytest.raises(ConfigError, match="default_team"):
            Hub.check_ticket_types_file(write_json(tmp_path / "t.json", doc))
