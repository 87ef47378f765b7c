"""``/api/v1/canned-replies``: text snippets with placeholders that agents insert in a reply.

Personal (only you see it) or shared (everyone; only an admin shares one, and its owner or an
admin changes it). A ticket's canned replies with the placeholders filled in are at
``GET /api/v1/tickets/{id}/canned-replies``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from customer_flow.tickets.models import CannedCreate, CannedReply, CannedUpdate

from ..deps import UserHub, requires

__all__ = ["router"]

router = APIRouter(prefix="/canned-replies", tags=["canned replies"])
ReplyId = Annotated[int, Path(ge=1, le=2**53, description="The canned reply's ID.")]


@router.get("", response_model=list[CannedReply], summary="The canned replies you see")
def list_canned(hub: UserHub) -> list[CannedReply]:
    """The shared ones and your own, by title."""
    return hub.list_canned_replies()


@router.post(
    "",
    response_model=CannedReply,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Save a canned reply",
)
def add_canned(hub: UserHub, body: CannedCreate) -> CannedReply:
    """A placeholder not in the list (see `body`) is a 422 naming it; sharing is for admins
    (403)."""
    return hub.add_canned_reply(body)


@router.get("/{reply_id}", response_model=CannedReply, summary="Get a canned reply")
def get_canned(hub: UserHub, reply_id: ReplyId) -> CannedReply:
    """Someone else's personal reply is a 404."""
    return hub.get_canned_reply(reply_id)


@router.patch(
    "/{reply_id}",
    response_model=CannedReply,
    dependencies=[requires("write")],
    summary="Change a canned reply",
)
def update_canned(hub: UserHub, reply_id: ReplyId, body: CannedUpdate) -> CannedReply:
    """Your own, or a shared one if you are an admin or its owner (else 403)."""
    return hub.update_canned_reply(reply_id, body)


@router.delete(
    "/{reply_id}",
    response_model=CannedReply,
    dependencies=[requires("write")],
    summary="Delete a canned reply",
)
def delete_canned(hub: UserHub, reply_id: ReplyId) -> CannedReply:
    return hub.delete_canned_reply(reply_id)
