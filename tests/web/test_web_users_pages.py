"""User admin in the web (issue 17): ``/users`` for admins only; add a user, change a role,
disable, reset a password; each refusal is shown on the page with its status."""

from __future__ import annotations

import re

from .conftest import PASSWORD, Team, login


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


class TestUsersPage:
    def test_only_an_admin_sees_it(self, team: Team) -> None:
        login(team.client, "agent@team.example.org")
        assert 403 == team.client.get("/users").status_code
        assert 'href="/users"' not in team.client.get("/customers").text
        login(team.client, "admin@team.example.org")
        page = team.client.get("/users")
        assert 200 == page.status_code and "viewer@team.example.org" in page.text

    def test_add_change_role_disable_and_reset(self, team: Team) -> None:
        csrf = login(team.client, "admin@team.example.org")
        post = team.client.post
        r = post(
            "/users",
            data={"email": "new@team.example.org", "name": "New", "role": "viewer",
                  "password": "a long enough passphrase", "csrf_token": csrf},
            follow_redirects=False,
        )  # fmt: skip
        assert 303 == r.status_code
        new = team.hub.find_user("new@team.example.org")
        assert ("viewer", "New") == (new.role, new.name)
        post(f"/users/{new.id}/role", data={"role": "agent", "csrf_token": csrf})
        assert "agent" == team.hub.get_user(new.id).role
        r = post(
            f"/users/{new.id}/password", data={"password": "another passphrase", "csrf_token": csrf}
        )
        assert 200 == r.status_code and "password of new@team.example.org reset" in r.text
        post(f"/users/{new.id}/disable", data={"csrf_token": csrf})
        assert team.hub.get_user(new.id).active is False

    def test_refusals_are_shown(self, team: Team) -> None:
        """A common password, a duplicate email, the last admin's role: the message on the
        page, nothing changed."""
        csrf = login(team.client, "admin@team.example.org")
        post = team.client.post
        r = post(
            "/users",
            data={"email": "x@team.example.org", "role": "agent", "password": "password",
                  "csrf_token": csrf},
        )  # fmt: skip
        assert 422 == r.status_code and 'role="alert"' in r.text
        r = post(
            "/users",
            data={"email": "agent@team.example.org", "role": "agent", "password": PASSWORD,
                  "csrf_token": csrf},
        )  # fmt: skip
        assert 409 == r.status_code and "already exists" in r.text
        admin = team["admin"].user.id
        r = post(f"/users/{admin}/role", data={"role": "viewer", "csrf_token": csrf})
        assert 409 == r.status_code and "last active admin" in r.text
        assert "admin" == team.hub.get_user(admin).role
        r = post(f"/users/{admin}/role", data={"role": "boss", "csrf_token": csrf})
        assert 422 == r.status_code
        assert 403 == post("/users/1/disable", data={}).status_code  # no CSRF token
