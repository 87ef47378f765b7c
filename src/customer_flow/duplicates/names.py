"""Name knowledge shared by the finder and the model: the nickname table.

Both ``find`` and ``model`` read it, and neither imports the other for it."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["nicknames"]


@cache
def nicknames() -> dict[str, str]:
    """Nickname -> given name (``nicknames.json``): "bob" -> "robert"."""
    text = (resources.files(__package__) / "nicknames.json").read_text()
    found: dict[str, str] = json.loads(text)["nicknames"]
    return found
