"""``/api/v1/saved-views``: queues that users saved (filters and sort under a name).

Personal (only you see it) or shared (everyone; only an admin shares one, and its owner or an
admin changes it). List a view's tickets with ``GET /api/v1/tickets?saved_view={id}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from customer_flow.tickets.models import SavedView, SavedViewCreate, SavedViewUpdate

from ..deps import UserHub, requires

__all__ = ["router"]

router = APIRouter(prefix="/saved-views", tags=["saved views"])
ViewId = Annotated[int, Path(ge=1, le=2**53, description="The saved view's ID.")]


@router.get("", response_model=list[SavedView], summary="The saved views you see")
def list_views(hub: UserHub) -> list[SavedView]:
    """The shared ones and your own, by title."""
    return hub.list_saved_views()


@router.post(
    "",
    response_model=SavedView,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Save a view of the queue",
)
def add_view(hub: UserHub, body: SavedViewCreate) -> SavedView:
    """A filter the queue does not take, or a value it refuses, is a 422; sharing is for
    admins (403)."""
    return hub.add_saved_view(body)


@router.get("/{view_id}", response_model=SavedView, summary="Get a saved view")
def get_view(hub: UserHub, view_id: ViewId) -> SavedView:
    """Someone else's personal view is a 404."""
    return hub.get_saved_view(view_id)


@router.patch(
    "/{view_id}",
    response_model=SavedView,
    dependencies=[requires("write")],
    summary="Change a saved view",
)
def update_view(hub: UserHub, view_id: ViewId, body: SavedViewUpdate) -> SavedView:
    """Your own, or a shared one if you are an admin or its owner (else 403)."""
    return hub.update_saved_view(view_id, body)


@router.delete(
    "/{view_id}",
    response_model=SavedView,
    dependencies=[requires("write")],
    summary="Delete a saved view",
)
def delete_view(hub: UserHub, view_id: ViewId) -> SavedView:
    return hub.delete_saved_view(view_id)
