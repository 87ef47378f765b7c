"""Helpers for the ticket tests of the web door: the bundled ticket types and a customer."""

from __future__ import annotations

from pathlib import Path

from customer_flow.customers.models import CustomerCreate

from .conftest import Team

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "customer_flow" / "examples"


def desk(team: Team) -> int:
    """Load the bundled ticket types into the team's database; returns a new customer's ID."""
    team.hub.load_ticket_types(EXAMPLES / "ticket_types.json")
    return team.hub.add_customer(CustomerCreate(name="Ticket Customer")).id
