"""The customer schemas: ``CustomerCreate`` for input, ``CustomerUpdate`` for partial changes,
``Customer`` for what is read back, ``CustomerQuery`` for a page of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from customer_flow.core.models import EMAIL, NOT_BLANK, NOT_NULL, WHITESPACE, RecordWarning, Spec
from customer_flow.customers import extra as extras

#: A customer's name: ``clean_name`` trims it and refuses it blank.
Name = Annotated[str, Field(max_length=300), NOT_BLANK]
_BLANK = {"pattern": f"^[{WHITESPACE}]*$"}
#: ``clean_email``: an address email-validator takes, or blank (no email).
Email = Annotated[
    str,
    Field(max_length=320, description="An email address; blank or null for none."),
    Spec.of(anyOf=[dict(EMAIL.keywords), _BLANK]),
]
#: ``clean_phone``: a phone number phonenumbers can read (kept as given, with a warning, when
#: it cannot normalise it), or blank (no phone). JSON Schema cannot state phonenumbers' rule,
#: so the spec names the format: digits with the usual punctuation, ``+`` for a country code.
Phone = Annotated[
    str,
    Field(
        max_length=64,
        description="A phone number, such as +351 912 345 678 or (415) 555-2671 ext. 12; "
        "blank or null for none. A value with no phone number in it is refused.",
    ),
    Spec.of(format="phone"),
]
#: The format once more beside ``anyOf``: a tool that reads the field's outer schema only
#: (schemathesis' constants, for one) then knows it is no free text either.
OptionalPhone = Annotated[Phone | None, Spec.of(format="phone")]

_EXTRA_DOC = (
    "Extra attributes, kept as text (as an import keeps them): a number or a boolean is stored "
    "as its JSON text (`5`, `true`), an object or a list as its JSON, and an empty string or "
    "null is no value. "
    f"At most {extras.MAX_ATTRIBUTES}, names of 1 to {extras.MAX_KEY} "
    f"characters, values of at most {extras.MAX_VALUE:,} characters (a value that is not a "
    "string counts as its JSON text); past them, 422 `extra_too_large`."
)
_EXTRA_NAMES: JsonDict = {"minLength": 1, "maxLength": extras.MAX_KEY}


class CustomerCreate(BaseModel):
    """What a new customer is made from. ``id`` is assigned when left out."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, ge=1, le=2**53)
    name: Name
    email: Email | None = None
    phone: OptionalPhone = None
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description=_EXTRA_DOC,
        json_schema_extra={"maxProperties": extras.MAX_ATTRIBUTES, "propertyNames": _EXTRA_NAMES},
    )

    @field_validator("extra")
    @classmethod
    def _extra_as_text(cls, value: dict[str, Any]) -> dict[str, Any]:
        return extras.as_texts(value)


class CustomerUpdate(BaseModel):
    """A partial update: only the fields that are set change. ``None`` clears email or phone."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Name | None, NOT_NULL] = None
    email: Email | None = None
    phone: OptionalPhone = None
    extra: dict[str, Any] | None = Field(
        default=None,
        description=f"Set these attributes; null (or an empty string) removes one. {_EXTRA_DOC}",
        json_schema_extra={"propertyNames": _EXTRA_NAMES},
    )

    @field_validator("extra")
    @classmethod
    def _extra_as_text(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else extras.as_texts(value, keep_removals=True)


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
