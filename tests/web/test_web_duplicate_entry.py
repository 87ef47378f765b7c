"""A likely duplicate at the door: the API and the page name the candidates and offer a way on."""

from __future__ import annotations

from .conftest import Team, login

SAME_PHONE = {"name": "Ana Lima", "email": "ana@lima.example.org", "phone": "+14155550100"}
ALIKE = {"name": "Lima, Ana", "email": "al@other.example.org", "phone": "(415) 555-0100"}


class TestApi:
    def test_a_likely_duplicate_is_409_with_its_candidates(self, team: Team) -> None:
        c, h = team.client, team["agent"].headers
        first = c.post("/api/v1/customers", json=SAME_PHONE, headers=h).json()
        r = c.post("/api/v1/customers", json=ALIKE, headers=h)
        assert (409, "possible_duplicate") == (r.status_code, r.json()["code"])
        assert [first["id"]] == [cand["id"] for cand in r.json()["candidates"]]
        (candidate,) = r.json()["candidates"]
        assert candidate["probability"] > 0.99
        assert candidate["explanation"]["phone"] == {
            "level": "same",
            "weight": 22.838,
            "verdict": "agrees",
        }
        assert candidate["explanation"]["email"]["verdict"] == "disagrees"
        assert "allow_duplicate=true" in r.json()["detail"]
        assert "--allow-duplicate" not in r.json()["detail"]
        assert 1 == len(c.get("/api/v1/customers", headers=h).json()["items"])

    def test_allow_duplicate_creates_it_with_a_warning(self, team: Team) -> None:
        c, h = team.client, team["agent"].headers
        first = c.post("/api/v1/customers", json=SAME_PHONE, headers=h).json()
        r = c.post("/api/v1/customers?allow_duplicate=true", json=ALIKE, headers=h)
        assert 201 == r.status_code, r.text
        warned = [w for w in r.json()["warnings"] if w["code"] == "possible_duplicate"]
        assert 1 == len(warned) and str(first["id"]) in warned[0]["message"]

    def test_an_update_that_makes_a_duplicate_goes_on_with_the_parameter(self, team: Team) -> None:
        c, h = team.client, team["agent"].headers
        c.post("/api/v1/customers", json=SAME_PHONE, headers=h)
        other = c.post("/api/v1/customers", json={"name": "Ana Lima"}, headers=h).json()
        change = {"phone": "+14155550100"}
        r = c.patch(f"/api/v1/customers/{other['id']}", json=change, headers=h)
        assert (409, "possible_duplicate") == (r.status_code, r.json()["code"])
        r = c.patch(f"/api/v1/customers/{other['id']}?allow_duplicate=true", json=change, headers=h)
        assert (200, "+14155550100") == (r.status_code, r.json()["phone"])

    def test_the_parameter_is_in_the_openapi_spec(self, team: Team) -> None:
        spec = team.client.get("/api/openapi.json").json()
        for path, method in (("/api/v1/customers", "post"), ("/api/v1/customers/{id}", "patch")):
            op = spec["paths"][path.replace("{id}", "{customer_id}")][method]
            names = {p["name"] for p in op.get("parameters", [])}
            assert "allow_duplicate" in names, (path, method)


class TestPage:
    def test_the_form_names_the_candidates_and_creates_anyway(self, team: Team) -> None:
        c = team.client
        first = team.hub.add_customer(
            __import__("customer_flow.customers.models").customers.models.CustomerCreate(
                **SAME_PHONE
            )
        )
        csrf = login(c, "agent@team.example.org")
        form = {**ALIKE, "csrf_token": csrf}
        r = c.post("/customers/new", data=form, follow_redirects=False)
        assert 409 == r.status_code
        assert f'href="/customers/{first.id}"' in r.text
        assert 'name="allow_duplicate" value="1"' in r.text and "Create anyway" in r.text
        assert "--allow-duplicate" not in r.text
        r = c.post("/customers/new", data={**form, "allow_duplicate": "1"}, follow_redirects=False)
        assert 303 == r.status_code, r.text
        new_id = int(r.headers["location"].rsplit("/", 1)[1])
        assert "possible_duplicate" in [w.code for w in team.hub.get_customer(new_id).warnings]


class TestHistoryPage:
    def test_the_kept_customer_s_history_says_whose_each_entry_is(self, team: Team) -> None:
        from customer_flow.customers.models import CustomerCreate

        keep = team.hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
        other = team.hub.add_customer(CustomerCreate(name="Rui Costa", email="rui@costa.pt"))
        login(team.client, "agent@team.example.org")
        assert "(merged)" not in team.client.get(f"/customers/{keep.id}").text
        team.hub.merge_customers(keep.id, [other.id])
        page = team.client.get(f"/customers/{keep.id}").text
        assert f'<a href="/customers/{other.id}">#{other.id}</a> (merged)' in page
