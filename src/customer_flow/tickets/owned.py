"""What canned replies and saved views share: each is personal (only its owner sees it) or
shared (everyone sees it; only an admin makes one, and its owner or an admin changes it).

``who`` is the acting user's ID (None for the local CLI acting as no user) and whether they
are an admin. Someone else's personal item is "not found", so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Connection, Table, delete, or_, select, update

from customer_flow.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from customer_flow.store import audit

__all__ = ["Who", "check_sharing", "load", "may_change", "visible"]


@dataclass(frozen=True)
class Who:
    """The acting user for ownership: their ID (None: the local CLI) and whether admin."""

    user_id: int | None
    admin: bool


def visible(table: Table, who: Who) -> ColumnElement[bool]:
    """The rows ``who`` sees: the shared ones and their own."""
    if who.user_id is None:
        return table.c.shared.is_(True)
    return or_(table.c.shared.is_(True), table.c.owner_id == who.user_id)


def load(conn: Connection, table: Table, item_id: int, who: Who, what: str) -> Any:
    """The row ``item_id`` if ``who`` may see it, else NotFoundError."""
    row = conn.execute(select(table).where(table.c.id == item_id, visible(table, who))).first()
    if row is None:
        raise NotFoundError(
            f"no {what} with ID {item_id}", field="id", code=f"{what.replace(' ', '_')}_not_found"
        )
    return row


def may_change(row: Any, who: Who) -> bool:
    """A personal item: its owner. A shared one: an admin or its owner."""
    m = row._mapping
    if m["shared"]:
        return who.admin or (who.user_id is not None and m["owner_id"] == who.user_id)
    return who.user_id is not None and m["owner_id"] == who.user_id


def require_change(row: Any, who: Who, what: str) -> None:
    if not may_change(row, who):
        raise PermissionDeniedError(
            f"only an admin or its owner may change the shared {what} {row._mapping['id']}",
            code="not_owner",
        )


def check_sharing(shared: bool, who: Who, what: str) -> None:
    """Only an admin shares; a personal item needs a user to own it."""
    if shared and not who.admin:
        raise PermissionDeniedError(f"only an admin may share a {what}", code="share_admin_only")
    if not shared and who.user_id is None:
        raise ValidationError(
            f"shared: a personal {what} belongs to a user: act as one (--actor EMAIL) or "
            "make it shared",
            field="shared",
            code="owner_missing",
        )


class _Item(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=_Item)


def change(
    conn: Connection,
    table: Table,
    before: T,
    values: dict[str, Any],
    reread: Callable[[], T],
    snapshot: Callable[[T], dict[str, Any]],
    now: datetime,
    *,
    entity: str,
    actor: str,
) -> T:
    """Write ``values`` to the item ``before`` is (none: nothing to do) and audit the change;
    the item as ``reread`` finds it after."""
    if not values:
        return before
    conn.execute(update(table).where(table.c.id == before.id).values(**values, updated_at=now))
    after = reread()
    audit.record(
        conn, actor=actor, action="update", entity=entity, entity_id=before.id,
        before=snapshot(before), after=snapshot(after), at=now,
    )  # fmt: skip
    return after


def remove(
    conn: Connection,
    table: Table,
    gone: T,
    snapshot: Callable[[T], dict[str, Any]],
    now: datetime,
    *,
    entity: str,
    actor: str,
) -> T:
    """Delete the item ``gone`` is and audit it; ``gone``."""
    conn.execute(delete(table).where(table.c.id == gone.id))
    audit.record(
        conn, actor=actor, action="delete", entity=entity, entity_id=gone.id,
        before=snapshot(gone), after=None, at=now,
    )  # fmt: skip
    return gone


__all__ += ["change", "remove", "require_change"]
