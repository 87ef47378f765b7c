"""The REST API under ``/api/v1``: one module per resource, each with a ``router``.

Adding a resource (tickets, imports, ...) is one module here and one line in ``ROUTERS``.
Every route documents its error responses as RFC 9457 problem details.
"""

from __future__ import annotations

from fastapi import APIRouter

from customer_flow.web.api import (
    canned,
    customers,
    duplicates,
    exports,
    imports,
    mail,
    reports,
    teams,
    ticket_types,
    tickets,
    users,
    views,
)
from customer_flow.web.problems import PROBLEM_RESPONSES

__all__ = ["ROUTERS", "api_router"]

#: Every API router, in the order the spec lists them.
ROUTERS: list[APIRouter] = [
    customers.router,
    ticket_types.router,
    exports.router,
    tickets.router,
    tickets.bulk,
    canned.router,
    views.router,
    imports.router,
    users.router,
    users.tokens,
    reports.router,
    duplicates.router,
    duplicates.merges,
    mail.router,
    teams.router,
    teams.agents,
]


def api_router() -> APIRouter:
    root = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)
    for router in ROUTERS:
        root.include_router(router)
    return root
