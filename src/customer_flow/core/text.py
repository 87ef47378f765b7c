"""Control characters in text: what every door refuses.

PostgreSQL cannot store a NUL in a text column, and a ``\\u0000`` stored in a JSON column breaks
its JSON functions; the other C0 controls (and DEL) make no sense in a name, an email, a
subject or a comment either. Tab, line feed and carriage return are text: multi-line fields
keep them. The web app refuses a request carrying any other (``web.controls``), and so do the
Hub's file inputs, so that both databases see the same text.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CONTROL", "describe", "find_control", "strip_controls"]

#: C0 controls but tab, LF and CR; and DEL.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def find_control(value: Any, where: str = "") -> tuple[str, str] | None:
    """(where, the character) of the first control character in ``value``: a string, or the
    strings and keys of nested dicts and lists (``where`` is a dotted path). None when clean."""
    if isinstance(value, str):
        found = CONTROL.search(value)
        return (where or "value", found.group()) if found else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and (found := CONTROL.search(key)):
                return (f"{CONTROL.sub('?', here)} (a key)", found.group())
            if (hit := find_control(item, here)) is not None:
                return hit
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if (hit := find_control(item, f"{where}[{i}]")) is not None:
                return hit
    return None


def describe(where: str, char: str) -> str:
    """The one-line message for a control character found at ``where``."""
    where = CONTROL.sub("?", where)[:100]
    return f"{where}: contains a control character (U+{ord(char):04X}); remove it"


def strip_controls(value: Any) -> Any:
    """``value`` with the control characters removed from every string and key in it."""
    if isinstance(value, str):
        return CONTROL.sub("", value)
    if isinstance(value, dict):
        return {strip_controls(k): strip_controls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_controls(v) for v in value]
    return value
