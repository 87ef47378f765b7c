"""A customer's extra attributes: the limits, and the one check every writer applies.

Values are text, as an import stores them (:func:`as_text`: a number from the API is kept as
its JSON text, an empty value is no value), so that every export reads back the same.

A customer holds at most ``MAX_ATTRIBUTES`` extra attributes, each named by 1 to ``MAX_KEY``
characters, each value at most ``MAX_VALUE`` characters (a value that is not a string counts as
its JSON text). The API schema states them (``models``), ``records`` checks them on add and
update, a merge checks its result (``duplicates.merge``), and the import rejects a row that
breaks them (``data.cleaning``, ``data.loading``). Without them one customer held 45,000
attributes (45 MB) and its page weighed 92 MB.

A customer stored before these limits may be over them; it can still be changed as long as a
change does not make it bigger (more attributes than it had), so the excess can be removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from customer_flow.core.errors import ValidationError

__all__ = [
    "CODE",
    "MAX_ATTRIBUTES",
    "MAX_KEY",
    "MAX_VALUE",
    "as_text",
    "as_texts",
    "check_count",
    "check_extra",
    "value_length",
]

MAX_ATTRIBUTES = 100
MAX_KEY = 100
#: The same limit as the import's ``value_too_long`` rule has always had.
MAX_VALUE = 10_000
CODE = "extra_too_large"


def as_text(value: Any) -> str | None:
    """An extra attribute's value as it is stored: text, as an import stores it, so that an
    export reads back the same. A number or a boolean is its JSON text (``5``, ``true``), an
    object or a list its JSON; an empty string or null is no value (``None``), as an empty cell
    is."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_texts(extra: Mapping[str, Any], *, keep_removals: bool = False) -> dict[str, Any]:
    """``extra`` with every value :func:`as_text`. Values that become no value are left out,
    or with ``keep_removals`` (an update, where null removes an attribute) kept as ``None``."""
    out: dict[str, Any] = {}
    for key, value in extra.items():
        text = as_text(value)
        if text is not None or keep_removals:
            out[key] = text
    return out


def value_length(value: Any) -> int:
    """A value's length as the limit counts it: a string's characters, else its JSON text's."""
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, ensure_ascii=False, default=str))


def check_count(count: int, *, had: int = 0) -> None:
    """Refuse ``count`` attributes past ``MAX_ATTRIBUTES``, unless the customer (or, for a
    merge, the largest of the customers merged) ``had`` that many already."""
    if count > MAX_ATTRIBUTES and count > had:
        raise ValidationError(
            f"extra: {count:,} attributes; a customer has at most {MAX_ATTRIBUTES}",
            code=CODE,
            field="extra",
        )


def check_extra(extra: Mapping[str, Any], *, before: Mapping[str, Any] | None = None) -> None:
    """Refuse (``ValidationError``, code ``extra_too_large``) extra attributes past the limits.

    ``before`` is what the customer held until now: its own attributes are not checked again,
    and the count may stay over the limit as long as it does not grow."""
    before = before or {}
    check_count(len(extra), had=len(before))
    for key, value in extra.items():
        if key in before and before[key] == value:
            continue
        if not 1 <= len(key) <= MAX_KEY or not key.strip():
            raise ValidationError(
                f"extra: the attribute name {key[:40]!r}{'...' if len(key) > 40 else ''} has "
                f"{len(key):,} characters; names have 1 to {MAX_KEY}, not all blank",
                code=CODE,
                field="extra",
            )
        if value_length(value) > MAX_VALUE:
            raise ValidationError(
                f"extra.{key}: the value has {value_length(value):,} characters; at most "
                f"{MAX_VALUE:,}",
                code=CODE,
                field=f"extra.{key}",
            )
