"""Ticket rules: what a ticket's subject, tags, assignee and extra fields must look like.

Pure functions that clean a value or raise ``ValidationError`` naming the field. The extra fields
come from the ticket's type (``ticket_types.json``): each has a type (string, text, integer,
number, boolean, date, choice) and may be required. Values typed at a command line arrive as
strings and are converted ("12" for an integer, "yes" for a boolean).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from customer_flow.core.errors import ValidationError
from customer_flow.customers import records as customers
from customer_flow.tickets.models import TicketType

__all__ = ["MAX_TAGS", "clean_assignee", "clean_fields", "clean_subject", "clean_tags"]

MAX_TAGS = 20
MAX_TAG_LENGTH = 50
MAX_STRING_FIELD = 1000


def clean_subject(value: str | None) -> str:
    subject = customers.collapse(value or "")
    if not subject:
        raise ValidationError(
            "subject: a ticket needs a subject", field="subject", code="subject_missing"
        )
    return subject


def clean_tags(values: list[str]) -> list[str]:
    """Tags lower-cased, trimmed, without duplicates, in the order given."""
    tags: list[str] = []
    for raw in values:
        tag = customers.collapse(str(raw)).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(
                f"tags: {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters",
                field="tags",
                code="tag_too_long",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"tags: at most {MAX_TAGS} tags", field="tags", code="too_many_tags")
    return tags


def clean_assignee(value: str | None) -> str | None:
    name = customers.collapse(value or "")
    return name or None


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _field_value(name: str, spec: dict[str, Any], value: Any) -> Any:
    """One extra field's value checked and converted to its type (strings from a CLI too)."""
    kind = spec["type"]
    where = f"fields.{name}"

    def bad(expected: str) -> ValidationError:
        return ValidationError(
            f"{where}: expected {expected}, got {value!r}", field=where, code="field_invalid"
        )

    if kind in ("string", "text"):
        if not isinstance(value, str):
            raise bad("text")
        text = value.strip() if kind == "text" else customers.collapse(value)
        if kind == "string" and len(text) > MAX_STRING_FIELD:
            raise bad(f"at most {MAX_STRING_FIELD} characters")
        return text
    if kind == "integer":
        if isinstance(value, bool):
            raise bad("a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad("a whole number")
    if kind == "number":
        if isinstance(value, bool):
            raise bad("a number")
        number: float | None = None
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise bad("a number")
        return int(number) if isinstance(value, int) else number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad("true or false")
    if kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise bad("a date like 2026-12-25")
    if kind == "choice":
        choices = spec.get("choices", [])
        if value not in choices:
            raise ValidationError(
                f"{where}: expected one of {', '.join(choices)}, got {value!r}",
                field=where,
                code="field_invalid",
            )
        return value
    raise ValidationError(f"{where}: unknown field type {kind!r}", field=where)  # pragma: no cover


def clean_fields(ttype: TicketType, given: dict[str, Any]) -> dict[str, Any]:
    """The extra fields of a ticket of ``ttype``: known, typed, and required ones present."""
    unknown = sorted(set(given) - set(ttype.fields))
    if unknown:
        known = ", ".join(sorted(ttype.fields)) or "none"
        raise ValidationError(
            f"fields.{unknown[0]}: type {ttype.key} has no such field; its fields: {known}",
            field=f"fields.{unknown[0]}",
            code="field_unknown",
        )
    cleaned: dict[str, Any] = {}
    for name, spec in ttype.fields.items():
        value = given.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.get("required"):
                raise ValidationError(
                    f"fields.{name}: required for type {ttype.key}",
                    field=f"fields.{name}",
                    code="field_required",
                )
            continue
        cleaned[name] = _field_value(name, spec, value)
    return cleaned
