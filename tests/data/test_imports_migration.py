"""Migration 0009 (import speed) on real SQLite and PostgreSQL: the phone keys fold into one, the
SQLite table loses its rowid; and the check on entry with the keys of today (revision 0011)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text

from conftest import migrate
from customer_flow.hub import Hub

_STAMP = "2026-01-01 00:00:00"


def _keys(engine: Engine) -> set[tuple[str, str, int]]:
    with engine.connect() as conn:
        return {
            tuple(r) for r in conn.execute(text("SELECT kind, value, customer_id FROM match_keys"))
        }  # type: ignore[misc]


def test_upgrade_folds_phone_keys_and_downgrade_restores_them(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0008")
        with engine.begin() as conn:
            for cid, phone in ((1, "+14155550100"), (2, "12345"), (3, None)):
                conn.execute(
                    text(
                        "INSERT INTO customers (id, name, phone, extra, warnings, warning_count, "
                        "created_at, updated_at) VALUES (:i, 'Ana Lima', :p, '{}', '[]', 0, :s, :s)"
                    ),
                    {"i": cid, "p": phone, "s": _STAMP},
                )
            # The keys as revision 0005 wrote them: all the digits, and the last 7.
            conn.execute(
                text(
                    "INSERT INTO match_keys (kind, value, customer_id) VALUES "
                    "('phone', '14155550100', 1), ('tail', '5550100', 1), ('phone', '12345', 2)"
                )
            )
        migrate(engine, "0009")
        assert _keys(engine) == {("tail", "5550100", 1), ("tail", "12345", 2)}
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                sql = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'match_keys'")
                ).scalar_one()
            assert "WITHOUT ROWID" in sql
        migrate(engine, "0008", down=True)
        assert _keys(engine) == {
            ("phone", "14155550100", 1),
            ("tail", "5550100", 1),
            ("phone", "12345", 2),
        }
    finally:
        engine.dispose()


def test_short_and_long_phones_still_match_on_entry(hub: Hub) -> None:
    """The same whole number is "same"; the same last 7 digits (another country code) is the
    weaker level; a short number matches only itself; a shared phone with another first name
    is no duplicate (revision 0011's keys and model)."""
    from customer_flow.customers.models import CustomerCreate

    first = hub.add_customer(CustomerCreate(name="Ana Lima", phone="+1 415 555 0100")).id
    short = hub.add_customer(CustomerCreate(name="Rui Costa", phone="12345")).id
    same = hub.check_duplicates("Lima, Ana", phone="(415) 555-0100")
    assert [(c.id, c.reasons[0]) for c in same] == [(first, "phone: same (+22.8)")]
    tail = hub.check_duplicates("Ana Lima", phone="+44 20 7555 0100")
    assert [c.id for c in tail] == [first]
    assert tail[0].reasons[0] == "phone: same last 7 digits (+18.9)"
    assert hub.check_duplicates("Zé Nobody", phone="(415) 555-0100") == []
    assert [c.id for c in hub.check_duplicates("Rui Costa", phone="12345")] == [short]
    assert hub.check_duplicates("Rui Costa", phone="912345") == []
