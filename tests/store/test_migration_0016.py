"""Migration 0016 (canned replies, saved views, users' time zones) on real SQLite and
PostgreSQL: up, down and up again, the users kept each way, and the schema as declared."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from conftest import migrate
from schema_support import schema_diff

_STAMP = "2026-11-02 10:00:00"


def test_up_down_and_up_again_keeps_the_users(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0015")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, email_key, name, role, password_hash, active, "
                    "created_at, updated_at) VALUES (1, 'Ana@x.pt', 'ana@x.pt', 'Ana', 'agent', "
                    "'-', :t, :s, :s)"
                ),
                {"t": True, "s": _STAMP},
            )
        migrate(engine, "0016")
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET time_zone = 'Europe/Lisbon'"))
            conn.execute(
                text(
                    "INSERT INTO canned_replies (title, body, shared, owner_id, created_at, "
                    "updated_at) VALUES ('t', 'b', :f, 1, :s, :s)"
                ),
                {"f": False, "s": _STAMP},
            )
        migrate(engine, "0015", down=True)
        tables = set(inspect(engine).get_table_names())
        assert not {"canned_replies", "saved_views"} & tables
        assert "time_zone" not in {c["name"] for c in inspect(engine).get_columns("users")}
        migrate(engine, "head")
        with engine.begin() as conn:
            assert [("ana@x.pt", None)] == [
                tuple(r) for r in conn.execute(text("SELECT email_key, time_zone FROM users"))
            ]
            assert 0 == conn.execute(text("SELECT COUNT(*) FROM canned_replies")).scalar_one()
            # Up to the newest migration, the schema is the one the code declares.
            assert [] == schema_diff(conn)
    finally:
        engine.dispose()
