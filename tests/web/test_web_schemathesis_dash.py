"""schemathesis over the reports, duplicates and merges operations, on a database that has
what they work on (tickets, pairs of likely duplicates, a merge), so that the fuzzed calls
reach the success paths too: no 5xx, and every response as the spec documents.

``test_web_schemathesis`` fuzzes every operation on a database without duplicates; this one
adds the data these routes need. ``SCHEMATHESIS_EXAMPLES`` (default 8) sets the depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

from .test_web_schemathesis import EXAMPLES, EXCLUDED, Api

PREFIXES = ("/api/v1/reports", "/api/v1/duplicates", "/api/v1/merges")


@pytest.fixture(scope="module")
def dash_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("schemathesis-dash") / "api.db"
    examples = Path(__file__).resolve().parents[2] / "src" / "customer_flow" / "examples"
    s = Settings(
        database_url=f"sqlite:///{path}",
        actor="schemathesis",
        password_memory_kib=19456,
        password_time_cost=2,
    )
    with Hub(s) as hub:
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
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(hub=dash_api.hub))
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(PREFIXES)
    ]
    assert {f"{op.method.upper()} {op.path}" for op in operations} == {
        "GET /api/v1/reports",
        "GET /api/v1/reports/{table}.csv",
        "GET /api/v1/duplicates",
        "POST /api/v1/duplicates/merge",
        "POST /api/v1/duplicates/dismiss",
        "GET /api/v1/merges",
        "GET /api/v1/merges/{merge_id}",
        "POST /api/v1/merges/{merge_id}/undo",
    }
    failures: list[str] = []
    calls: dict[str, list[int]] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=dash_api.bearer(), excluded_checks=EXCLUDED)
            calls.setdefault(case.operation.label, []).append(response.status_code)

        try:
            fuzz()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert failures == [], "\n\n".join(failures)
    assert all(len(c) >= 2 for c in calls.values())  # every operation really ran
    every = [s for c in calls.values() for s in c]
    assert any(200 <= s < 300 for s in every) and any(400 <= s < 500 for s in every)
    assert all(s < 500 for s in every)
