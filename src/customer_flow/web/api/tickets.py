"""``/api/v1/tickets``: open, list (the queue), read with SLA state, change, assign, move along
the lifecycle, close, reopen, comment, timeline and purge.

Every route calls exactly one Hub method; the Hub checks the role again and writes the audit.
Tickets belong to the team: the role alone decides what a caller may do (viewer reads; agent
and admin write; admin alone purges).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from customer_flow.core.models import CURSOR, NOT_BLANK, AuditEntry, Page, Priority
from customer_flow.mail.files import StoredAttachment
from customer_flow.tickets.models import (
    Assignment,
    BulkResult,
    Comment,
    CommentCreate,
    RenderedReply,
    Ticket,
    TicketBulk,
    TicketCreate,
    TicketQuery,
    TicketSort,
    TicketStatus,
    TicketUpdate,
    TicketView,
)

from ..deps import UserHub, requires
from ..uploads import attached
from .imports import FILE_PART

__all__ = ["TicketFilters", "bulk", "router", "ticket_filters"]

router = APIRouter(prefix="/tickets", tags=["tickets"])
#: ``/bulk/tickets``: not under ``/tickets/``, where ``/tickets/{ticket_id}`` would claim it.
bulk = APIRouter(prefix="/bulk", tags=["tickets"])

TicketSlaFilter = Literal["on_track", "at_risk", "breached", "at_risk_or_breached"]
TicketId = Annotated[int, Path(ge=1, le=2**53, description="The ticket's ID.")]
AttachmentId = Annotated[int, Path(ge=1, le=2**53, description="The attachment's ID.")]


class StatusChange(BaseModel):
    """A move along the lifecycle, with an optional note for the timeline."""

    model_config = ConfigDict(extra="forbid")

    status: TicketStatus
    note: str | None = Field(default=None, max_length=2000)


class Note(BaseModel):
    """An optional note for the timeline (close, reopen)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


@dataclass(frozen=True)
class TicketFilters:
    """The queue's filters and sort, as the query gave them (see ``ticket_filters``)."""

    customer_id: int | None
    type: str | None
    status: list[TicketStatus] | None
    all_statuses: bool
    priority: list[Priority] | None
    assignee: str | None
    unassigned: bool
    team: str | None
    view: TicketView | None
    sla: TicketSlaFilter | None
    search: str | None
    sort: TicketSort

    def query(self, **paging: Any) -> TicketQuery:
        """The ``TicketQuery`` of these filters (and ``paging``: limit, after, saved_view)."""
        return TicketQuery(**asdict(self), **paging)


def ticket_filters(
    customer_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    type_: Annotated[
        str | None, Query(alias="type", max_length=64, description="A ticket type key.")
    ] = None,
    status_: Annotated[
        list[TicketStatus] | None,
        Query(alias="status", description="Repeat for several; none means the open queue."),
    ] = None,
    all_statuses: Annotated[bool, Query(description="Every status, closed too.")] = False,
    priority: Annotated[list[Priority] | None, Query(description="Repeat for several.")] = None,
    assignee: Annotated[
        str | None,
        Query(max_length=320, description="An agent's email, or a name only one user has."),
    ] = None,
    unassigned: Annotated[bool, Query(description="Only tickets nobody works.")] = False,
    team: Annotated[str | None, Query(max_length=64, description="A team's key.")] = None,
    view: Annotated[
        TicketView | None,
        Query(
            description="A saved view, combined with the other filters: `mine` (assigned to "
            "you), `unassigned`, `at_risk` (at risk or breached) or `my_team` (your teams')."
        ),
    ] = None,
    sla: Annotated[
        TicketSlaFilter | None,
        Query(description="on_track, at_risk, breached, or at_risk_or_breached."),
    ] = None,
    search: Annotated[
        str | None, Query(max_length=300, description="Text in subject or description.")
    ] = None,
    sort: Annotated[
        TicketSort,
        Query(
            description='A column, "-" for descending: id, due (next due first), customer, '
            "subject, status (lifecycle order), priority (urgent first), assignee (unassigned "
            "first), sla (breached first), created, updated. Ties by ID; keyset paging."
        ),
    ] = "id",
) -> TicketFilters:
    """The query parameters the ticket list and the ticket export share (one definition, so
    the two cannot drift)."""
    return TicketFilters(
        customer_id=customer_id, type=type_, status=status_, all_statuses=all_statuses,
        priority=priority, assignee=assignee, unassigned=unassigned, team=team, view=view,
        sla=sla, search=search, sort=sort,
    )  # fmt: skip


@dataclass(frozen=True)
class _Paging:
    limit: int
    after: str | None
    saved_view: int | None


def _paging(
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    after: Annotated[
        Annotated[Annotated[str, CURSOR] | None, CURSOR],
        Query(max_length=500, description="The `next` cursor of the previous page."),
    ] = None,
    saved_view: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**53,
            description="A saved view's ID (`/api/v1/saved-views`): its filters and sort "
            "replace the ones given here.",
        ),
    ] = None,
) -> _Paging:
    # A dependency of its own, after the filters, so that the spec lists them in this order.
    return _Paging(limit=limit, after=after, saved_view=saved_view)


@router.get("", response_model=Page[Ticket], summary="The ticket queue")
def list_tickets(
    hub: UserHub,
    filters: Annotated[TicketFilters, Depends(ticket_filters)],
    paging: Annotated[_Paging, Depends(_paging)],
) -> Response:
    """A page of tickets, by keyset: pass the returned `next` as `after` for the next one.
    With no `status`, the open queue (new, open, pending)."""
    query = filters.query(limit=paging.limit, after=paging.after, saved_view=paging.saved_view)
    return Response(hub.list_tickets(query).model_dump_json(), media_type="application/json")


@router.post(
    "",
    response_model=Ticket,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Open a ticket",
)
def open_ticket(hub: UserHub, body: TicketCreate) -> Ticket:
    """Open a ticket for a live customer, of an active type; its SLA clock starts."""
    return hub.open_ticket(body)


@bulk.post(
    "/tickets",
    response_model=BulkResult,
    dependencies=[requires("write")],
    summary="Assign, set the status or priority of, or close many tickets at once",
)
def bulk_tickets(hub: UserHub, body: TicketBulk) -> BulkResult:
    """One transaction, one timeline entry per ticket changed; up to 10,000 tickets.

    Give each ticket's `updated_at` as you saw it: a ticket changed since is skipped
    (`changed_meanwhile`), never overwritten. Tickets the change does not fit (already
    closed, a move the lifecycle refuses, already so, gone) are skipped too, each with a
    `code` and a `reason`. A value wrong for every ticket (an unknown or disabled agent, a
    viewer, a team with no agents) is a 422 and nothing changes."""
    return hub.bulk_tickets(body)


@router.get("/{ticket_id}", response_model=Ticket, summary="Get a ticket with its SLA state")
def get_ticket(hub: UserHub, ticket_id: TicketId) -> Ticket:
    return hub.get_ticket(ticket_id)


@router.patch(
    "/{ticket_id}",
    response_model=Ticket,
    dependencies=[requires("write")],
    summary="Change a ticket",
)
def update_ticket(hub: UserHub, ticket_id: TicketId, body: TicketUpdate) -> Ticket:
    """Change the subject, description, priority, tags or extra fields present in the body."""
    return hub.update_ticket(ticket_id, body)


@router.put(
    "/{ticket_id}/assignee",
    response_model=Ticket,
    dependencies=[requires("write")],
    summary="Assign or unassign a ticket",
)
def assign_ticket(hub: UserHub, ticket_id: TicketId, body: Assignment) -> Ticket:
    """`assignee`: an active agent (viewers, disabled users and unknown names are a 422).
    `team`: alone, a round-robin team gives it to its next active agent; a team with no
    active agent is a 422. Both: the agent must be in the team. Both null: unassigned."""
    return hub.assign_ticket(ticket_id, body.assignee, team=body.team)


@router.post(
    "/{ticket_id}/status",
    response_model=Ticket,
    dependencies=[requires("write")],
    summary="Move a ticket along its lifecycle",
)
def set_status(hub: UserHub, ticket_id: TicketId, body: StatusChange) -> Ticket:
    """A refused move is a 409 naming the allowed next statuses."""
    return hub.set_ticket_status(ticket_id, body.status, note=body.note)


@router.post(
    "/{ticket_id}/close",
    response_model=Ticket,
    dependencies=[requires("write")],
    summary="Close a ticket",
)
def close_ticket(hub: UserHub, ticket_id: TicketId, body: Note | None = None) -> Ticket:
    return hub.close_ticket(ticket_id, note=body.note if body else None)


@router.post(
    "/{ticket_id}/reopen",
    response_model=Ticket,
    dependencies=[requires("write")],
    summary="Reopen a resolved or closed ticket",
)
def reopen_ticket(hub: UserHub, ticket_id: TicketId, body: Note | None = None) -> Ticket:
    return hub.reopen_ticket(ticket_id, note=body.note if body else None)


@router.get("/{ticket_id}/comments", response_model=list[Comment], summary="A ticket's comments")
def list_comments(
    hub: UserHub,
    ticket_id: TicketId,
    include_notes: Annotated[bool, Query(description="Internal notes too.")] = True,
) -> list[Comment]:
    """Oldest first."""
    return hub.list_comments(ticket_id, include_notes=include_notes)


@router.post(
    "/{ticket_id}/comments",
    response_model=Comment,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Add a public reply or an internal note",
)
def add_comment(hub: UserHub, ticket_id: TicketId, body: CommentCreate) -> Comment:
    """`public: false` makes an internal note; the first public agent reply is the first
    response of the SLA. `set_status` ("pending" or "resolved") moves the ticket in the same
    transaction: send and set pending, send and resolve."""
    return hub.add_comment(ticket_id, body)


@router.post(
    "/{ticket_id}/comments/with-files",
    response_model=Comment,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Add a public reply or an internal note with files (multipart)",
)
def add_comment_with_files(
    hub: UserHub,
    ticket_id: TicketId,
    body: Annotated[str, NOT_BLANK, Form(max_length=100_000, description="The text.")],
    files: Annotated[
        list[Annotated[UploadFile, FILE_PART]],
        File(
            min_length=1,
            description="One part per file (repeat `files`); a public reply sends them to the "
            "customer. Kept in the content-addressed store, listed under `attachments`.",
        ),
    ],
    # A form field is text: the spec says which two words, rather than a boolean that "0" or
    # "no" would also satisfy.
    public: Annotated[
        Literal["true", "false"],
        Form(description="`false` makes an internal note (the files stay with it)."),
    ] = "true",
) -> Comment:
    """The same as `POST /tickets/{id}/comments`, with files, through the same Hub call as
    `customer-flow tickets comment --attach`. Refused before anything is written: more files
    than `CUSTOMER_FLOW_MAIL_MAX_ATTACHMENTS` (422 `too_many_files`), a file over
    `CUSTOMER_FLOW_MAIL_MAX_ATTACHMENT_BYTES` (413 `file_too_large`), or all of them over
    `CUSTOMER_FLOW_MAIL_MAX_MESSAGE_BYTES` (413 `files_too_large`)."""
    new = CommentCreate(body=body, public=public == "true")
    return hub.add_comment(ticket_id, new, files=attached(files))


@router.get(
    "/{ticket_id}/canned-replies",
    response_model=list[RenderedReply],
    summary="Your canned replies, filled in for this ticket",
)
def canned_for_ticket(hub: UserHub, ticket_id: TicketId) -> list[RenderedReply]:
    """Each canned reply you see, its placeholders replaced by this ticket's customer, the
    ticket and you: the text to put in a reply."""
    return hub.render_canned_replies(ticket_id)


@router.get(
    "/{ticket_id}/attachments",
    response_model=list[StoredAttachment],
    summary="The files kept with a ticket (from its mail)",
)
def list_attachments(hub: UserHub, ticket_id: TicketId) -> list[StoredAttachment]:
    """Oldest first; `sha256` names the content (the same file is stored once)."""
    return hub.list_attachments(ticket_id)


@router.get(
    "/{ticket_id}/attachments/{attachment_id}",
    summary="Download one of a ticket's files",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file, always as a download (`Content-Disposition: attachment`, "
            "`application/octet-stream`, `nosniff`): never shown in the page.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def download_attachment(
    hub: UserHub, ticket_id: TicketId, attachment_id: AttachmentId
) -> FileResponse:
    found, path = hub.open_attachment(ticket_id, attachment_id)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=found.filename,
        content_disposition_type="attachment",
    )


@router.get("/{ticket_id}/history", response_model=list[AuditEntry], summary="A ticket's timeline")
def ticket_history(hub: UserHub, ticket_id: TicketId) -> list[AuditEntry]:
    """Every change and comment, oldest first (a purged ticket's timeline stays)."""
    return hub.ticket_history(ticket_id)


@router.post(
    "/{ticket_id}/purge",
    response_model=Ticket,
    dependencies=[requires("purge")],
    summary="Delete a closed ticket for good (admin)",
)
def purge_ticket(hub: UserHub, ticket_id: TicketId) -> Ticket:
    """Its comments go too; its timeline stays."""
    return hub.purge_ticket(ticket_id)
