"""Others write while an import runs (issue 19, item 5).

On PostgreSQL the import holds no lock another writer needs: it reserves its customer IDs in
short transactions of their own, above every ID the file gives, so an agent's ``customers
add`` in the middle of it answers at once and never takes an ID the file claims. SQLite's
import still holds the database's write lock for its whole run (the item is open there).
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate, CustomerQuery
from customer_flow.data.imports import ImportOptions
from customer_flow.hub import Hub
from customer_flow.store.engine import unique_violation
from customer_flow.store.schema import counters

#: How long an agent's add may take while the import is paused between its batches. The old
#: import held the counter's row lock: the add then waited for the import to end, which (the
#: import waiting for the add) it never would.
PATIENCE_S = 10


def _file(tmp_path: Path) -> Path:
    """300 rows; every third gives its ID, the highest 900."""
    lines = ["ID,Name,Email"]
    for i in range(1, 301):
        given = str(i * 3) if i % 3 == 0 else ""
        lines.append(f"{given},Person {i},person{i}@example.org")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _postgresql_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite's import holds the write lock for its whole run (issue 19.5, open)")


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


def test_a_postgresql_preview_reserves_its_ids_like_the_import(
    hub: Hub, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    """A preview runs the import and rolls it back; the IDs it reserved stay unused (as a
    rolled-back sequence's do), so an agent's customer added meanwhile never waits for it
    nor takes one of them."""
    _postgresql_only(db_url)
    report = hub.preview_import(_file(tmp_path))
    assert 300 == report.imported and 0 == hub.count_customers()
    walk_in = hub.add_customer(CustomerCreate(name="Walk In", email="walk.in@example.org"))
    assert walk_in.id > 900


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
