"""The storage layer: one SQLAlchemy engine per database, transactions, and migrations.

SQLite is the embedded default. It runs in WAL mode with foreign keys on and a busy timeout, and
begins every write transaction with ``BEGIN IMMEDIATE``: with plain ``BEGIN``, two writers that
both read first fail at once with "database is locked" instead of waiting their turn. Read-only
transactions use a deferred ``BEGIN`` so readers never queue behind writers.

Every SQLite connection also gets the SQL function ``casefold(text)``: Python's Unicode case
folding, which SQLite lacks (its ``lower()`` folds ASCII only). The substring-search index stores
text folded with it (``search.py``).

PostgreSQL (psycopg 3) is the server for teams; the same code runs on both.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from customer_flow.core.errors import StorageError
from customer_flow.store import long_write as long_writes

__all__ = ["Store", "casefold", "unique_violation"]

_READ_ONLY = "customer_flow_read_only"
_NO_LONG_WAIT = "customer_flow_no_long_wait"  # write_if_free: never wait for an import
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long ``write_if_free`` waits for the SQLite write lock before it gives up.
_SQLITE_FREE_WAIT_MS = 100
_PG_MIGRATION_LOCK = 7_241_001  # advisory lock key held while migrating
#: Connections a pool keeps open, and how many more it may open for a moment. A connection
#: handed back to a full pool is closed: with SQLAlchemy's default of 5, a web worker serving
#: 10 requests at once (20 clients, 2 workers) opened a new connection for 1 request in 12 on
#: PostgreSQL (a server process forked, its caches cold). The web app runs up to 40 requests
#: at once per process (anyio's thread pool), hence 20 kept and 20 more. Idle connections are
#: only those that were needed at once.
POOL_SIZE = 20
POOL_OVERFLOW = 20


def casefold(value: str | None) -> str | None:
    """Unicode case folding for caseless matching (``str.casefold``: ``"ÉLODIE"`` and
    ``"élodie"`` fold alike, ``"Straße"`` folds to ``"strasse"``), as SQLite's SQL function
    ``casefold``. A NUL becomes U+FFFD, because FTS5's tokenizers stop at a NUL."""
    if value is None:
        return None
    return value.casefold().replace("\x00", "\ufffd")


def _describe(url: str) -> str:
    """A URL fit for a message: host and database, never the password."""
    try:
        u = make_url(url)
    except ArgumentError:
        return url
    if u.get_backend_name() == "sqlite":
        return f"SQLite file {u.database}"
    return f"PostgreSQL at {u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def require_database(url: str) -> None:
    """Raise ``StorageError`` (``no_database``) unless ``url`` names a Customer_Flow database
    that exists (one a migration made): opening one with ``Store`` would create it, which only
    ``init`` (or an explicit choice) should do. A server that cannot be reached is left to
    ``Store``, which names it."""
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"not a database URL: {url!r}") from exc
    where = u.database or ""
    found = True
    if u.get_backend_name() == "sqlite":
        if where in ("", ":memory:") or where.startswith("file:"):
            return
        path = Path(where)
        found = path.is_file() and path.stat().st_size > 0 and _sqlite_migrated(path)
    elif u.get_backend_name() == "postgresql":
        where = _describe(url).removeprefix("PostgreSQL at ")
        engine = create_engine(url, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                regclass = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
                found = regclass is not None
        except (OperationalError, DBAPIError) as exc:
            if "does not exist" not in str(getattr(exc, "orig", exc)):
                return  # unreachable: Store says so
            found = False
        finally:
            engine.dispose()
    if not found:
        raise StorageError(
            f"no database at {where}; run `customer-flow init` to create one",
            code="no_database",
        )


def _sqlite_migrated(path: Path) -> bool:
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
    except sqlite3.Error:
        return True  # not a database we can read: Store says what is wrong with it
    return row is not None


def _versions_folder() -> Path:
    """The migration scripts' folder, where the package is installed."""
    return Path(str(resources.files(__package__) / "migrations" / "versions"))


_REVISION = re.compile(r"^revision(?::[^=\n]+)? *= *[\"'](\w+)[\"'] *$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?::[^=\n]+)? *= *(?:None|[\"'](\w+)[\"']) *$", re.M)


def _script_head(folder: Path) -> str | None:
    """The one head revision of the migration scripts in ``folder``, read from their text
    (``revision = "0013"``, ``down_revision = "0012"``), or ``None`` when a script does not say
    both plainly or the scripts have no single head: then only Alembic can tell."""
    found = _script_revisions(folder)
    if found is None:
        return None
    revisions, downs = found
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _script_revisions(folder: Path) -> tuple[set[str], set[str]] | None:
    """Every revision the scripts in ``folder`` name, and every one they name as the one
    before theirs; ``None`` when a script does not say both plainly."""
    revisions: set[str] = set()
    downs: set[str] = set()
    try:
        scripts = sorted(folder.glob("*.py"))
        for script in scripts:
            if script.name == "__init__.py":
                continue
            source = script.read_text(encoding="utf-8")
            rev, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
            if len(rev) != 1 or len(down) != 1:
                return None
            revisions.add(rev[0])
            if down[0]:
                downs.add(down[0])
    except OSError:
        return None
    return revisions, downs


def _on_pg_connect(dbapi_conn: Any, _record: Any) -> None:
    """Plan every statement for its own values (PostgreSQL 12+), once per connection.

    psycopg prepares a statement run 5 times, and after 5 more PostgreSQL may switch to a
    generic plan, which knows no search pattern and so scans every customer (4 ms became
    93 ms at 100,000 customers). Set here rather than by ``SET LOCAL`` in each search: that
    was one more round trip to the server per search, and a read of one statement needs no
    transaction to hold it (``read(autocommit=True)``)."""
    cur = dbapi_conn.cursor()
    cur.execute("SET plan_cache_mode = force_custom_plan")
    cur.close()
    dbapi_conn.commit()


def unique_violation(exc: BaseException) -> str | None:
    """What a database's refusal of a duplicate key says (PostgreSQL's detail, such as
    ``Key (id)=(10) already exists.``), raised through SQLAlchemy or by the driver itself (the
    import's ``COPY`` and ``executemany``); ``None`` for any other error."""
    orig: Any = exc.orig if isinstance(exc, IntegrityError) else exc
    if isinstance(orig, sqlite3.IntegrityError):
        text_ = str(orig)
        return text_ if text_.startswith("UNIQUE") else None
    if getattr(orig, "sqlstate", None) == "23505":
        detail = getattr(getattr(orig, "diag", None), "message_detail", None)
        return str(detail or str(orig).splitlines()[0])
    return None


class _HintingSQLiteCompiler(SQLiteCompiler):
    """SQLite's statement compiler, with table hints: ``select.with_hint(table, "INDEXED BY
    ix", "sqlite")`` renders ``FROM table INDEXED BY ix``, which SQLAlchemy's own SQLite
    compiler leaves out. The ticket queue names the one index that SQLite, choosing between
    two that serve the same range, would not take (``tickets.queue``)."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


class Store:
    """An open database: the engine, transaction helpers and the migration step."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StorageError(f"not a database URL: {url!r}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(url, parsed.database)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                connect_args={"connect_timeout": 5, "application_name": "customer-flow"},
            )
            event.listen(self.engine, "connect", _on_pg_connect)
        else:
            raise StorageError(
                f"unsupported database {self.dialect!r}: use a SQLite path or a PostgreSQL URL"
            )
        self._check_reachable()
        if migrate:
            self.migrate()

    @staticmethod
    def _sqlite_engine(url: str, database: str | None) -> Engine:
        if database and database != ":memory:":
            path = Path(database)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the folder for {path}: {exc.strerror}") from exc
        memory = database in (None, "", ":memory:")
        pool: dict[str, Any] = (
            {"poolclass": NullPool}
            if memory
            else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
        )
        engine = create_engine(
            url,
            # Each thread gets its own connection; a pool of SQLite connections is cheap.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **pool,
        )
        engine.dialect.statement_compiler = _HintingSQLiteCompiler

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Hand transaction control to us, so that we can say BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            dbapi_conn.create_function("casefold", 1, casefold, deterministic=True)

        lock = None if memory else long_writes.lock_path(Path(str(database)))

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            while True:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except OperationalError as exc:
                    # Timed out behind a long write (an import): wait for it to end, then
                    # begin again, instead of failing (``long_write``).
                    if (
                        lock is None
                        or options.get(_NO_LONG_WAIT)
                        or "locked" not in str(exc.orig)
                        or not long_writes.wait_for_long_write(lock)
                    ):
                        raise

        return engine

    @contextmanager
    def long_write(
        self, what: str, *, waiting: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Around a write transaction that may hold SQLite's write lock for long (an import):
        writes that time out behind it wait for it to end instead of failing, and a second
        long write waits for the first, telling ``waiting`` what it waits for
        (``long_write.py``). Nothing on PostgreSQL, where writers lock rows, not the
        database."""
        database = make_url(self.url).database
        if self.dialect != "sqlite" or database in (None, "", ":memory:"):
            yield
            return
        with long_writes.long_write(
            long_writes.lock_path(Path(str(database))), what, waiting=waiting
        ):
            yield

    @contextmanager
    def _probe(self) -> Iterator[Connection]:
        """A connection for a look at the database (is it there, at which revision): its
        transaction is a reader's, so opening a database never takes SQLite's write lock (it
        did: every command, ``customers list`` included, waited behind an import)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(**{_READ_ONLY: True})

    def _check_reachable(self) -> None:
        try:
            with self._probe() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StorageError(f"cannot open {_describe(self.url)}: {reason}") from exc

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write_if_free(self) -> Iterator[Connection | None]:
        """A write transaction if one can start now, else ``None``: for work that may wait for
        a better moment (refreshing a cache), never for a user's change. SQLite: another
        writer holds the lock for more than a moment. PostgreSQL never waits to begin."""
        if self.dialect != "sqlite":
            with self.write() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{_NO_LONG_WAIT: True})
            raw = conn.connection.driver_connection
            raw.execute(f"PRAGMA busy_timeout={_SQLITE_FREE_WAIT_MS}")  # type: ignore[union-attr]
            try:
                try:
                    conn.begin()
                except OperationalError:  # "database is locked": someone is writing
                    yield None
                    return
                yield conn
                conn.commit()
            finally:
                raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # type: ignore[union-attr]

    @contextmanager
    def read(self, *, snapshot: bool = False, autocommit: bool = False) -> Iterator[Connection]:
        """A read-only transaction that never waits for writers. With ``snapshot``, every
        statement in it sees the database as of one instant: SQLite's reads always do;
        PostgreSQL's then run at ``REPEATABLE READ`` (else each statement sees what was
        committed before it began).

        ``autocommit``: on PostgreSQL, no transaction at all, for reads that need none (no
        ``SET LOCAL``, no server-side cursor): each statement still sees what was committed
        before it began, and the BEGIN and COMMIT round trips are saved (2 of the 4 that a
        one-statement read took; a web request makes two such reads). SQLite: unchanged."""
        with self.engine.connect() as conn:
            options: dict[str, Any] = {_READ_ONLY: True}
            if snapshot and self.dialect == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            elif autocommit and self.dialect == "postgresql":
                options["isolation_level"] = "AUTOCOMMIT"
            conn = conn.execution_options(**options)
            with conn.begin():
                yield conn

    # -- migrations ----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision; a no-op when it is already there."""
        if self._at_head():
            return  # every command opens the database: this check costs no Alembic import
        if self._ahead():
            # Alembic would fail with a traceback ("Can't locate revision"): say it in a line.
            newer = ", ".join(self._versions() or [])
            raise StorageError(
                f"{_describe(self.url)} was migrated by a newer customer-flow (schema revision "
                f"{newer}, which this version does not know): install that version to use it",
                code="schema_newer",
            )
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files(__package__) / "migrations"))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            with self._probe() as probe:
                if MigrationContext.configure(probe).get_current_revision() == head:
                    return
            # One migrator at a time: BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL.
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except (OperationalError, DBAPIError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StorageError(f"cannot migrate {_describe(self.url)}: {reason}") from exc

    def _at_head(self) -> bool:
        """Whether the database is at the newest revision, told without Alembic (whose import
        and reading of every migration took about 0.15 s of each command). Any doubt (a file
        not read plainly, two heads, no version table) says no, and ``migrate`` asks Alembic."""
        head = _script_head(_versions_folder())
        if head is None:
            return False
        return self._versions() == [head]

    def _versions(self) -> list[str] | None:
        """The revisions the database's version table names; ``None`` without one."""
        try:
            with self._probe() as conn:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:  # no version table yet
            return None
        return [str(r[0]) for r in rows]

    def _ahead(self) -> bool:
        """Whether the database was migrated by newer code: its version table names a
        revision none of this code's scripts knows (a rolling upgrade, this server not yet
        restarted)."""
        found = _script_revisions(_versions_folder())
        versions = self._versions()
        if found is None or not versions:
            return False
        return any(v not in found[0] for v in versions)

    # -- operations ----------------------------------------------------------------------------

    def ready(self) -> str | None:
        """``None`` when the database answers and its schema is the code's or newer; else
        what is wrong, in one line (a load balancer's readiness check: no Alembic import)."""
        try:
            with self._probe() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()
            return f"database unreachable: {reason[0] if reason else exc}"
        if not self._at_head() and not self._ahead():
            # Behind: this code needs a migration. Ahead is ready: newer code migrated the
            # database, and migrations add what new code uses before it uses it, so this code
            # runs on the newer schema until it is restarted (docs/deploy.md, Upgrading).
            return "database schema is older than the code's: run `customer-flow db upgrade`"
        return None

    def backup(self, dest: Path) -> tuple[int, str]:
        """Copy a SQLite database to ``dest`` with SQLite's online backup API, while others go
        on writing: one step, so the copy is the database as of one instant (in WAL mode
        writers never wait for it). Written to ``<dest>.partial`` and renamed when the copy
        passed ``PRAGMA integrity_check``: ``dest`` is whole or absent. Returns its size in
        bytes and the integrity check's answer. PostgreSQL: ``pg_dump`` (docs/deploy.md)."""
        if self.dialect != "sqlite":
            raise StorageError(
                "backup copies SQLite databases; for PostgreSQL use pg_dump -Fc "
                "(see docs/deploy.md)",
                code="use_pg_dump",
            )
        if dest.exists():
            raise StorageError(f"backup: {dest} exists; name a new file", code="backup_exists")
        partial = dest.with_name(dest.name + ".partial")
        try:
            partial.unlink(missing_ok=True)
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                with closing(sqlite3.connect(partial)) as target:
                    raw.backup(target)
                    answer = str(target.execute("PRAGMA integrity_check").fetchone()[0])
            if answer != "ok":
                partial.unlink(missing_ok=True)
                raise StorageError(f"backup: the copy failed its integrity check: {answer}")
            partial.replace(dest)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(f"backup: cannot write {dest}: {exc.strerror}") from exc
        except sqlite3.Error as exc:
            partial.unlink(missing_ok=True)
            raise StorageError(f"backup: {exc}") from exc
        return dest.stat().st_size, answer

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()
