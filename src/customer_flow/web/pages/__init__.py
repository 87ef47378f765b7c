"""The HTML pages: one module per area, each with a ``router``.

Adding an area (tickets, imports, ...) is one module here with its templates, and one line in
``ROUTERS``.
"""

from __future__ import annotations

from fastapi import APIRouter

from customer_flow.web.pages import (
    account,
    auth,
    canned,
    customers,
    duplicates,
    imports,
    mail_settings,
    reports,
    ticket_types,
    tickets,
    users,
)

__all__ = ["ROUTERS"]

#: Every page router.
ROUTERS: list[APIRouter] = [
    auth.router,
    account.router,
    customers.router,
    ticket_types.router,
    tickets.router,
    canned.router,
    reports.router,
    duplicates.router,
    imports.router,
    users.router,
    mail_settings.router,
]
