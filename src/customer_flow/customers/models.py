"""The customer schemas: ``CustomerCreate`` for input, ``CustomerUpdate`` for partial changes,
``Customer`` for what is read back, ``CustomerQuery`` for a page of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from customer_flow.core.models import RecordWarning
from customer_flow.customers import extra as extras

_EXTRA_DOC = (
    f"Extra attributes: at most {extras.MAX_ATTRIBUTES}, names of 1 to {extras.MAX_KEY} "
    f"characters, values of at most {extras.MAX_VALUE:,} characters (a value that is not a "
    "string counts as its JSON text); past them, 422 `extra_too_large`."
)
_EXTRA_NAMES: JsonDict = {"minLength": 1, "maxLength": extras.MAX_KEY}


class CustomerCreate(BaseModel):
    """What a new customer is made from. ``id`` is assigned when left out."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, ge=1, le=2**53)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description=_EXTRA_DOC,
        json_schema_extra={"maxProperties": extras.MAX_ATTRIBUTES, "propertyNames": _EXTRA_NAMES},
    )


class CustomerUpdate(BaseModel):
    """A partial update: only the fields that are set change. ``None`` clears email or phone."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    extra: dict[str, Any] | None = Field(
        default=None,
        description=f"Set these attributes; null removes one. {_EXTRA_DOC}",
        json_schema_extra={"propertyNames": _EXTRA_NAMES},
    )


class Customer(BaseModel):
    """A stored customer, as every door shows it."""

    id: int
    name: str
    email: str | None
    phone: str | None
    extra: dict[str, Any]
    warnings: list[RecordWarning]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def in_trash(self) -> bool:
        return self.deleted_at is not None


CustomerSort = Literal["id", "-id", "name", "-name", "created", "-created"]


class CustomerQuery(BaseModel):
    """How to list customers: search text, which set, sort order and a page."""

    search: str | None = None
    trash: bool = False
    with_warnings: bool = False
    sort: CustomerSort = "id"
    limit: int = Field(default=50, ge=1, le=1000)
    after: str | None = None


__all__ = ["Customer", "CustomerCreate", "CustomerQuery", "CustomerSort", "CustomerUpdate"]
