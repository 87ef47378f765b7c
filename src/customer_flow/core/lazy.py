"""A module imported on first use: what keeps a light command light.

The Hub names every capability, but a command that shows one customer needs none of Polars,
Splink or matplotlib. A module bound with ``lazy`` is imported when one of its attributes is
first read, so ``dedupe.find(...)`` in a Hub method costs the import only in the commands that
call it. Annotations and import-linter see the real import, made under ``TYPE_CHECKING``:

    if TYPE_CHECKING:
        from customer_flow.duplicates import find as dedupe
    else:
        dedupe = lazy("customer_flow.duplicates.find")

``tests/cli/test_cli_startup.py`` fails when a light command loads a heavy library again.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

__all__ = ["lazy"]


class _LazyModule:
    """Stands for a module until an attribute is read, then reads it from the real one.

    Every read goes to the module in ``sys.modules``, so a test that monkeypatches the module
    patches what the caller sees too."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module: ModuleType = import_module(self._name)  # thread-safe: the import lock
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    """``name`` (a dotted module path), imported when one of its attributes is first read."""
    return _LazyModule(name)
