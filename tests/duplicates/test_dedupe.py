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
from customer_flow.duplicates.features import features_one
from customer_flow.duplicates.names import parse_name, soundex
from customer_flow.hub import Hub

runner = CliRunner()
#: Names of unrelated people: different first names and surnames (a crowd of "Person 1 Example",
#: "Person 2 Example" would be one name to the model, which drops middle words).
FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Charlotte",
    "Levi",
    "Harper",
    "Ezra",
    "Evelyn",
    "Asher",
    "Luna",
    "James",
    "Ella",
    "Leo",
    "Aria",
    "Henry",
    "Nora",
    "Jack",
    "Chloe",
    "Owen",
    "Layla",
    "Wyatt",
    "Zoe",
    "Caleb",
    "Ivy",
    "Julian",
    "Hazel",
    "Theo",
    "Stella",
    "Aiden",
    "Violet",
    "Felix",
    "Aurora",
    "Miles",
    "Grace",
    "Jasper",
    "Ruby",
    "Silas",
    "Alice",
    "Hugo",
    "Clara",
    "Rowan",
    "Iris",
    "Arthur",
    "Mabel",
    "Otto",
    "Vera",
    "Rufus",
    "Wren",
    "Bruno",
    "Edith",
    "Cyrus",
]
SURNAME = [
    "Abbott",
    "Barker",
    "Castillo",
    "Dunne",
    "Ekwueme",
    "Fischer",
    "Gallo",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okonkwo",
    "Petrov",
    "Quigley",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Urquhart",
    "Vasquez",
    "Walsh",
    "Xu",
    "Yilmaz",
    "Zielinski",
    "Almeida",
    "Bernard",
    "Chopra",
    "Delgado",
    "Eriksen",
    "Fontaine",
    "Gupta",
    "Horvat",
    "Iglesias",
    "Jovanovic",
    "Kearney",
    "Larsen",
    "Mendes",
    "Novak",
    "Oyelaran",
    "Pereira",
    "Quintero",
    "Ramos",
    "Sandoval",
    "Toivonen",
    "Uchida",
    "Varga",
    "Weber",
    "Ximenes",
    "Yoshida",
    "Zhang",
    "Arnaud",
    "Brennan",
    "Cardoso",
    "Dimitrov",
    "Eastman",
    "Ferreira",
    "Gallagher",
    "Holm",
]


def cli(db_url: str, *args: str) -> Any:
    return runner.invoke(app, ["--db", db_url, "--region", "US", "--actor", "tester", *args])


def add(hub: Hub, name: str, email: str | None = None, phone: str | None = None, **kw: Any) -> int:
    extra = kw.pop("extra", {})
    new = CustomerCreate(name=name, email=email, phone=phone, extra=extra)
    return hub.add_customer(new, allow_duplicate=kw.pop("allow", False)).id


class TestNormalising:
    def test_names_split_into_first_name_and_surname(self) -> None:
        """ "Last, First", case, accents, titles, particles and punctuation."""
        assert parse_name("Lima, Ána") == parse_name("ana  LIMA") == ("ana", "lima")
        assert parse_name("Dr. Anna van der Berg Jr") == ("anna", "vanderberg")
        assert parse_name("van der Berg Thomas") == ("thomas", "vanderberg")
        assert parse_name("O'Brien, Mary-Kate Ann") == ("marykate", "obrien")
        assert parse_name("Madonna") == (None, "madonna")
        assert parse_name("Иванов, Дмитрий") == ("дмитрии", "иванов")  # й folds to и
        assert parse_name("  ") == (None, None)

    def test_soundex_matches_the_textbook_values(self) -> None:
        """American Soundex as published; a word with no ASCII letter keys on 3 characters."""
        assert [soundex(w) for w in ("robert", "rupert", "ashcraft", "tymczak", "pfister")] == [
            "r163",
            "r163",
            "a261",
            "t522",
            "p236",
        ]
        assert soundex("дмитрий") == "дми"

    def test_gmail_dots_and_plus_tags_are_one_address(self) -> None:
        """Gmail ignores dots; everyone ignores +tags."""
        assert dedupe.normalise_email("A.Na+shop@GoogleMail.com") == (
            "ana@gmail.com",
            "ana",
            "gmail.com",
        )

    @pytest.mark.parametrize(
        ("a", "b", "level"),
        [
            ("Jonathan Smith", "Smith, Jonathon", "typo"),
            ("Bob Smith", "Robert Smith", "nickname"),
            ("Lima Ana", "Ana Lima", "swapped with the surname"),
            ("J. Smith", "John Smith", "initial or prefix"),
            ("Joe Smith", "Zoe Smith", "different"),
            ("John Smith", "Joan Smith", "different"),
            ("Oona Okafor", "Tomasz Okafor", "different"),
            ("Smith", "John Smith", "missing"),
        ],
    )
    def test_first_name_levels(self, a: str, b: str, level: str) -> None:
        """Typos, nicknames, swaps and initials are the same first name; "Joe"/"Zoe" and
        "John"/"Joan" are two names (one edit in a short name is another name)."""
        from customer_flow.duplicates.scorer import Scorer, shipped_model

        scorer = Scorer(shipped_model(dedupe.load_params()), 1000, 0.05)
        left, right = features_one(a, None, None), features_one(b, None, None)
        assert level == scorer.explain(left, right)["first_name"].level

    def test_the_textbook_jaro_winkler_values(self) -> None:
        """MARTHA/MARHTA is 0.961 and DIXON/DICKSONX 0.813, as published (the Python levels'
        Jaro-Winkler; DuckDB's gives the same, checked in test_model.py)."""
        from rapidfuzz.distance import JaroWinkler

        assert round(JaroWinkler.similarity("martha", "marhta"), 3) == 0.961
        assert round(JaroWinkler.similarity("dixon", "dicksonx"), 3) == 0.813


class TestEntryCheck:
    def test_same_name_and_phone_is_refused_naming_the_candidate(self, hub: Hub) -> None:
        """ "Lima, Ana" with Ana Lima's phone is refused, naming her, the probability and the
        evidence per field; nothing is written."""
        first = add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        with pytest.raises(DuplicateError) as caught:
            add(hub, "Lima, Ana", "al@costa.pt", "(415) 555-0100")
        (candidate,) = caught.value.candidates  # type: ignore[attr-defined]
        assert first == candidate.id and candidate.probability > 0.99
        assert candidate.explanation["phone"].verdict == "agrees"
        assert candidate.explanation["email"].verdict == "disagrees"
        assert candidate.reasons[0].startswith("phone: same (+")
        assert "possible duplicate of customer 1 (Ana Lima), probability 1.000" in str(caught.value)
        assert hub.count_customers() == 1

    def test_a_shared_phone_with_another_first_name_is_not_a_duplicate(self, hub: Hub) -> None:
        """Rui Costa, and Tomasz Lima, at Ana Lima's office phone are other people (a different
        first name is evidence against); so is a colleague at her company domain."""
        add(hub, "Ana Lima", "ana@acme-corp.com", "+1 415 555 0100")
        add(hub, "Rui Costa", "rui@costa.pt", "(415) 555-0100")
        add(hub, "Tomasz Lima", "tomasz@acme-corp.com", "(415) 555-0100")
        assert hub.count_customers() == 3
        assert [w.code for w in hub.get_customer(3).warnings] == []

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

    def test_an_email_typo_with_the_same_name(self, hub: Hub) -> None:
        """The same name with an email one typo away (same digits) is a candidate; "ana.lima1"
        and "ana.lima2" are two people."""
        first = add(hub, "Jonathan Smith", "jon.smith@acme.io")
        add(hub, "Maria Garcia", "maria@acme.io")
        with pytest.raises(DuplicateError) as caught:
            add(hub, "Smith, Jonathon", "jon.smth@acme.io")
        (candidate,) = caught.value.candidates  # type: ignore[attr-defined]
        assert first == candidate.id
        assert candidate.explanation["email"].level == "local part typo"
        add(hub, "Ana Lima", "ana.lima1@acme.io")
        assert hub.check_duplicates("Ana Lima", "ana.lima2@acme.io", None) == []

    @pytest.mark.parametrize("domain", ["acme-corp.com", "gmail.com"])
    def test_a_shared_surname_and_domain_is_not_a_duplicate(self, hub: Hub, domain: str) -> None:
        """Noah Johnson and Zoe Johnson at one company (or one free-mail provider) are two
        people: a shared surname and domain are no evidence of one person."""
        add(hub, "Noah Johnson", f"noah@{domain}")
        zoe = hub.add_customer(CustomerCreate(name="Zoe Johnson", email=f"zoe@{domain}"))
        assert zoe.warnings == []

    def test_nickname_and_last_phone_digits(self, hub: Hub) -> None:
        """Bob Smith with the same last seven digits (another country code) is a candidate."""
        first = add(hub, "Robert Smith", None, "+1 212 555 0123")
        found = hub.check_duplicates("Bob Smith", None, "+44 20 7555 0123")
        assert [first] == [c.id for c in found]
        assert found[0].reasons[0].startswith("phone: same last 7 digits (+")
        assert found[0].explanation["first_name"].level == "nickname"

    def test_gmail_variant_of_an_email_is_the_same_email(self, hub: Hub) -> None:
        """The unique index allows a.na@gmail.com beside ana@gmail.com; the check does not."""
        add(hub, "Ana Lima", "ana@gmail.com")
        with pytest.raises(DuplicateError, match="email: same"):
            add(hub, "Ana Lima", "a.na+news@gmail.com")

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
        """Changing a phone to that of another customer of the same name is refused and changes
        nothing."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        other = add(hub, "Ana Lima", None, "+1 212 999 0199")
        with pytest.raises(DuplicateError):
            hub.update_customer(other, CustomerUpdate(phone="+1 415 555 0100"))
        assert hub.get_customer(other).phone == "+12129990199"

    def test_update_away_from_a_duplicate_clears_the_warning(self, hub: Hub) -> None:
        """Once it no longer looks like anyone, the warning goes."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        other = add(hub, "Ana Lima", None, "+1 415 555 0100", allow=True)
        assert hub.get_customer(other).warnings
        hub.update_customer(other, CustomerUpdate(phone="+1 212 999 0177"))
        assert hub.get_customer(other).warnings == []

    def test_unrelated_update_of_a_flagged_customer_is_not_refused(self, hub: Hub) -> None:
        """Changing only extra attributes of a flagged customer goes through."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        other = add(hub, "Ana Lima", None, "+1 415 555 0100", allow=True)
        updated = hub.update_customer(other, CustomerUpdate(extra={"tier": "gold"}))
        assert updated.extra == {"tier": "gold"}

    def test_a_customer_is_not_its_own_duplicate(self, hub: Hub) -> None:
        """The check of a customer's update leaves the customer itself out."""
        first = add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        with hub.store.read() as conn:
            found = dedupe.entry_candidates(conn, "Ana Lima", None, "+14155550100")
            itself = dedupe.entry_candidates(
                conn, "Ana Lima", "ana@lima.pt", "+14155550100", exclude_id=first
            )
        assert ([first], []) == ([c.id for c in found], itself)

    def test_an_extra_attribute_changed_by_an_update_is_checked(self, hub: Hub) -> None:
        """A date of birth is compared: setting Ana Lima's twin's to hers (the same name and
        postcode) makes her a likely duplicate; a tier is not compared."""
        add(hub, "Ana Lima", extra={"dob": "1980-02-03", "postcode": "2600"})
        other = add(hub, "Ana Lima", extra={"dob": "1990-01-01", "postcode": "9999"})
        with pytest.raises(DuplicateError):
            hub.update_customer(
                other, CustomerUpdate(extra={"dob": "1980-02-03", "postcode": "2600"})
            )
        updated = hub.update_customer(other, CustomerUpdate(extra={"tier": "gold"}))
        assert updated.warnings == []

    def test_rows_indexed_in_bulk_are_seen_by_the_check(self, hub: Hub) -> None:
        """The import's path: rows inserted by a bulk load, then index_rows for the batch."""
        from sqlalchemy import insert

        from customer_flow.store import audit
        from customer_flow.store.schema import customers

        stamp = audit.now()
        rows = [
            (500 + i, f"{FIRST[i]} {SURNAME[i]}", None, f"+1212555{1000 + i}") for i in range(3)
        ]
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
            dedupe.index_rows(conn, [(*r, {}) for r in rows], fresh=True)
        found = hub.check_duplicates(f"{FIRST[1]} {SURNAME[1]}", None, "+1 212 555 1001")
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
        cli(db_url, "customers", "add", "--name", "Ana Lima", "--email", "r@c.pt")
        refused = cli(db_url, "customers", "update", "2", "--phone", "415 555 0100")
        assert refused.exit_code == 1
        assert "phone: same" in refused.output
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
            add(hub, f"{FIRST[i]} {SURNAME[i]}", f"p{i}@x{i}.org", f"+1 {212 + i} 555 {1000 + i}")
        (cluster,) = hub.find_duplicates().clusters
        assert [a, b] == cluster.ids
        (pair,) = cluster.pairs
        assert pair.explanation["email"].level == "same local part, another domain"
        assert pair.explanation["phone"].level == "same"
        assert pair.explanation["first_name"].weight > 0
        assert {e.verdict for e in pair.explanation.values()} == {"agrees"}
        assert [[a, b]] == [c["ids"] for c in _find(db_url)["clusters"]]

    def test_threshold_filters_weak_pairs(self, hub: Hub) -> None:
        """A weak pair (the same name, phones that share their first digits) shows only below
        its probability, and every pair shown is at or above the threshold."""
        add(hub, "Ana Lima", None, "+1 415 555 0100")
        add(hub, "Ana Lima", None, "+1 415 555 0199", allow=True)
        for i in range(30):
            add(hub, f"{FIRST[i]} {SURNAME[i]}", f"p{i}@x{i}.org", f"+1 {212 + i} 555 {1000 + i}")
        (cluster,) = hub.find_duplicates(threshold=0.000001).clusters
        weak = cluster.pairs[0].probability
        assert 0.000001 < weak < 0.99
        assert hub.find_duplicates(threshold=(weak + 1) / 2).clusters == []
        shown = hub.find_duplicates(threshold=weak / 2).clusters
        assert all(p.probability >= weak / 2 for c in shown for p in c.pairs)

    def test_results_are_stable_on_a_small_database(self, hub: Hub) -> None:
        """Shipped parameters, no training: the same data gives the same answer."""
        for i in range(20):
            add(hub, f"{FIRST[i]} {SURNAME[i]}", f"n{i}@acme.io", f"+1 {303 + i} 555 {2000 + i}")
            add(hub, f"{SURNAME[i]}, {FIRST[i]}", f"n{i}@globex.com", None, allow=True)
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
        add(hub, "Ana Lima", "ana@costa.pt", "+1 415 555 0100", extra={"postcode": "1000-002"},
            allow=True)  # fmt: skip
        (cluster,) = hub.find_duplicates(fields=["postcode"]).clusters
        evidence = cluster.pairs[0].explanation["postcode"]
        assert (evidence.level, evidence.verdict) == ("one edit", "agrees")
        assert evidence.weight > 0
        tier = hub.find_duplicates(fields=["tier"])
        asked = next(f for f in tier.fields if f.name == "tier")
        assert asked.source == "requested" and "not used to find pairs" in asked.why

    def test_text_output_lists_clusters(self, hub: Hub, db_url: str) -> None:
        """Without --json: a table per cluster and the evidence per field."""
        add(hub, "Ana Lima", "ana@lima.pt", "+1 415 555 0100")
        add(hub, "Lima, Ana", "ana@lima.com", "415 555 0100", allow=True)
        result = cli(db_url, "duplicates", "find")
        assert result.exit_code == 0
        assert "Cluster 1" in result.stdout
        assert (
            "agree: first_name same (+5.3), last_name same (+5.2), email same local part, "
            "another domain (+19.3), phone same (+22.8)"
        ) in " ".join(result.stdout.split())

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
    """``n`` unrelated customers (different names, emails and phones); the first ``values`` of
    them (all by default) carry a distinct value under the extra key ``key`` (none when ``key``
    is None)."""
    for i in range(n):
        extra = {key: f"{20000 + 37 * i}"} if key and (values is None or i < values) else {}
        add(hub, f"{FIRST[i]} {SURNAME[i]}", f"p{i}@x{i}.org", f"+1 {212 + i} 555 {1000 + 37 * i}",
            extra=extra)  # fmt: skip


class TestAutoFields:
    """Identifying extra attributes (date of birth, postcode, address, suburb, state, ID
    number) are compared without --field when enough customers have one; --no-auto-fields
    turns that off."""

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
        evidence = cluster.pairs[0].explanation["postcode"]
        assert evidence.level == "same" and evidence.weight > 0
        assert [(f.name, f.source) for f in report.fields] == [
            ("name", "built-in"),
            ("email", "built-in"),
            ("phone", "built-in"),
            ("postcode", "auto"),
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

    def test_a_rarely_present_attribute_is_not_used(self, hub: Hub, db_url: str) -> None:
        """A date of birth on 2 of 62 customers (3 %, under 5 % and 1,000) is not compared
        automatically, and the report says why; --field compares it; a common attribute that is
        not identifying (city) is never compared automatically."""
        for i in range(60):
            add(hub, f"{FIRST[i]} {SURNAME[i]}", f"p{i}@x{i}.org", f"+1 {212 + i} 555 {1000 + i}",
                extra={"city": "Lisbon"})  # fmt: skip
        a = add(hub, "Maria Silva", extra={"date_of_birth": "1980-02-03"})
        b = add(hub, "Silva, Maria", extra={"date_of_birth": "1980-02-03"}, allow=True)
        report = hub.find_duplicates()
        assert report.clusters == []
        assert [f.name for f in report.fields] == ["name", "email", "phone"]
        (skipped,) = report.fields_not_compared
        assert (skipped.name, skipped.kind, skipped.values) == ("dob", "date of birth", 2)
        assert "recognised as a date of birth (extra key date_of_birth)" in skipped.why
        assert "fewer than 5 % or 1,000: not compared" in skipped.why
        asked = hub.find_duplicates(fields=["date_of_birth"])
        assert [c.ids for c in asked.clusters] == [[a, b]]
        assert [(f.name, f.source) for f in asked.fields][-1] == ("dob", "requested")
        assert asked.fields_not_compared == []
        json_report = _find(db_url)
        assert json_report["fields_not_compared"][0]["name"] == "dob"

    def test_text_output_says_which_fields_and_why(self, hub: Hub, db_url: str) -> None:
        """Without --json the fields compared come first, the automatic ones with why, in
        words a person reads once ("an address", no phrase said twice)."""
        _crowd(hub, 30, "postcode")
        add(hub, "Maria Silva", extra={"postcode": "12345", "Street Address": "1 Main St"})
        result = cli(db_url, "duplicates", "find")
        assert result.exit_code == 0, result.output
        assert "fields compared: name, email, phone, postcode" in result.output
        assert "postcode: recognised as a postcode; 31 of 31 live customers" in result.output
        address = next(line for line in result.output.splitlines() if "address:" in line)
        assert "recognised as an address (extra key Street Address)" in address
        assert address.count("compared") == 1 and address.count("recognised") == 1
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
            "phone": [f"+1212555{i:04d}" for i in range(n)],
            "dob": [f"v{i}" if i < with_value else None for i in range(n)],
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
        """At least 5 % of the live customers, or at least 1,000 of them (and two); email and
        phone when two customers have one."""
        from customer_flow.duplicates import fields as dedupe_fields

        columns = self._columns(n, with_value)
        auto = dedupe_fields.Attribute("dob", ("dob",), False, "dob")
        chosen, fields, left_out = dedupe_fields.choose(columns, [auto], dedupe.load_params())
        assert (chosen == [auto]) is compared
        assert ("dob" in columns) is compared
        assert [f.name for f in fields] == ["name", "phone"] + (["dob"] if compared else [])
        assert [f.name for f in left_out] == ["email"] + ([] if compared else ["dob"])
        assert "0 live customers have one: not compared" in left_out[0].why
        asked = dedupe_fields.Attribute("dob", ("dob",), True, "dob")
        assert dedupe_fields.choose(self._columns(n, with_value), [asked], dedupe.load_params())[
            0
        ] == [asked]

    def test_keys_are_matched_ignoring_case_and_separators(self) -> None:
        """Keys spelt differently are one attribute, and recognised keys of one kind (zip,
        postcode) are one field, read in a fixed order; --field matches them the same way; other
        keys are not recognised."""
        from customer_flow.duplicates import fields as dedupe_fields

        counts = {"Zip Code": 10, "zip_code": 30, "City": 40, "dob": 5, "Date-Of-Birth": 2}
        found = dedupe_fields.candidates(counts, [], auto=True)
        assert [(a.name, a.keys, a.kind) for a in found] == [
            ("dob", ("Date-Of-Birth", "dob"), "date of birth"),
            ("postcode", ("Zip Code", "zip_code"), "postcode"),
        ]
        asked = dedupe_fields.candidates(counts, ["ZIPCODE", "city"], auto=False)
        assert [(a.name, a.keys, a.requested, a.field) for a in asked] == [
            ("postcode", ("Zip Code", "zip_code"), True, "postcode"),
            ("city", ("City",), True, None),
        ]
        assert dedupe_fields.candidates(counts, [], auto=False) == []
        assert dedupe_fields.field_values({"zip": "", "Zip Code": "2600", "dob": None}) == {
            "postcode": "2600"
        }


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
        """customers.parquet holds the features; splink_settings.json the same model for Spark,
        with Spark's names for the string functions, the blocking rules and the m and u that
        find uses."""
        import duckdb

        add(hub, "Lima, Ana", "ana@lima.pt", "+1 415 555 0100", extra={"postcode": "1000"})
        add(hub, "Rui Costa", "rui@costa.pt", "+1 212 555 0100", extra={"postcode": "2000"})
        result = cli(db_url, "duplicates", "export", "--out", str(tmp_path), "--field", "postcode")
        assert result.exit_code == 0, result.output
        rows = duckdb.sql(
            f"SELECT given, surname, email_local, phone_tail7, postcode "
            f"FROM '{tmp_path / 'customers.parquet'}' ORDER BY unique_id"
        ).fetchall()
        assert rows[0] == ("ana", "lima", "ana", "5550100", "1000")
        settings = json.loads((tmp_path / "splink_settings.json").read_text())
        rules = settings["blocking_rules_to_generate_predictions"]
        assert all(r["sql_dialect"] == "spark" for r in rules)
        assert "l.sx_pair = r.sx_pair AND l.postcode = r.postcode" in [
            r["blocking_rule"] for r in rules
        ]
        comparisons = settings["comparisons"]
        assert [c["output_column_name"] for c in comparisons] == [
            "first_name",
            "last_name",
            "email",
            "phone",
            "postcode",
        ]
        typo = comparisons[0]["comparison_levels"][4]
        assert typo["label_for_charts"] == "typo" and "jaro_winkler(" in typo["sql_condition"]
        shipped = dedupe.load_params()["comparisons"]["postcode"][0]
        assert comparisons[-1]["comparison_levels"][1]["m_probability"] == shipped[0]

    @pytest.mark.parametrize(
        ("args", "expected", "comparisons"),
        [
            ([], ["name", "email", "postcode"], ["email", "postcode"]),
            (["--no-auto-fields"], ["name", "email"], ["email"]),
        ],
    )
    def test_export_chooses_the_fields_as_find_does(
        self,
        hub: Hub,
        db_url: str,
        tmp_path: Any,
        args: list[str],
        expected: list[str],
        comparisons: list[str],
    ) -> None:
        """A recognised attribute the customers have is in the exported model unless
        --no-auto-fields (phone is not: nobody has one); the command says which fields it
        compares."""
        add(hub, "Ana Lima", "ana@lima.pt", extra={"ZIP": "1000"})
        add(hub, "Rui Costa", "rui@costa.pt", extra={"ZIP": "2000"})
        result = cli(db_url, "duplicates", "export", "--out", str(tmp_path), *args)
        assert result.exit_code == 0, result.output
        assert f"fields compared: {', '.join(expected)}\n" in result.output
        settings = json.loads((tmp_path / "splink_settings.json").read_text())
        assert [c["output_column_name"] for c in settings["comparisons"]] == [
            "first_name",
            "last_name",
            *comparisons,
        ]

    def test_unknown_dialect_is_refused(self, db_url: str, tmp_path: Any) -> None:
        """A dialect Splink does not have: one line, exit 1."""
        result = cli(db_url, "duplicates", "export", "--out", str(tmp_path), "--dialect", "x")
        assert result.exit_code == 1
        assert "dialect: 'x' is not one of spark" in result.output
