"""``/api/v1/mail``: mail servers by admins (no password ever travels), and each user's
notification choices."""

from __future__ import annotations

from .conftest import Team


def test_admin_lists_the_servers_without_passwords(team: Team) -> None:
    from customer_flow.mail.models import MailAccountCreate

    team.hub.save_mail_account(
        MailAccountCreate(
            name="out",
            kind="smtp",
            host="smtp.example.org",
            username="u",
            password_env="SMTP_PASSWORD",
            address="Help@Example.org",
        )
    )
    listed = team.client.get("/api/v1/mail/accounts", headers=team["admin"].headers).json()
    assert [("out", 465, "help@example.org", "SMTP_PASSWORD")] == [
        (a["name"], a["port"], a["address"], a["password_env"]) for a in listed
    ]
    assert all("password" not in a for a in listed)


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
    assert 422 == team.client.put(url, json={"assigned": 0}, headers=viewer.headers).status_code
