"""Pydantic schemas shared by the hub and its three doors (CLI, API, pages).

A family per entity, as in FastAPI's full-stack template: ``CustomerCreate`` for input,
``CustomerUpdate`` for partial changes, ``Customer`` for what is read back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


class RecordWarning(BaseModel):
    """A problem kept on a record that does not block it, with a stable code."""

    model_config = ConfigDict(frozen=True)

    field: str
    code: str
    message: str


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; ``next`` is the cursor of the following page."""

    items: list[T]
    next: str | None = None


class AuditEntry(BaseModel):
    """One change: when, who, what, and the record before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None = None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Build ``model`` from ``data``, turning Pydantic's error into our one-line ValidationError."""
    from pydantic import ValidationError as PydanticValidationError

    from customer_flow.core.errors import ValidationError

    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ValidationError(f"{field}: {first['msg']}", field=field) from exc


__all__ = ["AuditEntry", "Page", "Priority", "RecordWarning", "parse"]
