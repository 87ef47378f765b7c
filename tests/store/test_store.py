"""The storage layer on real SQLite and PostgreSQL: settings, migrations, concurrency, errors."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import event, text

from customer_flow.core.config import Settings, default_database_url, normalise_database_url
from customer_flow.core.errors import StorageError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
from customer_flow.store.engine import POOL_OVERFLOW, POOL_SIZE, Store
from schema_support import schema_diff

WRITERS, TRANSACTIONS = 4, 200


def _writer(url: str, worker: int) -> tuple[int, int]:
    """One process: TRANSACTIONS separate write transactions. Returns (ok, lock errors)."""
    ok = locked = 0
    with Hub(Settings(database_url=url, actor=f"w{worker}")) as hub:
        for i in range(TRANSACTIONS):
            try:
                # Names alike on purpose: this test is about locks, not the duplicate check.
                hub.add_customer(
                    CustomerCreate(name=f"W{worker} N{i}", email=f"w{worker}.{i}@x.io"),
                    allow_duplicate=True,
                )
                ok += 1
            except Exception as exc:
                if "locked" not in str(exc) and "deadlock" not in str(exc):
                    raise
                locked += 1
    return ok, locked


class TestStore:
    def test_migrations_match_the_declared_schema(self, db_url: str) -> None:
        """What Alembic built is exactly what schema.py declares."""
        store = Store(db_url)
        with store.engine.connect() as conn:
            assert schema_diff(conn) == []
        store.close()

    def test_opening_twice_migrates_once(self, db_url: str) -> None:
        first = Store(db_url)
        revision = first.current_revision()
        first.close()
        second = Store(db_url)
        assert revision == second.current_revision() is not None
        second.close()

    def test_concurrent_writers_never_see_a_lock_error(self, db_url: str) -> None:
        """4 processes x 200 write transactions: every one commits, none fails on a lock."""
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(WRITERS) as pool:
            results = pool.starmap(_writer, [(db_url, w) for w in range(WRITERS)])
        assert results == [(TRANSACTIONS, 0)] * WRITERS
        with Hub(Settings(database_url=db_url)) as hub:
            assert hub.count_customers() == WRITERS * TRANSACTIONS
            ids = [c.id for c in hub.list_customers().items]
            assert len(ids) == len(set(ids))

    def test_the_pool_keeps_the_connections_a_web_worker_needs_at_once(self, db_url: str) -> None:
        """A connection handed back to a full pool is closed; with SQLAlchemy's default of 5,
        a web worker with 10 requests at once kept opening connections (PostgreSQL: a server
        process each). Twelve at once, twice: the second time, none is opened."""
        store = Store(db_url)
        opened: list[object] = []
        event.listen(store.engine, "connect", lambda *args: opened.append(args))
        try:
            counts = []
            for _ in range(2):
                held = [store.engine.raw_connection() for _ in range(12)]
                for conn in held:
                    conn.close()  # back to the pool
                counts.append(len(opened))
            assert counts[0] >= 10 and counts[1] == counts[0], counts
            assert POOL_SIZE + POOL_OVERFLOW >= 40  # the web app's requests at once
        finally:
            store.close()

    def test_a_read_in_autocommit_sends_no_begin_on_postgres(self, db_url: str) -> None:
        """``read(autocommit=True)``: on PostgreSQL no transaction is open after a statement
        (no BEGIN, no COMMIT: two round trips fewer); SQLite reads in its transaction as
        before. Either way the statement sees committed data."""
        store = Store(db_url)
        try:
            with store.write() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
                conn.execute(text("INSERT INTO probe VALUES (7)"))
            for autocommit in (False, True):
                with store.read(autocommit=autocommit) as conn:
                    assert conn.execute(text("SELECT n FROM probe")).scalar_one() == 7
                    raw = conn.connection.driver_connection
                    if store.dialect == "postgresql":
                        from psycopg import pq

                        status = raw.info.transaction_status  # type: ignore[union-attr]
                        idle = status == pq.TransactionStatus.IDLE
                    else:
                        idle = not raw.in_transaction  # type: ignore[union-attr]
                    assert idle == (autocommit and store.dialect == "postgresql")
        finally:
            with store.write() as conn:
                conn.execute(text("DROP TABLE probe"))
            store.close()

    def test_postgres_connections_plan_each_statement_for_its_values(self, db_url: str) -> None:
        """Set once per connection (not per search): a generic plan knows no search pattern."""
        store = Store(db_url)
        try:
            if store.dialect != "postgresql":
                pytest.skip("PostgreSQL's plan cache")
            for autocommit in (False, True):
                with store.read(autocommit=autocommit) as conn:
                    mode = conn.execute(text("SHOW plan_cache_mode")).scalar_one()
                    assert mode == "force_custom_plan"
        finally:
            store.close()


class TestSqlite:
    def test_pragmas_are_set_on_every_connection(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path / 'p.db'}")
        with store.read() as conn:
            got = {
                p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                for p in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        store.close()
        assert got == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}

    def test_plain_begin_fails_at_once_where_begin_immediate_waits(self, tmp_path: Path) -> None:
        """Why writes say BEGIN IMMEDIATE: two deferred read-then-write transactions collide."""
        path = tmp_path / "why.db"
        Store(f"sqlite:///{path}").close()
        a = sqlite3.connect(path, isolation_level=None, timeout=5)
        b = sqlite3.connect(path, isolation_level=None, timeout=5)
        with closing(a), closing(b):
            for conn in (a, b):
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM counters").fetchone()
            a.execute("UPDATE counters SET value = value + 1")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                b.execute("UPDATE counters SET value = value + 1")  # no wait: it cannot win
            a.execute("COMMIT")
            b.execute("ROLLBACK")

    def test_a_path_without_a_scheme_is_a_sqlite_file(self, tmp_path: Path) -> None:
        url = normalise_database_url(str(tmp_path / "plain.db"))
        assert url.startswith("sqlite:///") and url.endswith("plain.db")
        Store(url).close()
        assert (tmp_path / "plain.db").exists()

    def test_the_default_database_is_in_the_user_data_folder(self) -> None:
        assert default_database_url().endswith("customer-flow/customer_flow.db")

    def test_postgres_urls_use_psycopg3(self) -> None:
        assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"

    def test_a_folder_that_cannot_be_created_is_one_line(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(StorageError, match="cannot create the folder"):
            Store(f"sqlite:///{blocker / 'sub' / 'x.db'}")


class TestErrors:
    def test_an_unreachable_postgres_names_the_host_in_one_line(self) -> None:
        with pytest.raises(StorageError) as exc:
            Store("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
        message = str(exc.value)
        assert "127.0.0.1:1" in message and "\n" not in message

    def test_an_unsupported_database_is_refused(self) -> None:
        with pytest.raises(StorageError, match="unsupported"):
            Store("mysql://root@127.0.0.1/x")

    def test_garbage_is_not_a_url(self) -> None:
        with pytest.raises(StorageError):
            Store("::://")

    def test_read_transactions_see_committed_data(self, db_url: str) -> None:
        store = Store(db_url)
        with store.write() as conn:
            conn.execute(text("UPDATE counters SET value = 5 WHERE name = 'customer'"))
        with store.read() as conn:
            value = conn.execute(text("SELECT value FROM counters WHERE name = 'customer'"))
            assert value.scalar() == 5
        store.close()
