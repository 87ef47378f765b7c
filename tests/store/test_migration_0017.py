"""Migration 0017 (the web import jobs' table) up and down on real SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from conftest import migrate


def test_up_and_down(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        migrate(engine, "0016")
        assert "import_jobs" not in inspect(engine).get_table_names()
        migrate(engine, "0017")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO import_jobs (kind, status, actor, role, source, folder, "
                    "options, created_at) VALUES ('import', 'queued', 'a@b.org', 'agent', "
                    "'p.csv', '/tmp/x', '{}', '2026-12-06 10:00:00')"
                )
            )
            row = conn.execute(text("SELECT id, attempts FROM import_jobs")).one()
        assert (1, 0) == tuple(row)
        assert {"ix_import_jobs_user_id_id"} == {
            i["name"] for i in inspect(engine).get_indexes("import_jobs")
        }
        migrate(engine, "0016", down=True)
        assert "import_jobs" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
