"""Others write while an import runs (issue 19, item 5).

On PostgreSQL the import holds no lock another writer needs: it reserves its customer IDs in
short transactions of their own, above every ID the file gives, so an agent's ``customers
add`` in the middle of it answers at once and never takes an ID the file claims.

SQLite's import still holds the database's write lock for its whole run, but says so
(``store/long_write.py``): a write that times out behind it waits for it to end instead of
failing, and a second import waits for the first and says what it waits for.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate, CustomerQuery
from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store import engine as store_engine
from customer_flow.store.engine import unique_violation
from customer_flow.store.long_write import holder, lock_path
from customer_flow.store.schema import counters

#: How long an agent's add may take while the import is paused between its batches. The old
#: import held the counter's row lock: the add then waited for the import to end, which (the
#: import waiting for the add) it never would.
PATIENCE_S = 10


def _file(tmp_path: Path, name: str = "people.csv", who: str = "person") -> Path:
    """300 rows; every third gives its ID, the highest 900."""
    lines = ["ID,Name,Email"]
    for i in range(1, 301):
        given = str(i * 3) if i % 3 == 0 and who == "person" else ""
        lines.append(f"{given},Person {i},{who}{i}@example.org")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _postgresql_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: the import holds the write lock; writers wait for it (below)")


def test_an_agent_adds_a_customer_in_the_middle_of_a_postgresql_import(
    hub: Hub, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    _postgresql_only(db_url)
    added: list[int] = []

    agent_settings = settings.model_copy(update={"actor": "agent"})
    with Hub(agent_settings) as agent, ThreadPoolExecutor(1) as pool:

        def between_batches(done: int, total: int | None) -> None:
            if added:
                return
            # Another session, on another thread, while the import's transaction is open.
            future = pool.submit(
                agent.add_customer, CustomerCreate(name="Walk In", email="walk.in@example.org")
            )
            added.append(future.result(timeout=PATIENCE_S).id)

        report = hub.import_file(
            _file(tmp_path), ImportOptions(batch_rows=100), progress=between_batches
        )

    assert 300 == report.imported
    assert len(added) == 1 and added[0] > 900  # above every ID the file gives
    people = hub.list_customers(CustomerQuery(limit=500)).items
    ids = [c.id for c in people]
    assert 301 == len(ids) == len(set(ids))
    assert {i * 3 for i in range(3, 301, 3)} <= set(ids)  # the IDs the file gives
    with hub.store.read() as conn:
        counter = conn.execute(select(counters.c.value).where(counters.c.name == "customer"))
        assert counter.scalar_one() >= max(ids)


def test_a_postgresql_preview_leaves_no_gap_in_the_ids(
    hub: Hub, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    """A preview runs the import and rolls it back; it reserves no IDs (the web's preview,
    then import, would otherwise skip a file's worth each time): the next customer gets the
    next ID, and the import after it the same IDs the preview showed."""
    _postgresql_only(db_url)
    preview = hub.preview_import(_file(tmp_path), ImportOptions(batch_rows=100))
    assert 300 == preview.imported and 0 == hub.count_customers()
    walk_in = hub.add_customer(CustomerCreate(name="Walk In", email="walk.in@example.org"))
    assert 1 == walk_in.id
    report = hub.import_file(_file(tmp_path), ImportOptions(batch_rows=100))
    assert 300 == report.imported and 301 == hub.count_customers()


def test_unique_violation_reads_both_drivers(db_url: str) -> None:
    """The import's own writes go through the driver (``COPY``, ``executemany``): a duplicate
    key from either driver is recognised and its detail kept; other errors are not."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("INSERT INTO customer_ids (id) VALUES (7)")
            with pytest.raises(Exception) as twice:
                raw.execute("INSERT INTO customer_ids (id) VALUES (7)")
            found = unique_violation(twice.value)
            assert found is not None
            if isinstance(twice.value, sqlite3.Error):
                assert "customer_ids.id" in found
            else:
                assert "Key (id)=(7) already exists." == found
            raw.rollback()
            with pytest.raises(Exception) as bad:
                raw.execute("SELECT no_such_column FROM customer_ids")
            assert unique_violation(bad.value) is None
    finally:
        engine.dispose()


def _sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's writers lock rows: nothing waits for the import there")


#: The agents' busy timeout in these tests (30 s in use): a write that fails behind the import
#: fails within it, and one that waits past it is waiting for the import.
SHORT_BUSY_MS = 300


def test_an_agents_write_waits_for_a_sqlite_import_instead_of_failing(
    hub: Hub, settings: Settings, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(db_url)
    monkeypatch.setattr(store_engine, "SQLITE_BUSY_TIMEOUT_MS", SHORT_BUSY_MS)
    agent = Hub(settings.model_copy(update={"actor": "agent"}))
    agent.store  # noqa: B018 -- open, as a server's is, before the import begins
    pool = ThreadPoolExecutor(2)
    pending: list[Future[object]] = []

    def a_new_command_reads() -> int:
        """A command started during the import: opening the database takes no write lock."""
        with Hub(settings.model_copy(update={"actor": "reader"})) as reader:
            return reader.count_customers()

    def between_batches(done: int, total: int | None) -> None:
        if pending:
            return
        pending.append(
            pool.submit(
                agent.add_customer, CustomerCreate(name="Walk In", email="walk.in@example.org")
            )
        )
        time.sleep(5 * SHORT_BUSY_MS / 1000)
        assert not pending[0].done(), pending[0].exception()  # waiting, not failed
        assert "the import of people.csv, pid" in (holder(lock) or "")
        with agent.store.write_if_free() as free:  # a cache refresh never waits for it
            assert free is None
        assert 0 == pool.submit(a_new_command_reads).result(timeout=PATIENCE_S)

    lock = lock_path(Path(db_url.removeprefix("sqlite:///")))
    try:
        report = hub.import_file(
            _file(tmp_path), ImportOptions(batch_rows=100), progress=between_batches
        )
        walk_in = pending[0].result(timeout=60)
    finally:
        pool.shutdown()
        agent.close()
    assert 300 == report.imported
    assert walk_in.id > 900 and 301 == hub.count_customers()
    assert holder(lock) is None


def test_a_second_sqlite_import_waits_for_the_first_and_says_so(
    hub: Hub, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    _sqlite_only(db_url)
    second = Hub(settings.model_copy(update={"actor": "second"}))
    heard: list[str] = []
    reports: list[object] = []
    other = _file(tmp_path, "more.csv", who="other")

    def run_second() -> None:
        reports.append(second.import_file(other, waiting=heard.append))

    thread = threading.Thread(target=run_second)

    def between_batches(done: int, total: int | None) -> None:
        if thread.is_alive() or reports:
            return
        thread.start()
        deadline = time.monotonic() + 20
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        first = hub.import_file(
            _file(tmp_path), ImportOptions(batch_rows=100), progress=between_batches
        )
        thread.join(timeout=120)
    finally:
        second.close()
    assert [h.split(", pid")[0] for h in heard] == ["the import of people.csv"]
    assert 300 == first.imported
    assert 300 == reports[0].imported  # type: ignore[attr-defined]
    assert 600 == hub.count_customers()


def test_a_killed_import_leaves_a_lock_file_that_holds_nobody_up(tmp_path: Path) -> None:
    """The kernel drops a ``flock`` with its process: after kill -9 the file is there, and
    no one waits for it."""
    lock = lock_path(tmp_path / "customers.db")
    script = (
        "import sys, time; from pathlib import Path\n"
        "from customer_flow.store.long_write import long_write\n"
        "with long_write(Path(sys.argv[1]), 'the import of big.csv'):\n"
        "    print('held', flush=True); time.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and "held" == child.stdout.readline().strip()
        assert (holder(lock) or "").startswith("the import of big.csv, pid")
    finally:
        child.kill()
        child.wait()
    assert lock.exists() and holder(lock) is None
