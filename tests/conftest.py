"""Shared fixtures: every storage test runs on real SQLite and real PostgreSQL.

``db_url`` is parametrised over both. PostgreSQL comes from ``CUSTOMER_FLOW_TEST_PG_URL``
(default: the local server, user postgres, database test); each test run creates a database of
its own and drops it at the end, so runs never interfere. Without a server the PostgreSQL half
skips with the reason, unless ``CUSTOMER_FLOW_REQUIRE_PG=1``, which makes it fail instead.

Redis is the same: ``redis_base`` is the machine's server (``CUSTOMER_FLOW_TEST_REDIS_URL``,
default ``redis://127.0.0.1:6379``), and the tests that start a Redis of their own need
``redis-server``; without them those tests skip, unless ``CUSTOMER_FLOW_REQUIRE_REDIS=1``
(as ``.ci/run`` sets), which makes them fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import resources
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from customer_flow.core.config import Settings, normalise_database_url
from customer_flow.hub import Hub
from customer_flow.store.engine import Store
from customer_flow.store.schema import metadata

PG_URL = normalise_database_url(
    os.environ.get("CUSTOMER_FLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
REQUIRE_PG = os.environ.get("CUSTOMER_FLOW_REQUIRE_PG") == "1"
BACKENDS = ["sqlite", "postgresql"]
REDIS_URL = os.environ.get("CUSTOMER_FLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
REQUIRE_REDIS = os.environ.get("CUSTOMER_FLOW_REQUIRE_REDIS") == "1"


def redis_missing(reason: str) -> NoReturn:
    """Skip for want of Redis, or fail when ``CUSTOMER_FLOW_REQUIRE_REDIS=1`` (CI)."""
    if REQUIRE_REDIS:
        pytest.fail(f"CUSTOMER_FLOW_REQUIRE_REDIS=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def redis_server_program() -> str:
    """The path of ``redis-server``, for tests that run a Redis of their own."""
    found = shutil.which("redis-server")
    if found is None:
        redis_missing("redis-server is not installed (Debian: apt-get install redis-server)")
    return found


@pytest.fixture(scope="session")
def redis_base() -> str:
    """The machine's Redis, as a URL without a database number (add ``/14``...), once it
    answers PING."""
    url = urlsplit(REDIS_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"PING\r\n")
            answer = s.recv(64)
    except OSError as exc:
        redis_missing(f"Redis not reachable at {host}:{port}: {exc}")
    if not answer.startswith((b"+PONG", b"-NOAUTH")):
        redis_missing(f"Redis at {host}:{port} answered {answer!r} to PING")
    return REDIS_URL


#: Files of a few tests that take minutes between them (``--durations``). With ``-n 2 --dist
#: loadfile`` they run first: xdist otherwise queues the files with the most tests first, so
#: these came last and one worker ran them while the other had nothing left to do.
FIRST = (
    "tests/web/test_web_schemathesis.py",
    "tests/duplicates/test_spark.py",
    "tests/data/test_round_trip.py",
    "tests/store/test_store.py",
    "tests/web/test_two_servers.py",
    "tests/web/test_web_serving.py",
    "tests/web/test_web_schemathesis_dash.py",
    "tests/jobs/test_redis_queue.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # xdist's own order (most tests first) is applied below, after FIRST; see FIRST.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """FIRST's files first, in its order; then the other files, most tests first (as xdist
    orders them); within a file, the collected order."""
    files = [item.nodeid.split("::", 1)[0] for item in items]
    counts: dict[str, int] = {}
    for name in files:
        counts[name] = counts.get(name, 0) + 1
    first = {name: rank for rank, name in enumerate(FIRST)}
    order = sorted(
        range(len(items)),
        key=lambda i: (first.get(files[i], len(FIRST)), -counts[files[i]], files[i], i),
    )
    items[:] = [items[i] for i in order]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (much faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    Store(f"sqlite:///{path}").close()
    # Fold the WAL into the main file so that copying the one file copies everything.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def pg_database(worker_id: str) -> Iterator[str]:
    """A PostgreSQL database of this run's own, migrated; dropped at the end."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}: {exc}"
        if REQUIRE_PG:
            pytest.fail(f"CUSTOMER_FLOW_REQUIRE_PG=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    admin.dispose()
    with new_pg_database(f"cf_test_{worker_id}") as url:
        Store(url).close()
        yield url


@contextmanager
def new_pg_database(prefix: str, server_url: str = PG_URL) -> Iterator[str]:
    """An empty PostgreSQL database of its own on ``server_url``'s server (its URL), dropped
    when the block ends."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def migrate(engine: Engine, target: str, *, down: bool = False) -> None:
    """Run the app's migrations up (or down) to ``target`` on ``engine``, as a test of one
    migration needs: the database just before it, rows written by hand, then the step."""
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("customer_flow.store") / "migrations")
    )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, on each backend (for the migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    request.getfixturevalue("pg_database")  # skips, or fails, without a server
    with new_pg_database("cf_mig") as url:
        yield url


#: Per database URL, the SQL that empties it (built once: the owned sequences are looked up).
_RESET_SQL: dict[str, str] = {}


def _reset_postgres(url: str) -> None:
    """Empty every table and put the seeded rows back as the migrations left them.

    DELETE, children first, and each table's own sequences restarted: what ``TRUNCATE ...
    RESTART IDENTITY`` did, in a few milliseconds instead of ~0.7 s (TRUNCATE makes new files
    for all 32 tables and their indexes, and this runs before every PostgreSQL test)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        if url not in _RESET_SQL:
            emptied = [t.name for t in reversed(metadata.sorted_tables) if t.name != "counters"]
            owned = conn.execute(
                text(
                    "SELECT s.relname FROM pg_class s"
                    " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
                    " JOIN pg_class t ON t.oid = d.refobjid"
                    " WHERE s.relkind = 'S' AND t.relname = ANY(:names)"
                ),
                {"names": emptied},
            ).scalars()
            _RESET_SQL[url] = "; ".join(
                [f'DELETE FROM "{name}"' for name in emptied]
                + [f'ALTER SEQUENCE "{seq}" RESTART' for seq in sorted(owned)]
                + ["UPDATE counters SET value = 0"]
            )
        conn.exec_driver_sql(_RESET_SQL[url])
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: a SQLite file or a PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, actor="tester", default_region="US")


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    with Hub(settings) as h:
        yield h


@pytest.fixture(scope="session")
def xlsx_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 MB XLSX whose shared-strings part unpacks to 1 GiB (issue 15's blocker), built once
    by streaming writes. Tests that change it work on a copy."""
    import xlsx_support

    return xlsx_support.bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx", gigabytes=1.0)


@pytest.fixture
def examples() -> Path:
    return Path(__file__).resolve().parent.parent / "src" / "customer_flow" / "examples"
