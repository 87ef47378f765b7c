"""Agents and teams: who may work a ticket, teams of them, and who a team's next ticket goes to.

Every function works on a connection inside the caller's transaction (the Hub owns it) and
writes its audit entry there. An *agent* is an active user whose role may write (``agent`` or
``admin``); a viewer, a disabled user or a name that is no user is refused with one line that
says which. A ticket names its agent by the user's lower-cased email (``users.email_key``, the
foreign key), so ``resolve_agent`` accepts an email in any case, or a user's name when exactly
one user has it.

Round-robin: a team remembers the agent it gave its last ticket to; the next ticket goes to the
next active agent member in email order, wrapping around. The team's row is locked while it
chooses (PostgreSQL), so two tickets opened at once go to two agents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from customer_flow.core.errors import ConflictError, NotFoundError, ValidationError
from customer_flow.store import audit
from customer_flow.store.schema import team_members, teams, unmatched_assignees, users
from customer_flow.teams.models import Agent, Team, TeamCreate, TeamUpdate, UnmatchedAssignee

__all__ = [
    "AGENT_ROLES",
    "add_member",
    "create",
    "get",
    "list_agents",
    "list_teams",
    "list_unmatched",
    "next_agent",
    "remove_member",
    "require_team",
    "resolve_agent",
    "teams_of",
    "update_team",
    "user_key",
]

ENTITY = "team"
#: The roles that may work tickets (a viewer may only read).
AGENT_ROLES = ("agent", "admin")


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _agent(row: Any) -> Agent:
    m = row._mapping
    return Agent(id=m["id"], key=m["email_key"], email=m["email"], name=m["name"])


def _is_agent(row: Any) -> bool:
    return bool(row._mapping["active"]) and row._mapping["role"] in AGENT_ROLES


# -- agents --------------------------------------------------------------------------------


def list_agents(conn: Connection) -> list[Agent]:
    """Every user who can work tickets now, by name."""
    rows = conn.execute(
        select(users)
        .where(users.c.active.is_(True), users.c.role.in_(AGENT_ROLES))
        .order_by(users.c.name, users.c.email_key)
    )
    return [_agent(r) for r in rows]


def _find_user(conn: Connection, given: str) -> Any:
    """The user ``given`` names, by email (any case) or by a name only one user has."""
    text = _collapse(given)
    row = conn.execute(select(users).where(users.c.email_key == text.lower())).first()
    if row is not None:
        return row
    named = conn.execute(
        select(users).where(func.lower(users.c.name) == text.lower()).limit(3)
    ).all()
    named = [r for r in named if _collapse(r._mapping["name"]).casefold() == text.casefold()]
    if len(named) > 1:
        raise ValidationError(
            f"assignee: {len(named)} users are named {text!r}; give the email instead",
            field="assignee",
            code="assignee_ambiguous",
        )
    return named[0] if named else None


def user_key(conn: Connection, given: str) -> str:
    """The assignee key a queue filter means: the email key of the user ``given`` names (an
    email, or a name only one user has, active or not), else the text itself (matching no
    ticket)."""
    text = _collapse(given)
    try:
        row = _find_user(conn, text)
    except ValidationError:
        row = None
    return str(row._mapping["email_key"]) if row is not None else text.lower()


def resolve_agent(conn: Connection, given: str) -> Agent:
    """The active agent ``given`` names (an email or a name), or a one-line refusal."""
    text = _collapse(given)
    if not text:
        raise ValidationError(
            "assignee: give an agent's email or name", field="assignee", code="assignee_missing"
        )
    row = _find_user(conn, text)
    if row is None:
        raise ValidationError(
            f"assignee: no user {text!r}; a ticket goes to an active agent (see `users list`)",
            field="assignee",
            code="assignee_unknown",
        )
    m = row._mapping
    if not m["active"]:
        raise ValidationError(
            f"assignee: {m['email']} is disabled and cannot work tickets",
            field="assignee",
            code="assignee_disabled",
        )
    if m["role"] not in AGENT_ROLES:
        raise ValidationError(
            f"assignee: {m['email']} is a {m['role']} and cannot work tickets",
            field="assignee",
            code="assignee_not_agent",
        )
    return _agent(row)


def list_unmatched(conn: Connection, *, limit: int = 1000) -> list[UnmatchedAssignee]:
    """The free-text assignees migration 0015 matched to no user, by ticket."""
    rows = conn.execute(
        select(unmatched_assignees).order_by(unmatched_assignees.c.ticket_id).limit(limit)
    ).mappings()
    return [
        UnmatchedAssignee.model_validate({**r, "migrated_at": audit.aware(r["migrated_at"])})
        for r in rows
    ]


# -- teams ---------------------------------------------------------------------------------


def _members(conn: Connection, key: str) -> list[Any]:
    return list(
        conn.execute(
            select(users)
            .join(team_members, team_members.c.user_id == users.c.id)
            .where(team_members.c.team_key == key)
            .order_by(users.c.email_key)
        )
    )


def _team(conn: Connection, row: Any) -> Team:
    m = row._mapping
    members = _members(conn, m["key"])
    return Team(
        key=m["key"],
        name=m["name"],
        assignment=m["assignment"],
        members=[_agent(r) for r in members],
        active_members=sum(1 for r in members if _is_agent(r)),
        created_at=audit.aware(m["created_at"]),
        updated_at=audit.aware(m["updated_at"]),
    )


def _snapshot(team: Team) -> dict[str, Any]:
    data = team.model_dump(mode="json", exclude={"created_at", "updated_at", "members"})
    data["members"] = [a.key for a in team.members]
    return data


def _row(conn: Connection, key: str, *, lock: bool = False) -> Any:
    stmt = select(teams).where(teams.c.key == key)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFoundError(f"no team {key!r}", field="team", code="team_not_found")
    return row


def get(conn: Connection, key: str) -> Team:
    return _team(conn, _row(conn, key))


def require_team(conn: Connection, key: str) -> Team:
    """The team ``key`` names, for an assignment: an unknown one is a bad value (422)."""
    row = conn.execute(select(teams).where(teams.c.key == key)).first()
    if row is None:
        raise ValidationError(
            f"team: no team {key!r} (see `teams list`)", field="team", code="team_unknown"
        )
    return _team(conn, row)


def teams_of(conn: Connection, given: str) -> list[str]:
    """The keys of the teams the user ``given`` names is in (none for an unknown name)."""
    try:
        row = _find_user(conn, given)
    except ValidationError:
        row = None
    if row is None:
        return []
    keys = conn.execute(
        select(team_members.c.team_key)
        .where(team_members.c.user_id == row._mapping["id"])
        .order_by(team_members.c.team_key)
    ).scalars()
    return [str(k) for k in keys]


def list_teams(conn: Connection) -> list[Team]:
    return [_team(conn, r) for r in conn.execute(select(teams).order_by(teams.c.key))]


def create(conn: Connection, new: TeamCreate, now: datetime, *, actor: str) -> Team:
    """Add a team; its key is unique."""
    if conn.execute(select(teams.c.key).where(teams.c.key == new.key)).first():
        raise ConflictError(
            f"key: team {new.key!r} exists already", field="key", code="team_exists"
        )
    conn.execute(
        insert(teams).values(
            key=new.key,
            name=_collapse(new.name) or new.key,
            assignment=new.assignment,
            last_assigned=None,
            created_at=now,
            updated_at=now,
        )
    )
    team = get(conn, new.key)
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity=ENTITY,
        entity_id=new.key,
        before=None,
        after=_snapshot(team),
        at=now,
    )
    return team


def update_team(
    conn: Connection, key: str, changes: TeamUpdate, now: datetime, *, actor: str
) -> Team:
    """Rename a team or change its assignment rule."""
    before = get(conn, key)
    values: dict[str, Any] = {}
    if changes.name is not None:
        name = _collapse(changes.name)
        if not name:
            raise ValidationError("name: a team needs a name", field="name", code="name_missing")
        values["name"] = name
    if changes.assignment is not None:
        values["assignment"] = changes.assignment
    values = {k: v for k, v in values.items() if getattr(before, k) != v}
    if not values:
        return before
    conn.execute(update(teams).where(teams.c.key == key).values(updated_at=now, **values))
    return _audited(conn, key, before, "update", now, actor)


def _audited(
    conn: Connection, key: str, before: Team, action: str, now: datetime, actor: str
) -> Team:
    after = get(conn, key)
    audit.record(
        conn,
        actor=actor,
        action=action,
        entity=ENTITY,
        entity_id=key,
        before=_snapshot(before),
        after=_snapshot(after),
        at=now,
    )
    return after


def add_member(conn: Connection, key: str, given: str, now: datetime, *, actor: str) -> Team:
    """Put an active agent in a team (already in it: nothing changes)."""
    before = get(conn, key)
    agent = resolve_agent(conn, given)
    if any(a.id == agent.id for a in before.members):
        return before
    conn.execute(insert(team_members).values(team_key=key, user_id=agent.id, added_at=now))
    conn.execute(update(teams).where(teams.c.key == key).values(updated_at=now))
    return _audited(conn, key, before, "add_member", now, actor)


def remove_member(conn: Connection, key: str, given: str, now: datetime, *, actor: str) -> Team:
    """Take a user (active or not) out of a team; their tickets stay theirs."""
    before = get(conn, key)
    text = _collapse(given)
    row = _find_user(conn, text)
    if row is None or all(a.id != row._mapping["id"] for a in before.members):
        raise NotFoundError(
            f"{text!r} is not in team {key!r}", field="member", code="member_not_found"
        )
    conn.execute(
        delete(team_members).where(
            team_members.c.team_key == key, team_members.c.user_id == row._mapping["id"]
        )
    )
    conn.execute(update(teams).where(teams.c.key == key).values(updated_at=now))
    return _audited(conn, key, before, "remove_member", now, actor)


def next_agent(conn: Connection, key: str) -> Agent | None:
    """Who the team's next ticket goes to: with round-robin, the active agent member after the
    last one given a ticket (in email order, wrapping around), remembered for the next call;
    with ``none``, nobody. A round-robin team with no active agent is refused: the caller
    decides whether that is an error."""
    team = _row(conn, key, lock=True)._mapping
    if team["assignment"] != "round_robin":
        return None
    agents = [r for r in _members(conn, key) if _is_agent(r)]
    if not agents:
        raise ValidationError(
            f"team: team {key!r} has no active agents to give the ticket to; add one with "
            f"`teams add-member {key} EMAIL`",
            field="team",
            code="team_has_no_agents",
        )
    last = team["last_assigned"]
    chosen = next((r for r in agents if last is None or r._mapping["email_key"] > last), agents[0])
    conn.execute(
        update(teams).where(teams.c.key == key).values(last_assigned=chosen._mapping["email_key"])
    )
    return _agent(chosen)
