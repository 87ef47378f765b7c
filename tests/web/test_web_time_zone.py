"""Each user's time zone (issue 17, item 7), in-process on SQLite and PostgreSQL: chosen on
/account/time-zone, guessed once from the browser (never over a choice), set in the API (yours,
or an admin for anyone) and the CLI; an unknown name refused with a clear message everywhere;
the pages show times in it to the minute with the ISO instant on hover. And the API's role
change (admin only)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.tickets.models import TicketCreate

from .conftest import Team, login
from .tickets_web_support import desk


class TestTimeZonePage:
    def test_choose_and_see_times_in_it(self, team: Team) -> None:
        cid = desk(team)
        tid = team.hub.open_ticket(
            TicketCreate(customer_id=cid, type="question", subject="When?")
        ).id
        opened = team.hub.get_ticket(tid).created_at
        csrf = login(team.client, "agent@team.example.org")
        page = team.client.get(f"/tickets/{tid}")
        assert 'src="/static/tz.js"' in page.text  # no zone yet: the browser's is asked for
        assert f"{opened:%Y-%m-%d %H:%M} UTC" in page.text
        r = team.client.post(
            "/account/time-zone", data={"csrf_token": csrf, "time_zone": "Asia/Tokyo"}
        )
        assert r.status_code == 200 and "Times are now shown in Asia/Tokyo" in r.text
        page = team.client.get(f"/tickets/{tid}")
        assert 'src="/static/tz.js"' not in page.text
        from zoneinfo import ZoneInfo

        tokyo = opened.astimezone(ZoneInfo("Asia/Tokyo"))
        iso = re.escape(opened.isoformat())
        assert re.search(
            rf'<time datetime="{iso}" title="{iso}">{tokyo:%Y-%m-%d %H:%M} JST</time>', page.text
        ), page.text
        timeline = page.text.split("Timeline", 1)[1]
        assert "JST" in timeline and " UTC<" not in timeline

    def test_an_unknown_zone_is_refused_and_nothing_changes(self, team: Team) -> None:
        csrf = login(team.client, "agent@team.example.org")
        for bad in ("Mars/Olympus", "../../etc/passwd", "Europe/"):
            r = team.client.post("/account/time-zone", data={"csrf_token": csrf, "time_zone": bad})
            assert r.status_code == 422
            assert "no time zone named" in r.text or "IANA" in r.text
        assert team.hub.get_user(team["agent"].user.id).time_zone is None

    def test_the_browsers_guess_never_replaces_a_choice(self, team: Team) -> None:
        csrf = login(team.client, "agent@team.example.org")
        guess = {"csrf_token": csrf, "time_zone": "America/New_York", "detected": "1"}
        assert 204 == team.client.post("/account/time-zone", data=guess).status_code
        uid = team["agent"].user.id
        assert "America/New_York" == team.hub.get_user(uid).time_zone
        team.client.post("/account/time-zone", data={"csrf_token": csrf, "time_zone": "UTC"})
        assert 204 == team.client.post("/account/time-zone", data=guess).status_code
        assert "UTC" == team.hub.get_user(uid).time_zone
        bad = {**guess, "time_zone": "Nowhere/Land"}
        assert 422 == team.client.post("/account/time-zone", data=bad).status_code


class TestTimeZoneApiAndCli:
    def test_api_yours_or_an_admins(self, team: Team) -> None:
        me, other = team["agent"], team["agent2"]
        r = team.client.put(f"/api/v1/users/{me.user.id}/time-zone",
                            json={"time_zone": "Europe/Lisbon"}, headers=me.headers)  # fmt: skip
        assert r.status_code == 200 and "Europe/Lisbon" == r.json()["time_zone"]
        r = team.client.put(f"/api/v1/users/{other.user.id}/time-zone",
                            json={"time_zone": "UTC"}, headers=me.headers)  # fmt: skip
        assert r.status_code == 403
        r = team.client.put(f"/api/v1/users/{me.user.id}/time-zone",
                            json={"time_zone": "Atlantis/Capital"}, headers=me.headers)  # fmt: skip
        assert r.status_code == 422 and r.json()["code"] == "time_zone_unknown"
        admin = team["admin"].headers
        r = team.client.put(f"/api/v1/users/{other.user.id}/time-zone",
                            json={"time_zone": "Asia/Tokyo"}, headers=admin)  # fmt: skip
        assert r.status_code == 200

    def test_cli(self, team: Team, db_url: str) -> None:
        runner = CliRunner()
        base = ["--db", db_url, "users", "set-time-zone", "agent@team.example.org"]
        ok = runner.invoke(app, [*base, "Europe/Berlin"])
        assert ok.exit_code == 0, ok.stderr
        bad = runner.invoke(app, [*base, "Europe/Atlantis"])
        assert bad.exit_code == 1 and "no time zone named 'Europe/Atlantis'" in bad.stderr
        assert "Traceback" not in bad.stderr
        assert "Europe/Berlin" == team.hub.get_user(team["agent"].user.id).time_zone


class TestRoleInTheApi:
    def test_admin_only_and_the_last_admin_stays(self, team: Team) -> None:
        agent = team["agent2"]
        r = team.client.put(f"/api/v1/users/{agent.user.id}/role", json={"role": "viewer"},
                            headers=team["agent"].headers)  # fmt: skip
        assert r.status_code == 403
        r = team.client.put(f"/api/v1/users/{agent.user.id}/role", json={"role": "viewer"},
                            headers=team["admin"].headers)  # fmt: skip
        assert r.status_code == 200 and "viewer" == r.json()["role"]
        admin = team["admin"]
        r = team.client.put(f"/api/v1/users/{admin.user.id}/role", json={"role": "agent"},
                            headers=admin.headers)  # fmt: skip
        assert r.status_code == 409 and r.json()["code"] == "last_admin"
        r = team.client.put(f"/api/v1/users/{agent.user.id}/role", json={"role": "boss"},
                            headers=admin.headers)  # fmt: skip
        assert r.status_code == 422
