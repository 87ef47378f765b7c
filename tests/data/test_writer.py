"""The import's writer thread: order, errors raised where the caller is, nothing left behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from customer_flow.data.imports import ImportOptions
from customer_flow.data.writer import Writer
from customer_flow.hub import Hub
from customer_flow.store.schema import audit_log, customer_ids, import_batches, match_keys


class TestWriter:
    def test_work_runs_in_order_on_one_other_thread(self) -> None:
        done: list[tuple[int, str]] = []
        writer = Writer(depth=2)
        try:
            for i in range(50):
                writer.submit(lambda i=i: done.append((i, threading.current_thread().name)))
            assert writer.call(lambda: len(done)) == 50
        finally:
            writer.close()
        assert [i for i, _ in done] == list(range(50))
        assert {name for _, name in done} == {"customer-flow-writer"}

    def test_an_error_is_raised_at_the_next_call_and_stops_the_rest(self) -> None:
        done: list[int] = []
        writer = Writer()
        try:
            writer.submit(lambda: done.append(1))
            writer.submit(lambda: 1 / 0)
            writer.submit(lambda: done.append(3))  # queued after the failure: never runs
            with pytest.raises(ZeroDivisionError):
                writer.flush()
            with pytest.raises(ZeroDivisionError):  # and again: the writer stays failed
                writer.submit(lambda: done.append(4))
        finally:
            writer.close()
        assert done == [1]

    def test_close_with_discard_drops_what_is_queued(self) -> None:
        gate = threading.Event()
        done: list[int] = []
        writer = Writer(depth=8)
        writer.submit(gate.wait)
        for i in range(5):
            writer.submit(lambda i=i: done.append(i))
        closer = threading.Thread(target=lambda: writer.close(discard=True))
        closer.start()
        gate.set()
        closer.join(timeout=10)
        assert not closer.is_alive() and done == []


def test_a_failed_write_on_the_writer_thread_leaves_nothing(hub: Hub, tmp_path: Path) -> None:
    """The database refuses a row of the fifth batch while the writer thread writes it: the
    error reaches the caller, and no customer, key, ID, audit entry or batch remains."""
    if hub.store.engine.dialect.name == "sqlite":
        trigger = (
            "CREATE TRIGGER refuse_p457 BEFORE INSERT ON customers WHEN NEW.name = 'Person 457' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    else:
        trigger = None
    path = tmp_path / "people.csv"
    path.write_text(
        "Name,Email\n" + "".join(f"Person {i},p{i}@example.org\n" for i in range(1000)),
        encoding="utf-8",
    )
    with hub.store.write() as conn:
        if trigger is not None:
            conn.execute(text(trigger))
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_p457() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.name = 'Person 457' THEN RAISE EXCEPTION 'refused by the test'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_p457 BEFORE INSERT ON customers FOR EACH ROW "
                    "EXECUTE FUNCTION refuse_p457()"
                )
            )
    with pytest.raises(Exception, match="refused by the test"):
        hub.import_file(path, ImportOptions(batch_rows=100))
    with hub.store.read() as conn:
        for table in (customer_ids, match_keys, import_batches):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
        entries = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.entity == "customer")
        ).scalar_one()
        assert entries == 0
    # The connection is usable again: the same file imports once the trigger is gone.
    with hub.store.write() as conn:
        conn.execute(text("DROP TRIGGER refuse_p457" + ("" if trigger else " ON customers")))
    report = hub.import_file(path, ImportOptions(batch_rows=100))
    assert report.imported == 1000 and hub.count_customers() == 1000
