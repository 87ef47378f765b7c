"""schemathesis over the published OpenAPI spec, authenticated as an admin, run as `st run`
runs it: the examples, coverage and fuzzing phases, with every check schemathesis has. A run
fails on

- a 5xx (``not_a_server_error``);
- a response the spec does not document: its status, content type, body or headers;
- a 4xx answering a request the spec calls valid (``positive_data_acceptance``: a 422 on a
  blank name means the spec forgot to say names may not be blank);
- a 2xx answering a request the spec calls invalid (``negative_data_rejection``: the spec
  promises a rule the server does not keep);
- a method the path does not have answered with anything but 405 and an ``Allow`` header
  that lists exactly the path's methods (``unsupported_method``, ``allow_header_conformance``).

The examples per operation are kept few (``SCHEMATHESIS_EXAMPLES``, default 5): the coverage
phase already tries every boundary the spec states (empty strings, the longest allowed, each
enum value, each missing required field, every other method). Raise it for a deeper soak.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))


@dataclass
class Api:
    hub: Hub
    admin_id: int
    admins: int = 0

    def bearer(self) -> dict[str, str]:
        """A fresh token of an active admin: a generated request may revoke the last token
        or disable an admin, and the next case should still get past the login."""
        if not self.hub.get_user(self.admin_id).active:
            self.admins += 1
            self.admin_id = self.hub.add_user(
                UserCreate(
                    email=f"admin{self.admins}@team.example.org",
                    role="admin",
                    password="admin password",
                )
            ).id
        token = self.hub.create_token("schemathesis", user_id=self.admin_id).token
        return {"Authorization": f"Bearer {token}"}


@dataclass
class Outcome:
    """What a run found: one line per distinct failure, the statuses answered per
    operation, and errors that stopped an operation from being tested at all."""

    failures: list[str] = field(default_factory=list)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def every_status(self) -> Counter[int]:
        return sum(self.statuses.values(), Counter())


def _describe(recorder: Any, case_id: str, check: str, failure: Any) -> str:
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction is not None else None
    answer = ""
    if response is not None:
        answer = f" -> {response.status_code} {(response.content or b'')[:300]!r}"
    sent = {
        "path": case.path_parameters or None,
        "query": case.query or None,
        "body": None if type(case.body).__name__ == "NotSet" else case.body,
    }
    request = ", ".join(f"{k}={str(v)[:300]}" for k, v in sent.items() if v)
    title = str(failure.title).splitlines()[0]
    return f"{recorder.label} [{check}] {title}: {case.method} {request}{answer}"


def run_schemathesis(app: Any, api: Api, *, path_regex: str | None = None) -> Outcome:
    """One schemathesis run over the app's spec (or the paths ``path_regex`` matches)."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261206,
            "continue-on-failure": True,
            "cache": {"enabled": False},
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            # Stateful testing needs links between operations, which the spec does not have.
            "phases": {"stateful": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config)
    if path_regex is not None:
        schema = schema.include(path_regex=path_regex)

    class AdminToken:
        """An admin's token, kept until the server refuses it (a generated request may have
        revoked it or disabled its admin); then a new one."""

        def get(self, case: schemathesis.Case, ctx: Any) -> str:
            return api.bearer()["Authorization"]

        def set(self, case: schemathesis.Case, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    schema.auth(refresh_interval=3600)(AdminToken)

    outcome = Outcome()
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            codes = outcome.statuses.setdefault(recorder.label, Counter())
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    codes[interaction.response.status_code] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (recorder.label, check.name, str(failure.title))
                    if key not in seen:
                        seen.add(key)
                        outcome.failures.append(_describe(recorder, case_id, check.name, failure))
    return outcome


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, examples: Path) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("schemathesis") / "api.db"
    s = Settings(
        database_url=f"sqlite:///{path}",
        actor="schemathesis",
        password_memory_kib=19456,
        password_time_cost=2,
    )
    with Hub(s) as hub:
        hub.init(ticket_types_file=examples / "ticket_types.json")
        admin = hub.add_user(
            UserCreate(email="admin@team.example.org", role="admin", password="admin password")
        )
        hub.add_user(
            UserCreate(email="agent@team.example.org", role="agent", password="agent password")
        )
        for i in range(5):
            c = hub.add_customer(CustomerCreate(name=f"Customer {i}", email=f"c{i}@x.pt"))
            if i == 4:
                hub.delete_customer(c.id)
            elif i < 3:
                # Tickets 1-3 exist, so generated ticket IDs sometimes name a real one.
                hub.open_ticket(TicketCreate(customer_id=c.id, type="question", subject=f"T{i}"))
        yield Api(hub=hub, admin_id=admin.id)


@pytest.fixture(scope="module")
def examples() -> Path:
    return Path(__file__).resolve().parents[2] / "src" / "customer_flow" / "examples"


def test_api_conforms_to_its_spec(api: Api, tmp_path: Path) -> None:
    """Every operation, fuzzed, with every check: no failure of any kind."""
    app = create_app(hub=api.hub)
    app.state.import_dir = tmp_path / "imports"
    outcome = run_schemathesis(app, api)
    assert outcome.errors == []
    assert outcome.failures == [], "\n".join(outcome.failures)
    assert len(outcome.statuses) >= 45
    assert sum(label.startswith("POST /api/v1/tickets") for label in outcome.statuses) >= 6
    # The fuzzing really ran, and reached both the success paths and the refusals.
    every = outcome.every_status()
    assert every.total() >= 10 * len(outcome.statuses)
    assert sum(n for s, n in every.items() if 200 <= s < 300) >= 100
    assert every[422] > 0 and every[405] > 0 and every[401] > 0


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _route_table(app: Any) -> dict[str, set[str]]:
    """Every path the app routes (pages and API), with the methods its routes take."""
    table: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        if route.methods:  # the static files' mount has none
            table.setdefault(route.path, set()).update(route.methods)
    return table


def _concrete(path: str) -> str:
    """The path with each parameter filled in (``{customer_id}`` -> ``1``)."""
    return re.sub(r"\{[^}]+\}", "1", path)


def test_405_lists_every_method_the_path_has(api: Api) -> None:
    """A method a path does not take is answered 405, and ``Allow`` names every method the
    route table has for that path (RFC 9110 15.5.6), not those of the first route that
    matched: ``/api/v1/customers`` takes GET and POST, so a PUT there says ``GET, POST``."""
    app = create_app(hub=api.hub)
    table = _route_table(app)
    assert len(table) >= 60 and table["/api/v1/customers"] == {"GET", "POST"}
    wrong: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(api.bearer())
        for path, methods in sorted(table.items()):
            for method in METHODS:
                if method in methods:
                    continue
                r = client.request(method, _concrete(path))
                allow = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
                if r.status_code != 405 or allow != methods:
                    wrong.append(f"{method} {path}: {r.status_code}, Allow {sorted(allow)}")
        static = client.post("/static/app.css")  # the static files serve GET and HEAD
        assert (405, "GET, HEAD") == (static.status_code, static.headers.get("allow"))
    assert wrong == [], "\n".join(wrong)
