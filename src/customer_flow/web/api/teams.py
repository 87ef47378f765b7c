"""``/api/v1/teams`` and ``/api/v1/agents``: who can work tickets, and teams of them.

Everyone who may read sees the agents and the teams; only an admin adds, changes and fills
teams. A ticket is given to an agent or a team through ``PUT /api/v1/tickets/{id}/assignee``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from customer_flow.core.models import NOT_BLANK
from customer_flow.teams.models import Agent, Team, TeamCreate, TeamUpdate, UnmatchedAssignee

from ..deps import UserHub, requires

__all__ = ["agents", "router"]

router = APIRouter(prefix="/teams", tags=["teams"])
agents = APIRouter(prefix="/agents", tags=["teams"])

TeamKeyPath = Annotated[
    str,
    Path(max_length=64, pattern="^[a-z][a-z0-9_-]{0,63}$", description="The team's key."),
]
MemberPath = Annotated[
    str, Path(max_length=320, description="The member's email, or a name only one user has.")
]


class MemberAdd(BaseModel):
    """The agent to put in the team."""

    model_config = ConfigDict(extra="forbid")

    agent: Annotated[str, NOT_BLANK] = Field(
        max_length=320,
        description="An active agent's email (any case), or a name only one user has. A "
        "viewer, a disabled user or an unknown name is refused (422).",
    )


@agents.get("", response_model=list[Agent], summary="Who can be given tickets")
def list_agents(hub: UserHub) -> list[Agent]:
    """Active users whose role is agent or admin, by name; `key` is what a ticket's
    `assignee` holds."""
    return hub.list_agents()


@agents.get(
    "/unmatched-assignees",
    response_model=list[UnmatchedAssignee],
    summary="Assignees the upgrade to agents could not map",
)
def unmatched_assignees(hub: UserHub) -> list[UnmatchedAssignee]:
    """The free-text assignees that migration 0014 matched to no user (by email or by a name
    only one user had), with their tickets, which it left unassigned. Never dropped."""
    return hub.unmatched_assignees()


@router.get("", response_model=list[Team], summary="The teams")
def list_teams(hub: UserHub) -> list[Team]:
    """Every team with its members, by key."""
    return hub.list_teams()


@router.post(
    "",
    response_model=Team,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("admin")],
    summary="Add a team (admin)",
)
def add_team(hub: UserHub, body: TeamCreate) -> Team:
    """`assignment`: `round_robin` gives each new ticket of the team to its next active agent;
    `none` leaves it in the team's queue. A key in use is a 409."""
    return hub.add_team(body)


@router.get("/{key}", response_model=Team, summary="One team")
def get_team(hub: UserHub, key: TeamKeyPath) -> Team:
    return hub.get_team(key)


@router.patch(
    "/{key}",
    response_model=Team,
    dependencies=[requires("admin")],
    summary="Rename a team or change its assignment (admin)",
)
def update_team(hub: UserHub, key: TeamKeyPath, body: TeamUpdate) -> Team:
    return hub.update_team(key, body)


@router.post(
    "/{key}/members",
    response_model=Team,
    dependencies=[requires("admin")],
    summary="Put an agent in a team (admin)",
)
def add_member(hub: UserHub, key: TeamKeyPath, body: MemberAdd) -> Team:
    """Adding someone already in the team changes nothing."""
    return hub.add_team_member(key, body.agent)


@router.delete(
    "/{key}/members/{member}",
    response_model=Team,
    dependencies=[requires("admin")],
    summary="Take someone out of a team (admin)",
)
def remove_member(hub: UserHub, key: TeamKeyPath, member: MemberPath) -> Team:
    """The tickets they hold stay theirs. Someone not in the team is a 404."""
    return hub.remove_team_member(key, member)
