"""The HTML pages in-process: login and logout, cookies, CSRF, headers, HTMX without a
session, the customer forms without JavaScript and their inline errors."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from customer_flow.hub import Hub
from customer_flow.web.app import create_app

from .conftest import PASSWORD, Team, csrf_of, login


def _login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


class TestLogin:
    def test_session_cookie_is_httponly_lax_and_not_secure_over_http(self, team: Team) -> None:
        c = team.client
        r = c.post(
            "/login",
            data={
                "email": "agent@team.example.org",
                "password": PASSWORD,
                "csrf_token": _login_token(c),
            },
            follow_redirects=False,
        )
        cookie = next(
            v
            for k, v in r.headers.multi_items()
            if k == "set-cookie" and v.startswith("cf_session=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie

    def test_cookie_is_secure_and_host_prefixed_behind_https(self, team: Team) -> None:
        """Over https the cookie is `__Host-cf_session`: Secure, Path=/, no Domain; and the
        session works with it."""
        c = TestClient(create_app(hub=team.hub), base_url="https://testserver")
        r = c.post(
            "/login",
            data={
                "email": "agent@team.example.org",
                "password": PASSWORD,
                "csrf_token": _login_token(c),
            },
            follow_redirects=False,
        )
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
        cookie = next(v for v in cookies if v.startswith("__Host-cf_session="))
        assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
        assert not any(v.startswith("cf_session=") for v in cookies)
        assert 200 == c.get("/api/v1/users/me").status_code
        r = c.post("/logout", data={"csrf_token": csrf_of(c)}, follow_redirects=False)
        assert any(
            v.startswith('__Host-cf_session=""') and "Secure" in v
            for k, v in r.headers.multi_items()
            if k == "set-cookie"
        )
        assert 401 == c.get("/api/v1/users/me").status_code

    def test_login_issues_a_new_session_id_and_ends_the_planted_one(self, team: Team) -> None:
        """A session id set before login (fixation) is replaced, and the old one stops."""
        c = team.client
        login(c, "agent@team.example.org")
        first = c.cookies.get("cf_session")
        login(c, "agent@team.example.org")
        second = c.cookies.get("cf_session")
        assert first and second and first != second
        with team.hub.store.read():
            pass
        stale = TestClient(create_app(hub=team.hub), cookies={"cf_session": first})
        assert stale.get("/customers", follow_redirects=False).status_code == 303

    def test_wrong_password_shows_the_form_again_with_the_message(self, team: Team) -> None:
        c = team.client
        r = c.post(
            "/login",
            data={
                "email": "agent@team.example.org",
                "password": "nope nope",
                "csrf_token": _login_token(c),
            },
        )
        assert r.status_code == 401 and "wrong email or password" in r.text
        assert 'value="agent@team.example.org"' in r.text

    def test_login_without_the_form_token_is_403(self, team: Team) -> None:
        r = team.client.post(
            "/login", data={"email": "agent@team.example.org", "password": PASSWORD}
        )
        assert r.status_code == 403

    def test_next_must_stay_on_this_site(self, team: Team) -> None:
        """An open redirect through ?next= is not possible."""
        c = team.client
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            r = c.post(
                "/login",
                data={
                    "email": "agent@team.example.org",
                    "password": PASSWORD,
                    "csrf_token": _login_token(c),
                    "next": evil,
                },
                follow_redirects=False,
            )
            assert r.headers["location"] == "/customers", evil

    def test_logout_ends_the_session_on_the_server(self, team: Team) -> None:
        c = team.client
        csrf = login(c, "agent@team.example.org")
        sid = c.cookies.get("cf_session")
        r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login")
        replay = TestClient(create_app(hub=team.hub), cookies={"cf_session": sid})
        assert replay.get("/api/v1/users/me").status_code == 401

    def test_disabling_a_user_logs_them_out(self, team: Team) -> None:
        c = team.client
        login(c, "agent@team.example.org")
        assert c.get("/customers").status_code == 200
        team.hub.disable_user(team["agent"].user.id)
        assert c.get("/customers", follow_redirects=False).status_code == 303


class TestSecurity:
    def test_headers_on_pages_api_and_static(self, team: Team) -> None:
        for path in ("/login", "/api/v1/customers", "/static/app.css", "/api/openapi.json"):
            r = team.client.get(path)
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"

    def test_cross_site_post_is_403(self, team: Team) -> None:
        """A POST from another origin is refused even with a valid session and token."""
        c = team.client
        csrf = login(c, "agent@team.example.org")
        for headers in (
            {"Origin": "https://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "null"},
        ):
            r = c.post("/customers/new", data={"name": "X", "csrf_token": csrf}, headers=headers)
            assert r.status_code == 403, headers
        assert team.hub.list_customers().items == []

    def test_form_without_csrf_token_is_403(self, team: Team) -> None:
        c = team.client
        login(c, "agent@team.example.org")
        r = c.post("/customers/new", data={"name": "X"})
        assert r.status_code == 403 and team.hub.list_customers().items == []

    def test_htmx_request_without_session_gets_hx_redirect(self, team: Team) -> None:
        r = team.client.get(
            "/customers?search=a", headers={"HX-Request": "true", "HX-Target": "results"}
        )
        assert r.status_code == 401
        assert r.headers["hx-redirect"].startswith("/login?next=/customers")

    def test_page_without_session_redirects_to_login(self, team: Team) -> None:
        r = team.client.get("/customers/1", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=/customers/1")


class TestCaching:
    def test_no_store_on_pages_api_and_downloads_not_on_static(self, team: Team) -> None:
        c = team.client
        login(c, "agent@team.example.org")
        for path in (
            "/customers",
            "/login",
            "/api/v1/customers",
            "/api/v1/exports/customers?format=csv",
            "/api/openapi.json",
        ):
            r = c.get(path)
            assert 200 == r.status_code, path
            assert "no-store" == r.headers["cache-control"], path
        assert "no-store" not in c.get("/static/app.css").headers.get("cache-control", "")
        refused = c.get("/api/v1/users/me", headers={"Authorization": "Bearer nope"})
        assert "no-store" == refused.headers["cache-control"]


class TestHsts:
    def test_sent_over_https_only(self, team: Team) -> None:
        https = TestClient(create_app(hub=team.hub), base_url="https://testserver")
        assert "max-age=31536000" == https.get("/login").headers["strict-transport-security"]
        assert "strict-transport-security" not in team.client.get("/login").headers

    def test_zero_turns_it_off(self, team: Team) -> None:
        changed = Hub(
            team.hub.settings.model_copy(update={"hsts_seconds": 0}), store=team.hub.store
        )
        https = TestClient(create_app(hub=changed), base_url="https://testserver")
        assert "strict-transport-security" not in https.get("/login").headers


class TestCustomerPages:
    def test_create_edit_delete_restore_without_javascript(self, team: Team) -> None:
        """Plain form posts and redirects do the whole round."""
        c = team.client
        csrf = login(c, "agent@team.example.org")
        r = c.post(
            "/customers/new",
            data={"name": "Ana Lima", "email": "ana@lima.pt", "phone": "", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
        url = r.headers["location"]
        cid = int(url.rsplit("/", 1)[1])
        c.post(
            f"{url}/edit",
            data={"name": "Ana M. Lima", "email": "ana@lima.pt", "phone": "", "csrf_token": csrf},
        )
        assert team.hub.get_customer(cid).name == "Ana M. Lima"
        c.post(f"{url}/delete", data={"csrf_token": csrf})
        assert team.hub.get_customer(cid).in_trash
        c.post(f"{url}/restore", data={"csrf_token": csrf})
        assert not team.hub.get_customer(cid).in_trash
        page = c.get(url).text
        assert "Ana Lima" in page and "Ana M. Lima" in page  # the history shows the change

    def test_invalid_values_show_inline_next_to_the_field(self, team: Team) -> None:
        c = team.client
        csrf = login(c, "agent@team.example.org")
        r = c.post(
            "/customers/new", data={"name": "Bo", "email": "not-an-email", "csrf_token": csrf}
        )
        assert r.status_code == 422
        assert re.search(r'id="email-error" role="alert">[^<]*@-sign', r.text)
        assert 'aria-invalid="true"' in r.text and 'value="not-an-email"' in r.text
        assert team.hub.list_customers().items == []

    def test_search_returns_only_the_results_to_htmx(self, team: Team) -> None:
        c = team.client
        login(c, "viewer@team.example.org")
        for name in ("Ana", "Bo"):
            team.hub.add_customer(
                __import__("customer_flow.customers.models").customers.models.CustomerCreate(
                    name=name
                )
            )
        r = c.get("/customers?search=an", headers={"HX-Request": "true", "HX-Target": "results"})
        assert "<html" not in r.text and "Ana" in r.text and "Bo<" not in r.text
        full = c.get("/customers?search=an")
        assert "<html" in full.text

    def test_paging_links_follow_the_cursor(self, team: Team) -> None:
        from customer_flow.customers.models import CustomerCreate

        for i in range(30):
            team.hub.add_customer(CustomerCreate(name=f"P{i:02d}"))
        c = team.client
        login(c, "viewer@team.example.org")
        first = c.get("/customers").text
        nxt = re.search(r'rel="next" href="([^"]+)"', first)
        assert nxt is not None and "P24" in first and "P25" not in first
        second = c.get(nxt.group(1).replace("&amp;", "&")).text
        assert "P25" in second and "P29" in second and "P24<" not in second

    def test_viewer_sees_no_edit_controls_and_cannot_post(self, team: Team) -> None:
        from customer_flow.customers.models import CustomerCreate

        cid = team.hub.add_customer(CustomerCreate(name="Read Only")).id
        c = team.client
        csrf = login(c, "viewer@team.example.org")
        page = c.get(f"/customers/{cid}").text
        assert "/edit" not in page and "Move to trash" not in page
        r = c.post(f"/customers/{cid}/delete", data={"csrf_token": csrf})
        assert r.status_code == 403 and not team.hub.get_customer(cid).in_trash

    def test_ticket_types_and_api_docs_pages(self, team: Team, examples: object) -> None:
        from pathlib import Path

        team.hub.load_ticket_types(Path(str(examples)) / "ticket_types.json")
        c = team.client
        login(c, "viewer@team.example.org")
        assert "Billing question" in c.get("/ticket-types").text
        docs = c.get("/api/docs").text
        assert "/api/v1/customers" in docs and "/api/openapi.json" in docs

    def test_page_for_a_missing_customer_is_a_404_page(self, team: Team) -> None:
        c = team.client
        login(c, "viewer@team.example.org")
        r = c.get("/customers/4242")
        assert r.status_code == 404 and "no customer with ID 4242" in r.text
        assert c.get("/customers/abc").status_code == 422
        csrf_of(c)
