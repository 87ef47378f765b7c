"""Saved views: a queue's filters and sort under a name, personal or shared like canned
replies (``owned``). The filters are kept as ``TicketQuery`` fields and checked by it when the
view is saved, so a stored view always lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Connection, select

from customer_flow.core.errors import ValidationError
from customer_flow.core.times import aware
from customer_flow.store import audit
from customer_flow.store.schema import saved_views, users
from customer_flow.tickets import owned
from customer_flow.tickets.models import (
    VIEW_FIELDS,
    SavedView,
    SavedViewCreate,
    SavedViewUpdate,
    TicketQuery,
)
from customer_flow.tickets.owned import Who, check_sharing, load, require_change, visible

__all__ = ["ENTITY", "as_query", "create", "get", "list_for", "remove", "update_view"]

ENTITY = "saved_view"
WHAT = "saved view"


def check_query(raw: dict[str, Any]) -> dict[str, Any]:
    """The filters and sort of ``raw`` that differ from the queue's defaults, checked."""
    unknown = sorted(set(raw) - set(VIEW_FIELDS))
    if unknown:
        raise ValidationError(
            f"query: {unknown[0]!r} is not a filter a view keeps; use {', '.join(VIEW_FIELDS)}",
            field="query",
        )
    try:
        query = TicketQuery.model_validate(raw)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"query.{where}: {first['msg']}", field="query") from None
    return query.model_dump(include=set(VIEW_FIELDS), exclude_defaults=True, mode="json")


def as_query(view: SavedView, *, limit: int, after: str | None) -> TicketQuery:
    """The view as the query it lists, a page of ``limit`` from ``after``."""
    return TicketQuery.model_validate({**view.query, "limit": limit, "after": after})


def _title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValidationError("title: a saved view needs a title", field="title")
    return cleaned


def _to_view(conn: Connection, row: Any) -> SavedView:
    m = row._mapping
    owner = None
    if m["owner_id"] is not None:
        owner = conn.execute(select(users.c.email).where(users.c.id == m["owner_id"])).scalar()
    return SavedView(
        id=m["id"],
        title=m["title"],
        query={**(m["filters"] or {}), "sort": m["sort"]},
        shared=m["shared"],
        owner=owner,
        created_at=aware(m["created_at"]),
        updated_at=aware(m["updated_at"]),
    )


def list_for(conn: Connection, who: Who) -> list[SavedView]:
    """The saved views ``who`` sees (shared and their own), by title; at most 200."""
    rows = conn.execute(
        select(saved_views)
        .where(visible(saved_views, who))
        .order_by(saved_views.c.title, saved_views.c.id)
        .limit(200)
    ).all()
    return [_to_view(conn, r) for r in rows]


def get(conn: Connection, view_id: int, who: Who) -> SavedView:
    return _to_view(conn, load(conn, saved_views, view_id, who, WHAT))


def _split(query: dict[str, Any]) -> tuple[dict[str, Any], str]:
    filters = {k: v for k, v in query.items() if k != "sort"}
    return filters, str(query.get("sort", "id"))


def _snapshot(view: SavedView) -> dict[str, Any]:
    return view.model_dump(mode="json", exclude={"created_at", "updated_at"})


def create(
    conn: Connection, new: SavedViewCreate, who: Who, now: datetime, *, actor: str
) -> SavedView:
    check_sharing(new.shared, who, WHAT)
    filters, sort = _split(check_query(new.query))
    inserted = conn.execute(
        saved_views.insert().values(
            title=_title(new.title),
            filters=filters,
            sort=sort,
            shared=new.shared,
            owner_id=who.user_id,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key
    view = get(conn, int(inserted[0]), who)  # type: ignore[index]
    audit.record(
        conn, actor=actor, action="create", entity=ENTITY, entity_id=view.id,
        before=None, after=_snapshot(view), at=now,
    )  # fmt: skip
    return view


def update_view(
    conn: Connection, view_id: int, changes: SavedViewUpdate, who: Who, now: datetime, *,
    actor: str,
) -> SavedView:  # fmt: skip
    row = load(conn, saved_views, view_id, who, WHAT)
    require_change(row, who, WHAT)
    before = _to_view(conn, row)
    values: dict[str, Any] = {}
    if changes.title is not None:
        values["title"] = _title(changes.title)
    if changes.query is not None:
        values["filters"], values["sort"] = _split(check_query(changes.query))
    if changes.shared is not None and changes.shared != before.shared:
        check_sharing(changes.shared, who, WHAT)
        values["shared"] = changes.shared
    return owned.change(
        conn, saved_views, before, values, lambda: get(conn, view_id, who), _snapshot, now,
        entity=ENTITY, actor=actor,
    )  # fmt: skip


def remove(conn: Connection, view_id: int, who: Who, now: datetime, *, actor: str) -> SavedView:
    row = load(conn, saved_views, view_id, who, WHAT)
    require_change(row, who, WHAT)
    return owned.remove(
        conn, saved_views, _to_view(conn, row), _snapshot, now, entity=ENTITY, actor=actor
    )
