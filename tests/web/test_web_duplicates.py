"""The duplicates review queue on both databases: the API (find with a threshold, merge with
per-field picks, "not a duplicate", merges, undo) and the pages (queue, side by side with the
evidence per field, radio picks, Merge, Not a duplicate, Undo), with the roles' limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from customer_flow.customers.models import CustomerCreate

from .conftest import Team, login


@dataclass
class Pair:
    a: int  # the older record
    b: int  # a likely duplicate of it


@pytest.fixture
def pair(team: Team) -> Pair:
    """Two records of one person (same phone, "Last, First" name, other email) and a third,
    unrelated customer."""
    hub = team.hub
    a = hub.add_customer(
        CustomerCreate(name="Ana Lima", email="ana@lima.pt", phone="+351 912 345 678")
    )
    b = hub.add_customer(
        CustomerCreate(name="Lima, Ana", email="ana.lima@work.pt", phone="+351912345678"),
        allow_duplicate=True,
    )
    hub.add_customer(CustomerCreate(name="Rui Sousa", email="rui@sousa.pt"))
    return Pair(a.id, b.id)


def _api(team: Team, role: str = "agent") -> tuple[TestClient, dict[str, str]]:
    return team.client, team[role].headers


class TestFindApi:
    def test_finds_the_pair_with_the_evidence_per_field(self, team: Team, pair: Pair) -> None:
        client, auth = _api(team, "viewer")
        r = client.get("/api/v1/duplicates", headers=auth)
        assert r.status_code == 200, r.text
        found = r.json()
        assert found["customers"] == 3 and found["threshold"] == 0.9
        assert [c["ids"] for c in found["clusters"]] == [[pair.a, pair.b]]
        evidence = found["clusters"][0]["pairs"][0]["explanation"]
        assert {"first_name", "last_name", "email", "phone"} == set(evidence)
        assert evidence["phone"] == {"level": "same", "weight": 22.838, "verdict": "agrees"}
        assert evidence["email"]["verdict"] == "disagrees" and evidence["email"]["weight"] < 0

    def test_the_threshold_is_checked(self, team: Team, pair: Pair) -> None:
        client, auth = _api(team, "viewer")
        for bad in ("0", "1", "1.5", "-0.2", "x"):
            r = client.get(f"/api/v1/duplicates?threshold={bad}", headers=auth)
            assert r.status_code == 422, (bad, r.text)
        r = client.get("/api/v1/duplicates?threshold=0.999999", headers=auth)
        assert r.status_code == 200 and r.json()["threshold"] == 0.999999

    def test_a_bad_extra_field_name_is_422(self, team: Team, pair: Pair) -> None:
        client, auth = _api(team, "viewer")
        r = client.get("/api/v1/duplicates?field=a;drop", headers=auth)
        assert r.status_code == 422 and r.json()["code"] == "bad_field"


def _postcodes(team: Team) -> None:
    """Two more customers who carry a postcode (2 of 5: enough to be compared)."""
    for name, code in (("Rita Mota", "1000-001"), ("Vasco Reis", "4000-002")):
        team.hub.add_customer(CustomerCreate(name=name, extra={"Postal Code": code}))


class TestFindFieldsApi:
    def test_the_fields_compared_and_the_opt_out(self, team: Team, pair: Pair) -> None:
        """The report lists the fields compared and why; auto_fields=false leaves the
        recognised postcode out."""
        _postcodes(team)
        client, auth = _api(team, "viewer")
        found = client.get("/api/v1/duplicates", headers=auth).json()
        assert [(f["name"], f["source"]) for f in found["fields"]] == [
            ("name", "built-in"),
            ("email", "built-in"),
            ("phone", "built-in"),
            ("postcode", "auto"),
        ]
        assert found["fields"][-1]["keys"] == ["Postal Code"] and found["auto_fields"] is True
        assert "compared automatically" in found["fields"][-1]["why"]
        off = client.get("/api/v1/duplicates?auto_fields=false", headers=auth).json()
        assert [f["name"] for f in off["fields"]] == ["name", "email", "phone"]
        assert off["auto_fields"] is False
        assert [c["ids"] for c in off["clusters"]] == [[pair.a, pair.b]]


class TestMergeApi:
    def test_merge_with_a_pick_then_undo_exactly(self, team: Team, pair: Pair) -> None:
        client, auth = _api(team)
        r = client.post(
            "/api/v1/duplicates/merge",
            json={"keep": pair.a, "others": [pair.b], "take": {"email": pair.b}},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        merged = r.json()
        assert merged["survivor"]["id"] == pair.a
        assert merged["survivor"]["email"] == "ana.lima@work.pt"  # picked from the other
        assert merged["others"][0]["deleted_at"] is not None
        merge_id = merged["merge"]["id"]
        listed = client.get(f"/api/v1/merges?customer_id={pair.a}", headers=auth).json()
        assert [m["id"] for m in listed] == [merge_id]
        assert client.get(f"/api/v1/merges/{merge_id}", headers=auth).json()["fields"]["email"] == (
            pair.b
        )
        # The pair is gone from the queue while merged.
        assert client.get("/api/v1/duplicates", headers=auth).json()["clusters"] == []
        r = client.post(f"/api/v1/merges/{merge_id}/undo", headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["survivor"]["email"] == "ana@lima.pt"
        assert client.get(f"/api/v1/customers/{pair.b}", headers=auth).json()["deleted_at"] is None
        assert client.get(f"/api/v1/merges/{merge_id}", headers=auth).json()["undone_at"]
        # Twice is refused.
        again = client.post(f"/api/v1/merges/{merge_id}/undo", headers=auth)
        assert again.status_code == 409 and again.json()["code"] == "merge_undone"

    @pytest.mark.parametrize(
        ("case", "status", "code"),
        [
            ("itself", 422, "merge_self"),
            ("no others", 422, "invalid"),
            ("unknown field", 422, "bad_field"),
            ("pick from outside", 422, "bad_source"),
            ("unknown customer", 404, None),
        ],
    )
    def test_bad_merges_are_refused_and_change_nothing(
        self, team: Team, pair: Pair, case: str, status: int, code: str | None
    ) -> None:
        body = {
            "itself": {"keep": pair.a, "others": [pair.a]},
            "no others": {"keep": pair.a, "others": []},
            "unknown field": {"keep": pair.a, "others": [pair.b], "take": {"colour": pair.b}},
            "pick from outside": {"keep": pair.a, "others": [pair.b], "take": {"name": 999}},
            "unknown customer": {"keep": pair.a, "others": [999]},
        }[case]
        client, auth = _api(team)
        r = client.post("/api/v1/duplicates/merge", json=body, headers=auth)
        assert r.status_code == status, r.text
        if code:
            assert r.json()["code"] == code
        assert client.get("/api/v1/merges", headers=auth).json() == []
        assert client.get(f"/api/v1/customers/{pair.b}", headers=auth).json()["deleted_at"] is None

    def test_a_customer_in_the_trash_cannot_be_merged(self, team: Team, pair: Pair) -> None:
        client, auth = _api(team)
        client.delete(f"/api/v1/customers/{pair.b}", headers=auth)
        r = client.post(
            "/api/v1/duplicates/merge", json={"keep": pair.a, "others": [pair.b]}, headers=auth
        )
        assert r.status_code == 409 and r.json()["code"] == "customer_in_trash"

    def test_not_a_duplicate_is_remembered(self, team: Team, pair: Pair) -> None:
        client, auth = _api(team)
        r = client.post("/api/v1/duplicates/dismiss", json={"a": pair.b, "b": pair.a}, headers=auth)
        assert r.status_code == 200, r.text
        assert sorted(c["id"] for c in r.json()) == [pair.a, pair.b]
        assert client.get("/api/v1/duplicates", headers=auth).json()["clusters"] == []
        same = client.post(
            "/api/v1/duplicates/dismiss", json={"a": pair.a, "b": pair.a}, headers=auth
        )
        assert same.status_code == 422

    def test_a_viewer_reads_but_changes_nothing(self, team: Team, pair: Pair) -> None:
        client, viewer = _api(team, "viewer")
        _, agent = _api(team, "agent")
        merged = client.post(
            "/api/v1/duplicates/merge", json={"keep": pair.a, "others": [pair.b]}, headers=agent
        ).json()
        for path, body in [
            ("/api/v1/duplicates/merge", {"keep": pair.a, "others": [pair.b]}),
            ("/api/v1/duplicates/dismiss", {"a": pair.a, "b": pair.b}),
            (f"/api/v1/merges/{merged['merge']['id']}/undo", None),
        ]:
            r = client.post(path, json=body, headers=viewer)
            assert r.status_code == 403, (path, r.text)
        assert client.get("/api/v1/merges", headers=viewer).json()[0]["undone_at"] is None


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


class TestPages:
    def test_queue_review_merge_with_a_pick_and_undo(self, team: Team, pair: Pair) -> None:
        client = team.client
        login(client, "agent@team.example.org")
        queue = client.get("/duplicates")
        assert queue.status_code == 200
        assert f'data-ids="{pair.a},{pair.b}"' in queue.text
        assert "Rui Sousa" not in queue.text
        review = client.get(f"/duplicates/review?ids={pair.a}&ids={pair.b}")
        assert review.status_code == 200
        text = review.text
        # Side by side: both values of every field, a radio for each, and the evidence.
        for value in ("Ana Lima", "Lima, Ana", "ana@lima.pt", "ana.lima@work.pt"):
            assert value in text
        assert f'name="take_email" value="{pair.b}"' in text
        assert 'name="take_email" value="" id="take-email-auto" checked' in text
        assert "How they compare" in text and "Not a duplicate" in text
        # The evidence per field: which agreed, which disagreed, and the weight of each.
        agrees = r'data-verdict="agrees"><th scope="row">phone</th><td>same</td><td>agrees</td>'
        assert re.search(agrees + r'<td class="weight-plus">\+22\.8</td>', text)
        differs = r'data-verdict="disagrees"><th scope="row">email</th><td>different</td>'
        assert re.search(differs + r'<td>disagrees</td><td class="weight-minus">-2\.7</td>', text)
        assert '<th scope="row">first name</th>' in text
        r = client.post(
            "/duplicates/merge",
            data={
                "csrf_token": _csrf(text),
                "ids": [str(pair.a), str(pair.b)],
                "keep": str(pair.a),
                "take_name": str(pair.b),
                "take_email": "",
                "take_phone": "",
            },
        )
        assert r.status_code == 200, r.text
        assert "Lima, Ana" in r.text and "Merged into" in r.text
        assert team.hub.get_customer(pair.a).name == "Lima, Ana"
        assert team.hub.get_customer(pair.b).in_trash
        merge_id = team.hub.list_merges()[0].id
        assert f'action="/duplicates/merges/{merge_id}/undo"' in r.text
        merges = client.get("/duplicates/merges")
        assert f'data-merge="{merge_id}"' in merges.text and ">Undo</button>" in merges.text
        undone = client.post(
            f"/duplicates/merges/{merge_id}/undo", data={"csrf_token": _csrf(r.text)}
        )
        assert undone.status_code == 200 and f"Merge {merge_id} undone" in undone.text
        assert team.hub.get_customer(pair.a).name == "Ana Lima"
        assert not team.hub.get_customer(pair.b).in_trash

    def test_the_queue_says_which_fields_were_compared(self, team: Team, pair: Pair) -> None:
        _postcodes(team)
        client = team.client
        login(client, "viewer@team.example.org")
        queue = client.get("/duplicates")
        assert queue.status_code == 200
        assert "Fields compared: name, email, phone, postcode." in queue.text
        assert 'data-field="postcode">postcode: recognised as a postcode (extra key Postal' in (
            queue.text
        )

    def test_not_a_duplicate_leaves_the_queue_for_good(self, team: Team, pair: Pair) -> None:
        client = team.client
        csrf = login(client, "agent@team.example.org")
        r = client.post(
            "/duplicates/dismiss",
            data={"csrf_token": csrf, "a": str(pair.a), "b": str(pair.b)},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/duplicates"
        queue = client.get("/duplicates")
        assert 'data-ids="' not in queue.text and "No likely duplicates" in queue.text
        gone = client.get(f"/duplicates/review?ids={pair.a}&ids={pair.b}")
        assert gone.status_code == 404 and "no longer in the queue" in gone.text

    def test_forms_need_the_csrf_token(self, team: Team, pair: Pair) -> None:
        client = team.client
        login(client, "agent@team.example.org")
        r = client.post(
            "/duplicates/merge",
            data={"ids": [str(pair.a), str(pair.b)], "keep": str(pair.a), "csrf_token": "x"},
        )
        assert r.status_code == 403
        assert not team.hub.get_customer(pair.b).in_trash

    def test_a_viewer_sees_the_queue_without_buttons_and_cannot_post(
        self, team: Team, pair: Pair
    ) -> None:
        client = team.client
        csrf = login(client, "viewer@team.example.org")
        review = client.get(f"/duplicates/review?ids={pair.a}&ids={pair.b}")
        assert review.status_code == 200 and "ana.lima@work.pt" in review.text
        assert 'type="radio"' not in review.text and "Not a duplicate" not in review.text
        r = client.post(
            "/duplicates/dismiss", data={"csrf_token": csrf, "a": str(pair.a), "b": str(pair.b)}
        )
        assert r.status_code == 403
        assert f'data-ids="{pair.a},{pair.b}"' in client.get("/duplicates").text

    def test_a_bad_threshold_is_one_message(self, team: Team, pair: Pair) -> None:
        client = team.client
        login(client, "viewer@team.example.org")
        r = client.get("/duplicates?threshold=2")
        assert r.status_code == 422 and "between 0 and 1" in r.text
        r = client.get("/duplicates?threshold=abc")
        assert r.status_code == 422 and "expected a number" in r.text

    def test_payloads_in_names_render_as_text(self, team: Team) -> None:
        hub = team.hub
        payload = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
        a = hub.add_customer(CustomerCreate(name=payload, phone="+351 913 000 111"))
        b = hub.add_customer(
            CustomerCreate(name=payload, phone="+351913000111", email="x@y.pt"),
            allow_duplicate=True,
        )
        client = team.client
        login(client, "agent@team.example.org")
        for path in ("/duplicates", f"/duplicates/review?ids={a.id}&ids={b.id}"):
            html = client.get(path).text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
            assert "<img src=x" not in html and "<script>alert" not in html, path
