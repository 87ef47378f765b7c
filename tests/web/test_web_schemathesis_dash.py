"""schemathesis over the reports, duplicates and merges operations, on a database that has
what they work on (tickets, pairs of likely duplicates, a merge), so that the fuzzed calls
reach the success paths too, with every check ``test_web_schemathesis`` runs.

``test_web_schemathesis`` fuzzes every other operation; these run here, on the data they
need. ``SCHEMATHESIS_EXAMPLES`` (default 5) sets the depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

from .test_web_schemathesis import DASH, Api, _settings, database, run_schemathesis

PREFIXES = ("/api/v1/reports", "/api/v1/duplicates", "/api/v1/merges")


@pytest.fixture(scope="module")
def dash_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    examples = Path(__file__).resolve().parents[2] / "src" / "customer_flow" / "examples"
    folder = tmp_path_factory.mktemp("schemathesis-dash")
    with database(folder) as url, Hub(_settings(url)) as hub:
        hub.init(ticket_types_file=examples / "ticket_types.json")
        admin = hub.add_user(
            UserCreate(email="admin@team.example.org", role="admin", password="keeper of the keys")
        )
        kind = hub.list_ticket_types()[0].key
        for i in range(8):
            phone = f"+3519120000{i:02d}"
            a = hub.add_customer(CustomerCreate(name=f"Ana Lima {i}", phone=phone))
            hub.add_customer(
                CustomerCreate(name=f"Lima {i}, Ana", phone=phone, email=f"a{i}@x.pt"),
                allow_duplicate=True,
            )
            hub.open_ticket(TicketCreate(customer_id=a.id, type=kind, subject=f"help {i}"))
        merged = hub.add_customer(CustomerCreate(name="Rui Sousa", phone="+351913000000"))
        other = hub.add_customer(
            CustomerCreate(name="Sousa, Rui", phone="+351913000000"), allow_duplicate=True
        )
        hub.merge_customers(merged.id, [other.id])
        assert hub.find_duplicates().clusters  # the fuzzing has pairs to find
        yield Api(hub=hub, admin_id=admin.id)


def test_reports_and_duplicates_conform_to_the_spec(dash_api: Api) -> None:
    outcome = run_schemathesis(create_app(hub=dash_api.hub), dash_api, path_regex=DASH)
    assert set(outcome.statuses) == {
        "GET /api/v1/reports",
        "GET /api/v1/reports/{table}.csv",
        "GET /api/v1/duplicates",
        "POST /api/v1/duplicates/merge",
        "POST /api/v1/duplicates/dismiss",
        "GET /api/v1/merges",
        "GET /api/v1/merges/{merge_id}",
        "POST /api/v1/merges/{merge_id}/undo",
    }
    assert outcome.errors == []
    assert outcome.failures == [], "\n".join(outcome.failures)
    assert all(c.total() >= 5 for c in outcome.statuses.values())  # every operation really ran
    every = outcome.every_status()
    assert sum(n for s, n in every.items() if 200 <= s < 300) >= 50
    assert every[422] > 0
