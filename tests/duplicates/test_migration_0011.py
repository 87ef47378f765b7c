"""Migration 0011 (the duplicates model) on real SQLite and PostgreSQL: every customer's match
keys are rebuilt for the new blocking rules, the check on entry then finds an old customer by
them, and a downgrade puts the old keys back."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, create_engine, text

from conftest import migrate
from customer_flow.customers.models import CustomerCreate
from customer_flow.duplicates import find as dedupe
from customer_flow.hub import Hub

_STAMP = "2026-01-01 00:00:00"
#: (id, name, email, phone, extra, in the trash)
PEOPLE = [
    (1, "Ana Lima", "ana@lima.pt", "+14155550100", {}, False),
    (2, "Kylie Dearing", None, None, {"Date of Birth": "1980-01-01", "zip": "2272"}, False),
    (3, "Rui Costa", "rui@gmail.com", "+351912345678", {"tier": "gold"}, True),
]


def _keys(engine: Engine) -> set[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, value, customer_id FROM match_keys"))
        return {(str(k), str(v), int(c)) for k, v, c in rows}


def test_upgrade_rebuilds_the_keys_and_downgrade_restores_the_old_ones(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0010")
        with engine.begin() as conn:
            for cid, name, email, phone, extra, trashed in PEOPLE:
                conn.execute(
                    text(
                        "INSERT INTO customers (id, name, email, email_key, phone, extra, "
                        "warnings, warning_count, created_at, updated_at, deleted_at) VALUES "
                        "(:i, :n, :e, :k, :p, :x, '[]', 0, :s, :s, :d)"
                    ),
                    {"i": cid, "n": name, "e": email, "k": email and email.lower(), "p": phone,
                     "x": json.dumps(extra),
                     "s": _STAMP, "d": _STAMP if trashed else None},
                )  # fmt: skip
            conn.execute(
                text(
                    "INSERT INTO match_keys (kind, value, customer_id) VALUES "
                    "('email', 'ana@lima.pt', 1), ('dn', 'lima.pt ana', 1), "
                    "('dn', 'lima.pt lima', 1), ('tail', '5550100', 1), "
                    "('email', 'rui@gmail.com', 3), ('tail', '2345678', 3)"
                )
            )
        old = _keys(engine)
        migrate(engine, "head")
        want = {(k, v, c) for k, v, c in dedupe.key_rows([p[:5] for p in PEOPLE]).iter_rows()}
        assert _keys(engine) == want
        kinds = {(k, c) for k, _v, c in want}
        # Ana: email, name and domain, phone...; Kylie: her date of birth and zip code, with her
        # name, and both together; the trashed customer keeps keys (she may be restored).
        assert {("email", 1), ("name_dom", 1), ("phone", 1), ("name_ph6", 1)} <= kinds
        assert {("sur_dob", 2), ("name_pc", 2), ("dob_pc", 2)} <= kinds
        assert ("phone", 3) in kinds
        migrate(engine, "0010", down=True)
        assert _keys(engine) == old
    finally:
        engine.dispose()


def test_the_check_on_entry_finds_a_customer_by_the_rebuilt_keys(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0010")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (id, name, extra, warnings, warning_count, created_at,"
                    " updated_at) VALUES (2, 'Kylie Dearing', :x, '[]', 0, :s, :s)"
                ),
                {"x": json.dumps({"Date of Birth": "1980-01-01", "zip": "2272"}), "s": _STAMP},
            )
            conn.execute(text("INSERT INTO customer_ids (id) VALUES (2)"))
            conn.execute(text("UPDATE counters SET value = 2 WHERE name = 'customer'"))
    finally:
        engine.dispose()
    with Hub.open(empty_url, actor="t") as hub:  # opening migrates to head
        found = hub.check_duplicates("Dearing, Kylie")
        assert found == []  # a name alone is never enough
        brother = hub.add_customer(
            CustomerCreate(name="Lachlan Dearing", extra={"dob": "1982-05-17", "postcode": "2272"})
        )
        assert brother.warnings == []  # one surname and postcode, two first names and birth dates
        with pytest.raises(Exception, match="Kylie Dearing"):
            hub.add_customer(
                CustomerCreate(name="Kylie Dearing", extra={"dob": "01.01.1980", "zip": "2272"})
            )
