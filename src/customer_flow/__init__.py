"""Customer_Flow: a team's customer records and support tickets, kept clean.

The public API is the ``Hub`` (one per database, one method per use case), its settings, its
models and its errors. Everything else is an implementation module.

The names are imported on first use (PEP 562): importing any module of the package runs this
file first, and a command that only lists customers should not pay for the Hub's every
capability (``tests/cli/test_cli_startup.py``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from customer_flow.core.config import Settings
    from customer_flow.core.errors import (
        ConfigError,
        ConflictError,
        CustomerFlowError,
        NotFoundError,
        PermissionDeniedError,
        StateError,
        StorageError,
        ValidationError,
    )
    from customer_flow.customers.models import (
        Customer,
        CustomerCreate,
        CustomerQuery,
        CustomerUpdate,
    )
    from customer_flow.hub import Hub
    from customer_flow.tickets.models import TicketType

    __version__: str

#: Each public name and the module it comes from.
_HOMES = {
    "ConfigError": "customer_flow.core.errors",
    "ConflictError": "customer_flow.core.errors",
    "Customer": "customer_flow.customers.models",
    "CustomerCreate": "customer_flow.customers.models",
    "CustomerFlowError": "customer_flow.core.errors",
    "CustomerQuery": "customer_flow.customers.models",
    "CustomerUpdate": "customer_flow.customers.models",
    "Hub": "customer_flow.hub",
    "NotFoundError": "customer_flow.core.errors",
    "PermissionDeniedError": "customer_flow.core.errors",
    "Settings": "customer_flow.core.config",
    "StateError": "customer_flow.core.errors",
    "StorageError": "customer_flow.core.errors",
    "TicketType": "customer_flow.tickets.models",
    "ValidationError": "customer_flow.core.errors",
}

__all__ = [
    "ConfigError",
    "ConflictError",
    "Customer",
    "CustomerCreate",
    "CustomerFlowError",
    "CustomerQuery",
    "CustomerUpdate",
    "Hub",
    "NotFoundError",
    "PermissionDeniedError",
    "Settings",
    "StateError",
    "StorageError",
    "TicketType",
    "ValidationError",
    "__version__",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("customer-flow")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+source"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
