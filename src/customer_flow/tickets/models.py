"""The ticket schemas: ticket types, tickets, their SLA state and comments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from customer_flow.core.models import NOT_BLANK, NOT_NULL, WHITESPACE, Priority, Spec


class TicketType(BaseModel):
    """A ticket type from ticket_types.json, as stored. SLA targets are in seconds."""

    key: str
    name: str
    description: str = ""
    default_priority: Priority = "normal"
    sla: dict[str, int] = Field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    active: bool = True
    #: The team a new ticket of this type goes to when none is named (issue 17).
    default_team: str | None = None


class TicketTypeSync(BaseModel):
    """What loading a ticket_types.json changed."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    deactivated: list[str] = Field(default_factory=list)


TicketStatus = Literal["new", "open", "pending", "resolved", "closed"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "resolved", "closed")
SlaState = Literal["none", "on_track", "at_risk", "breached", "met"]
#: The queue's sorts: a column, ascending, or with "-" descending; ties by ID. "due" is the
#: next due time of a running clock; "priority" puts urgent first, "status" follows the
#: lifecycle, "sla" puts breached first, "assignee" puts the unassigned first.
TicketSort = Literal[
    "id", "-id", "due", "-due", "customer", "-customer", "subject", "-subject", "status",
    "-status", "priority", "-priority", "assignee", "-assignee", "sla", "-sla", "created",
    "-created", "updated", "-updated",
]  # fmt: skip
#: The saved views every user has (``TicketQuery.view``).
TicketView = Literal["mine", "unassigned", "at_risk", "my_team"]
#: A ticket's subject: ``clean_subject`` trims it and refuses it blank.
Subject = Annotated[str, Field(max_length=300), NOT_BLANK]
#: A ticket type's key, as ticket_types.schema.json has it (another is 404: no such type).
TypeKey = Annotated[str, Field(max_length=64), Spec.of(pattern="^[a-z][a-z0-9_-]{0,63}$")]
#: ``rules.clean_tags``: at most 20 tags of at most 50 characters (``MAX_TAGS``,
#: ``MAX_TAG_LENGTH``; counted once trimmed, lower-cased and without repeats).
Tags = Annotated[list[Annotated[str, Spec.of(maxLength=50)]], Spec.of(maxItems=20)]
#: A team's key (``teams.models.TeamKey``): "billing", "level-2".
TeamKey = Annotated[str, Field(max_length=64, pattern="^[a-z][a-z0-9_-]{0,63}$")]
#: An agent: an active user who may write, named by email (any case) or by a unique name.
ASSIGNEE = (
    "An active agent (a user whose role is agent or admin), by email or by a name only one user"
    " has; stored as the lower-cased email. A viewer, a disabled user or an unknown name is"
    " refused (422)."
)
#: ``rules.clean_fields``: the extra fields the ticket's type defines, typed as it says.
FIELDS = "The extra fields the ticket's type defines (see /ticket-types), with their types."


class TicketCreate(BaseModel):
    """What a new ticket is made from. ``priority`` left out takes the type's default."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(ge=1, le=2**53)
    type: TypeKey
    subject: Subject
    description: str = Field(default="", max_length=100_000)
    priority: Priority | None = None
    tags: Tags = Field(default_factory=list)
    assignee: str | None = Field(default=None, max_length=320, description=ASSIGNEE)
    #: Left out: the type's default team, if it names one. With round-robin and no assignee,
    #: the team's next agent gets the ticket.
    team: TeamKey | None = Field(
        default=None,
        description="The team the ticket is queued for; left out, the type's default team."
        " A round-robin team gives it to its next active agent when no assignee is named.",
    )
    fields: dict[str, Any] = Field(default_factory=dict, description=FIELDS)


class Assignment(BaseModel):
    """Who works a ticket: an agent, a team, both, or (both null) nobody.

    A team alone with round-robin gives the ticket to its next active agent; an agent and a
    team together must be a member of it."""

    model_config = ConfigDict(extra="forbid")

    assignee: str | None = Field(default=None, max_length=320, description=ASSIGNEE)
    team: TeamKey | None = None


class TicketUpdate(BaseModel):
    """A partial change to a ticket's content; only the fields that are set change."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[Subject | None, NOT_NULL] = None
    description: str | None = Field(default=None, max_length=100_000)
    priority: Priority | None = None
    tags: Tags | None = None
    fields: dict[str, Any] | None = Field(default=None, description=FIELDS)


class SlaTarget(BaseModel):
    """One SLA target of a ticket: its size, when it falls due, and how it stands."""

    state: SlaState
    #: Business seconds after priority scaling; None when the type sets no such target.
    target_seconds: int | None = None
    due_at: datetime | None = None
    at_risk_at: datetime | None = None
    #: When the target was met (first response, resolution); None while the clock runs.
    met_at: datetime | None = None
    #: Business seconds used so far (pauses excluded), and what is left (negative when late).
    used_seconds: int | None = None
    remaining_seconds: int | None = None


class TicketSla(BaseModel):
    """A ticket's SLA: the worst state of its targets, and whether the clock is paused."""

    state: SlaState
    paused: bool
    paused_seconds: int
    first_response: SlaTarget
    resolution: SlaTarget
    #: The next due time of a running target (whichever falls due first), and which it is.
    next_due_at: datetime | None = None
    next_due: Literal["first_response", "resolution"] | None = None


class Ticket(BaseModel):
    """A stored ticket, as every door shows it."""

    id: int
    customer_id: int
    type: str
    subject: str
    description: str
    priority: Priority
    status: TicketStatus
    tags: list[str]
    #: The agent's lower-cased email (a user), or None.
    assignee: str | None
    #: The team's key, or None.
    team: str | None
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    paused_at: datetime | None
    reopened_count: int
    sla: TicketSla
    #: The customer's name, where a list shows it (the queue); None elsewhere.
    customer_name: str | None = None


class CommentCreate(BaseModel):
    """A comment: a public reply (default) or an internal note, by an agent or the customer."""

    model_config = ConfigDict(
        extra="forbid",
        # ``records.add_comment``: a customer's comment is public; only it names an author.
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["by_customer"],
                    "properties": {
                        "by_customer": {"const": True},
                        "public": {"const": True},
                        "set_status": {"type": "null"},
                    },
                },
                {
                    "properties": {
                        "by_customer": {"const": False},
                        "author": {"anyOf": [{"type": "null"}, {"pattern": f"^[{WHITESPACE}]*$"}]},
                    }
                },
            ]
        },
    )

    body: Annotated[str, Field(max_length=100_000), NOT_BLANK]
    # Strict: the spec says boolean, so 0 or "no" is refused rather than read as false.
    public: StrictBool = True
    by_customer: StrictBool = False
    #: Who wrote a customer's comment (e.g. the name on their email). An agent's comment is
    #: always by the acting user, so naming another author is refused.
    author: str | None = Field(default=None, max_length=200)
    #: "Send and set pending", "Send and resolve": the status the ticket moves to with the
    #: comment, in the same transaction (refused for a customer's comment).
    set_status: Literal["pending", "resolved"] | None = Field(
        default=None,
        description="Move the ticket to this status with the comment, in one transaction "
        '("send and set pending", "send and resolve"); an agent\'s comment only. A move '
        "the lifecycle refuses is a 409 and nothing is saved.",
    )


class Comment(BaseModel):
    """A stored comment."""

    id: int
    ticket_id: int
    author: str
    public: bool
    by_customer: bool
    body: str
    created_at: datetime


class TicketQuery(BaseModel):
    """How to list tickets. With no ``status``, the open queue (new, open, pending)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int | None = None
    type: str | None = None
    status: list[TicketStatus] | None = None
    all_statuses: bool = False
    priority: list[Priority] | None = None
    assignee: str | None = None
    unassigned: bool = False
    team: str | None = None
    #: Only the tickets of these teams (a saved view, "My team", resolves to this).
    teams: list[str] | None = None
    sla: Literal["on_track", "at_risk", "breached", "at_risk_or_breached"] | None = None
    #: A saved view: "mine" (assigned to the acting user), "unassigned", "at_risk" (at risk or
    #: breached) or "my_team" (the teams the acting user is in); combines with the filters.
    view: TicketView | None = None
    search: str | None = None
    sort: TicketSort = "id"
    limit: int = Field(default=50, ge=1, le=1000)
    after: str | None = None
    #: A view a user saved (``SavedView``): its filters and sort replace these.
    saved_view: int | None = Field(default=None, ge=1, le=2**53)


#: The most tickets one bulk action takes (the web's "every matching ticket" stops here too).
MAX_BULK = 10_000
BulkKind = Literal["assign", "status", "priority", "close"]


def _no_number(value: Any) -> Any:
    """A version is an ISO 8601 instant, never a number (Pydantic would read it as epoch)."""
    if isinstance(value, int | float):
        raise ValueError("give the time as an ISO 8601 string, as the ticket's updated_at is")
    return value


class BulkItem(BaseModel):
    """One ticket of a bulk action; ``updated_at`` is the version the caller saw: a ticket
    changed since (by anyone) is skipped, not overwritten. Left out: no check."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, le=2**53)
    updated_at: Annotated[datetime, BeforeValidator(_no_number)] | None = Field(
        default=None, description="The `updated_at` the caller saw (the optimistic check)."
    )


class TicketBulk(BaseModel):
    """One change to many tickets, in one transaction with one audit entry per ticket.

    ``assign``: ``assignee`` and/or ``team`` (both null: unassign); ``status``: ``status``;
    ``priority``: ``priority``; ``close``: nothing else. A value that is wrong for every
    ticket (an unknown agent, a team with no agents) refuses the whole action; a ticket the
    change does not fit (already closed, changed meanwhile, gone) is skipped and reported."""

    model_config = ConfigDict(
        extra="forbid",
        # ``Hub.bulk_tickets``: "status" needs a status, "priority" a priority.
        json_schema_extra={
            "anyOf": [
                {"properties": {"action": {"enum": ["assign", "close"]}}},
                {
                    "required": ["status"],
                    "properties": {"action": {"const": "status"}, "status": {"type": "string"}},
                },
                {
                    "required": ["priority"],
                    "properties": {
                        "action": {"const": "priority"},
                        "priority": {"type": "string"},
                    },
                },
            ]
        },
    )

    action: BulkKind
    tickets: list[BulkItem] = Field(min_length=1, max_length=MAX_BULK)
    assignee: str | None = Field(default=None, max_length=320, description=ASSIGNEE)
    team: TeamKey | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    note: str | None = Field(default=None, max_length=2000)


class BulkSkip(BaseModel):
    """A ticket a bulk action left as it was, and why."""

    id: int
    code: str
    reason: str


class BulkResult(BaseModel):
    """What a bulk action did: the tickets it changed and those it skipped."""

    changed: list[int] = Field(default_factory=list)
    skipped: list[BulkSkip] = Field(default_factory=list)


#: A canned reply's or saved view's title.
Title = Annotated[str, Field(max_length=200), NOT_BLANK]
CANNED_BODY = (
    "The text, with placeholders in braces: {customer.name}, {customer.first_name},"
    " {customer.email}, {customer.phone}, {ticket.id}, {ticket.subject}, {ticket.status},"
    " {ticket.priority}, {ticket.type}, {agent.name}, {agent.first_name}, {agent.email}. Any"
    " other name in braces is refused (422, `placeholder_unknown`)."
)
SHARED = (
    "Shared: everyone sees it and only an admin makes one (its owner or an admin changes it);"
    " else personal: only you see it."
)


class CannedCreate(BaseModel):
    """A new canned reply: personal unless ``shared``."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Annotated[str, Field(max_length=20_000, description=CANNED_BODY), NOT_BLANK]
    shared: StrictBool = Field(default=False, description=SHARED)


class CannedUpdate(BaseModel):
    """A change to a canned reply; only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[Title | None, NOT_NULL] = None
    body: Annotated[
        Annotated[str, Field(max_length=20_000), NOT_BLANK] | None,
        NOT_NULL,
        Field(description=CANNED_BODY),
    ] = None
    shared: Annotated[StrictBool | None, NOT_NULL] = Field(default=None, description=SHARED)

    @field_validator("title", "body", "shared")
    @classmethod
    def _given_not_null(cls, value: Any) -> Any:
        """Left out: unchanged; given, never null (the spec says so)."""
        if value is None:
            raise ValueError("may not be null: leave the field out to keep it")
        return value


class CannedReply(BaseModel):
    """A stored canned reply; ``owner`` is its owner's email (None: made by the local CLI)."""

    id: int
    title: str
    body: str
    shared: bool
    owner: str | None
    created_at: datetime
    updated_at: datetime


class RenderedReply(BaseModel):
    """A canned reply's text with the placeholders filled in for one ticket."""

    id: int
    ticket_id: int
    title: str
    text: str


#: What a saved view keeps of a ``TicketQuery``: its filters and sort (not paging).
VIEW_FIELDS = (
    "customer_id", "type", "status", "all_statuses", "priority", "assignee", "unassigned",
    "team", "view", "sla", "search", "sort",
)  # fmt: skip


class SavedViewCreate(BaseModel):
    """A named queue: the filters and sort of ``query`` (its paging is not kept)."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    query: dict[str, Any] = Field(
        default_factory=dict,
        description="The queue's filters and sort, as `GET /api/v1/tickets` takes them: "
        "customer_id, type, status (a list), all_statuses, priority (a list), assignee, "
        "unassigned, team, view, sla, search, sort.",
    )
    shared: StrictBool = Field(default=False, description=SHARED)


class SavedViewUpdate(BaseModel):
    """A change to a saved view; only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[Title | None, NOT_NULL] = None
    query: Annotated[dict[str, Any] | None, NOT_NULL] = None
    shared: Annotated[StrictBool | None, NOT_NULL] = Field(default=None, description=SHARED)

    @field_validator("title", "query", "shared")
    @classmethod
    def _given_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null: leave the field out to keep it")
        return value


class SavedView(BaseModel):
    """A stored saved view; ``owner`` is its owner's email (None: made by the local CLI)."""

    id: int
    title: str
    query: dict[str, Any]
    shared: bool
    owner: str | None
    created_at: datetime
    updated_at: datetime


__all__ = [
    "CANNED_BODY",
    "MAX_BULK",
    "VIEW_FIELDS",
    "Assignment",
    "BulkItem",
    "BulkKind",
    "BulkResult",
    "BulkSkip",
    "CannedCreate",
    "CannedReply",
    "CannedUpdate",
    "Comment",
    "CommentCreate",
    "RenderedReply",
    "SavedView",
    "SavedViewCreate",
    "SavedViewUpdate",
    "SlaState",
    "SlaTarget",
    "TeamKey",
    "Ticket",
    "TicketBulk",
    "TicketCreate",
    "TicketQuery",
    "TicketSla",
    "TicketSort",
    "TicketStatus",
    "TicketType",
    "TicketTypeSync",
    "TicketUpdate",
    "TicketView",
]
