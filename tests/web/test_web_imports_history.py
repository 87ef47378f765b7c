"""Issue 16, items 4 and 5 through the API and the pages: a revert names what blocks it,
reverts the rest on request, and the history of a reverted customer stays visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_flow.tickets.models import TicketCreate

from .conftest import Team, login

FILE = "ID,Name,Email\n201,Ana Lima,ana@acme.io\n202,Bo Berg,bo@acme.io\n"


@pytest.fixture
def batch(team: Team, tmp_path: Path) -> int:
    team.hub.init()  # the bundled ticket types
    path = tmp_path / "a.csv"
    path.write_text(FILE)
    report = team.hub.import_file(path)
    team.hub.open_ticket(TicketCreate(customer_id=201, type="question", subject="Hello"))
    return report.batch_id or 0


class TestRevertApi:
    def test_a_blocked_revert_is_a_409_naming_the_customer(self, team: Team, batch: int) -> None:
        h = team["agent"].headers
        r = team.client.post(f"/api/v1/imports/{batch}/revert", headers=h)
        assert 409 == r.status_code
        problem = r.json()
        assert "changed_since_import" == problem["code"]
        assert "customer 201 (Ana Lima) has 1 ticket" in problem["detail"]

    def test_skip_changed_reverts_the_rest_and_lists_what_stayed(
        self, team: Team, batch: int
    ) -> None:
        h = team["agent"].headers
        r = team.client.post(f"/api/v1/imports/{batch}/revert?skip_changed=true", headers=h)
        assert 200 == r.status_code, r.text
        body = r.json()
        assert ("partly reverted", 1, 0) == (body["status"], body["removed"], body["restored"])
        assert [{"id": 201, "name": "Ana Lima", "reason": "has 1 ticket"}] == body["kept"]
        history = team.client.get("/api/v1/customers/202/history", headers=h)
        assert 200 == history.status_code
        assert ["create", "revert"] == [e["action"] for e in history.json()]
        assert "Bo Berg" == history.json()[-1]["before"]["name"]


class TestRevertPages:
    def test_the_page_of_a_reverted_customer_shows_its_history(
        self, team: Team, batch: int
    ) -> None:
        csrf = login(team.client, team["agent"].user.email)
        r = team.client.post(
            f"/imports/{batch}/revert", data={"csrf_token": csrf, "skip_changed": "1"}
        )
        assert "partly reverted" == team.hub.get_import(batch).status
        page = team.client.get("/customers/202")
        assert 404 == page.status_code
        assert "reverted" in page.text and "Bo Berg" in page.text and "revert" in page.text
        assert r.status_code in (200, 303)
