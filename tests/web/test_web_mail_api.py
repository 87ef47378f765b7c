"""``/api/v1/mail``: mail servers by admins (no password ever travels), and each user's
notification choices."""

from __future__ import annotations

from .conftest import Team

SMTP = {
    "name": "out",
    "kind": "smtp",
    "host": "smtp.example.org",
    "username": "u",
    "password_env": "SMTP_PASSWORD",
    "address": "Help@Example.org",
}


def test_admin_saves_lists_and_removes_a_server(team: Team) -> None:
    admin = team["admin"].headers
    saved = team.client.post("/api/v1/mail/accounts", json=SMTP, headers=admin)
    assert 200 == saved.status_code, saved.text
    assert (587, "help@example.org", "SMTP_PASSWORD") == (
        saved.json()["port"],
        saved.json()["address"],
        saved.json()["password_env"],
    )
    assert ["out"] == [
        a["name"] for a in team.client.get("/api/v1/mail/accounts", headers=admin).json()
    ]
    assert 200 == team.client.delete("/api/v1/mail/accounts/out", headers=admin).status_code
    assert 404 == team.client.delete("/api/v1/mail/accounts/out", headers=admin).status_code


def test_a_password_in_the_body_is_refused_unechoed_and_one_source_is_required(
    team: Team,
) -> None:
    admin = team["admin"].headers
    r = team.client.post(
        "/api/v1/mail/accounts", json={**SMTP, "password": "s3cret!"}, headers=admin
    )
    assert 422 == r.status_code
    assert "s3cret!" not in r.text
    r = team.client.post(
        "/api/v1/mail/accounts", json={**SMTP, "password_env": None}, headers=admin
    )
    assert 422 == r.status_code
    assert "exactly one" in r.json()["detail"]


def test_a_user_sets_their_own_choices(team: Team) -> None:
    viewer = team["viewer"]
    url = f"/api/v1/mail/notifications/{viewer.user.id}"
    r = team.client.put(url, json={"sla_at_risk": True, "assigned": False}, headers=viewer.headers)
    assert 200 == r.status_code, r.text
    assert (True, False, True) == (
        r.json()["sla_at_risk"],
        r.json()["assigned"],
        r.json()["customer_replied"],
    )
    assert r.json() == team.client.get(url, headers=viewer.headers).json()
    assert 422 == team.client.put(url, json={"bogus": True}, headers=viewer.headers).status_code
