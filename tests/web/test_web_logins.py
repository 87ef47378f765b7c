"""Logins and passwords through the web door: the throttled login page (429 with Retry-After),
the client address behind a trusted proxy, the password change (API and page), and the
session's idle timeout."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from customer_flow.core.config import Settings
from customer_flow.core.errors import AuthenticationError
from customer_flow.hub import Hub
from customer_flow.store.schema import audit_log, login_failures, sessions
from customer_flow.users.throttle import PAIR
from customer_flow.web.app import create_app

from .conftest import PASSWORD, Team, login


def _post_login(client: TestClient, email: str, password: str, **kw: Any) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
        **kw,
    )


def _addresses(hub: Hub) -> list[str]:
    with hub.store.read() as conn:
        return list(conn.execute(select(login_failures.c.address)).scalars())


def _app(hub: Hub, **settings: object) -> TestClient:
    """A client of an app whose settings differ from the hub's in ``settings``."""
    changed = Hub(hub.settings.model_copy(update=settings), store=hub.store)
    return TestClient(create_app(hub=changed), client=("10.0.0.2", 50000))


class TestLoginThrottling:
    def test_the_login_page_answers_429_with_retry_after(self, team: Team) -> None:
        """Five wrong passwords, then 429 with the seconds to wait, even for the right one;
        the right password from another address gets in meanwhile."""
        c = team.client
        statuses = [
            _post_login(c, "agent@team.example.org", "not it at all").status_code
            for _ in range(PAIR.free)
        ]
        assert [401] * PAIR.free == statuses
        r = _post_login(c, "agent@team.example.org", PASSWORD)
        assert 429 == r.status_code
        assert "1" == r.headers["retry-after"]
        assert "too many failed logins; try again in 1 second" in r.text
        assert "cf_session" not in r.headers.get("set-cookie", "")
        elsewhere = TestClient(create_app(hub=team.hub), client=("192.0.2.44", 50000))
        assert 303 == _post_login(elsewhere, "agent@team.example.org", PASSWORD).status_code

    def test_a_wrong_current_password_through_the_api_is_throttled_too(self, team: Team) -> None:
        me = team["agent"]
        path = f"/api/v1/users/{me.user.id}/password"
        body = {"password": "violet tractor 93", "current_password": "guessing"}
        codes = [
            team.client.put(path, json=body, headers=me.headers).status_code
            for _ in range(PAIR.free + 1)
        ]
        assert [403] * PAIR.free + [429] == codes
        r = team.client.put(path, json=body, headers=me.headers)
        assert "too_many_attempts" == r.json()["code"] and int(r.headers["retry-after"]) >= 1


class TestTrustedProxies:
    def test_forwarded_for_is_ignored_from_anyone_else(self, team: Team) -> None:
        """Without trusted proxies, X-Forwarded-For cannot pick the address throttled."""
        c = _app(team.hub)
        _post_login(
            c, "agent@team.example.org", "nope nope", headers={"X-Forwarded-For": "1.2.3.4"}
        )
        assert ["10.0.0.2"] == _addresses(team.hub)

    def test_a_trusted_proxy_names_the_client(self, team: Team) -> None:
        c = _app(team.hub, trusted_proxies=["10.0.0.0/24"])
        forwarded = {"X-Forwarded-For": "203.0.113.9, 10.0.0.7", "X-Forwarded-Proto": "https"}
        r = _post_login(c, "agent@team.example.org", "nope nope", headers=forwarded)
        assert 401 == r.status_code
        # The rightmost address that is not a trusted proxy is the client.
        assert ["203.0.113.9"] == _addresses(team.hub)
        # https as the proxy reports it: the session cookie is the __Host- one, with HSTS.
        r = _post_login(c, "agent@team.example.org", PASSWORD, headers=forwarded)
        assert r.headers["set-cookie"].startswith("__Host-cf_session=")
        assert "strict-transport-security" in r.headers

    def test_an_untrusted_peer_cannot_claim_https(self, team: Team) -> None:
        c = _app(team.hub, trusted_proxies=["10.9.0.1"])
        r = _post_login(
            c, "agent@team.example.org", PASSWORD, headers={"X-Forwarded-Proto": "https"}
        )
        assert r.headers["set-cookie"].startswith("cf_session=")

    def test_a_setting_that_is_not_an_address_is_refused(self, db_url: str) -> None:
        with pytest.raises(ValueError, match="not an IP address or network"):
            Settings(database_url=db_url, trusted_proxies="proxy.internal")  # type: ignore[arg-type]

    def test_the_setting_is_read_from_the_environment_comma_separated(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CUSTOMER_FLOW_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")
        assert ["10.0.0.5", "10.1.0.0/16"] == Settings().trusted_proxies


class TestPasswordChangeApi:
    def test_own_change_needs_the_current_password(self, team: Team) -> None:
        me = team["viewer"]
        path = f"/api/v1/users/{me.user.id}/password"
        r = team.client.put(path, json={"password": "violet tractor 93"}, headers=me.headers)
        assert (422, "current_password_missing") == (r.status_code, r.json()["code"])
        r = team.client.put(
            path,
            json={"password": "violet tractor 93", "current_password": "not it"},
            headers=me.headers,
        )
        assert (403, "wrong_password", "current_password") == (
            r.status_code,
            r.json()["code"],
            r.json()["field"],
        )
        r = team.client.put(
            path,
            json={"password": "violet tractor 93", "current_password": PASSWORD},
            headers=me.headers,
        )
        assert 200 == r.status_code and me.user.id == r.json()["id"]
        assert team.hub.login(me.user.email, "violet tractor 93")

    def test_a_common_password_is_a_422_naming_the_field(self, team: Team) -> None:
        me = team["agent"]
        r = team.client.put(
            f"/api/v1/users/{me.user.id}/password",
            json={"password": "12345678", "current_password": PASSWORD},
            headers=me.headers,
        )
        assert (422, "password_too_common", "password") == (
            r.status_code,
            r.json()["code"],
            r.json()["field"],
        )

    def test_revoke_tokens_ends_the_token_that_asked_too(self, team: Team) -> None:
        me = team["agent"]
        r = team.client.put(
            f"/api/v1/users/{me.user.id}/password",
            json={
                "password": "violet tractor 93",
                "current_password": PASSWORD,
                "revoke_tokens": True,
            },
            headers=me.headers,
        )
        assert 200 == r.status_code
        r = team.client.get("/api/v1/users/me", headers=me.headers)
        assert (401, "token_revoked") == (r.status_code, r.json()["code"])

    def test_an_admin_resets_another_users_password_without_theirs(self, team: Team) -> None:
        other = team["agent2"]
        session = team.hub.login(other.user.email, PASSWORD)
        r = team.client.put(
            f"/api/v1/users/{other.user.id}/password",
            json={"password": "violet tractor 93"},
            headers=team["admin"].headers,
        )
        assert 200 == r.status_code
        with pytest.raises(AuthenticationError):
            team.hub.authenticate_session(session.session_id)
        with team.hub.store.read() as conn:
            action = conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.entity == "user", audit_log.c.entity_id == str(other.user.id))
                .order_by(audit_log.c.id.desc())
            ).first()
        assert action is not None and "reset_password" == action.action

    def test_the_spec_says_who_needs_what(self, team: Team) -> None:
        spec = team.client.get("/api/openapi.json").json()
        op = spec["paths"]["/api/v1/users/{user_id}/password"]["put"]
        assert "current_password" in op["summary"] and "admin" in op["summary"]


class TestChangeMyPasswordPage:
    def test_the_header_links_to_the_page(self, team: Team) -> None:
        login(team.client, "viewer@team.example.org")
        page = team.client.get("/customers")
        assert 'href="/account/password">Change my password</a>' in page.text

    def test_change_without_javascript_keeps_this_session_only(self, team: Team) -> None:
        c = team.client
        csrf = login(c, "viewer@team.example.org")
        other = TestClient(create_app(hub=team.hub))
        login(other, "viewer@team.example.org")
        form = c.get("/account/password")
        assert 'name="csrf_token"' in form.text and 'name="current_password"' in form.text
        r = c.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current_password": PASSWORD,
                "password": "violet tractor 93",
                "password_confirm": "violet tractor 93",
            },
        )
        assert 200 == r.status_code and "Your password has been changed" in r.text
        assert "1 other session ended" in r.text
        assert 200 == c.get("/customers", follow_redirects=False).status_code
        assert 303 == other.get("/customers", follow_redirects=False).status_code
        assert team.hub.login("viewer@team.example.org", "violet tractor 93")

    def test_mistakes_show_beside_their_field(self, team: Team) -> None:
        c = team.client
        csrf = login(c, "agent@team.example.org")

        def post(current: str, new: str, again: str) -> httpx.Response:
            data = {
                "csrf_token": csrf,
                "current_password": current,
                "password": new,
                "password_confirm": again,
            }
            return c.post("/account/password", data=data)

        r = post(PASSWORD, "violet tractor 93", "violet tractor 94")
        assert 422 == r.status_code and 'id="password_confirm-error"' in r.text
        r = post("not mine", "violet tractor 93", "violet tractor 93")
        assert 403 == r.status_code and 'id="current_password-error"' in r.text
        r = post(PASSWORD, "password", "password")
        assert 422 == r.status_code
        assert re.search(r'id="password-error"[^>]*>too easy to guess', r.text)
        assert team.hub.login("agent@team.example.org", PASSWORD)

    def test_the_form_needs_the_csrf_token(self, team: Team) -> None:
        c = team.client
        login(c, "agent@team.example.org")
        r = c.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "password": "violet tractor 93",
                "password_confirm": "violet tractor 93",
            },
        )
        assert 403 == r.status_code
        assert team.hub.login("agent@team.example.org", PASSWORD)

    def test_the_page_needs_a_login(self, team: Team) -> None:
        r = team.client.get("/account/password", follow_redirects=False)
        assert 303 == r.status_code and r.headers["location"].startswith("/login")


class TestIdleTimeout:
    def test_an_idle_session_sends_the_browser_to_the_login_page(self, team: Team) -> None:
        c = team.client
        login(c, "agent@team.example.org")
        assert 200 == c.get("/customers").status_code
        with team.hub.store.write() as conn:
            conn.execute(
                update(sessions).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=61))
            )
        r = c.get("/customers", follow_redirects=False)
        assert 303 == r.status_code and r.headers["location"].startswith("/login")
