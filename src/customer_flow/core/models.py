"""Pydantic schemas shared by the hub and its three doors (CLI, API, pages).

A family per entity, as in FastAPI's full-stack template: ``CustomerCreate`` for input,
``CustomerUpdate`` for partial changes, ``Customer`` for what is read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

T = TypeVar("T")

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")


@dataclass(frozen=True, eq=False)  # hashed by identity: keywords may hold lists
class Spec:
    """JSON Schema keywords a field's entry in the OpenAPI spec states, for a rule that the
    capability checks itself, with its own message and error code, the same from every door.

    ``Annotated[str, Field(max_length=300), NOT_BLANK]``: Pydantic keeps checking the length;
    the spec also says what ``clean_name`` refuses, so that a client (or a client generator)
    knows a blank name is refused before it sends one. The API's schemathesis run keeps the
    two honest: a request the spec allows must not be refused, nor one it forbids accepted.
    """

    keywords: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, **keywords: Any) -> Spec:
        return cls(tuple(keywords.items()))

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


class NotNull:
    """In the spec, a field that may be left out but not sent as ``null`` (an update's name:
    left out, it stays; null is refused like a blank one). Pydantic's ``None`` default adds a
    null branch (and a null default) to the field's schema; this drops them."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
        if len(branches) == 1:
            del schema["anyOf"]
            schema.update(branches[0])
        if "default" in schema and schema["default"] is None:
            del schema["default"]
        return schema


NOT_NULL = NotNull()


#: Python's whitespace (``str.isspace``, ``re``'s ``\s``, what ``strip`` and ``split`` remove),
#: as a JSON Schema character class; a test checks it against the running Python.
WHITESPACE = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: Blank text: nothing but whitespace (or nothing at all).
BLANK = {"pattern": f"^[{WHITESPACE}]*$"}
#: Text that is not blank: trimmed, something is left (names, subjects, comment bodies). Said
#: as "not blank" rather than as a pattern that finds a non-space: test generators spell a
#: pattern out to the field's maxLength (100,000 for a comment), which costs seconds a field.
NOT_BLANK = Spec.of(minLength=1, **{"not": BLANK})


#: A paging cursor: the ``next`` of the previous page, opaque (URL-safe base64, see
#: ``core.paging``); one the server did not make is refused (422 ``bad_cursor``). The format
#: names it for clients and test generators; empty means the first page.
CURSOR = Spec.of(format="cursor")


def _any_case(word: str) -> str:
    return "".join(f"[{c}{c.upper()}]" for c in word)


#: The domains email-validator refuses as special-use (``SPECIAL_USE_DOMAIN_NAMES``).
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
#: An email address as email-validator takes it (without DNS): the ``email`` format, at most
#: 254 characters (RFC 3696 errata), and not at a special-use domain such as ``x.test``.
EMAIL = Spec.of(
    format="email",
    maxLength=254,
    # A pattern of its own, not "(?i)": JSON Schema's regexes (ECMA 262) have no flags.
    **{"not": {"pattern": f"[.@]({'|'.join(map(_any_case, SPECIAL_USE_DOMAINS))})\\.?$"}},
)


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


__all__ = [
    "CURSOR",
    "EMAIL",
    "NOT_BLANK",
    "NOT_NULL",
    "WHITESPACE",
    "AuditEntry",
    "NotNull",
    "Page",
    "Priority",
    "RecordWarning",
    "Spec",
    "parse",
]
