"""Customer_Flow: a team's customer records and support tickets, kept clean.

The public API is the ``Hub`` (one per database, one method per use case), its settings, its
models and its errors. Everything else is an implementation module.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("customer-flow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

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
from customer_flow.customers.models import Customer, CustomerCreate, CustomerQuery, CustomerUpdate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketType

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
