"""Migration 0018 (the redundant one-column deleted_at index goes) up and down on real SQLite
and PostgreSQL, and the live-customer queries it served still read an index."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from conftest import migrate


def _indexes(engine: object) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes("customers")}  # type: ignore[arg-type]


def test_up_and_down(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0017")
        assert {"ix_customers_deleted_at", "ix_customers_deleted_at_id"} <= _indexes(engine)
        migrate(engine, "0018")
        assert "ix_customers_deleted_at" not in _indexes(engine)
        assert "ix_customers_deleted_at_id" in _indexes(engine)
        migrate(engine, "0017", down=True)
        assert "ix_customers_deleted_at" in _indexes(engine)
    finally:
        engine.dispose()
