"""Migration 0004 creates exactly the tables schema.py declares for users and logins."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from customer_flow.schema import metadata


class TestUsersMigration:
    def test_migrated_database_matches_schema_py(self, db_url: str) -> None:
        engine = create_engine(db_url)
        try:
            with engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), metadata)
        finally:
            engine.dispose()
        assert diff == []
