"""Operations (issue 20, docs/deploy.md): ``db backup`` of SQLite while another process
writes, restored and checked; the readiness check."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from customer_flow.cli.main import app
from customer_flow.core.config import Settings
from customer_flow.hub import Hub
from customer_flow.store.engine import Store
from customer_flow.web.app import create_app

SRC = str(Path(__file__).resolve().parents[2] / "src")

#: A writer in a process of its own: customers added one per transaction (each with its audit
#: entry, its match keys and its search row), until it is stopped.
WRITER = """
import sys
from customer_flow.core.config import Settings
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub
hub = Hub(Settings(database_url=sys.argv[1], actor="writer"))
i = 0
while True:
    i += 1
    hub.add_customer(CustomerCreate(name=f"Writer {i} Person", email=f"w{i}@example.org"),
                     allow_duplicate=True)
    if i == 20:
        open(sys.argv[2], "w").close()  # writing is under way
"""


def cli(db: str, *args: str) -> object:
    return CliRunner().invoke(app, ["--db", db, *args])


def counts(path: Path) -> tuple[int, int]:
    """Customers, and audit entries of customers added: one transaction writes both."""
    with closing(sqlite3.connect(path)) as conn:
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        created = conn.execute(
            "SELECT count(*) FROM audit_log WHERE entity = 'customer' AND action = 'create'"
        ).fetchone()[0]
    return customers, created


def test_a_backup_taken_during_writes_restores_whole(tmp_path: Path, sqlite_template: Path) -> None:
    """Another process adds customers while ``db backup`` copies the database; the copy opens
    at the newest schema, passes PRAGMA integrity_check, and holds each customer with its
    audit entry (no transaction cut in half); the writer was never stopped."""
    live = tmp_path / "live.db"
    live.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{live}"
    started = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": SRC}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, str(started)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        backup = tmp_path / "backup.db"
        result = cli(url, "db", "backup", str(backup))
        assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
        assert "integrity ok" in result.output  # type: ignore[attr-defined]
        assert writer.poll() is None  # still writing: the backup did not stop it
        time.sleep(0.5)
    finally:
        writer.kill()
        writer.wait()
    # Restore: the copy in a database's place, opened by the app.
    restored = tmp_path / "restored.db"
    backup.replace(restored)
    assert not (tmp_path / "backup.db.partial").exists()
    with closing(sqlite3.connect(restored)) as conn:
        assert "ok" == conn.execute("PRAGMA integrity_check").fetchone()[0]
    customers, created = counts(restored)
    assert customers >= 20
    assert customers == created
    assert counts(live)[0] > customers  # the writer went on after the copy's instant
    store = Store(f"sqlite:///{restored}", migrate=False)
    try:
        assert store.ready() is None
    finally:
        store.close()
    with closing(sqlite3.connect(restored)) as conn:
        last = conn.execute("SELECT max(id) FROM customers").fetchone()[0]
    with Hub(Settings(database_url=f"sqlite:///{restored}", actor="t")) as hub:
        assert last is not None and hub.get_customer(last).name.startswith("Writer ")


def test_backup_refuses_an_existing_file_and_postgresql(tmp_path: Path, db_url: str) -> None:
    """One line, exit 1, nothing written: an existing target; a PostgreSQL database."""
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    result = cli(db_url, "db", "backup", str(target))
    assert 1 == result.exit_code  # type: ignore[attr-defined]
    lines = result.output.strip().splitlines()  # type: ignore[attr-defined]
    assert 1 == len(lines)
    expected = "pg_dump" if db_url.startswith("postgresql") else "exists"
    assert expected in lines[0]
    assert "keep me" == target.read_text()
    assert not (tmp_path / "exists.db.partial").exists()


def test_readyz_says_ready_and_then_not_when_the_schema_is_behind(db_url: str) -> None:
    """/healthz: the process answers. /readyz: 200 at the code's schema; 503 and why when
    the database's schema is older than the code's (an upgrade not run yet); 200 when newer
    code has migrated it (a rolling upgrade: this server still serves until restarted)."""
    hub = Hub(Settings(database_url=db_url, actor="t"))
    client = TestClient(create_app(hub))
    assert {"ok": True} == client.get("/healthz").json()
    ready = client.get("/readyz")
    assert (200, {"ok": True}) == (ready.status_code, ready.json())
    with hub.store.write() as conn:
        (head,) = conn.execute(text("SELECT version_num FROM alembic_version")).one()
        older = f"{int(head) - 1:04d}"  # the revision before the head ("0018")
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older})
    try:
        behind = client.get("/readyz")
        assert 503 == behind.status_code
        assert "older than the code" in behind.json()["problem"]
        assert "db upgrade" in behind.json()["problem"]
        with hub.store.write() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_newer_code'"))
        ahead = client.get("/readyz")
        assert (200, {"ok": True}) == (ahead.status_code, ahead.json())
    finally:
        with hub.store.write() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": head})
        hub.close()


#: A server or worker starting: it opens the database (and migrates it) after ``go`` exists.
OPENER = """
import sys, time
from pathlib import Path
from customer_flow.store.engine import Store
while not Path(sys.argv[2]).exists():
    time.sleep(0.01)
Store(sys.argv[1]).close()
"""


def test_servers_starting_at_once_on_an_empty_database_migrate_it_once(
    empty_url: str, tmp_path: Path
) -> None:
    """Four processes open a database with no tables at the same moment (docs/deploy.md,
    Upgrading: the migration lock): every one starts, and the schema is migrated once, to
    the head."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": SRC}
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, empty_url, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    time.sleep(2)  # every interpreter up and waiting
    go.touch()
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in openers]
    assert [0] * 4 == [p.returncode for p in openers], outputs
    store = Store(empty_url, migrate=False)
    try:
        assert store._at_head()
        with store.engine.connect() as conn:
            assert 1 == conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
    finally:
        store.close()


def test_a_database_migrated_by_newer_code_is_refused_in_one_line(db_url: str) -> None:
    """An older customer-flow (a server not upgraded yet, restarted) opening a database a newer
    one migrated: exit 1 and one line saying to install that version, no traceback, and the
    version table left as it was; a server still running on it stays ready (``/readyz``)."""
    with Hub(Settings(database_url=db_url, actor="t")) as hub:
        client = TestClient(create_app(hub))
        with hub.store.write() as conn:
            (head,) = conn.execute(text("SELECT version_num FROM alembic_version")).one()
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_newer_code'"))
        try:
            for args in (["customers", "list"], ["db", "upgrade"]):
                result = cli(db_url, *args)
                assert 1 == result.exit_code, result.output  # type: ignore[attr-defined]
                lines = result.output.strip().splitlines()  # type: ignore[attr-defined]
                assert 1 == len(lines), lines
                assert "migrated by a newer customer-flow" in lines[0]
                assert "9999_from_newer_code" in lines[0]
            assert 200 == client.get("/readyz").status_code
            with hub.store.engine.connect() as conn:
                assert (
                    "9999_from_newer_code"
                    == conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
                )
        finally:
            with hub.store.write() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": head})
