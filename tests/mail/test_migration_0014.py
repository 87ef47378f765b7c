"""Migration 0014 (mail) on real SQLite and PostgreSQL: it adds the mail tables to a database
with data, a downgrade takes them away again, and the upgrade after it brings them back."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, inspect, text

from conftest import new_pg_database

MAIL_TABLES = {
    "mail_accounts", "mail_inbound", "mail_outbox", "job_failures", "attachments",
    "notification_settings", "notifications_sent",
}  # fmt: skip


def _migrate(engine: Engine, target: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option(
            "script_location", str(resources.files("customer_flow.store") / "migrations")
        )
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    request.getfixturevalue("pg_database")  # skips, or fails, without a server
    with new_pg_database("cf_mig14") as url:
        yield url


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_up_down_up_keeps_the_other_data(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        _migrate(engine, "0013")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (id, name, warnings, warning_count, extra, created_at,"
                    " updated_at) VALUES (1, 'Ana', '[]', 0, '{}', '2026-01-01', '2026-01-01')"
                )
            )
        assert set() == MAIL_TABLES & _tables(engine)
        _migrate(engine, "0014")
        assert MAIL_TABLES <= _tables(engine)
        _migrate(engine, "0013", down=True)
        assert set() == MAIL_TABLES & _tables(engine)
        _migrate(engine, "head")
        assert MAIL_TABLES <= _tables(engine)
        with engine.connect() as conn:
            assert 1 == conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
    finally:
        engine.dispose()
