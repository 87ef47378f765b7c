"""Data quality's likely duplicates, on SQLite and PostgreSQL: the live customers that the
check on entry flagged as a possible duplicate of another (their ``possible_duplicate``
warning, which a merge, an edit or "not a duplicate" clears); the same number in the report,
the CLI's formats and the web dashboard."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.users.models import UserCreate
from customer_flow.web.app import create_app


@pytest.fixture
def people(hub: Hub) -> Iterator[tuple[Hub, dict[str, int]]]:
    """Ana twice (one email, written two ways), Rui twice (one phone, written two ways), Eva
    alone, and Ivo, whose email only looks like Ana's."""

    def add(name: str, **fields: Any) -> int:
        return hub.add_customer(CustomerCreate(name=name, **fields), allow_duplicate=True).id

    ids = {
        "ana": add("Ana Lima", email="Ana.Lima@Gmail.com"),
        "ana2": add("Ana L.", email="analima+shop@googlemail.com"),
        "rui": add("Rui Costa", phone="+351 912 345 678"),
        "rui2": add("R. Costa", phone="+351912345678"),
        "eva": add("Eva Mar", email="eva@mar.pt", phone="+351 912 000 000"),
        "ivo": add("Ivo Lima", email="ana.lima@gmail.org"),
    }
    yield hub, ids


def likely(hub: Hub) -> int | None:
    return hub.report().data_quality.likely_duplicates


class TestLikelyDuplicates:
    def test_the_second_of_each_pair_is_flagged(self, people: tuple[Hub, dict[str, int]]) -> None:
        """Ana2 came after Ana with the same email, Rui2 after Rui with the same phone: two
        records that would go in a merge. The first of each pair is not itself a duplicate."""
        hub, _ = people
        dq = hub.report().data_quality
        assert (dq.customers, dq.likely_duplicates) == (6, 2)
        assert dq.shares["likely_duplicates"] == 33.33

    def test_the_same_last_digits_of_another_number_are_not_the_same_phone(
        self, people: tuple[Hub, dict[str, int]]
    ) -> None:
        """Eva's number and this one end in the same 7 digits, under another country code: a
        similar phone (worth a look on entry), not the same phone."""
        hub, _ = people
        hub.add_customer(
            CustomerCreate(name="Zé Mar", phone="+1 212 200 0000"), allow_duplicate=True
        )
        assert likely(hub) == 2

    def test_a_third_with_one_email_is_one_more(self, people: tuple[Hub, dict[str, int]]) -> None:
        hub, _ = people
        hub.add_customer(
            CustomerCreate(name="A. Lima", email="a.n.a.lima@gmail.com"), allow_duplicate=True
        )
        assert likely(hub) == 3

    def test_a_dismissed_pair_is_left_out_but_not_its_other_partners(
        self, people: tuple[Hub, dict[str, int]]
    ) -> None:
        hub, ids = people
        hub.dismiss_duplicate(ids["rui"], ids["rui2"])
        assert likely(hub) == 1
        third = hub.add_customer(
            CustomerCreate(name="Rui C.", phone="+351 91 234 5678"), allow_duplicate=True
        ).id
        assert likely(hub) == 2  # the third shares the phone with both, undismissed
        hub.dismiss_duplicate(third, ids["rui"])
        hub.dismiss_duplicate(third, ids["rui2"])
        assert likely(hub) == 1

    def test_trashed_and_merged_customers_are_not_counted(
        self, people: tuple[Hub, dict[str, int]]
    ) -> None:
        hub, ids = people
        hub.delete_customer(ids["ana2"])
        assert likely(hub) == 1
        hub.restore_customer(ids["ana2"])
        assert likely(hub) == 2
        hub.merge_customers(ids["rui"], [ids["rui2"]])
        assert likely(hub) == 1

    def test_a_changed_email_leaves_the_group(self, people: tuple[Hub, dict[str, int]]) -> None:
        from customer_flow.customers.models import CustomerUpdate

        hub, ids = people
        hub.update_customer(ids["ana2"], CustomerUpdate(email="ana@lima.pt"), allow_duplicate=True)
        assert likely(hub) == 1

    def test_no_customers_no_duplicates(self, hub: Hub) -> None:
        dq = hub.report().data_quality
        assert (dq.likely_duplicates, dq.shares["likely_duplicates"]) == (0, None)


class TestShownEverywhere:
    def test_cli_formats_show_the_count(
        self, people: tuple[Hub, dict[str, int]], db_url: str
    ) -> None:
        runner = CliRunner()

        def run(*args: str) -> str:
            result = runner.invoke(app, ["--db", db_url, "report", *args])
            assert result.exit_code == 0, result.stderr
            return result.stdout

        shown = json.loads(run("--format", "json"))
        assert shown["data_quality"]["likely_duplicates"] == 2
        assert shown["data_quality"]["shares"]["likely_duplicates"] == 33.33
        rows = list(csv.reader(io.StringIO(run("--format", "csv", "--table", "data_quality"))))
        assert ["likely duplicates", "2", "33.33"] in rows
        assert "| likely duplicates | 2 | 33.33 |" in run("--format", "markdown").splitlines()
        assert "likely duplicates" in run()

    def test_the_dashboard_shows_the_count(self, people: tuple[Hub, dict[str, int]]) -> None:
        hub, _ = people
        hub.settings = hub.settings.model_copy(
            update={"password_memory_kib": 19456, "password_time_cost": 2}
        )
        user = hub.add_user(
            UserCreate(email="viewer@team.example.org", role="viewer", password="x" * 8 + "y" * 8)  # type: ignore[arg-type]
        )
        headers = {"Authorization": f"Bearer {hub.create_token('t', user_id=user.id).token}"}
        client = TestClient(create_app(hub=hub))
        api = client.get("/api/v1/reports", headers=headers)
        assert api.status_code == 200 and api.json()["data_quality"]["likely_duplicates"] == 2
        page = client.get("/reports", headers=headers)
        assert page.status_code == 200
        row = page.text.split("likely duplicates", 1)[1].split("</tr>", 1)[0]
        assert ">2<" in row and "33.33" in row
