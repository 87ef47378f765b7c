"""Migration 0004 creates exactly the tables schema.py declares for users and logins."""

from __future__ import annotations

from sqlalchemy import create_engine

from schema_support import schema_diff


class TestUsersMigration:
    def test_migrated_database_matches_schema_py(self, db_url: str) -> None:
        engine = create_engine(db_url)
        try:
            with engine.connect() as conn:
                diff = schema_diff(conn)
        finally:
            engine.dispose()
        assert diff == []
