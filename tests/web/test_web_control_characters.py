"""Issue 15: a NUL character gave a 500 on PostgreSQL on six routes (one the anonymous
``POST /login``), and a NUL stored inside ``extra`` broke ``GET /api/v1/duplicates`` for
everyone. Control characters are refused at the edge, the same way on both databases.

The probe walks the OpenAPI document: every operation, with a NUL in each string it takes (query
and path parameters, each string and each key of a JSON body, each multipart field), must be
refused with 422 ``control_character``: never a 500, and never let through to the database."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from conftest import new_pg_database
from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.tickets.models import TicketCreate
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app
from customer_flow.web.controls import NO_CONTROLS

from .conftest import PASSWORD, Team, login

NUL = "x\x00y"

#: A valid body for each operation that takes one; each string in it (and each key of an
#: object) is replaced by one with a NUL in turn.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/customers"): {
        "name": "Ana Lima",
        "email": "ana@lima.io",
        "phone": "+14155550100",
        "extra": {"city": "Porto"},
    },
    ("patch", "/api/v1/customers/{customer_id}"): {
        "name": "Ana Lima",
        "email": "ana@lima.io",
        "phone": "+14155550100",
        "extra": {"city": "Porto"},
    },
    ("post", "/api/v1/tickets"): {
        "customer_id": 1,
        "type": "billing",
        "subject": "Charged twice",
        "description": "In May",
        "priority": "high",
        "tags": ["refund"],
        "assignee": "agent",
        "team": "billing",
        "fields": {"invoice_number": "A-1"},
    },
    ("patch", "/api/v1/tickets/{ticket_id}"): {
        "subject": "Charged twice",
        "description": "In May",
        "tags": ["refund"],
        "fields": {"invoice_number": "A-1"},
    },
    ("put", "/api/v1/tickets/{ticket_id}/assignee"): {"assignee": "agent", "team": "billing"},
    ("post", "/api/v1/teams"): {"key": "billing", "name": "Billing", "assignment": "none"},
    ("patch", "/api/v1/teams/{key}"): {"name": "Billing", "assignment": "none"},
    ("post", "/api/v1/teams/{key}/members"): {"agent": "agent"},
    ("post", "/api/v1/tickets/{ticket_id}/status"): {"status": "pending", "note": "waiting"},
    ("post", "/api/v1/tickets/{ticket_id}/close"): {"note": "done"},
    ("post", "/api/v1/tickets/{ticket_id}/reopen"): {"note": "again"},
    ("post", "/api/v1/tickets/{ticket_id}/comments"): {
        "body": "We are on it",
        "public": True,
        "by_customer": True,
        "author": "Ana Lima",
    },
    ("post", "/api/v1/users"): {
        "email": "new@team.example.org",
        "name": "New",
        "role": "agent",
        "password": "a long enough passphrase",
    },
    ("put", "/api/v1/users/{user_id}/password"): {"password": "another long passphrase"},
    ("post", "/api/v1/tokens"): {"name": "ci", "expires_at": "2099-01-01T00:00:00Z"},
    ("post", "/api/v1/duplicates/merge"): {"keep": 1, "others": [2], "take": {"name": 2}},
    ("post", "/api/v1/duplicates/dismiss"): {"a": 1, "b": 2},
    ("put", "/api/v1/mail/notifications/{user_id}"): {"new_ticket": True, "assigned": False},
    ("post", "/api/v1/mail/accounts"): {
        "name": "out",
        "kind": "smtp",
        "host": "localhost",
        "username": "mailer",
        "password_env": "CF_SMTP_PASSWORD",
        "address": "help@desk.test",
    },
    ("post", "/api/v1/bulk/tickets"): {
        "action": "status",
        "tickets": [{"id": 1}],
        "status": "pending",
        "note": "waiting",
    },
    ("post", "/api/v1/canned-replies"): {"title": "Thanks", "body": "Hi {customer.name}"},
    ("patch", "/api/v1/canned-replies/{reply_id}"): {"title": "Thanks", "body": "Hello"},
    ("post", "/api/v1/saved-views"): {"title": "Mine", "query": {"view": "mine", "sort": "due"}},
    ("patch", "/api/v1/saved-views/{view_id}"): {"title": "Mine", "query": {"search": "x"}},
    ("put", "/api/v1/users/{user_id}/role"): {"role": "agent"},
    ("put", "/api/v1/users/{user_id}/time-zone"): {"time_zone": "Europe/Lisbon"},
}
#: Multipart forms: their text fields (files are data, read by the importer).
FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/api/v1/imports/preview"): {"on_conflict": "skip", "mapping": "Who=Name"},
    ("post", "/api/v1/imports"): {"on_conflict": "skip", "mapping": "Who=Name", "upload": "t"},
    ("post", "/api/v1/tickets/{ticket_id}/comments/with-files"): {"body": "Hi", "public": "true"},
}


def _ticket_types(examples: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((examples / "ticket_types.json").read_text())
    return loaded


def _with_nul(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(where, a copy of ``value`` with a NUL in one string or key), for each string and key."""
    if isinstance(value, str):
        yield where or "value", NUL
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else key
            swapped = {(NUL if k == key else k): v for k, v in value.items()}
            yield f"{here} (key)", swapped
            for inner, changed in _with_nul(item, here):
                out = copy.copy(value)
                out[key] = changed
                yield inner, out
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for inner, changed in _with_nul(item, f"{where}[{i}]"):
                out = list(value)
                out[i] = changed
                yield inner, out


def _string_param(param: dict[str, Any]) -> bool:
    schema = param.get("schema", {})
    kinds = [schema, *schema.get("anyOf", [])]
    return any(
        k.get("type") == "string"
        or (k.get("type") == "array" and k.get("items", {}).get("type") == "string")
        for k in kinds
    )


def _url(path: str, params: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), "1"), path)


@pytest.fixture
def world(team: Team, examples: Path) -> Team:
    """Two customers, a ticket and the example ticket types, for the operations to act on."""
    hub = team.hub
    hub.load_ticket_types(examples / "ticket_types.json")
    hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
    hub.add_customer(CustomerCreate(name="Bo Berg", email="bo@berg.se"))
    hub.open_ticket(TicketCreate(customer_id=1, type="billing", subject="Charged twice"))
    return team


def _probe(team: Team, examples: Path) -> list[tuple[str, str, str, int, str]]:
    """Every operation, with a NUL in each string it takes: (method, path, where, status,
    problem code) of each request."""
    # A 500 is an answer to record here, not an exception to raise.
    client = TestClient(team.client.app, raise_server_exceptions=False)
    headers = team["admin"].headers
    spec = client.get("/api/openapi.json").json()
    bodies = {**BODIES, ("put", "/api/v1/ticket-types"): _ticket_types(examples)}
    seen: list[tuple[str, str, str, int, str]] = []

    def send(method: str, path: str, where: str, url: str, **kw: Any) -> None:
        r = client.request(method, url, headers=headers, **kw)
        try:
            body = r.json()
        except ValueError:
            body = None
        code = body.get("code", "") if isinstance(body, dict) else ""
        seen.append((method, path, where, r.status_code, code))

    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            for p in params:
                if not _string_param(p):
                    continue
                if p["in"] == "path":
                    send(method, path, p["name"], _url(path, {p["name"]: "x%00y"}))
                elif p["in"] == "query":
                    send(method, path, p["name"], _url(path, {}), params={p["name"]: NUL})
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = bodies.get((method, path))
                assert body is not None, f"no example body for {method.upper()} {path}"
                for where, changed in _with_nul(body):
                    send(method, path, where, _url(path, {}), json=changed)
            if "multipart/form-data" in content:
                form = FORMS[(method, path)]
                csv = ("people.csv", b"Who\nAna Lima\n", "text/csv")
                for name in form:
                    data = {**form, name: NUL}
                    send(method, path, name, _url(path, {}), data=data, files={"file": csv})
    return seen


class TestControlCharacters:
    def test_every_string_of_every_operation_refuses_a_nul(
        self, world: Team, examples: Path
    ) -> None:
        """Never a 500 (PostgreSQL cannot store a NUL), and refused the same way on SQLite:
        422 ``control_character``, before anything reaches the database."""
        seen = _probe(world, examples)
        assert len(seen) > 80, seen  # the probe did reach the operations
        server_errors = [s for s in seen if s[3] >= 500]
        assert [] == server_errors, "\n".join(map(str, server_errors))
        others = [s for s in seen if (s[3], s[4]) != (422, "control_character")]
        assert [] == others, "\n".join(map(str, others))
        assert 2 == world.hub.count_customers()

    def test_the_spec_says_so(self, team: Team) -> None:
        """Request strings and object keys carry the pattern the check applies, so schema-valid
        generated data (schemathesis) is accepted; responses are left alone."""
        spec = team.client.get("/api/openapi.json").json()
        create = spec["components"]["schemas"]["CustomerCreate"]["properties"]
        key = spec["paths"]["/api/v1/ticket-types/{key}"]["get"]["parameters"][0]["schema"]
        assert NO_CONTROLS == create["name"]["pattern"] == key["pattern"]
        assert NO_CONTROLS == create["extra"]["propertyNames"]["pattern"]
        assert "pattern" not in spec["components"]["schemas"]["Customer"]["properties"]["name"]
        # A form's extra fields are text the check reads too (not JSON Schema's "anything").
        upload = spec["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
        ref = upload["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
        extras = spec["components"]["schemas"][ref]["additionalProperties"]
        assert {"type": "string", "pattern": NO_CONTROLS} == extras
        pattern = re.compile(NO_CONTROLS)
        assert pattern.match("Ana\tLima\r\nÉlodie 🙂") and not pattern.match("a\x00")
        assert not any(pattern.match(f"a{chr(c)}") for c in [*range(9), 11, 12, *range(14, 32)])

    def test_tab_newline_and_carriage_return_are_text(self, world: Team) -> None:
        """Multi-line text keeps its line breaks and tabs: only the other C0 controls go."""
        client, headers = world.client, world["agent"].headers
        r = client.post(
            "/api/v1/tickets/1/comments",
            json={"body": "line one\r\nline two\tindented"},
            headers=headers,
        )
        assert 201 == r.status_code, r.text
        assert "line one\r\nline two\tindented" == r.json()["body"]
        for bad in ("\x01", "\x1b[31m", "\x7f\x0b"):
            r = client.post("/api/v1/tickets/1/comments", json={"body": bad}, headers=headers)
            assert (422, "control_character") == (r.status_code, r.json()["code"])

    def test_anonymous_login_form_with_a_nul_is_a_422_page(self, team: Team) -> None:
        client = TestClient(team.client.app)
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        for field in ("email", "password"):
            data = {"email": "admin@team.example.org", "password": PASSWORD}
            r = client.post("/login", data={**data, field: NUL, "csrf_token": csrf.group(1)})
            assert 422 == r.status_code, r.text
            assert "control character" in r.text

    def test_page_forms_refuse_a_nul(self, team: Team) -> None:
        client = team.client
        csrf = login(client, team["agent"].user.email)
        r = client.post("/customers/new", data={"csrf_token": csrf, "name": NUL, "email": "a@b.io"})
        assert 422 == r.status_code
        assert 0 == team.hub.count_customers()


class TestStoredNul:
    """Migration 0013: a NUL the web app stored in ``extra`` before the fix is removed, and
    the duplicates list answers again (it was a 500 for everyone on PostgreSQL)."""

    @pytest.fixture(params=["sqlite", "postgresql"])
    def empty_url(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path / 'm.db'}"
            return
        request.getfixturevalue("pg_database")  # skips, or fails, without a server
        with new_pg_database("cf_nul") as url:
            yield url

    def test_upgrade_removes_stored_nuls_and_duplicates_answer(
        self, empty_url: str, tmp_path: Path
    ) -> None:
        engine = create_engine(empty_url)
        try:
            with engine.begin() as conn:
                command.upgrade(_alembic(conn), "0010")
                for cid, extra in (
                    (1, {"note": NUL, "k\x00ey": "v", "list": ["a\x00"]}),
                    (2, {"vat_number": "PT\x00123"}),
                    (3, {"path": "C:\\u0000dir"}),  # a backslash, not a NUL: left alone
                ):
                    conn.execute(
                        text(
                            "INSERT INTO customers (id, name, extra, warnings, warning_count, "
                            "created_at, updated_at) VALUES (:i, :n, :e, '[]', 0, :s, :s)"
                        ),
                        {"i": cid, "n": f"Ana Lima {cid}", "e": json.dumps(extra), "s": _STAMP},
                    )
                command.upgrade(_alembic(conn), "head")
        finally:
            engine.dispose()
        settings = Settings(database_url=empty_url, password_memory_kib=19456, password_time_cost=2)
        with Hub(settings) as hub:
            assert {"note": "xy", "key": "v", "list": ["a"]} == hub.get_customer(1).extra
            assert {"vat_number": "PT123"} == hub.get_customer(2).extra
            assert {"path": "C:\\u0000dir"} == hub.get_customer(3).extra
            user = hub.add_user(
                UserCreate(email="v@team.example.org", name="v", role="viewer", password=PASSWORD)  # type: ignore[arg-type]
            )
            token = hub.create_token("t", user_id=user.id).token
            client = TestClient(create_app(hub=hub), raise_server_exceptions=False)
            r = client.get(
                "/api/v1/duplicates",
                params={"field": "vat_number"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert 200 == r.status_code, r.text


_STAMP = "2026-01-01 00:00:00"


def _alembic(conn: object) -> Config:
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("customer_flow.store") / "migrations")
    )
    cfg.attributes["connection"] = conn
    return cfg
