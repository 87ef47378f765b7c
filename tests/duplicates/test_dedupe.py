"""Duplicates: the check on entry, `duplicates find` on Splink, and "not a duplicate".

Every test runs on SQLite and PostgreSQL, through the Hub and, where a user would, the CLI.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.core.errors import DuplicateError, ValidationError
from customer_flow.customers.models import CustomerCreate, CustomerUpdate
from customer_flow.duplicates import find as dedupe
from customer_flow.hub import Hub

runner = CliRunner()


def cli(db_url: str, *args: str) -> Any:
    return runner.invoke(app, ["--db", db_url, "--region", "US", "--actor", "tester", *args])


def add(hub: Hub, name: str, email: str | None = None, phone: str | None = None, **kw: Any) -> int:
    extra = kw.pop("extra", {})
    new = CustomerCreate(name=name, email=email, phone=phone, extra=extra)
    return hub.add_customer(new, allow_duplicate=kw.pop("allow", False)).id


class TestNormalising:
    def test_name_tokens_ignore_order_case_accents_and_punctuation(self) -> None:
        """Word order, case, accents and punctuation do not change the tokens."""
        assert dedupe.name_tokens("Lima, Ána") == dedupe.name_tokens("ana  LIMA")

    def test_gmail_dots_and_plus_tags_are_one_address(self) -> None:
        """Gmail ignores dots; everyone ignores +tags."""
        assert dedupe.normalise_email("A.Na+shop@GoogleMail.com") == (
            "ana@gmail.com",
            "ana",
            "gmail.com",
        )

    def test_similar_names(self) -> None:
        """Typos, word order and nicknames are similar; other people and numbers are not."""
        assert dedupe.names_similar("Jonathan Smith", "Smith, Jonathon")
        assert dedupe.names_similar("Bob Smith", "Robert Smith")
        assert not dedupe.names_similar("Ana Lima", "Rui Costa")
        assert not dedupe.names_similar("Customer 1", "Customer 2")
        assert not dedupe.names_similar("", "A")

    def test_jaro_winkler_matches_the_textbook_values(self) -> None:
        """MARTHA/MARHTA is 0.961 and DIXON/DICKSONX 0.813, as published."""
        assert round(dedupe.jaro_winkler("martha", "marhta"), 3) == 0.961
        assert round(dedupe.jaro_winkler("dixon", "dicksonx"), 3) == 0.813


class TestEntryCheck:
    def test_same_phone_is_refused_naming_the_candidate(self, hub: Hub) -> None:
        """A second customer with the same phone is refused and nothing is written."""
        first = add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        with pytest.raises(DuplicateError) as caught:
            add(hub, "Rui Costa", "rui@costa.pt", "(415) 555-0100")
        assert [first] == [c.id for c in caught.value.candidates]  # type: ignore[attr-defined]
        assert "same phone (+14155550100)" in str(caught.value)
        assert hub.count_customers() == 1

    def test_allow_duplicate_goes_on_and_keeps_a_warning(self, hub: Hub) -> None:
        """With allow_duplicate the customer is added with a possible_duplicate warning."""
        first = add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        second = hub.add_customer(
            CustomerCreate(name="Lima, Ana", phone="415 555 0100"), allow_duplicate=True
        )
        codes = [(w.field, w.code) for w in second.warnings]
        assert codes == [("duplicate", "possible_duplicate")]
        assert f"customer {first}" in second.warnings[0].message
        assert second == hub.get_customer(second.id)

    def test_similar_name_and_email_domain(self, hub: Hub) -> None:
        """A similar name at the same email domain is a candidate; another name is not."""
        first = add(hub, "Jonathan Smith", "jsmith@acme.io")
        add(hub, "Maria Garcia", "maria@acme.io")
        with pytest.raises(DuplicateError) as caught:
            add(hub, "Smith, Jonathon", "jon.smith@acme.io")
        (candidate,) = caught.value.candidates  # type: ignore[attr-defined]
        assert first == candidate.id
        assert "same email domain (acme.io)" in candidate.reasons[0]

    def test_a_free_mail_domain_is_not_a_shared_domain(self, hub: Hub) -> None:
        """Two Jonathan Smiths at gmail.com (or googlemail.com) share a provider, not an
        employer: no candidate, while the same names at a company domain are one."""
        add(hub, "Jonathan Smith", "jsmith@gmail.com")
        assert hub.check_duplicates("Smith, Jonathon", "jon.smith@googlemail.com", None) == []
        assert hub.check_duplicates("Jonathan Smith", "js@yahoo.com", None) == []
        add(hub, "Jonathan Smith", "jsmith@acme.io")
        found = hub.check_duplicates("Smith, Jonathon", "jon.smith@acme.io", None)
        assert ["same email domain (acme.io)" in c.reasons[0] for c in found] == [True]

    def test_nickname_and_last_phone_digits(self, hub: Hub) -> None:
        """Bob Smith with the same last seven digits (another country code) is a candidate."""
        first = add(hub, "Robert Smith", None, "+1 212 555 0123")
        found = hub.check_duplicates("Bob Smith", None, "+44 20 7555 0123")
        assert [first] == [c.id for c in found]
        assert "same last 7 phone digits" in found[0].reasons[0]

    def test_gmail_variant_of_an_email_is_the_same_email(self, hub: Hub) -> None:
        """The unique index allows a.na@gmail.com beside ana@gmail.com; the check does not."""
        add(hub, "Ana Lima", "ana@gmail.com")
        with pytest.raises(DuplicateError, match="same email"):
            add(hub, "Other Person", "a.na+news@gmail.com")

    def test_numbered_names_at_one_domain_are_not_duplicates(self, hub: Hub) -> None:
        """Customer 1 and Customer 2 at one domain are two customers."""
        add(hub, "Customer 1", "c1@example.org")
        add(hub, "Customer 2", "c2@example.org")
        assert hub.count_customers() == 2

    def test_customers_in_the_trash_are_not_candidates(self, hub: Hub) -> None:
        """A trashed customer's phone can be reused without a warning."""
        first = add(hub, "Ana Lima", None, "+1 415 555 0100")
        hub.delete_customer(first)
        again = hub.add_customer(CustomerCreate(name="Ana Lima", phone="+1 415 555 0100"))
        assert again.warnings == []

    def test_update_that_makes_a_duplicate_is_refused(self, hub: Hub) -> None:
        """Changing a phone to another customer's is refused and changes nothing."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        other = add(hub, "Rui Costa", None, "+1 415 555 0199")
        with pytest.raises(DuplicateError):
            hub.update_customer(other, CustomerUpdate(phone="+1 415 555 0100"))
        assert hub.get_customer(other).phone == "+14155550199"

    def test_update_away_from_a_duplicate_clears_the_warning(self, hub: Hub) -> None:
        """Once it no longer looks like anyone, the warning goes."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        other = add(hub, "Ana Lima", None, "+1 415 555 0100", allow=True)
        assert hub.get_customer(other).warnings
        hub.update_customer(other, CustomerUpdate(phone="+1 415 555 0177"))
        assert hub.get_customer(other).warnings == []

    def test_unrelated_update_of_a_flagged_customer_is_not_refused(self, hub: Hub) -> None:
        """Changing only extra attributes of a flagged customer goes through."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        other = add(hub, "Ana Lima", None, "+1 415 555 0100", allow=True)
        updated = hub.update_customer(other, CustomerUpdate(extra={"tier": "gold"}))
        assert updated.extra == {"tier": "gold"}

    def test_check_batch_answers_many_rows_at_once(self, hub: Hub) -> None:
        """The import's per-batch call: one list of candidates per row, in order."""
        first = add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        with hub.store.read() as conn:
            found = dedupe.check_batch(
                conn,
                [
                    ("Rui Costa", "rui@costa.pt", None, None),
                    ("Ana Lima", None, "+14155550100", None),
                    ("Ana Lima", "ana@lima.pt", None, first),  # itself: not a duplicate
                ],
            )
        assert [[], [first], []] == [[c.id for c in row] for row in found]

    def test_rows_indexed_in_bulk_are_seen_by_the_check(self, hub: Hub) -> None:
        """The import's path: rows inserted by a bulk load, then index_rows for the batch."""
        from sqlalchemy import insert

        from customer_flow.store import audit
        from customer_flow.store.schema import customers

        stamp = audit.now()
        rows = [(500 + i, f"Bulk {i} Person", None, f"+1212555{1000 + i}") for i in range(3)]
        with hub.store.write() as conn:
            conn.execute(
                insert(customers),
                [
                    {
                        "id": cid,
                        "name": name,
                        "email": email,
                        "phone": phone,
                        "extra": {},
                        "warnings": [],
                        "warning_count": 0,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                    for cid, name, email, phone in rows
                ],
            )
            dedupe.index_rows(conn, rows, fresh=True)
        found = hub.check_duplicates("Someone Else", None, "+1 212 555 1001")
        assert [c.id for c in found] == [501]

    def test_cli_refuses_then_allows(self, db_url: str) -> None:
        """customers add exits 1 naming the candidate; --allow-duplicate adds it with a warning."""
        assert cli(db_url, "customers", "add", "--name", "Ana Lima", "--email",
                        "ana@lima.pt", "--phone", "415 555 0100").exit_code == 0  # fmt: skip
        args = ["customers", "add", "--name", "Lima, Ana", "--email", "al@lima.com",
                "--phone", "(415) 555-0100"]  # fmt: skip
        refused = cli(db_url, *args)
        assert refused.exit_code == 1
        assert "possible duplicate of customer 1 (Ana Lima)" in refused.output
        allowed = cli(db_url, *args, "--allow-duplicate", "--json")
        assert allowed.exit_code == 0
        assert json.loads(allowed.stdout)["warnings"][0]["code"] == "possible_duplicate"

    def test_cli_update_refuses_then_allows(self, db_url: str) -> None:
        """customers update exits 1 on a duplicate; --allow-duplicate goes on."""
        cli(db_url, "customers", "add", "--name", "Ana Lima", "--email", "a@l.pt", "--phone",
            "415 555 0100")  # fmt: skip
        cli(db_url, "customers", "add", "--name", "Rui Costa", "--email", "r@c.pt")
        refused = cli(db_url, "customers", "update", "2", "--phone", "415 555 0100")
        assert refused.exit_code == 1
        assert "same phone" in refused.output
        allowed = cli(db_url, "customers", "update", "2", "--phone", "415 555 0100",
                      "--allow-duplicate")  # fmt: skip
        assert allowed.exit_code == 0


def _find(db_url: str, *args: str) -> dict[str, Any]:
    result = cli(db_url, "duplicates", "find", "--json", *args)
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


class TestFind:
    def test_empty_database(self, hub: Hub, db_url: str) -> None:
        """No customers: no clusters, nothing compared."""
        report = hub.find_duplicates()
        assert (report.customers, report.pairs_compared, report.clusters) == (0, 0, [])
        assert _find(db_url)["clusters"] == []

    def test_one_customer(self, hub: Hub, db_url: str) -> None:
        """One customer: nothing to compare."""
        add(hub, "Ana Lima", "ana@lima.pt")
        assert hub.find_duplicates().clusters == []
        assert _find(db_url)["customers"] == 1

    def test_finds_a_messy_duplicate_and_explains_it(self, hub: Hub, db_url: str) -> None:
        """Lima, Ana at another domain with the same phone clusters with Ana Lima."""
        a = add(hub, "Ana Lima", "ana.lima@gmail.com", "+1 415 555 0100")
        b = add(hub, "LIMA, Ana", "ana.lima@outlook.com", "415.555.0100", allow=True)
        for i in range(30):
            add(hub, f"Person {i} Example", f"p{i}@x{i}.org", f"+1 212 555 {1000 + i}")
        (cluster,) = hub.find_duplicates().clusters
        assert [a, b] == cluster.ids
        (pair,) = cluster.pairs
        assert pair.explanation["email"].level == "Exact match on email_local"
        assert pair.explanation["phone"].level == "Exact match on phone_digits"
        assert pair.explanation["name"].weight > 0
        assert [[a, b]] == [c["ids"] for c in _find(db_url)["clusters"]]

    def test_threshold_filters_weak_pairs(self, hub: Hub) -> None:
        """A weak pair (only the last phone digits alike) shows only below its
        probability, and every pair shown is at or above the threshold."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        add(hub, "Rui Costa", None, "+44 20 7555 0100", allow=True)
        for i in range(30):
            add(hub, f"Person {i} Example", f"p{i}@x{i}.org", f"+1 212 555 {1000 + i}")
        (cluster,) = hub.find_duplicates(threshold=0.000001).clusters
        weak = cluster.pairs[0].probability
        assert 0.000001 < weak < 0.99
        assert hub.find_duplicates(threshold=(weak + 1) / 2).clusters == []
        shown = hub.find_duplicates(threshold=weak / 2).clusters
        assert all(p.probability >= weak / 2 for c in shown for p in c.pairs)

    def test_results_are_stable_on_a_small_database(self, hub: Hub) -> None:
        """Shipped parameters, no training: the same data gives the same answer."""
        for i in range(20):
            add(hub, f"Name {i} Person", f"n{i}@acme.io", f"+1 303 555 {2000 + i}")
            add(hub, f"Person, Name {i}", f"n{i}@globex.com", None, allow=True)
        first, second = hub.find_duplicates(), hub.find_duplicates()
        assert first.trained is False
        assert first.clusters == second.clusters
        assert len(first.clusters) == 20

    def test_every_customer_identical(self, hub: Hub, db_url: str) -> None:
        """Twelve copies of one customer form one cluster."""
        ids = [add(hub, "Ana Lima", None, "+1 415 555 0100", allow=True) for _ in range(12)]
        (cluster,) = hub.find_duplicates().clusters
        assert ids == cluster.ids
        assert len(cluster.pairs) == 66
        assert [ids] == [c["ids"] for c in _find(db_url)["clusters"]]

    def test_single_character_and_symbol_names(self, hub: Hub, db_url: str) -> None:
        """Names like "A" or "!!" neither crash find nor link strangers."""
        add(hub, "A", "a@one.org", "+1 415 555 0101")
        add(hub, "A", "b@two.org", "+1 212 555 0102")
        add(hub, "!!", "c@three.org", "+1 303 555 0103")
        add(hub, "?", "d@four.org")
        assert hub.find_duplicates().clusters == []
        assert _find(db_url)["clusters"] == []
        with pytest.raises(ValidationError, match="name"):
            add(hub, "   ")

    def test_empty_and_single_character_names_on_entry(self, db_url: str) -> None:
        """An empty name is refused (exit 1); two customers named "A" with different contacts
        are not taken for duplicates."""
        empty = cli(db_url, "customers", "add", "--name", "  ", "--email", "x@y.org")
        assert empty.exit_code == 1
        assert "name: a customer needs a name" in empty.output
        for email, phone in (("a@one.org", "415 555 0101"), ("b@one.org", "212 555 0102")):
            added = cli(db_url, "customers", "add", "--name", "A", "--email", email,
                        "--phone", phone)  # fmt: skip
            assert added.exit_code == 0, added.output

    def test_extra_field_is_compared(self, hub: Hub) -> None:
        """--field postcode adds a comparison and its evidence."""
        add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100", extra={"postcode": "1000-001"})
        add(hub, "Ana Lima", "ana@costa.pt", "+1 415 555 0100", extra={"postcode": "1000-001"},
            allow=True)  # fmt: skip
        (cluster,) = hub.find_duplicates(fields=["postcode"]).clusters
        evidence = cluster.pairs[0].explanation["postcode"]
        assert evidence.level == "Exact match on x_postcode"
        assert evidence.weight > 0

    def test_text_output_lists_clusters(self, hub: Hub, db_url: str) -> None:
        """Without --json: a table per cluster and the evidence per field."""
        add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        add(hub, "Lima, Ana", "ana@lima.com", "415 555 0100", allow=True)
        result = cli(db_url, "duplicates", "find")
        assert result.exit_code == 0
        assert "Cluster 1" in result.stdout
        assert "phone: Exact match on phone_digits" in result.stdout

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--threshold", "1.5"], "threshold: 1.5 must be between 0 and 1"),
            (["--threshold", "0"], "must be between 0 and 1"),
            (["--field", "post code"], "not an attribute name"),
        ],
    )
    def test_bad_options(self, db_url: str, args: list[str], message: str) -> None:
        """A bad threshold or field name is one line on stderr and exit 1."""
        result = cli(db_url, "duplicates", "find", *args)
        assert result.exit_code == 1
        assert message in result.output
        assert "Traceback" not in result.output


def _crowd(hub: Hub, n: int, key: str | None, values: int | None = None) -> None:
    """``n`` unrelated customers with email and phone; the first ``values`` of them (all by
    default) carry a distinct value under the extra key ``key`` (none when ``key`` is None)."""
    for i in range(n):
        extra = {key: f"{20000 + i}"} if key and (values is None or i < values) else {}
        add(hub, f"Person {i} Example", f"p{i}@x{i}.org", f"+1 212 555 {1000 + i}", extra=extra)


class TestAutoFields:
    """Identifying extra attributes (postcode, address, date of birth) are compared without
    --field when enough customers have one; --no-auto-fields turns that off."""

    @pytest.mark.parametrize("key", ["postcode", "Zip Code", "POSTAL_CODE", "zip"])
    def test_a_postcode_joins_name_only_records_when_customers_have_one(
        self, hub: Hub, db_url: str, key: str
    ) -> None:
        """Two records that kept only a name share a postcode: found by plain find, whatever
        the key is called; the pair's evidence and the report name the field."""
        _crowd(hub, 30, key)
        a = add(hub, "Maria Silva", extra={key: "12345"})
        # Spaces around it, or a JSON number, are the same value.
        b = add(hub, "Silva, Maria", extra={key: 12345 if key == "zip" else " 12345 "}, allow=True)
        add(hub, "Maria Silva", extra={key: "99999"}, allow=True)  # another Maria Silva
        report = hub.find_duplicates()
        (cluster,) = report.clusters
        assert cluster.ids == [a, b]
        name = {"Zip Code": "zip_code", "POSTAL_CODE": "postal_code"}.get(key, key)
        evidence = cluster.pairs[0].explanation[name]
        assert evidence.level == f"Exact match on x_{name}" and evidence.weight > 0
        assert [(f.name, f.source) for f in report.fields] == [
            ("name", "built-in"),
            ("email", "built-in"),
            ("phone", "built-in"),
            (name, "auto"),
        ]
        assert report.fields[-1].keys == [key] and report.fields[-1].kind == "postcode"
        assert report.fields[-1].values == 33 and report.fields[-1].share == 1.0
        assert "compared automatically" in report.fields[-1].why
        assert [[a, b]] == [c["ids"] for c in _find(db_url)["clusters"]]

    def test_without_the_attribute_the_name_only_pair_is_not_found(self, hub: Hub) -> None:
        """The same customers without postcodes: name alone cannot join them."""
        _crowd(hub, 30, None)
        add(hub, "Maria Silva")
        add(hub, "Silva, Maria", allow=True)
        report = hub.find_duplicates()
        assert report.clusters == []
        assert [f.name for f in report.fields] == ["name", "email", "phone"]

    def test_the_opt_out_compares_name_email_and_phone_only(self, hub: Hub, db_url: str) -> None:
        """--no-auto-fields (auto_fields=False): the shared postcode is not compared, so the
        name-only pair is not found, and the JSON says so."""
        _crowd(hub, 30, "postcode")
        add(hub, "Maria Silva", extra={"postcode": "12345"})
        add(hub, "Silva, Maria", extra={"postcode": "12345"}, allow=True)
        assert len(hub.find_duplicates().clusters) == 1
        off = hub.find_duplicates(auto_fields=False)
        assert off.clusters == [] and off.auto_fields is False
        found = _find(db_url, "--no-auto-fields")
        assert found["clusters"] == [] and found["auto_fields"] is False
        assert [f["name"] for f in found["fields"]] == ["name", "email", "phone"]
        assert found["fields_not_compared"] == []
        # --field still adds it by hand.
        assert len(_find(db_url, "--no-auto-fields", "--field", "postcode")["clusters"]) == 1

    def test_different_postcodes_separate_a_pair_name_and_email_would_join(
        self, hub: Hub, db_url: str
    ) -> None:
        """Robert and Bob Smith at one company (the same name read through nicknames, a shared
        email token, one without a phone) are linked on name and email alone; their different
        postcodes say two people, so the default find leaves them apart."""
        _crowd(hub, 30, "postcode")
        a = add(hub, "Robert Smith", "robert.smith@acme.io", "+1 303 555 0199",
                extra={"postcode": "12345"})  # fmt: skip
        b = add(hub, "Bob Smith", "bob.smith@acme.io", extra={"postcode": "54321"}, allow=True)
        assert hub.find_duplicates().clusters == []
        assert [c.ids for c in hub.find_duplicates(auto_fields=False).clusters] == [[a, b]]
        weak = hub.find_duplicates(threshold=0.01).clusters[0].pairs[0]
        assert weak.explanation["postcode"].weight < 0
        assert [[a, b]] == [c["ids"] for c in _find(db_url, "--no-auto-fields")["clusters"]]

    def test_a_name_and_postcode_do_not_pair_two_customers_with_phones(self, hub: Hub) -> None:
        """Two customers with one name and one postcode but two different phones are not even
        compared (at scale, strangers meet like this); without a phone on one side they are."""
        _crowd(hub, 30, "postcode")
        add(hub, "Ana Lima", "ana.lima@one.org", "+1 212 555 0001", extra={"postcode": "9"})
        add(hub, "Ana Lima", "ana.lima7@two.org", "+1 303 555 0002", extra={"postcode": "9"},
            allow=True)  # fmt: skip
        report = hub.find_duplicates(threshold=0.000001)
        assert report.clusters == [] and report.pairs_compared == 0
        c = add(hub, "Ana Lima", "lima@three.org", extra={"postcode": "9"}, allow=True)
        found = hub.find_duplicates(threshold=0.000001).clusters
        assert [c in cluster.ids for cluster in found] == [True]

    def test_a_rarely_present_attribute_is_not_used(self, hub: Hub, db_url: str) -> None:
        """A date of birth on 2 of 62 customers (3 %, under 5 % and 1,000) is not compared
        automatically, and the report says why; --field compares it; a common attribute that is
        not identifying (city) is never compared automatically."""
        for i in range(60):
            add(hub, f"Person {i} Example", f"p{i}@x{i}.org", f"+1 212 555 {1000 + i}",
                extra={"city": "Lisbon"})  # fmt: skip
        a = add(hub, "Maria Silva", extra={"date_of_birth": "1980-02-03"})
        b = add(hub, "Silva, Maria", extra={"date_of_birth": "1980-02-03"}, allow=True)
        report = hub.find_duplicates()
        assert report.clusters == []
        assert [f.name for f in report.fields] == ["name", "email", "phone"]
        (skipped,) = report.fields_not_compared
        assert (skipped.name, skipped.kind, skipped.values) == ("date_of_birth", "date of birth", 2)
        assert "fewer than 5 % or 1,000: not compared" in skipped.why
        asked = hub.find_duplicates(fields=["date_of_birth"])
        assert [c.ids for c in asked.clusters] == [[a, b]]
        assert [(f.name, f.source) for f in asked.fields][-1] == ("date_of_birth", "requested")
        assert asked.fields_not_compared == []
        json_report = _find(db_url)
        assert json_report["fields_not_compared"][0]["name"] == "date_of_birth"

    def test_text_output_says_which_fields_and_why(self, hub: Hub, db_url: str) -> None:
        """Without --json the fields compared come first, the automatic ones with why."""
        _crowd(hub, 30, "postcode")
        result = cli(db_url, "duplicates", "find")
        assert result.exit_code == 0, result.output
        assert "fields compared: name, email, phone, postcode" in result.output
        assert "postcode: recognised as a postcode; 30 of 30 live customers" in result.output
        off = cli(db_url, "duplicates", "find", "--no-auto-fields")
        assert "fields compared: name, email, phone\n" in off.output
        assert "not looked for (--no-auto-fields)" in off.output

    def test_a_field_named_like_a_built_in_is_refused(self, db_url: str) -> None:
        """--field email would shadow the email comparison: refused, exit 1."""
        result = cli(db_url, "duplicates", "find", "--field", "Email")
        assert result.exit_code == 1
        assert "field: 'Email' is compared already" in result.output


class TestChooseFields:
    """The choice itself, on columns as ``read_live`` gives them (no database needed)."""

    @staticmethod
    def _columns(n: int, with_value: int) -> dict[str, list[Any]]:
        return {
            "unique_id": list(range(n)),
            "name": ["x"] * n,
            "email": [None] * n,
            "phone": [None] * n,
            "x_dob": [f"v{i}" if i < with_value else None for i in range(n)],
        }

    @pytest.mark.parametrize(
        ("n", "with_value", "compared"),
        [
            (100, 5, True),  # 5 %
            (100, 4, False),  # 4 %
            (40_000, 1_000, True),  # 2.5 %, but 1,000 customers
            (40_000, 999, False),
            (20, 1, False),  # 5 %, but one value cannot join a pair
        ],
    )
    def test_share_or_count_floor(self, n: int, with_value: int, compared: bool) -> None:
        """At least 5 % of the live customers, or at least 1,000 of them (and two)."""
        from customer_flow.duplicates import fields as dedupe_fields

        columns = self._columns(n, with_value)
        auto = dedupe_fields.Attribute("dob", ("dob",), False, "date of birth")
        names, fields, left_out = dedupe_fields.choose(columns, [auto], dedupe.load_params())
        assert (names == ["dob"]) is compared
        assert ("x_dob" in columns) is compared
        assert [f.name for f in (left_out if not compared else fields[3:])] == ["dob"]
        asked = dedupe_fields.Attribute("dob", ("dob",), True, "date of birth")
        assert dedupe_fields.choose(self._columns(n, with_value), [asked], dedupe.load_params())[
            0
        ] == ["dob"]

    def test_keys_are_matched_ignoring_case_and_separators(self) -> None:
        """Keys spelt differently are one attribute, read from the most common key first;
        --field matches them the same way; other keys are not recognised."""
        from customer_flow.duplicates import fields as dedupe_fields

        counts = {"Zip Code": 10, "zip_code": 30, "City": 40, "dob": 5, "Date-Of-Birth": 2}
        found = dedupe_fields.candidates(counts, [], auto=True)
        assert [(a.name, a.keys, a.kind) for a in found] == [
            ("zip_code", ("zip_code", "Zip Code"), "postcode"),
            ("dob", ("dob",), "date of birth"),
            ("date_of_birth", ("Date-Of-Birth",), "date of birth"),
        ]
        asked = dedupe_fields.candidates(counts, ["ZIPCODE", "city"], auto=False)
        assert [(a.name, a.keys, a.requested) for a in asked] == [
            ("ZIPCODE", ("zip_code", "Zip Code"), True),
            ("city", ("City",), True),
        ]
        assert dedupe_fields.candidates(counts, [], auto=False) == []


class TestTermFrequencies:
    """An extra field with enough values weighs a shared value by how rare it is."""

    @staticmethod
    def _columns(n: int, shared: str, others: str) -> dict[str, list[Any]]:
        # Two name-only records (no email, no phone) share a postcode; every other record has
        # its own, or all the others share one (``others="same"``).
        ids = list(range(1, n + 1))
        names = ["Ana Lima", "Ana Lima"] + [f"Person {i}" for i in ids[2:]]
        postcodes = [shared, shared] + [
            f"P{i:05d}" if others == "unique" else "P00000" for i in ids[2:]
        ]
        return {
            "unique_id": ids,
            "name": names,
            "email": [None] * n,
            "phone": [None] * n,
            "x_postcode": postcodes,
        }

    def _weight(self, columns: dict[str, list[Any]]) -> float | None:
        from customer_flow.duplicates import model as dedupe_model

        scored = dedupe_model.score(
            columns, fields=["postcode"], params=dedupe.load_params(), threshold=0.0, train=False
        )
        (pair,) = [p for p in scored.pairs if (p.a, p.b) == (1, 2)]
        return pair.explanation["postcode"].weight

    def test_only_fields_with_enough_values_use_frequencies(self) -> None:
        """Below ``min_values_for_term_frequencies`` values the shipped u stays."""
        from customer_flow.duplicates import model as dedupe_model

        params = dedupe.load_params()
        floor = int(params["min_values_for_term_frequencies"])
        big = self._columns(floor, "X1", "unique")
        small = self._columns(floor - 1, "X1", "unique")
        assert dedupe_model.tf_fields(big, ["postcode"], params) == {"postcode"}
        assert dedupe_model.tf_fields(small, ["postcode"], params) == set()

    def test_a_rare_shared_value_weighs_more_than_a_common_one(self) -> None:
        """The same exact match on postcode: rare among 1,500 records, it is strong evidence;
        shared by all of them, it is none."""
        rare = self._weight(self._columns(1500, "X1", "unique"))
        common = self._weight(self._columns(1500, "P00000", "same"))
        shipped = self._weight(self._columns(20, "X1", "unique"))
        assert rare is not None and common is not None and shipped is not None
        assert rare > shipped > 0 > common


class TestNotDuplicate:
    def test_dismissed_pair_leaves_find_and_the_entry_check(self, hub: Hub, db_url: str) -> None:
        """After "not a duplicate" the pair is not found and its warnings go."""
        a = add(hub, "Ana Lima", None, "+1 415 555 0100")
        b = add(hub, "Ana Lima", None, "+1 415 555 0100", allow=True)
        assert len(hub.find_duplicates().clusters) == 1
        result = cli(db_url, "duplicates", "not-duplicate", str(a), str(b))
        assert result.exit_code == 0
        assert hub.find_duplicates().clusters == []
        assert hub.get_customer(b).warnings == []
        hub.update_customer(b, CustomerUpdate(name="Ana M. Lima"))  # not refused any more
        actions = [e.action for e in hub.customer_history(a)]
        assert "not_duplicate" in actions

    def test_a_customer_is_not_a_duplicate_of_itself(self, hub: Hub, db_url: str) -> None:
        """Dismissing a customer with itself is refused."""
        a = add(hub, "Ana Lima")
        with pytest.raises(ValidationError, match="itself"):
            hub.dismiss_duplicate(a, a)
        result = cli(db_url, "duplicates", "not-duplicate", str(a), str(a))
        assert result.exit_code == 1

    def test_check_command_changes_nothing(self, hub: Hub, db_url: str) -> None:
        """duplicates check lists candidates without adding anyone."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        result = cli(db_url, "duplicates", "check", "--name", "Lima, Ana", "--phone",
                     "415-555-0100", "--json")  # fmt: skip
        assert result.exit_code == 0
        assert [c["id"] for c in json.loads(result.stdout)] == [1]
        assert hub.count_customers() == 1


class TestSchema:
    def test_migrations_match_schema_py(self, hub: Hub) -> None:
        """The tables the migrations made are exactly those schema.py declares."""

        from schema_support import schema_diff

        with hub.store.engine.connect() as conn:
            diff = schema_diff(conn)
        assert diff == []


class TestExport:
    def test_export_writes_the_model_input_and_spark_settings(
        self, hub: Hub, db_url: str, tmp_path: Any
    ) -> None:
        """customers.parquet holds the features; splink_settings.json the same model for Spark."""
        import duckdb

        add(hub, "Lima, Ana", "ana@lima.pt", "+1 415 555 0100", extra={"postcode": "1000"})
        result = cli(db_url, "duplicates", "export", "--out", str(tmp_path), "--field", "postcode")
        assert result.exit_code == 0, result.output
        rows = duckdb.sql(
            f"SELECT name_key, email_local, phone_tail, x_postcode "
            f"FROM '{tmp_path / 'customers.parquet'}'"
        ).fetchall()
        assert rows == [("ana lima", "ana", "5550100", "1000")]
        settings = json.loads((tmp_path / "splink_settings.json").read_text())
        assert all(
            r["sql_dialect"] == "spark" for r in settings["blocking_rules_to_generate_predictions"]
        )
        assert [c["output_column_name"] for c in settings["comparisons"]] == [
            "name",
            "email",
            "phone",
            "postcode",
        ]

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            ([], ["name", "email", "phone", "zip"]),
            (["--no-auto-fields"], ["name", "email", "phone"]),
        ],
    )
    def test_export_chooses_the_fields_as_find_does(
        self, hub: Hub, db_url: str, tmp_path: Any, args: list[str], expected: list[str]
    ) -> None:
        """A recognised attribute the customers have is in the exported model unless
        --no-auto-fields; the command says which fields it compares."""
        add(hub, "Ana Lima", "ana@lima.pt", extra={"ZIP": "1000"})
        add(hub, "Rui Costa", "rui@costa.pt", extra={"ZIP": "2000"})
        result = cli(db_url, "duplicates", "export", "--out", str(tmp_path), *args)
        assert result.exit_code == 0, result.output
        assert f"fields compared: {', '.join(expected)}\n" in result.output
        settings = json.loads((tmp_path / "splink_settings.json").read_text())
        assert [c["output_column_name"] for c in settings["comparisons"]] == expected

    def test_unknown_dialect_is_refused(self, db_url: str, tmp_path: Any) -> None:
        """A dialect Splink does not have: one line, exit 1."""
        result = cli(db_url, "duplicates", "export", "--out", str(tmp_path), "--dialect", "x")
        assert result.exit_code == 1
        assert "dialect: 'x' is not one of spark" in result.output
