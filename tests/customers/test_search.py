"""Customer search through its index, on SQLite (FTS5 trigrams) and PostgreSQL (pg_trgm).

The index may only change how fast a search is, never what it finds: random customers and
random substrings (non-ASCII, LIKE's % and _, FTS5's own syntax characters) are searched
through the Hub and compared with a plain scan, for every sort, in the trash and with warnings,
page by page. The index is kept whole by every write: create, update, delete, restore, purge,
merge, unmerge, import and revert.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, String, bindparam, event, func, inspect, select, text

from customer_flow.core.paging import encode_cursor
from customer_flow.customers import records as customers_mod
from customer_flow.customers import search
from customer_flow.customers.models import CustomerCreate, CustomerQuery, CustomerUpdate
from customer_flow.data.report import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store.engine import casefold
from customer_flow.store.schema import (
    counters,
    customer_ids,
    customer_search,
    customers,
    search_metadata,
)

# Upper and lower case, letters whose case folding is not one letter to one letter (ß, ẞ, İ,
# the ligature ﬁ), LIKE's wildcards and escape, FTS5's query syntax, CJK and an emoji.
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      "
    "%_/\\'\"*:^()-+.@éÉöÖßẞŁłΣσЖжİﬁ中😀"
)
ASCII = "abcdeABCDE0123   %_/\\'\"*:^()-+.@"
SORTS = ["id", "-id", "name", "-name", "created", "-created"]


def random_text(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def add_random(hub: Hub, rng: random.Random, alphabet: str, count: int) -> None:
    """``count`` customers with random names, emails (some at example.org: a warning) and
    phones (some local: kept as given, with a warning); a few go to the trash."""
    local_chars = "".join(c for c in alphabet if c.isalnum() or c in "%_+-")
    made = 0
    while made < count:
        name = random_text(rng, alphabet, 1, 24)
        if not name.strip():
            continue
        local = random_text(rng, local_chars, 1, 10)
        domain = rng.choice(["example.org", "mail.pt", "Work.IO"])
        email = f"{local}{made}@{domain}" if rng.random() < 0.8 else None
        phone = rng.choice(
            [
                None,
                f"+1 {rng.choice(['415', '212', '646'])} 555 {rng.randint(0, 9999):04d}",
                f"555-{rng.randint(1000, 9999)}",
                f"+351 9{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
            ]
        )
        try:
            created = hub.add_customer(
                CustomerCreate(name=name, email=email, phone=phone), allow_duplicate=True
            )
        except Exception as exc:  # an email the validator refuses: draw another
            if getattr(exc, "code", None) != "email_invalid":
                raise
            continue
        made += 1
        if rng.random() < 0.15:
            hub.delete_customer(created.id)


def queries(hub: Hub, rng: random.Random, alphabet: str, count: int) -> list[str]:
    """Substrings of stored values (some with their case changed), digits of phones in
    another format, random text, wildcards alone, and very short terms."""
    rows = hub.list_customers(CustomerQuery(limit=1000)).items
    rows += hub.list_customers(CustomerQuery(limit=1000, trash=True)).items
    found: list[str] = ["%", "_", "%_", "a%", "_b", "\\", '"', "*", "'", "é", "ss", "σ"]
    while len(found) < count:
        kind = rng.random()
        if kind < 0.6:
            row = rng.choice(rows)
            value = rng.choice([v for v in (row.name, row.email, row.phone) if v])
            start = rng.randrange(len(value))
            term = value[start : start + rng.randint(1, 9)]
            case = rng.random()
            term = term.upper() if case < 0.2 else term.swapcase() if case < 0.4 else term
        elif kind < 0.7:
            phones = [r.phone for r in rows if r.phone and r.phone.startswith("+1")]
            if not phones:
                continue
            digits = re.sub(r"\D", "", rng.choice(phones))
            term = f"({digits[1:4]}) {digits[4:7]}"
        else:
            term = random_text(rng, alphabet, 1, 6)
        if term.strip():
            found.append(term)
    return found


def all_ids(hub: Hub, query: CustomerQuery) -> list[int]:
    return [c.id for c in hub.list_customers(query.model_copy(update={"limit": 1000})).items]


def paged_ids(hub: Hub, query: CustomerQuery, limit: int) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = hub.list_customers(query.model_copy(update={"limit": limit, "after": after}))
        ids += [c.id for c in page.items]
        if page.next is None:
            return ids
        after = page.next


def like_scan(conn: Connection, term: str, query: CustomerQuery) -> set[int]:
    """What the search found before the index: ``LIKE`` over the columns (on SQLite, ASCII
    letters only ignore case)."""
    cond = search.condition("postgresql", customers_mod.collapse(term))  # the plain LIKE form
    where = customers_mod.filter_conditions(query.model_copy(update={"search": None}), "none")
    return set(conn.execute(select(customers.c.id).where(cond, *where)).scalars())


def folded_reference(conn: Connection, term: str, query: CustomerQuery) -> set[int]:
    """The meaning of a search on SQLite, in Python: the case-folded text is in the
    case-folded name, email or phone; or its digits (3 or more, among other characters) are
    in the phone."""
    t = customers_mod.collapse(term)
    want = search.fold(t)
    digits = re.sub(r"\D", "", t)
    where = customers_mod.filter_conditions(query.model_copy(update={"search": None}), "none")
    rows = conn.execute(
        select(customers.c.id, customers.c.name, customers.c.email, customers.c.phone).where(*where)
    )
    return {
        r.id
        for r in rows
        if any(v is not None and want in search.fold(v) for v in (r.name, r.email, r.phone))
        or (len(digits) >= 3 and digits != t and r.phone is not None and digits in r.phone)
    }


def dialect(hub: Hub) -> str:
    return hub.store.dialect


def pg_forced(hub: Hub, query: CustomerQuery, *, index: bool) -> set[int]:
    """The search on PostgreSQL with the index scans forced on, or forced off."""
    settings = (
        ["enable_seqscan = off", "enable_indexscan = off"]
        if index
        else ["enable_bitmapscan = off", "enable_indexscan = off"]
    )
    with hub.store.engine.begin() as conn:
        for setting in settings:
            conn.execute(text(f"SET LOCAL {setting}"))
        stmt = select(customers.c.id).where(*customers_mod.filter_conditions(query, "postgresql"))
        return set(conn.execute(stmt).scalars())


def add(hub: Hub, name: str, email: str | None = None, phone: str | None = None) -> int:
    new = CustomerCreate(name=name, email=email, phone=phone)
    return hub.add_customer(new, allow_duplicate=True).id


@pytest.fixture
def stale(hub: Hub) -> Iterator[None]:
    """After the test, the index matches the customers exactly."""
    yield
    with hub.store.read() as conn:
        assert search.stale_ids(conn) == []


# -- what a search finds -----------------------------------------------------------------------


class TestEquivalence:
    @pytest.mark.parametrize("seed", [1, 2])
    def test_index_finds_what_the_meaning_says_unicode(
        self, hub: Hub, seed: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Random non-ASCII customers and substrings: the Hub's search equals the reference
        (SQLite: Python's case folding; PostgreSQL: the same ILIKE without the index), in
        every sort, in the trash and with warnings; the ASCII-only LIKE scan finds a subset."""
        rng = random.Random(seed)
        add_random(hub, rng, ALPHABET, 120)
        terms = queries(hub, rng, ALPHABET, 90)
        # Every plan in list_customers: candidates handed over (2 or fewer), looked up by the
        # query, or a scan (more than 5 by ID, 8 otherwise).
        monkeypatch.setattr(search, "FEW_CANDIDATES", 2)
        monkeypatch.setattr(search, "DENSE_CANDIDATES", 5)
        monkeypatch.setattr(search, "DENSE_CANDIDATES_SORTED", 8)
        checked = 0
        for i, term in enumerate(terms):
            query = CustomerQuery(
                search=term,
                sort=SORTS[i % len(SORTS)],
                trash=i % 5 == 0,
                with_warnings=i % 7 == 0,
            )
            got = all_ids(hub, query)
            assert len(got) == len(set(got))
            if dialect(hub) == "sqlite":
                with hub.store.read() as conn:
                    want = folded_reference(conn, term, query)
                    assert like_scan(conn, term, query) <= set(got), term
            else:
                want = pg_forced(hub, query, index=False)
                assert pg_forced(hub, query, index=True) == want, term
            assert set(got) == want, term
            checked += bool(want)
            if i % 6 == 0:
                assert paged_ids(hub, query, 3) == got, term
        assert checked > len(terms) // 3  # most searches found something: a real comparison

    def test_ascii_search_equals_the_old_like_scan(self, hub: Hub) -> None:
        """With ASCII text only, the indexed search finds exactly what LIKE found."""
        rng = random.Random(3)
        add_random(hub, rng, ASCII, 100)
        for i, term in enumerate(queries(hub, rng, ASCII, 80)):
            query = CustomerQuery(search=term, sort=SORTS[i % len(SORTS)], trash=i % 4 == 0)
            with hub.store.read() as conn:
                want = like_scan(conn, term, query)
            assert set(all_ids(hub, query)) == want, term

    def test_every_plan_finds_the_same(self, hub: Hub) -> None:
        """A plan changes how, never what: the query's own lookup, a scan, the candidates
        looked up beforehand, and a walk of the index in ID order all find the same rows."""
        rng = random.Random(4)
        add_random(hub, rng, ALPHABET, 60)
        walked = 0
        for term in queries(hub, rng, ALPHABET, 40):
            query = CustomerQuery(search=term)
            with hub.store.read() as conn:
                term = customers_mod.collapse(term)
                looked_up = search.plan(conn, term, by_id=False)
                by_id = search.plan(conn, term)
                plans = [None, search.Plan(scan=True), looked_up, by_id]
                found = [
                    set(
                        conn.execute(
                            select(customers.c.id).where(
                                *customers_mod.filter_conditions(
                                    query, conn.dialect.name, plan=plan
                                )
                            )
                        ).scalars()
                    )
                    for plan in plans
                ]
            assert found[0] == found[1] == found[2] == found[3], term
            if dialect(hub) == "sqlite":
                assert looked_up.candidates is not None  # 60 customers: always few
                # A page by ID walks the index for any text it can look up.
                indexed = len(search.fold(term)) >= search.MIN_INDEXED
                assert by_id.walk == indexed, term
                walked += by_id.walk
        assert walked > 10 or dialect(hub) != "sqlite"

    def test_a_walk_of_the_index_pages_like_a_scan(self, hub: Hub) -> None:
        """SQLite, pages by ID of text the index can look up: the index is walked in ID order,
        forwards and backwards, page by page, in the trash and with warnings; every page is
        the one a scan in ID order gives."""
        rng = random.Random(5)
        add_random(hub, rng, ALPHABET, 120)
        for i in range(40):
            add(hub, f"Walker Lima {i}", phone="555-0100" if i % 3 else None)
        for i in range(0, 40, 4):
            hub.delete_customer(add(hub, f"Walker Trash {i}"))
        terms = ["walker", "lima", "alk", "R TR", "555-01", "5550100"]
        terms += [t for t in queries(hub, rng, ALPHABET, 30) if len(search.fold(t)) >= 3]
        for i, term in enumerate(terms):
            for sort in ("id", "-id"):
                query = CustomerQuery(
                    search=term, sort=sort, trash=i % 4 == 1, with_warnings=i % 5 == 2
                )
                with hub.store.read() as conn:
                    assert search.plan(conn, customers_mod.collapse(term)).walk == (
                        dialect(hub) == "sqlite"
                    )
                    scanned = [
                        int(c)
                        for c in conn.execute(
                            select(customers.c.id)
                            .where(
                                *customers_mod.filter_conditions(
                                    query, conn.dialect.name, plan=search.Plan(scan=True)
                                )
                            )
                            .order_by(customers.c.id.desc() if sort == "-id" else customers.c.id)
                        ).scalars()
                    ]
                assert all_ids(hub, query) == scanned, (term, sort)
                assert paged_ids(hub, query, 4) == scanned, (term, sort)
        assert all_ids(hub, CustomerQuery(search="walker")) != []


class TestMeaning:
    def test_case_is_ignored_beyond_ascii(self, hub: Hub, stale: None) -> None:
        """SQLite's LIKE folded ASCII only, so "élodie" missed "ÉLODIE"; now both databases
        find it, by any part of it."""
        elodie = add(hub, "ÉLODIE ÜNAL", "ÉLO@Mail.pt")
        add(hub, "Elodie Unal")  # no accents: not the same text
        for term in ["élodie", "Élodie", "ünal", "e ün", "éLo", "él", "élo@mail"]:
            assert all_ids(hub, CustomerQuery(search=term)) == [elodie], term

    def test_unicode_case_folding_on_sqlite(self, hub: Hub, stale: None) -> None:
        """On SQLite, search is Unicode caseless matching (str.casefold): ß matches ss."""
        if dialect(hub) != "sqlite":
            pytest.skip("PostgreSQL's ILIKE lower-cases instead (ß stays ß)")
        straße = add(hub, "Anna Straße")
        sigma = add(hub, "ΟΔΥΣΣΕΑΣ")
        assert all_ids(hub, CustomerQuery(search="STRASSE")) == [straße]
        assert all_ids(hub, CustomerQuery(search="straß")) == [straße]
        assert all_ids(hub, CustomerQuery(search="οδυσσεας")) == [sigma]
        assert all_ids(hub, CustomerQuery(search="ας")) == [sigma]  # short: the scan folds too

    def test_a_nul_is_searchable_on_sqlite(self, hub: Hub, stale: None) -> None:
        """FTS5 stops reading text at a NUL; the index stores U+FFFD instead, so the text
        after it is still found (PostgreSQL refuses NULs in text at all)."""
        if dialect(hub) != "sqlite":
            pytest.skip("PostgreSQL text cannot hold a NUL")
        nul = add(hub, "Ana\x00Beatriz Lima")
        assert all_ids(hub, CustomerQuery(search="beatriz")) == [nul]
        assert all_ids(hub, CustomerQuery(search="a\x00b")) == [nul]

    def test_wildcards_and_query_syntax_are_plain_text(self, hub: Hub) -> None:
        odd = add(hub, '50% "off" *deal* a_b OR c')
        add(hub, "500 offers, deal ab, or c")
        for term in ["50%", '% "o', '"off"', "*deal*", "a_b", "b OR c", '"', "l* a_"]:
            assert all_ids(hub, CustomerQuery(search=term)) == [odd], term
        assert all_ids(hub, CustomerQuery(search="%%")) == []

    def test_phone_digits_in_any_format(self, hub: Hub) -> None:
        ana = add(hub, "Ana", phone="(415) 555-2671")
        add(hub, "Bo", phone="+351 912 345 678")
        for term in ["(415) 555", "415-555-26", "+1 415", "4155552671", "555 2671"]:
            assert all_ids(hub, CustomerQuery(search=term)) == [ana], term

    def test_search_keeps_paging_sort_and_filters(self, hub: Hub) -> None:
        ids = [
            add(hub, f"{n} Lima", f"{n.lower()}@example.org" if w else None)
            for n, w in [("Zé", False), ("Ana", True), ("Maria", False), ("Bia", True)]
        ]
        add(hub, "Rui Costa")
        hub.delete_customer(ids[2])
        by_name = CustomerQuery(search="lima", sort="name")
        assert paged_ids(hub, by_name, 1) == [ids[1], ids[3], ids[0]]
        assert paged_ids(hub, by_name.model_copy(update={"sort": "-id"}), 2) == [
            ids[3],
            ids[1],
            ids[0],
        ]
        assert all_ids(hub, by_name.model_copy(update={"trash": True})) == [ids[2]]
        assert all_ids(hub, by_name.model_copy(update={"with_warnings": True})) == [
            ids[1],
            ids[3],
        ]

    def test_export_uses_the_same_search(self, hub: Hub, tmp_path: Path) -> None:
        keep = add(hub, "Élodie Rocha")
        add(hub, "Rui Costa")
        report = hub.export_customers(
            tmp_path / "out.jsonl", CustomerQuery(search="ÉLODIE"), format="jsonl"
        )
        assert report.rows == 1
        assert f'"id":{keep}' in (tmp_path / "out.jsonl").read_text().replace(" ", "")


# -- the index stays whole ---------------------------------------------------------------------


def found(hub: Hub, term: str, **kw: bool) -> list[int]:
    return all_ids(hub, CustomerQuery(search=term, **kw))


class TestMaintenance:
    def test_single_customer_writes(self, hub: Hub, stale: None) -> None:
        c = add(hub, "Quentin Rocha", "qr@mail.pt")
        assert found(hub, "quentin") == [c]
        hub.update_customer(c, CustomerUpdate(name="Ursula Rocha", phone="+1 415 555 0199"))
        assert found(hub, "quentin") == []
        assert found(hub, "ursula") == [c]
        assert found(hub, "5550199") == [c]
        hub.update_customer(c, CustomerUpdate(email="new@mail.pt"))
        assert found(hub, "qr@mail") == [] and found(hub, "new@mail") == [c]
        hub.delete_customer(c)
        assert found(hub, "ursula") == [] and found(hub, "ursula", trash=True) == [c]
        hub.restore_customer(c)
        assert found(hub, "ursula") == [c]
        hub.delete_customer(c)
        hub.purge_customer(c)
        assert found(hub, "ursula", trash=True) == []
        if dialect(hub) == "sqlite":
            with hub.store.read() as conn:
                left = conn.execute(select(func.count()).select_from(customer_search)).scalar()
            assert left == 0

    def test_merge_and_unmerge(self, hub: Hub, stale: None) -> None:
        a = add(hub, "Xavier Pinto", "xp@mail.pt")
        b = add(hub, "Xavier Pinto Jr", "xavi@work.io")
        result = hub.merge_customers(a, [b], take={"email": b, "name": b})
        assert found(hub, "xavi@work") == [a]
        assert found(hub, "pinto jr") == [a]
        assert found(hub, "pinto jr", trash=True) == [b]
        hub.unmerge_customers(result.merge.id)
        assert found(hub, "xavi@work") == [b]
        assert found(hub, "xp@mail") == [a]

    def test_import_and_revert(self, hub: Hub, tmp_path: Path, stale: None) -> None:
        old = add(hub, "Yara Old", "yara@mail.pt")
        path = tmp_path / "in.csv"
        path.write_text("Name,Email\nYara Nova,yara@mail.pt\nZoé Brandão,zoe@mail.pt\n")
        report = hub.import_file(path, ImportOptions(on_conflict="update"))
        assert report.batch_id is not None
        assert found(hub, "yara nova") == [old] and found(hub, "yara old") == []
        (zoe,) = found(hub, "ZOÉ BRAND")
        with hub.store.read() as conn:
            assert search.stale_ids(conn) == []
        hub.revert_import(report.batch_id)
        assert found(hub, "yara old") == [old] and found(hub, "yara nova") == []
        assert found(hub, "zoé") == []
        assert zoe != old

    def test_an_import_over_ids_freed_around_the_hub(self, hub: Hub, tmp_path: Path) -> None:
        """Customers deleted straight from the table and their IDs issued again by an
        import: the entries left under those IDs are replaced, not a failure."""
        add(hub, "Gone Person")
        with hub.store.write() as conn:
            conn.execute(customers.delete())
            conn.execute(customer_ids.delete())
            conn.execute(counters.update().values(value=0))
        path = tmp_path / "in.csv"
        path.write_text("ID,Name\n1,Back Again\n2,Someone New\n")
        hub.import_file(path)
        assert found(hub, "back again") == [1]
        assert found(hub, "gone") == []
        with hub.store.read() as conn:
            assert search.stale_ids(conn) == []

    def test_a_dry_run_leaves_the_index_alone(self, hub: Hub, tmp_path: Path, stale: None) -> None:
        path = tmp_path / "in.csv"
        path.write_text("Name\nWilma Dry\n")
        hub.preview_import(path)
        assert found(hub, "wilma") == []


# -- the index itself --------------------------------------------------------------------------


@contextmanager
def _statements(conn: Connection, into: list[tuple[str, Any]]) -> Iterator[None]:
    """Collect the SQL and parameters ``conn`` sends while the block runs."""

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        into.append((statement, params))

    event.listen(conn, "before_cursor_execute", seen)
    try:
        yield
    finally:
        event.remove(conn, "before_cursor_execute", seen)


def _alembic(conn: Connection, target: str, *, down: bool = False) -> None:
    from importlib import resources

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("customer_flow.store") / "migrations")
    )
    cfg.attributes["connection"] = conn
    (command.downgrade if down else command.upgrade)(cfg, target)


class TestIndex:
    def test_the_migration_builds_the_index_for_existing_customers(self, hub: Hub) -> None:
        """Customers added before 0008 are indexed by it; down and up again is whole."""
        ids = [add(hub, f"Vera Nunes {i}") for i in range(3)]
        with hub.store.engine.begin() as conn:
            _alembic(conn, "0007", down=True)
            names = set(inspect(conn).get_table_names())
            assert customer_search.name not in names
            _alembic(conn, "head")
        assert found(hub, "vera nunes") == ids
        with hub.store.read() as conn:
            assert search.stale_ids(conn) == []

    def test_postgres_samples_the_searched_columns_more(self, hub: Hub) -> None:
        """Migration 0010: 300 histogram entries for the name, so that a name part in 5 % of
        the customers is not taken for a rare one; down again, the server's default."""
        if dialect(hub) != "postgresql":
            pytest.skip("PostgreSQL's planner statistics")

        def targets(conn: Connection) -> dict[str, int]:
            rows = conn.execute(
                text(
                    "SELECT attname, attstattarget FROM pg_attribute "
                    "WHERE attrelid = 'customers'::regclass AND attname IN ('name', 'email', "
                    "'phone', 'extra')"
                )
            )
            return {r.attname: int(r.attstattarget or -1) for r in rows}

        with hub.store.engine.begin() as conn:
            assert targets(conn) == {"name": 300, "email": -1, "phone": -1, "extra": -1}
            _alembic(conn, "0009", down=True)
            assert set(targets(conn).values()) == {-1}
            _alembic(conn, "head")
            assert targets(conn)["name"] == 300

    def test_the_index_objects_exist(self, hub: Hub) -> None:
        with hub.store.engine.connect() as conn:
            if dialect(hub) == "sqlite":
                tables = set(inspect(conn).get_table_names())
                assert {"customer_search", "customer_search_fts"} <= tables
                sql = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'customer_search_fts'")
                ).scalar_one()
                assert "trigram" in sql and "content='customer_search'" in sql
                # The side table is what schema.py declares.
                from alembic.autogenerate import compare_metadata
                from alembic.runtime.migration import MigrationContext

                context = MigrationContext.configure(
                    conn,
                    opts={"include_name": lambda n, t, p: t != "table" or n == "customer_search"},
                )
                assert compare_metadata(context, search_metadata) == []
            else:
                rows = conn.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE tablename = 'customers' AND indexdef LIKE '%gin_trgm_ops%'"
                    )
                ).all()
                assert {r.indexname for r in rows} == {
                    "ix_customers_name_trgm",
                    "ix_customers_email_trgm",
                    "ix_customers_phone_trgm",
                }

    def test_a_long_term_is_looked_up_in_the_index(self, hub: Hub) -> None:
        """The plan for text of 3+ characters reads the index, not every customer. (On
        PostgreSQL, 5,000 customers are still few enough for a scan to look cheaper: the
        test turns plain scans off; the planner's own choice at 100,000 customers is in the
        web benchmark.)"""
        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            {
                "id": i,
                "name": f"Customer {i}",
                "email": f"c{i}@mail.pt",
                "email_key": f"c{i}@mail.pt",
                "phone": f"+3519{i:08d}",
                "extra": {},
                "warnings": [],
                "warning_count": 0,
                "created_at": stamp,
                "updated_at": stamp,
            }
            for i in range(1, 5001)
        ]
        with hub.store.write() as conn:
            conn.execute(customer_ids.insert(), [{"id": r["id"]} for r in rows])
            conn.execute(customers.insert(), rows)
            search.rebuild(conn)
            conn.execute(text("ANALYZE"))
        query = CustomerQuery(search="+351900001234")
        assert all_ids(hub, query) == [1234]
        with hub.store.read() as conn:
            if dialect(hub) != "sqlite":
                conn.execute(text("SET LOCAL enable_seqscan = off"))
                conn.execute(text("SET LOCAL enable_indexscan = off"))
            conds = customers_mod.filter_conditions(query, conn.dialect.name)
            # On PostgreSQL, the search's own condition: with so few rows, the planner would
            # rather read the live customers through ix_customers_deleted_at.
            stmt = select(customers.c.id).where(*(conds if dialect(hub) == "sqlite" else conds[1:]))
            compiled = stmt.compile(conn)
            params = (
                compiled.params
                if dialect(hub) != "sqlite"
                else tuple(compiled.params[name] for name in compiled.positiontup or ())
            )
            plan = [
                str(r[-1])
                for r in conn.exec_driver_sql(
                    ("EXPLAIN QUERY PLAN " if dialect(hub) == "sqlite" else "EXPLAIN ")
                    + str(compiled),
                    params,
                )
            ]
        text_plan = " | ".join(plan)
        if dialect(hub) == "sqlite":
            assert "customer_search_fts VIRTUAL TABLE" in text_plan, text_plan
            assert "SCAN customers" not in text_plan, text_plan
        else:
            assert "_trgm" in text_plan and "Seq Scan" not in text_plan, text_plan

    def test_sqlite_pages_by_name_walk_the_name_index(self, hub: Hub) -> None:
        """Without statistics SQLite would read every live customer through the deleted_at
        index and sort them all for one page by name; told how likely "live" is, it walks
        ix_customers_name_id and stops after a page. So does a search checked customer by
        customer. The trash (small) is read through its index."""
        if dialect(hub) != "sqlite":
            pytest.skip("PostgreSQL has statistics")

        def plan(query: CustomerQuery, scan: bool = False) -> str:
            stmt = (
                select(customers.c.id)
                .where(
                    *customers_mod.filter_conditions(query, "sqlite", plan=search.Plan(scan=scan))
                )
                .order_by(customers.c.name, customers.c.id)
                .limit(51)
            )
            with hub.store.read() as conn:
                sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
                return " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

        for query, scan in [(CustomerQuery(), False), (CustomerQuery(search="mail"), True)]:
            walked = plan(query, scan)
            assert "ix_customers_name_id" in walked and "TEMP B-TREE" not in walked, walked
        trash = plan(CustomerQuery(trash=True))
        assert "ix_customers_deleted_at" in trash, trash
        found = plan(CustomerQuery(search="user123@"))  # candidates drive it, then a sort
        assert "customer_search_fts" in found and "SCAN customers" not in found, found

    def test_a_page_statement_is_built_once_per_shape(self, hub: Hub) -> None:
        """Searches that differ only in their text, cursor and page size reuse one statement
        (their values are its parameters); another sort or filter is another statement."""
        ids = [add(hub, f"Shaper {i}", phone="555-0100") for i in range(3)]
        customers_mod._page.cache_clear()
        first = hub.list_customers(CustomerQuery(search="shaper", limit=2))
        assert [c.id for c in first.items] == ids[:2]
        second = hub.list_customers(CustomerQuery(search="aper", limit=1, after=first.next))
        assert [c.id for c in second.items] == [ids[2]]
        after = customers_mod._page.cache_info()
        hub.list_customers(CustomerQuery(search="hape", limit=5, after=first.next))
        assert customers_mod._page.cache_info().hits == after.hits + 1
        hub.list_customers(CustomerQuery(search="shaper", sort="name"))
        assert customers_mod._page.cache_info().misses == after.misses + 1
        # A statement reused with other values finds what a fresh one finds.
        for term in ["shaper", "555-0100", "5550100", "per 1", "%", "_"]:
            query = CustomerQuery(search=term)
            with hub.store.read() as conn:
                fresh = {
                    int(i)
                    for i in conn.execute(
                        select(customers.c.id).where(
                            *customers_mod.filter_conditions(query, conn.dialect.name)
                        )
                    ).scalars()
                }
            assert set(all_ids(hub, query)) == fresh, term

    def test_sqlite_walks_the_index_for_a_page_by_id(self, hub: Hub) -> None:
        """A page by ID reads the trigram index in ID order and looks each candidate up by
        ID: no count beforehand, no sort, no read of every customer, in either direction,
        from a cursor or not, in the trash or with warnings. (With the "likely" hint on the
        live filter, SQLite 3.40 read every customer for each candidate.)"""
        if dialect(hub) != "sqlite":
            pytest.skip("SQLite's FTS5 index")
        ids = [add(hub, f"Walker {i}") for i in range(3)]
        for sort in ("id", "-id"):
            for after in (None, encode_cursor(ids[1], ids[1])):
                for trash, warnings in [(False, False), (True, False), (False, True)]:
                    query = CustomerQuery(
                        search="walker",
                        sort=sort,
                        after=after,
                        trash=trash,
                        with_warnings=warnings,
                    )
                    with hub.store.read() as conn:
                        sql: list[tuple[str, Any]] = []
                        with _statements(conn, sql):
                            customers_mod.list_customers(conn, query)
                        (stmt,) = sql  # one statement: the page, no count first
                        plan = [
                            str(r[3])
                            for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt[0], stmt[1])
                        ]
                    shown = " | ".join(plan)
                    assert plan[0].startswith("SCAN customer_search_fts VIRTUAL TABLE"), shown
                    assert "SEARCH customers USING INDEX" in plan[1], shown
                    assert "TEMP B-TREE" not in shown, shown

    def test_postgres_plans_each_search_for_its_text(self, hub: Hub) -> None:
        """psycopg prepares a statement after 5 runs, and PostgreSQL may then switch to a
        generic plan, which cannot use the trigram indexes for a pattern it does not know:
        every search is planned for its own text instead."""
        if dialect(hub) != "postgresql":
            pytest.skip("SQLite plans each statement for its parameters")
        for i in range(20):
            add(hub, f"Planned Person {i}", f"p{i}@mail.pt")
        with hub.store.engine.connect() as conn:
            for i in range(15):
                with conn.begin():
                    page = customers_mod.list_customers(conn, CustomerQuery(search=f"p{i}@mail"))
                assert [c.name for c in page.items] == [f"Planned Person {i}"]
            plans = conn.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%ILIKE%'"
                )
            ).one()
        assert plans.generic_plans == 0 and plans.custom_plans >= 10, plans

    def test_a_bulk_write_merges_postgres_pending_lists(self, hub: Hub) -> None:
        """GIN keeps new entries in a pending list that every search reads until it is
        merged; a bulk refresh (an import's) merges it."""
        if dialect(hub) != "postgresql":
            pytest.skip("PostgreSQL's GIN indexes")
        with hub.store.engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))

        def pending(conn: Connection) -> int:
            return int(
                conn.execute(
                    text("SELECT pending_pages FROM pgstatginindex('ix_customers_email_trgm')")
                ).scalar_one()
            )

        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        ids = list(range(1, search.BULK_WRITE + 1))
        rows = [
            {
                "id": i,
                "name": f"Bulk {i}",
                "email": f"bulk{i}@mail.pt",
                "email_key": f"bulk{i}@mail.pt",
                "extra": {},
                "warnings": [],
                "warning_count": 0,
                "created_at": stamp,
                "updated_at": stamp,
            }
            for i in ids
        ]
        with hub.store.write() as conn:
            conn.execute(customer_ids.insert(), [{"id": i} for i in ids])
            conn.execute(customers.insert(), rows)
            assert pending(conn) > 0
            search.refresh(conn, ids[:10])  # a few: left to the server
            assert pending(conn) > 0
            search.refresh(conn, [], fresh=ids)
            assert pending(conn) == 0
        assert found(hub, "bulk999@") == [999]

    def test_the_index_folds_text_as_casefold_does(self, hub: Hub) -> None:
        """The index's folding (SQLite's ``lower`` for ASCII, ``casefold`` for the rest) gives
        ``store.casefold`` for every text: random strings from the whole alphabet, ASCII, NULs
        and control characters, and a NULL."""
        if dialect(hub) != "sqlite":
            pytest.skip("SQLite's index")
        rng = random.Random(7)
        texts: list[str | None] = [None, "", "\x00", "ab\x00CD", "ÀB", "STRASSE ẞ", "İ", "\x7fA"]
        texts += [random_text(rng, ALPHABET + "\x00\x01\t", 0, 12) for _ in range(400)]
        texts += [random_text(rng, ASCII + "\x00", 0, 12) for _ in range(400)]
        value = bindparam("v", type_=String)
        query = select(search._folded(value))
        with hub.store.read() as conn:
            got = [conn.execute(query, {"v": t}).scalar_one() for t in texts]
        assert got == [casefold(t) for t in texts]

    def test_stale_ids_notices_a_write_around_the_index(self, hub: Hub) -> None:
        """The check the tests lean on can fail: a name changed behind the index's back."""
        if dialect(hub) != "sqlite":
            pytest.skip("PostgreSQL's indexes are the server's")
        c = add(hub, "Tomás Reis")
        with hub.store.write() as conn:
            conn.execute(customers.update().where(customers.c.id == c).values(name="Other"))
            assert search.stale_ids(conn) == [c]
            search.refresh(conn, [c])
            assert search.stale_ids(conn) == []

    def test_only_search_objects_are_left_out_of_the_schema_check(self) -> None:
        assert search.in_search_index("customer_search_fts_data")
        assert search.in_search_index("ix_customers_email_trgm")
        assert not search.in_search_index("customers")
        assert not search.in_search_index("ix_customers_name_id")
        assert not search.in_search_index(None)
