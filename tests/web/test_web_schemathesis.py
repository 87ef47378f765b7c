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

Three rules of the spec JSON Schema cannot check, the run is told about: the ``cursor`` and
``phone`` formats get generators (``FORMATS``), and a request the spec calls valid obeys what
its descriptions say of one field against another (``REPAIRS``: a merge does not keep one of
the customers it folds in, a token expires in the future, a ticket's fields are those its
type defines, ...). Only the requests meant to be valid are repaired.

The examples per operation are kept few (``SCHEMATHESIS_EXAMPLES``, default 5): the coverage
phase already tries every boundary the spec states (empty strings, the longest allowed, each
enum value, each missing required field, every other method). Raise it for a deeper soak.
The runs use SQLite; ``SCHEMATHESIS_DB=postgresql`` runs them on a PostgreSQL database of
their own (the server of the ``db_url`` fixture), which doubles their time.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.specs.openapi.formats import unregister_string_format
from schemathesis.transport.serialization import Binary

from customer_flow.core.config import Settings
from customer_flow.core.errors import NotFoundError
from customer_flow.core.paging import encode_cursor
from customer_flow.core.text import strip_controls
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.teams.models import TeamCreate
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))
BACKEND = os.environ.get("SCHEMATHESIS_DB", "sqlite")


@contextmanager
def database(folder: Path) -> Iterator[str]:
    """The run's database: a SQLite file in ``folder``, or a PostgreSQL database of its own."""
    if BACKEND == "postgresql":
        from conftest import new_pg_database

        with new_pg_database("cf_schemathesis") as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'api.db'}"


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
                    password=PASSWORD,
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
    seconds: Counter[str] = field(default_factory=Counter)

    def every_status(self) -> Counter[int]:
        return sum(self.statuses.values(), Counter())


#: Generators for the spec's own formats: a cursor as the server makes them (valid for every
#: sort: a timestamp and an ID), and phone numbers as people type them.
FORMATS: dict[str, st.SearchStrategy[str]] = {
    "cursor": st.builds(
        lambda seconds, row_id: encode_cursor(datetime.fromtimestamp(seconds, UTC), row_id),
        st.integers(datetime(1901, 1, 1, tzinfo=UTC).timestamp(), 2**35),
        st.integers(1, 2**53),
    ),
    "phone": st.from_regex(r"\A\+[1-9][0-9]{6,13}\Z")
    | st.from_regex(r"\A\([2-9][0-9]{2}\) [2-9][0-9]{2}-[0-9]{4}( ext\. [0-9]{1,4})?\Z"),
}

#: A small customers file, for the imports' positive cases (their generated bytes are no CSV).
CSV = b"Name,Email\nAna Lima,ana.lima@example.org\nRui Sousa,\n"


@contextmanager
def formats() -> Iterator[None]:
    for name, strategy in FORMATS.items():
        schemathesis.openapi.format(name, strategy)
    try:
        yield
    finally:
        for name in FORMATS:
            unregister_string_format(name)


def _field_value(spec: dict[str, Any]) -> Any:
    """A value of a ticket type's extra field, of the kind it declares."""
    kind = spec["type"]
    samples = {"integer": 1, "number": 1.5, "boolean": True, "date": "2026-01-01"}
    return spec["choices"][0] if kind == "choice" else samples.get(kind, "some text")


def _ticket_fields(api: Api, type_key: str) -> dict[str, Any]:
    """Fields a ticket of ``type_key`` takes: its required ones, each with a value."""
    ttype = api.hub.get_ticket_type(type_key)
    return {k: _field_value(s) for k, s in ttype.fields.items() if s.get("required")}


#: The agent and the team a valid assignment names (the spec says in words: an active agent,
#: a team that exists with an active agent, the agent a member of the team named with it).
AGENT, DESK = "admin@team.example.org", "desk"


def _repair_assignment(api: Api, case: schemathesis.Case) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    if body.get("assignee") is not None:
        body["assignee"] = AGENT
    if body.get("team") is not None:
        body["team"] = DESK


def _repair_member(api: Api, case: schemathesis.Case) -> None:
    if isinstance(case.body, dict) and "agent" in case.body:
        case.body["agent"] = AGENT


def _repair_ticket_types(api: Api, case: schemathesis.Case) -> None:
    """A type's default team must exist when the file is loaded."""
    if isinstance(case.body, dict):
        for spec in case.body.values():
            if isinstance(spec, dict) and spec.get("default_team") is not None:
                spec["default_team"] = DESK


def _repair_ticket(api: Api, case: schemathesis.Case) -> None:
    body = case.body
    if case.method == "POST":
        _repair_assignment(api, case)
        keys = [t.key for t in api.hub.list_ticket_types()]
        if body["type"] not in keys:
            body["type"] = keys[len(body["type"]) % len(keys)]
        body["fields"] = _ticket_fields(api, body["type"])
    elif "fields" in body and body["fields"] is not None:
        try:
            ticket = api.hub.get_ticket(int(case.path_parameters["ticket_id"]))
        except NotFoundError:
            return
        body["fields"] = _ticket_fields(api, ticket.type)


def _repair_merge(api: Api, case: schemathesis.Case) -> None:
    body = case.body
    keep = body["keep"]
    body["others"] = [i for i in body["others"] if i != keep] or [keep % 2**53 + 1]
    body["take"] = {field: keep for field in body.get("take", {})}


def _repair_dismiss(api: Api, case: schemathesis.Case) -> None:
    if case.body["a"] == case.body["b"]:
        case.body["b"] = case.body["a"] % 2**53 + 1


#: A password the server takes (the spec says in words: not a common one, no email in it).
PASSWORD = "keeper of the keys"


def _repair_password(api: Api, case: schemathesis.Case) -> None:
    """A password that passes the common-password rule; for the admin's own change, the
    right current password (the password stays the same, so later cases still log in)."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("password"), str):
        return
    body["password"] = PASSWORD
    user = (case.path_parameters or {}).get("user_id")
    # The spec's words: changing your own password needs your current one (whether or not
    # the generated body happened to name the field).
    if user is not None and str(user) == str(api.admin_id):
        body["current_password"] = PASSWORD


def _repair_token(api: Api, case: schemathesis.Case) -> None:
    expires = case.body.get("expires_at")
    if expires is not None and datetime.fromisoformat(expires) <= datetime.now(UTC):
        case.body["expires_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _repair_report(api: Api, case: schemathesis.Case) -> None:
    query = case.query or {}
    since = (query.get("since") or "").strip()
    if since:
        start = datetime.fromisoformat(since)
        query["until"] = (start + timedelta(days=30)).date().isoformat()


def _repair_import(api: Api, case: schemathesis.Case) -> None:
    if isinstance(case.body, dict):
        case.body["file"] = Binary(CSV)
        case.body.pop("mapping", None)


def _repair_time_zone(api: Api, case: schemathesis.Case) -> None:
    """The spec's words: an IANA time zone name the system knows."""
    if isinstance(case.body, dict) and case.body.get("time_zone") is not None:
        case.body["time_zone"] = "Europe/Lisbon"


def _repair_view_query(api: Api, case: schemathesis.Case) -> None:
    """The spec's words: a view keeps the queue's filters and sort, as the queue takes them."""
    if isinstance(case.body, dict) and case.body.get("query") is not None:
        case.body["query"] = {"view": "mine", "sort": "due"}


def _repair_mail_account(api: Api, case: schemathesis.Case) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    if body.get("password_env") is not None:  # exactly one place the password is read from
        body.pop("password_file", None)
    elif body.get("password_file") is None:
        body["password_env"] = "CF_SCHEMATHESIS_PASSWORD"
    if "@" not in str(body.get("address", "")):
        body["address"] = "desk@example.org"
    if body.get("kind") == "imap":  # a mailbox names the (existing) type of its tickets
        body["default_type"] = api.hub.list_ticket_types()[0].key
    else:  # one active SMTP server at a time
        body.pop("default_type", None)
        body["active"] = False


#: What the spec says in words of one field against another, per operation.
REPAIRS: dict[str, Callable[[Api, schemathesis.Case], None]] = {
    "POST /api/v1/tickets": _repair_ticket,
    "PUT /api/v1/tickets/{ticket_id}/assignee": _repair_assignment,
    "POST /api/v1/bulk/tickets": _repair_assignment,
    "PUT /api/v1/users/{user_id}/time-zone": _repair_time_zone,
    "POST /api/v1/saved-views": _repair_view_query,
    "PATCH /api/v1/saved-views/{view_id}": _repair_view_query,
    "POST /api/v1/teams/{key}/members": _repair_member,
    "PUT /api/v1/ticket-types": _repair_ticket_types,
    "PATCH /api/v1/tickets/{ticket_id}": _repair_ticket,
    "POST /api/v1/duplicates/merge": _repair_merge,
    "POST /api/v1/duplicates/dismiss": _repair_dismiss,
    "POST /api/v1/tokens": _repair_token,
    "POST /api/v1/users": _repair_password,
    "PUT /api/v1/users/{user_id}/password": _repair_password,
    "GET /api/v1/reports": _repair_report,
    "GET /api/v1/reports/{table}.csv": _repair_report,
    "POST /api/v1/imports": _repair_import,
    "POST /api/v1/imports/preview": _repair_import,
    "POST /api/v1/mail/accounts": _repair_mail_account,
}


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


#: The operations ``test_web_schemathesis_dash`` runs, on a database with what they work on.
DASH = "^/api/v1/(reports|duplicates|merges)"


def run_schemathesis(
    app: Any, api: Api, *, path_regex: str | None = None, exclude: str | None = None
) -> Outcome:
    """One schemathesis run over the app's spec (or the paths ``path_regex`` matches, less
    those ``exclude`` matches)."""
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
    if exclude is not None:
        schema = schema.exclude(path_regex=exclude)

    @schema.hook
    def map_case(context: Any, case: schemathesis.Case) -> schemathesis.Case:
        repair = REPAIRS.get(case.operation.label)
        meta = case.meta
        if meta is None or not meta.generation.mode.is_positive:
            return case
        if repair is not None:
            repair(api, case)
        if isinstance(case.body, dict) and case.media_type == "application/json":
            # Free-form JSON (extra attributes, a ticket's fields) has no pattern in the spec;
            # its descriptions say that control characters are refused there too.
            case.body = strip_controls(case.body)
        return case

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
    with formats():
        stream = list(from_schema(schema).execute())
    for event in stream:
        if isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            outcome.seconds[f"{event.phase.value} {recorder.label}"] += event.elapsed_time
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


def _settings(url: str) -> Settings:
    return Settings(
        database_url=url, actor="schemathesis", password_memory_kib=19456, password_time_cost=2
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, examples: Path) -> Iterator[Api]:
    with database(tmp_path_factory.mktemp("schemathesis")) as url, Hub(_settings(url)) as hub:
        hub.init(ticket_types_file=examples / "ticket_types.json")
        admin = hub.add_user(
            UserCreate(email="admin@team.example.org", role="admin", password=PASSWORD)
        )
        hub.add_user(
            UserCreate(email="agent@team.example.org", role="agent", password="field worker pass")
        )
        hub.add_team(TeamCreate(key=DESK))
        hub.add_team_member(DESK, AGENT)
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
    """Every operation (but the dashboard's, which ``test_web_schemathesis_dash`` runs on a
    database that has what they need), fuzzed, with every check: no failure of any kind."""
    app = create_app(hub=api.hub)
    app.state.import_dir = tmp_path / "imports"
    outcome = run_schemathesis(app, api, exclude=DASH)
    assert outcome.errors == []
    assert outcome.failures == [], "\n".join(outcome.failures)
    assert len(outcome.statuses) >= 40
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


def test_the_spec_states_the_rules_the_code_keeps(api: Api) -> None:
    """The numbers and sets the spec copies from the code are the code's: a change to one
    fails here, not as a flaky fuzzing case."""
    import email_validator

    from customer_flow.core.models import SPECIAL_USE_DOMAINS, WHITESPACE
    from customer_flow.duplicates import fields
    from customer_flow.tickets import rules
    from customer_flow.users import passwords

    spaces = re.compile(f"[{WHITESPACE}]")
    assert [c for c in map(chr, range(0x110000)) if spaces.fullmatch(c)] == [
        c for c in map(chr, range(0x110000)) if c.isspace()
    ]
    assert set(SPECIAL_USE_DOMAINS) == set(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    spec = create_app(hub=api.hub).openapi()
    schemas = spec["components"]["schemas"]
    password = schemas["UserCreate"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (
        passwords.MIN_PASSWORD,
        passwords.MAX_PASSWORD,
    )
    tags = schemas["TicketCreate"]["properties"]["tags"]
    assert (tags["maxItems"], tags["items"]["maxLength"]) == (rules.MAX_TAGS, rules.MAX_TAG_LENGTH)
    (field,) = [
        p for p in spec["paths"]["/api/v1/duplicates"]["get"]["parameters"] if p["name"] == "field"
    ]
    assert field["schema"]["anyOf"][0]["items"]["pattern"] == fields._FIELD_NAME.pattern
