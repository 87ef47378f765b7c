"""Logins through the web door: the throttled login page (429 with Retry-After), and the
client address behind a trusted proxy."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from customer_flow.core.config import Settings
from customer_flow.hub import Hub
from customer_flow.store.schema import login_failures
from customer_flow.users.throttle import PAIR
from customer_flow.web.app import create_app

from .conftest import PASSWORD, Team


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
        # https as the proxy reports it: the session cookie is Secure.
        r = _post_login(c, "agent@team.example.org", PASSWORD, headers=forwarded)
        assert "Secure" in r.headers["set-cookie"]

    def test_an_untrusted_peer_cannot_claim_https(self, team: Team) -> None:
        c = _app(team.hub, trusted_proxies=["10.9.0.1"])
        r = _post_login(
            c, "agent@team.example.org", PASSWORD, headers={"X-Forwarded-Proto": "https"}
        )
        assert "Secure" not in r.headers["set-cookie"]

    def test_a_setting_that_is_not_an_address_is_refused(self, db_url: str) -> None:
        with pytest.raises(ValueError, match="not an IP address or network"):
            Settings(database_url=db_url, trusted_proxies="proxy.internal")  # type: ignore[arg-type]

    def test_the_setting_is_read_from_the_environment_comma_separated(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CUSTOMER_FLOW_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")
        assert ["10.0.0.5", "10.1.0.0/16"] == Settings().trusted_proxies
