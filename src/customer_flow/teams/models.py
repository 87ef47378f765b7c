"""The team schemas: a team, its members, the assignment rule, and an unmatched assignee."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from customer_flow.core.models import NOT_BLANK

#: How a ticket given to a team finds its agent: the next active agent in turn, or nobody (the
#: ticket waits in the team's queue until someone takes it).
Assignment = Literal["round_robin", "none"]
#: A team's key, as tickets, ticket types and the doors name it: "billing", "level-2".
TeamKey = Annotated[str, Field(max_length=64, pattern="^[a-z][a-z0-9_-]{0,63}$")]


class TeamCreate(BaseModel):
    """A new team: its key, a display name (the key when left out) and its assignment rule."""

    model_config = ConfigDict(extra="forbid")

    key: TeamKey
    name: str = Field(default="", max_length=200)
    assignment: Assignment = "round_robin"


class TeamUpdate(BaseModel):
    """A change to a team's name or assignment rule; only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=200), NOT_BLANK] | None = None
    assignment: Assignment | None = None


class Agent(BaseModel):
    """A user who can work tickets (an active agent or admin), as teams and the queue show them.
    ``key`` is what a ticket's ``assignee`` holds: the lower-cased email."""

    id: int
    key: str
    email: str
    name: str


class Team(BaseModel):
    """A stored team with its members (active agents or not: a disabled member stays listed,
    and round-robin skips them)."""

    key: str
    name: str
    assignment: Assignment
    members: list[Agent]
    #: Members round-robin can give tickets to now: active, and an agent or admin.
    active_members: int
    created_at: datetime
    updated_at: datetime


class UnmatchedAssignee(BaseModel):
    """A free-text assignee that migration 0015 could map to no user, with its ticket."""

    ticket_id: int
    assignee: str
    reason: str
    migrated_at: datetime


__all__ = [
    "Agent",
    "Assignment",
    "Team",
    "TeamCreate",
    "TeamKey",
    "TeamUpdate",
    "UnmatchedAssignee",
]
