"""The REST API in-process, on SQLite and PostgreSQL: customers, ticket types, exports,
problem details, pagination, tokens, and the bad inputs of the issue."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from customer_flow.customers.extra import MAX_ATTRIBUTES, MAX_KEY, MAX_VALUE
from customer_flow.users.throttle import PAIR

from .conftest import PASSWORD, Team, login


class TestCustomersApi:
    def test_create_read_update_trash_restore_and_history(self, team: Team) -> None:
        """The whole life of a customer through the API, with its history."""
        c, h = team.client, team["agent"].headers
        r = c.post(
            "/api/v1/customers", json={"name": "Ana Lima", "email": "ana@lima.pt"}, headers=h
        )
        assert r.status_code == 201
        cid = r.json()["id"]
        assert c.get(f"/api/v1/customers/{cid}", headers=h).json()["name"] == "Ana Lima"
        r = c.patch(f"/api/v1/customers/{cid}", json={"phone": "+351 912 345 678"}, headers=h)
        assert r.json()["phone"] == "+351912345678"
        assert c.delete(f"/api/v1/customers/{cid}", headers=h).json()["deleted_at"]
        trash = c.get("/api/v1/customers", params={"trash": True}, headers=h).json()
        assert [cid] == [x["id"] for x in trash["items"]]
        assert c.post(f"/api/v1/customers/{cid}/restore", headers=h).json()["deleted_at"] is None
        history = c.get(f"/api/v1/customers/{cid}/history", headers=h).json()
        assert [e["action"] for e in history] == ["create", "update", "delete", "restore"]
        assert {"agent@team.example.org"} == {e["actor"] for e in history}

    def test_extra_attributes_are_bounded(self, team: Team) -> None:
        """Issue 15: 45,000 attributes were accepted. Now count, name and value length are
        bounded (422 extra_too_large), on create and on update, and the schema says so."""
        c, h = team.client, team["agent"].headers
        for extra in (
            {f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 1)},
            {"n" * (MAX_KEY + 1): "v"},
            {"notes": "x" * (MAX_VALUE + 1)},
        ):
            r = c.post("/api/v1/customers", json={"name": "Ana", "extra": extra}, headers=h)
            assert (422, "extra_too_large") == (r.status_code, r.json()["code"]), r.text
        full = {f"k{i}": "v" for i in range(MAX_ATTRIBUTES)}
        r = c.post("/api/v1/customers", json={"name": "Ana", "extra": full}, headers=h)
        assert 201 == r.status_code, r.text
        more = c.patch(f"/api/v1/customers/{r.json()['id']}", json={"extra": {"x": 1}}, headers=h)
        assert (422, "extra_too_large") == (more.status_code, more.json()["code"])
        schema = c.get("/api/openapi.json").json()["components"]["schemas"]["CustomerCreate"]
        extra = schema["properties"]["extra"]
        assert (MAX_ATTRIBUTES, MAX_KEY) == (
            extra["maxProperties"],
            extra["propertyNames"]["maxLength"],
        )

    def test_search_and_keyset_pagination(self, team: Team) -> None:
        """Pages follow the `next` cursor without gaps or repeats; search narrows the list."""
        c, h = team.client, team["agent"].headers
        for i in range(7):
            c.post(
                "/api/v1/customers", json={"name": f"Person {i}", "email": f"p{i}@x.pt"}, headers=h
            )
        c.post("/api/v1/customers", json={"name": "Zoë Other"}, headers=h)
        seen, after = [], None
        while True:
            params: dict[str, object] = {"limit": 3}
            if after:
                params["after"] = after
            page = c.get("/api/v1/customers", params=params, headers=h).json()
            seen += [x["id"] for x in page["items"]]
            after = page["next"]
            if not after:
                break
        assert sorted(seen) == seen and len(set(seen)) == 8
        found = c.get("/api/v1/customers", params={"search": "zoë"}, headers=h).json()
        assert [x["name"] for x in found["items"]] == ["Zoë Other"]

    def test_purge_is_admin_only(self, team: Team) -> None:
        c = team.client
        cid = c.post("/api/v1/customers", json={"name": "A"}, headers=team["agent"].headers).json()[
            "id"
        ]
        c.delete(f"/api/v1/customers/{cid}", headers=team["agent"].headers)
        r = c.post(f"/api/v1/customers/{cid}/purge", headers=team["agent"].headers)
        assert r.status_code == 403
        r = c.post(f"/api/v1/customers/{cid}/purge", headers=team["admin"].headers)
        assert r.status_code == 200
        assert c.get(f"/api/v1/customers/{cid}", headers=team["admin"].headers).status_code == 404


class TestProblems:
    def test_errors_are_problem_details_with_a_stable_code(self, team: Team) -> None:
        """404, 409 and 422 come as application/problem+json with status, detail and code."""
        c, h = team.client, team["agent"].headers
        r = c.get("/api/v1/customers/999", headers=h)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 404 and "999" in r.json()["detail"]
        c.post("/api/v1/customers", json={"name": "A", "email": "a@b.pt"}, headers=h)
        r = c.post("/api/v1/customers", json={"name": "B", "email": "A@b.pt"}, headers=h)
        assert (r.status_code, r.json()["field"]) == (409, "email")

    def test_json_body_with_wrong_types(self, team: Team) -> None:
        """Wrong types give 422 naming every bad field, and nothing is stored."""
        c, h = team.client, team["agent"].headers
        r = c.post("/api/v1/customers", json={"name": 5, "email": ["x"], "id": "seven"}, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "invalid"
        assert {"name", "email", "id"} == {e["loc"][-1] for e in r.json()["errors"]}
        assert c.get("/api/v1/customers", headers=h).json()["items"] == []

    def test_body_that_is_not_json(self, team: Team) -> None:
        r = team.client.post(
            "/api/v1/customers",
            content=b"{not json",
            headers={**team["agent"].headers, "content-type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid"

    def test_an_id_of_another_kind_in_the_url(self, team: Team) -> None:
        """A word, a negative number or a token's ID where a customer ID belongs: 422 or 404."""
        c, h = team.client, team["agent"].headers
        assert c.get("/api/v1/customers/abc", headers=h).status_code == 422
        assert c.get("/api/v1/customers/-1", headers=h).status_code == 422
        assert c.get("/api/v1/customers/1e3", headers=h).status_code == 422
        token_id = team.hub.list_tokens()[0].id
        r = c.get(f"/api/v1/customers/{token_id + 1000}", headers=h)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
        assert c.get("/api/v1/ticket-types/no-such-type", headers=h).status_code == 404

    def test_unknown_route_is_a_problem_too(self, team: Team) -> None:
        r = team.client.get("/api/v1/nothing-here", headers=team["agent"].headers)
        assert r.status_code == 404 and r.json()["code"] == "not_found"

    def test_bad_cursor_is_a_clear_422(self, team: Team) -> None:
        r = team.client.get(
            "/api/v1/customers", params={"after": "%%%"}, headers=team["agent"].headers
        )
        assert (r.status_code, r.json()["code"]) == (422, "bad_cursor")


class TestAuthApi:
    def test_no_credentials_is_401_with_www_authenticate(self, team: Team) -> None:
        r = team.client.get("/api/v1/customers")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

    def test_revoked_token_is_401(self, team: Team) -> None:
        c = team.client
        new = c.post("/api/v1/tokens", json={"name": "short"}, headers=team["agent"].headers).json()
        bearer = {"Authorization": f"Bearer {new['token']}"}
        assert c.get("/api/v1/users/me", headers=bearer).status_code == 200
        assert c.delete(f"/api/v1/tokens/{new['id']}", headers=bearer).status_code == 200
        r = c.get("/api/v1/users/me", headers=bearer)
        assert (r.status_code, r.json()["code"]) == (401, "token_revoked")

    def test_expired_token_is_401(self, team: Team) -> None:
        from sqlalchemy import update

        from customer_flow.store.schema import api_tokens

        with team.hub.store.write() as conn:
            conn.execute(update(api_tokens).values(expires_at=datetime.now(UTC) - timedelta(1)))
        r = team.client.get("/api/v1/users/me", headers=team["agent"].headers)
        assert (r.status_code, r.json()["code"]) == (401, "token_expired")

    def test_malformed_authorization_header_is_401(self, team: Team) -> None:
        for value in ("Basic abc", "Bearer", "Bearer not-a-token"):
            r = team.client.get("/api/v1/customers", headers={"Authorization": value})
            assert r.status_code == 401, value

    def test_viewer_posting_is_403_whatever_the_body(self, team: Team) -> None:
        """A viewer's POST is refused before the body is even looked at."""
        c, h = team.client, team["viewer"].headers
        for body in ({"name": "V"}, {"name": 5}, {}):
            r = c.post("/api/v1/customers", json=body, headers=h)
            assert (r.status_code, r.json()["code"]) == (403, "forbidden"), body
        assert c.get("/api/v1/customers", headers=h).json()["items"] == []

    def test_agent_reading_the_user_list_is_403(self, team: Team) -> None:
        r = team.client.get("/api/v1/users", headers=team["agent"].headers)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")

    def test_session_cookie_needs_csrf_header_for_changes(self, team: Team) -> None:
        """With the browser's cookie, a POST without X-CSRF-Token is 403; with it, 201."""
        csrf = login(team.client, "agent@team.example.org")
        r = team.client.post("/api/v1/customers", json={"name": "C"})
        assert (r.status_code, r.json()["code"]) == (403, "csrf")
        r = team.client.post(
            "/api/v1/customers", json={"name": "C"}, headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 201

    def test_wrong_passwords_through_the_login_form_then_429(self, team: Team) -> None:
        """The form answers 401 five times, then 429 with Retry-After (a backoff, not a lock),
        even for the right password from the same address; another address is not kept out
        (test_web_logins, test_web_users)."""
        c = team.client

        def attempt(password: str) -> Any:
            page = c.get("/login")
            token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            data = {"email": "agent@team.example.org", "password": password, "csrf_token": token}
            return c.post("/login", data=data, follow_redirects=False)

        statuses = []
        for _ in range(PAIR.free):
            r = attempt("not it at all")
            statuses.append(r.status_code)
            assert "wrong email or password" in r.text
        assert [401] * PAIR.free == statuses
        r = attempt(PASSWORD)
        assert r.status_code == 429 and "cf_session" not in r.headers.get("set-cookie", "")
        assert "too many failed logins" in r.text and "1" == r.headers["retry-after"]


class TestTicketTypesAndExports:
    def test_ticket_types_load_and_list(self, team: Team, examples: object) -> None:
        import json
        from pathlib import Path

        doc = json.loads((Path(str(examples)) / "ticket_types.json").read_text())
        c = team.client
        r = c.put("/api/v1/ticket-types", json=doc, headers=team["agent"].headers)
        assert r.status_code == 403
        r = c.put("/api/v1/ticket-types", json=doc, headers=team["admin"].headers)
        assert r.status_code == 200 and r.json()["created"]
        keys = [
            t["key"] for t in c.get("/api/v1/ticket-types", headers=team["viewer"].headers).json()
        ]
        assert sorted(r.json()["created"]) == keys
        bad = c.put("/api/v1/ticket-types", json={"x": {"name": 5}}, headers=team["admin"].headers)
        assert bad.status_code == 422
        assert bad.json()["code"] == "ticket_types_invalid" and bad.json()["errors"]

    def test_export_csv_and_json_defuse_formulas(self, team: Team) -> None:
        """Exports list every customer; a cell starting with = is prefixed with a quote."""
        c, h = team.client, team["agent"].headers
        c.post("/api/v1/customers", json={"name": '=HYPERLINK("x")', "email": "a@b.pt"}, headers=h)
        c.post("/api/v1/customers", json={"name": "Plain"}, headers=h)
        r = c.get(
            "/api/v1/exports/customers", params={"format": "csv"}, headers=team["viewer"].headers
        )
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["Name"] for row in rows] == ['\'=HYPERLINK("x")', "Plain"]
        data = c.get("/api/v1/exports/customers", headers=h).json()
        assert [x["name"] for x in data] == ['=HYPERLINK("x")', "Plain"]
        found = c.get("/api/v1/exports/customers", params={"search": "plain"}, headers=h).json()
        assert [x["name"] for x in found] == ["Plain"]
        for fmt, magic in (("xlsx", b"PK"), ("parquet", b"PAR1")):
            got = c.get("/api/v1/exports/customers", params={"format": fmt}, headers=h)
            assert got.status_code == 200 and got.content.startswith(magic), fmt


class TestUploadLimit:
    def test_body_over_the_limit_is_refused_with_the_limit_named(
        self, web_settings: object
    ) -> None:
        """A body over the configured limit is 413 with a clear message, declared or streamed."""
        from fastapi.testclient import TestClient

        from customer_flow.hub import Hub
        from customer_flow.web.app import create_app

        settings = web_settings.model_copy(update={"max_upload_bytes": 2048})  # type: ignore[attr-defined]
        with Hub(settings) as hub:
            client = TestClient(create_app(hub=hub))
            r = client.post(
                "/api/v1/customers",
                content=b"x" * 5000,
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 413
            assert "2048 bytes" in r.json()["detail"] and r.json()["code"] == "too_large"

            def chunks():  # no Content-Length: the limit is counted as it streams
                for _ in range(5):
                    yield b"x" * 1000

            r = client.post(
                "/api/v1/customers", content=chunks(), headers={"content-type": "application/json"}
            )
            assert r.status_code == 413
