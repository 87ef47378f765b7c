"""Loading settled rows into the database, a batch at a time, the fast way.

``Loader`` works on one connection inside the caller's transaction. Per batch it:

1. settles each valid row against the database and the rows before it: a new customer, a match
   (same ID, or same email when the row has no ID), or a rejection (an ID that is in the trash or
   purged, an email another customer has, a repeat of an earlier row of the file);
2. applies ``--on-conflict`` to matches: ``skip`` leaves them, ``update`` changes them (empty
   cells leave a field as it is), ``fail`` stops the import;
3. writes with the driver directly: ``executemany`` on tuples for SQLite, ``COPY`` for
   PostgreSQL (SQLAlchemy Core with dicts costs about 4x more), and records in
   ``import_changes`` which IDs it created and each updated customer's values before, so that
   ``imports.revert`` undoes the batch exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import polars as pl
from sqlalchemy import Connection, select, update
from sqlalchemy import text as sql_text

from customer_flow.core.errors import ConflictError, ValidationError
from customer_flow.customers import extra as extra_rules
from customer_flow.data.cleaning import warnings_json
from customer_flow.data.duplicate_check import DuplicateCheck, reject_messages, warning_items
from customer_flow.data.report import (
    KEEP,
    KEEP_DUPLICATES,
    DuplicateRef,
    DuplicateRow,
    ImportReport,
    OnConflict,
    RowOutcome,
)
from customer_flow.data.sorted_keys import SortedKeys
from customer_flow.data.writer import Writer
from customer_flow.duplicates import find as dedupe
from customer_flow.store import audit
from customer_flow.store.schema import (
    counters,
    customer_ids,
    customers,
    import_batches,
    import_changes,
)

__all__ = ["BULK_ROWS", "ENTITY", "Loader", "chunks", "stamp_sql", "write_audit"]

ENTITY = "customer"  # the audit log's name for a customer (as ``customers.records`` writes it)
_AUDIT = ("at", "actor", "action", "entity", "entity_id", "before", "after", "note")

BULK_ROWS = 20_000  # a first chunk this big into an empty table: load, then index
_COLS = (
    "id",
    "name",
    "email",
    "email_key",
    "phone",
    "extra",
    "warnings",
    "warning_count",
    "created_at",
    "updated_at",
)
T = TypeVar("T")
_SNAP = ("name", "email", "email_key", "phone", "extra", "warnings", "warning_count", "updated_at")


def stamp_sql(dialect: str, at: datetime) -> str | datetime:
    # SQLAlchemy stores SQLite datetimes as this text; psycopg takes the datetime itself.
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else at


def _problem(code: str, column: str, message: str) -> dict[str, str]:
    return {"column": column, "code": code, "message": message}


def _key_hash(key: pl.Expr) -> pl.Expr:
    return pl.when(key.is_not_null()).then(key.hash(seed=11))


_PROBLEM = pl.Struct({"column": pl.String, "code": pl.String, "message": pl.String})
_DUPS = pl.Struct(
    {"rank": pl.Int64, "id": pl.Int64, "name": pl.String, "reasons": pl.List(pl.String)}
)


def _id_key(ids: pl.Expr) -> pl.Expr:
    """IDs as ``SortedKeys`` keys: the ID itself (null for none, or -1, which stands for none
    when a file is only validated)."""
    return pl.when(ids >= 0).then(ids).cast(pl.UInt64)


def _earliest(found: pl.DataFrame, key: str) -> pl.DataFrame:
    """The row with the earliest ``first_row`` for each ``key``."""
    return found.sort("first_row").unique(key, keep="first", maintain_order=True)


def _with_errors(batch: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    """``batch`` with the problems of ``extra`` (``__row``, ``__more``) as the ``__errors`` of
    the rows it names."""
    return (
        batch.join(extra, on="__row", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("__more").is_not_null())
            .then(pl.col("__more"))
            .otherwise(pl.col("__errors"))
            .alias("__errors")
        )
        .drop("__more")
    )


def _no_errors() -> pl.Expr:
    return pl.col("__errors").is_null() | (pl.col("__errors").list.len() == 0)


class Loader:
    """Settles and writes batches on one connection; remembers what this import touched."""

    def __init__(
        self,
        conn: Connection,
        on_conflict: OnConflict,
        actor: str,
        source: str,
        columns: dict[str, str],
        *,
        write: bool = True,
        reject_duplicates: bool = False,
        extras: Sequence[str] = (),
        reserve_ids: bool = True,
    ):
        self.conn = conn
        # PostgreSQL: reserve new IDs in transactions of their own (``_advance``), so that
        # others' adds never wait; not for a dry run, whose IDs would be left as a gap.
        self.reserve_ids = reserve_ids and conn.dialect.name == "postgresql"
        self.reject_duplicates = reject_duplicates
        self.duplicates: DuplicateCheck | None = None
        self._dups: pl.DataFrame | None = None  # the batch's candidates, when allowed
        self.write = write  # False: check the file against itself only (validate)
        self.dialect = conn.dialect.name
        self.on_conflict = on_conflict
        self.actor = actor
        self.id_col = columns.get("ID", "ID")
        self.name_col = columns.get("Name", "Name")
        self.email_col = columns.get("Email", "Email")
        self.stamp = audit.now()
        self.stamp_sql = stamp_sql(self.dialect, self.stamp)
        self.seq = 0
        self.reserve_above = 0  # new IDs go above every ID the file gives
        self.dropped: list[str] | None = None  # index DDL dropped for a bulk load
        # The customers this import created or updated, by ID and by email key (its hash),
        # with the row that touched them: kept small and looked up by binary search.
        self.by_id = SortedKeys(["first_row"])  # the ID itself is the key
        self.by_key = SortedKeys(["cid", "first_row"])
        self.batch_id = 0
        self.empty_at_start = True
        self.writer: Writer | None = None
        self._counter: int | None = None  # the customer ID counter, once read (``_reserve``)
        if not write:
            # Checking a file alone (validate): its rows against its earlier rows, as an
            # import into an empty database would.
            self.duplicates = DuplicateCheck(conn, existing=False)
            return
        if self.dialect == "sqlite":
            # A big page cache for the bulk insert's index updates; put back in close().
            self._pragma("PRAGMA cache_size=-65536")
        # With no customer ID ever issued, only this import's own rows can clash: no lookups.
        self.empty_at_start = conn.execute(select(customer_ids.c.id).limit(1)).first() is None
        self.duplicates = DuplicateCheck(
            conn, existing=not self.empty_at_start, extras=extras, run=self._db
        )
        self.batch_id = conn.execute(
            import_batches.insert()
            .values(
                created_at=self.stamp,
                actor=actor,
                source=source[:500],
                on_conflict=on_conflict,
                rows_read=0,
                imported=0,
                updated=0,
                unchanged=0,
                rejected=0,
                status="importing",
                report={},
            )
            .returning(import_batches.c.id)
        ).scalar_one()
        # From here on the connection is the writer thread's: batch k is written while batch
        # k + 1 is settled and checked (``writer``).
        self.writer = Writer()

    def _db(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (it uses the connection) after the writes queued so far: reads go through
        the writer thread too, so that one thread at a time uses the connection, in order."""
        return self.writer.call(fn) if self.writer is not None else fn()

    def _write(self, fn: Callable[[], object]) -> None:
        if self.writer is not None:
            self.writer.submit(fn)
        else:
            fn()

    # -- settling ------------------------------------------------------------------------------

    def settle(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Decide each valid row's fate: the customer it matches goes in ``__match`` (null for
        a new one); a row that cannot load gets a problem in ``__errors``.

        The checks run as joins; only the few rows that hit something (a repeat in the file,
        an existing ID or email) go through the decision below one by one."""
        batch = batch.with_columns(
            pl.col("__email").str.to_lowercase().alias("__key"),
            pl.lit(None, dtype=pl.Int64).alias("__match"),
        )
        ok = batch.filter(_no_errors()).select("__row", "__id_int", "__key")
        ok = ok.with_columns(
            pl.when(pl.col("__id_int").is_not_null())
            .then(pl.col("__row").first().over("__id_int"))
            .alias("_id_first"),
            pl.when(pl.col("__key").is_not_null())
            .then(pl.col("__row").first().over("__key"))
            .alias("_key_first"),
        )
        ok = ok.with_columns(_key_hash(pl.col("__key")).alias("_khash"))
        by_id = _earliest(
            self.by_id.lookup(ok.select(_id_key(pl.col("__id_int"))).to_series()), "h"
        ).select(pl.col("h").cast(pl.Int64).alias("__id_int"), pl.col("first_row").alias("_t_id"))
        # Emails are remembered as 64-bit hashes (memory stays small); a hit is checked
        # against the stored email below before it counts.
        by_key = _earliest(self.by_key.lookup(ok["_khash"]), "h").select(
            pl.col("h").alias("_khash"),
            pl.col("first_row").alias("_t_key"),
            pl.col("cid").alias("_t_key_cid"),
        )
        ok = ok.join(by_id, on="__id_int", how="left", maintain_order="left").join(
            by_key, on="_khash", how="left", maintain_order="left"
        )
        known: dict[int, str] = {}
        owners: dict[str, int] = {}
        if not self.empty_at_start:
            known = self._known_ids(ok["__id_int"].drop_nulls().unique().to_list())
            owners = self._email_owners(ok["__key"].drop_nulls().unique().to_list())
        hit = (
            (pl.col("_id_first").is_not_null() & (pl.col("_id_first") != pl.col("__row")))
            | (pl.col("_key_first").is_not_null() & (pl.col("_key_first") != pl.col("__row")))
            | pl.col("_t_id").is_not_null()
            | pl.col("_t_key").is_not_null()
            | pl.col("__id_int").is_in(list(known))
            | pl.col("__key").is_in(list(owners))
        )
        hits = ok.filter(hit.fill_null(False)).select(
            "__row", "__id_int", "__key", "_id_first", "_key_first", "_t_id", "_t_key", "_t_key_cid"
        )
        stored = self._stored_keys(hits.filter(pl.col("_t_key").is_not_null())["_t_key_cid"])
        extra_errors: dict[int, dict[str, str]] = {}
        match: dict[int, int] = {}
        for row, cid, key, id_first, key_first, t_id, t_key, t_cid in hits.iter_rows():
            if t_key is not None and stored is not None and stored.get(t_cid) != key:
                t_key = None  # a hash collision, not the same email
            problem, target = self._decide(
                row, cid, key, id_first, key_first, t_id, t_key, known, owners
            )
            if problem is not None:
                extra_errors[row] = problem
            elif target is not None:
                match[row] = target
        if match and self.on_conflict == "fail":
            first = sorted(match.items())[:3]
            listed = "; ".join(f"row {r} matches customer {c}" for r, c in first)
            raise ConflictError(
                f"{len(match):,} rows match existing customers ({listed}); nothing was imported. "
                "Use --on-conflict skip or update",
                code="conflict",
            )
        if match and self.on_conflict == "update":
            for row, problem in self._too_many_extras(batch, match).items():
                extra_errors[row] = problem
                del match[row]
        if extra_errors:
            problems = list(extra_errors.values())
            extra = pl.DataFrame(
                {
                    "__row": list(extra_errors),
                    "column": [p["column"] for p in problems],
                    "code": [p["code"] for p in problems],
                    "message": [p["message"] for p in problems],
                },
                schema={
                    "__row": pl.Int64,
                    "column": pl.String,
                    "code": pl.String,
                    "message": pl.String,
                },
            ).select(
                "__row", pl.concat_list(pl.struct("column", "code", "message")).alias("__more")
            )
            batch = _with_errors(batch, extra)
        if match:
            m = pl.DataFrame(
                {"__row": list(match), "__m": list(match.values())},
                schema={"__row": pl.Int64, "__m": pl.Int64},
            )
            batch = (
                batch.join(m, on="__row", how="left", maintain_order="left")
                .with_columns(pl.col("__m").alias("__match"))
                .drop("__m")
            )
        if self.on_conflict == "update":
            # A row without a name updates the customer it matches (its name left as it is);
            # one that would create a customer needs a name.
            nameless = batch.filter(
                _no_errors() & pl.col("__name").is_null() & pl.col("__match").is_null()
            ).select(
                "__row",
                pl.concat_list(
                    pl.struct(
                        pl.lit(self.name_col).alias("column"),
                        pl.lit("name_missing").alias("code"),
                        pl.lit("a new customer needs a name").alias("message"),
                    )
                ).alias("__more"),
            )
            if nameless.height:
                batch = _with_errors(batch, nameless)
        return batch

    def check_duplicates(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The on-entry duplicate check for the batch's new rows (``duplicate_check``). A row
        that looks like a live customer or an earlier row of the file is imported with a
        ``possible_duplicate`` warning naming the candidates (``_create``), or with
        ``reject_duplicates`` rejected (``possible_duplicate``, naming them)."""
        self._dups = None
        if self.duplicates is None:
            return batch
        new = batch.filter(_no_errors() & pl.col("__match").is_null()).select(
            "__row", "__name", "__email", "__phone", "__extra"
        )
        found = self.duplicates.check(new)
        if found.height == 0:
            return batch
        if not self.reject_duplicates:
            self._dups = found
            return batch
        extra = reject_messages(found).select(
            "__row",
            pl.concat_list(
                pl.struct(
                    pl.lit("*").alias("column"),
                    pl.lit("possible_duplicate").alias("code"),
                    pl.col("message"),
                )
            ).alias("__more"),
        )
        return _with_errors(batch, extra)

    def _decide(
        self,
        row: int,
        cid: int | None,
        key: str | None,
        id_first: int | None,
        key_first: int | None,
        t_id: int | None,
        t_key: int | None,
        known: dict[int, str],
        owners: dict[str, int],
    ) -> tuple[dict[str, str] | None, int | None]:
        """(a problem, or the customer the row matches, or neither: a new customer)."""
        if id_first is not None and id_first != row:
            return _problem(
                "id_duplicate_in_file", self.id_col, f"row {id_first} of this file has ID {cid}"
            ), None
        if key_first is not None and key_first != row:
            return _problem(
                "email_duplicate_in_file",
                self.email_col,
                f"row {key_first} of this file has the email {key}",
            ), None
        if t_id is not None:
            return _problem(
                "id_duplicate_in_file", self.id_col, f"row {t_id} of this file has ID {cid}"
            ), None
        if t_key is not None:
            return _problem(
                "email_duplicate_in_file",
                self.email_col,
                f"row {t_key} of this file has the email {key}",
            ), None
        owner = owners.get(key) if key is not None else None
        if cid is not None and known.get(cid) in ("trash", "purged"):
            why = "is in the trash" if known[cid] == "trash" else "was purged"
            return _problem(
                "id_taken", self.id_col, f"customer {cid} {why}, and IDs are never reused"
            ), None
        if cid is not None and cid in known:
            if owner is not None and owner != cid and self.on_conflict == "update":
                return _problem(
                    "email_taken", self.email_col, f"customer {owner} has the email {key}"
                ), None
            return None, cid
        if owner is not None:
            if cid is not None and self.on_conflict == "update":
                return _problem(
                    "email_taken",
                    self.email_col,
                    f"customer {owner} has the email {key}; the row's ID {cid} differs",
                ), None
            return None, owner
        return None, None

    def _known_ids(self, ids: list[int]) -> dict[int, str]:
        """Which of ``ids`` were ever issued: live, in the trash, or purged."""
        if not ids:
            return {}
        if self.dialect == "postgresql":
            sql = (
                "SELECT ci.id, c.id IS NOT NULL, c.deleted_at IS NOT NULL FROM customer_ids ci "
                "LEFT JOIN customers c ON c.id = ci.id WHERE ci.id = ANY(%s)"
            )
            param: Any = ids
        else:
            sql = (
                "SELECT ci.id, c.id IS NOT NULL, c.deleted_at IS NOT NULL FROM customer_ids ci "
                "LEFT JOIN customers c ON c.id = ci.id "
                "WHERE ci.id IN (SELECT value FROM json_each(?))"
            )
            param = json.dumps(ids)
        out: dict[int, str] = {}
        for cid, exists, deleted in self._fetch(sql, param):
            out[cid] = "purged" if not exists else ("trash" if deleted else "live")
        return out

    def _email_owners(self, keys: list[str]) -> dict[str, int]:
        """The live customer holding each of ``keys`` (lower-cased emails)."""
        if not keys:
            return {}
        if self.dialect == "postgresql":
            sql = (
                "SELECT email_key, id FROM customers "
                "WHERE deleted_at IS NULL AND email_key = ANY(%s)"
            )
            param: Any = keys
        else:
            sql = (
                "SELECT email_key, id FROM customers WHERE deleted_at IS NULL "
                "AND email_key IN (SELECT value FROM json_each(?))"
            )
            param = json.dumps(keys)
        return {k: i for k, i in self._fetch(sql, param)}

    def _pragma(self, sql: str) -> None:
        raw = self.conn.connection.driver_connection
        assert raw is not None
        raw.execute(sql)

    def close(self, *, completed: bool = False) -> None:
        """Stop the writer thread: after the last batch (``completed``) once everything queued
        is written (its first error raised here); otherwise the import is failing and its
        transaction is about to be rolled back, so what is still queued is dropped."""
        if self.writer is not None:
            try:
                if completed:
                    self.writer.flush()
            finally:
                self.writer.close(discard=True)
        if self.duplicates is not None:
            self.duplicates.close()
        if self.write and self.dialect == "sqlite":
            self._pragma("PRAGMA cache_size=-2000")

    def _too_many_extras(
        self, batch: pl.DataFrame, match: dict[int, int]
    ) -> dict[int, dict[str, str]]:
        """The rows whose update would leave their customer with more extra attributes than
        a customer may have (the row's extras merge with the stored ones): rejected with
        ``extra_too_large``, as the API refuses such an update."""
        rows = batch.filter(
            pl.col("__row").is_in(list(match)) & pl.col("__extra").is_not_null()
        ).select("__row", "__extra")
        if rows.height == 0:
            return {}
        stored: dict[int, dict[str, Any]] = {}

        def read() -> None:
            for chunk in chunks(sorted({match[r] for r in rows["__row"].to_list()})):
                query = select(customers.c.id, customers.c.extra).where(customers.c.id.in_(chunk))
                stored.update((cid, extra or {}) for cid, extra in self.conn.execute(query))

        self._db(read)
        out: dict[int, dict[str, str]] = {}
        for row, text in rows.iter_rows():
            cid = match[row]
            had = stored.get(cid, {})
            count = len(had.keys() | json.loads(text).keys())
            try:
                extra_rules.check_count(count, had=len(had))
            except ValidationError:
                out[row] = {
                    "column": "*",
                    "code": extra_rules.CODE,
                    "message": f"updating customer {cid} would give it {count:,} extra "
                    f"attributes; at most {extra_rules.MAX_ATTRIBUTES}",
                }
        return out

    def _fetch(self, sql: str, param: Any) -> list[tuple[Any, ...]]:
        def read() -> list[tuple[Any, ...]]:
            raw = self.conn.connection.driver_connection
            assert raw is not None
            cur = raw.cursor()
            try:
                cur.execute(sql, (param,))
                return list(cur.fetchall())
            finally:
                cur.close()

        return self._db(read)

    # -- writing -------------------------------------------------------------------------------

    def load(self, batch: pl.DataFrame, report: ImportReport) -> None:
        good = batch.filter(_no_errors())
        if good.height == 0:
            if self.duplicates is not None:
                self.duplicates.remember(good.select("__row", "__id_int"))
            return
        good = good.with_columns(
            warnings_json(good).alias("__wjson"),
            pl.col("__warnings").list.len().fill_null(0).alias("__wcount"),
        )
        if not self.write:
            report.imported += good.height  # for validate: the rows that would load
            if self._dups is not None:  # they would load with a possible_duplicate warning
                flagged = self._dups.join(good.select("__row"), on="__row", how="semi")
                report.possible_duplicates += flagged["__row"].n_unique()
            self._touch(good.with_columns(pl.col("__id_int").fill_null(-1)))
            if self.duplicates is not None:  # none is created: each is named by its values
                self.duplicates.remember(
                    good.select("__row", pl.lit(None, dtype=pl.Int64).alias("__id_int"))
                )
            return
        new = good.filter(pl.col("__match").is_null())
        matched = good.filter(pl.col("__match").is_not_null())
        if new.height:
            new = self._create(new, report)
        if self.duplicates is not None:
            self.duplicates.remember(new.select("__row", "__id_int"))
        if matched.height:
            self._update(matched, report)

    def _create(self, new: pl.DataFrame, report: ImportReport) -> pl.DataFrame:
        given = new["__id_int"].drop_nulls()
        missing = int(new["__id_int"].null_count())
        first = self._reserve(given, missing)
        if missing:
            fresh = pl.Series(range(first, first + missing), dtype=pl.Int64)
            ids = new["__id_int"].scatter(new["__id_int"].is_null().arg_true(), fresh)
            new = new.with_columns(ids.alias("__id_int"))
        if self._dups is not None:
            new = self._flag_duplicates(new, report)
            self._dups = None
        rows = new.select(
            pl.col("__id_int"),
            pl.col("__name"),
            pl.col("__email"),
            pl.col("__key"),
            pl.col("__phone"),
            pl.col("__extra").fill_null("{}"),
            pl.col("__wjson"),
            pl.col("__wcount"),
        )
        if self.dialect == "postgresql":
            height = rows.height

            def copy() -> None:
                self._bulk_mode(height)
                self._copy_customers(rows)

            self._write(copy)
        else:
            stamp = pl.lit(self.stamp_sql, dtype=pl.String)
            # Sorted by ID: the primary key's B-tree is then appended to, not split at random.
            tuples = rows.with_columns(stamp.alias("c"), stamp.alias("u")).sort("__id_int")
            height = rows.height

            def insert() -> None:
                self._bulk_mode(height)
                raw = self.conn.connection.driver_connection
                assert raw is not None
                raw.cursor().executemany(
                    f"INSERT INTO customers ({', '.join(_COLS)}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    tuples.iter_rows(),
                )

            self._write(insert)
        self._change("created", new["__id_int"].to_list(), None)
        # Each customer's history starts here: one audit entry per customer, in one bulk insert.
        after = (
            pl.struct(
                pl.col("__id_int").alias("id"),
                pl.col("__name").alias("name"),
                pl.col("__email").alias("email"),
                pl.col("__phone").alias("phone"),
            )
            .struct.json_encode()
            .str.strip_suffix("}")
            + pl.lit(',"extra":')
            + pl.col("__extra").fill_null("{}")
            + pl.lit(',"warnings":')
            + pl.col("__wjson")
            + pl.lit(',"deleted_at":null}')
        )
        self._audit(
            new.select(
                pl.col("__id_int").cast(pl.String).alias("entity_id"),
                pl.lit("create").alias("action"),
                pl.lit(None, dtype=pl.String).alias("before"),
                after.alias("after"),
            )
        )
        # The duplicate check's keys, in the same transaction: imported customers are found on
        # entry once it commits (this import's later batches find them in memory).
        if self.duplicates is not None:
            self._write_keys(self.duplicates.keys(new.select("__row", "__id_int")))
        else:
            people = new.select("__id_int", "__name", "__email", "__phone", "__extra").rows()
            self._write(lambda: dedupe.index_rows(self.conn, people, fresh=True))
        self._touch(new)
        report.imported += new.height
        for r in new.head(KEEP).iter_rows(named=True):
            if sum(o.action == "create" for o in report.outcomes) >= KEEP:
                break
            report.outcomes.append(
                RowOutcome(
                    row=r["__row"],
                    action="create",
                    id=r["__id_int"],
                    name=r["__name"],
                    email=r["__email"],
                    phone=r["__phone"],
                )
            )
        return new

    def _flag_duplicates(self, new: pl.DataFrame, report: ImportReport) -> pl.DataFrame:
        """Rows imported although they look like other customers (the default): fill in the
        IDs of candidates from this batch, add the warnings, list the first rows."""
        assert self._dups is not None
        ids = new.select(pl.col("__row").alias("c_rank"), pl.col("__id_int").alias("_id"))
        flat = (
            self._dups.join(new.select("__row"), on="__row", how="semi")
            .join(ids, on="c_rank", how="left", maintain_order="left")
            .with_columns(pl.coalesce("c_id", "_id").alias("c_id"))
            .drop("_id")
        )
        items = warning_items(flat)
        new = (
            new.join(items, on="__row", how="left", maintain_order="left")
            .with_columns(
                pl.when(pl.col("_items").is_null())
                .then(pl.col("__wjson"))
                .when(pl.col("__wjson") == "[]")
                .then(pl.lit("[") + pl.col("_items") + pl.lit("]"))
                .otherwise(
                    pl.col("__wjson").str.strip_suffix("]") + pl.lit(",") + pl.col("_items") + "]"
                )
                .alias("__wjson"),
                (pl.col("__wcount") + pl.col("_n").fill_null(0)).alias("__wcount"),
            )
            .drop("_items", "_n")
        )
        report.possible_duplicates += items.height
        room = KEEP_DUPLICATES - len(report.duplicates)
        if room > 0:
            listed = flat.join(items.head(room).select("__row"), on="__row", how="semi")
            rows = listed.join(
                new.select("__row", "__id_int"), on="__row", how="left", maintain_order="left"
            )
            grouped: dict[int, DuplicateRow] = {}
            for row, cid, c_rank, c_id, c_name, p, reasons in rows.select(
                "__row", "__id_int", "c_rank", "c_id", "c_name", "probability", "reasons"
            ).iter_rows():
                entry = grouped.setdefault(row, DuplicateRow(row=row, id=cid, candidates=[]))
                entry.candidates.append(
                    DuplicateRef(
                        id=c_id,
                        row=c_rank if c_rank > 0 else None,
                        name=c_name,
                        probability=round(p, 6),
                        reasons=reasons,
                    )
                )
            report.duplicates.extend(grouped.values())
        return new

    def _bulk_mode(self, rows: int) -> None:
        """Into an empty table, drop the secondary indexes for the load and build them again
        at the end (``finish``): sorting once is far cheaper than a million random B-tree
        inserts. DDL is transactional in both databases, so a failed import gets them back.

        SQLite: other connections never see the table without them. PostgreSQL: also the
        trigram indexes (each row cost three GIN updates), the match keys' primary key and
        their foreign key (a trigger per row; added back, it is checked in one join). Until
        the import commits, the dropped indexes lock the customers table against readers as
        well as writers: they wait, as they would for any first load, and nothing is refused.
        """
        if not self.empty_at_start or self.dropped is not None:
            return
        if rows < BULK_ROWS:
            self.dropped = []
            return
        if self.dialect == "postgresql":
            self._bulk_mode_postgresql()
            return
        # Only the indexes on random keys: created_at and deleted_at grow at their end anyway.
        # The duplicate check's keys are written in key order, so their customer index is not.
        found = self.conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name IN ('customers', 'match_keys') AND name IN "
            "('uq_customers_live_email', 'ix_customers_name_id', 'ix_match_keys_customer_id')"
        ).all()
        self.dropped = [sql for _, sql in found]
        for name, _ in found:
            self.conn.exec_driver_sql(f'DROP INDEX "{name}"')

    def _bulk_mode_postgresql(self) -> None:
        constraints = self.conn.exec_driver_sql(
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid = 'match_keys'::regclass AND contype IN ('p', 'f')"
        ).all()
        for name, table, _ in constraints:
            self.conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        indexes = self.conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('customers', 'match_keys') AND indexname IN ("
            "'uq_customers_live_email', 'ix_customers_name_id', 'ix_customers_name_trgm', "
            "'ix_customers_email_trgm', 'ix_customers_phone_trgm', 'ix_match_keys_customer_id')"
        ).all()
        for name, _ in indexes:
            self.conn.exec_driver_sql(f'DROP INDEX "{name}"')
        # The primary key first: the foreign key is checked with it in place.
        keys = sorted(constraints, key=lambda c: c[2].startswith("FOREIGN"))
        self.dropped = [sql for _, sql in indexes] + [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            for name, table, definition in keys
        ]

    def finish(self) -> None:
        """Build again any index dropped for a bulk load, with a large page cache for the
        sorting B-trees."""
        if self.writer is not None:
            self.writer.flush()
        if not self.dropped:
            self.dropped = []
            return
        if self.dialect == "sqlite":
            self._pragma("PRAGMA cache_size=-262144")
        else:  # for the index builds' sorts; back to the server's setting at commit
            self.conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        for sql in self.dropped:
            self.conn.exec_driver_sql(sql)
        self.dropped = []
        if self.dialect == "sqlite":
            self._pragma("PRAGMA cache_size=-2000")

    def _audit(self, entries: pl.DataFrame) -> None:
        """Write one audit entry per row of ``entries`` (``entity_id, action, before, after``, the
        snapshots as JSON text) for customers this import changed: one bulk insert, stamped with
        the import's instant and noted with its number (``customers history`` shows them)."""
        if entries.height == 0:
            return
        rows = entries.select(
            pl.lit(self.stamp_sql if self.dialect == "sqlite" else self.stamp.isoformat()).alias(
                "at"
            ),
            pl.lit(self.actor).alias("actor"),
            "action",
            pl.lit(ENTITY).alias("entity"),
            "entity_id",
            "before",
            "after",
            pl.lit(f"import {self.batch_id}").alias("note"),
        )
        self._write(lambda: write_audit(self.conn, rows))

    def _copy_customers(self, rows: pl.DataFrame) -> None:
        stamp = self.stamp.isoformat()
        text = rows.with_columns(
            pl.lit(stamp).alias("created_at"), pl.lit(stamp).alias("updated_at")
        ).write_csv(include_header=False, null_value="\\N", quote_style="necessary")
        raw = self.conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(
                f"COPY customers ({', '.join(_COLS)}) FROM STDIN (FORMAT csv, NULL '\\N')"
            ) as copy,
        ):
            copy.write(text)

    def claim_above(self, top: int) -> None:
        """New IDs go above ``top``, the highest ID the file gives (read before the first
        batch). On PostgreSQL the counter moves there at once (``_advance``), so that a
        customer added while the import runs never takes an ID the file claims."""
        self.reserve_above = top
        if self.write and self.reserve_ids and top:
            self._advance(top, 0)

    def _advance(self, top: int, count: int) -> int:
        """PostgreSQL: move the customer ID counter to at least ``top``, reserve ``count`` IDs
        above it and return the first, in a short transaction of its own. The import never
        holds the counter's row lock, which every ``customers add`` takes (it used to hold it
        for its whole run, and an agent's add waited for the import to end). IDs reserved by
        an import that then fails stay unused, like a sequence's."""
        sql = sql_text(
            "UPDATE counters SET value = GREATEST(value, :top) + :count "
            "WHERE name = 'customer' RETURNING value"
        )
        with self.conn.engine.begin() as side:
            last = int(side.execute(sql, {"top": top, "count": count}).scalar_one())
        return last - count + 1

    def _reserve(self, given: pl.Series, missing: int) -> int:
        """Claim the given IDs and reserve ``missing`` new ones; return the first one.

        SQLite: the counter is read once (the import holds the write lock already) and
        counted here, so that the next batch's IDs are known without waiting for this
        batch's writes. PostgreSQL: each batch reserves its range in a transaction of its own
        (``_advance``); a dry run counts as SQLite does, from the counter locked for its
        transaction, and leaves no gap (others' adds wait for a preview)."""
        top = max(int(given.max()) if len(given) else 0, self.reserve_above)  # type: ignore[arg-type]
        shared = self.reserve_ids
        if shared:
            first = self._advance(top, missing) if missing else 0
        else:
            if self._counter is None:
                query = select(counters.c.value).where(counters.c.name == "customer")
                if self.dialect == "postgresql":
                    query = query.with_for_update()
                self._counter = int(self._db(lambda: self.conn.execute(query).scalar_one()))
            self._counter = max(self._counter, top)
            first = self._counter + 1 if missing else 0
            self._counter += missing
        value = self._counter or 0
        ids = sorted([*given.to_list(), *range(first, first + missing)])

        def write() -> None:
            if not shared:
                self.conn.execute(
                    update(counters)
                    .where(counters.c.name == "customer", counters.c.value < value)
                    .values(value=value)
                )
            raw = self.conn.connection.driver_connection
            assert raw is not None
            if self.dialect == "postgresql":
                with raw.cursor() as cur, cur.copy("COPY customer_ids (id) FROM STDIN") as copy:
                    copy.write("".join(f"{i}\n" for i in ids))
            else:
                # One statement over a JSON array: the IDs are plain integers, no per-row binding.
                raw.execute(
                    "INSERT INTO customer_ids (id) SELECT value FROM json_each(?)",
                    (json.dumps(ids),),
                )

        self._write(write)
        return first

    def _touch(self, rows: pl.DataFrame) -> None:
        cid, first_row = pl.col("__id_int").alias("cid"), pl.col("__row").alias("first_row")
        self.by_id.add(
            rows.filter(pl.col("__id_int") >= 0).select(
                _id_key(pl.col("__id_int")).alias("h"), first_row
            )
        )
        self.by_key.add(
            rows.filter(pl.col("__key").is_not_null()).select(
                _key_hash(pl.col("__key")).alias("h"), cid, first_row
            )
        )

    def _stored_keys(self, cids: pl.Series) -> dict[int, str] | None:
        """The stored email keys of customers this import wrote (None when checking a file
        without loading it: then a 64-bit hash match is taken as the same email)."""
        if not self.write:
            return None
        ids = [int(c) for c in cids.drop_nulls().unique().to_list()]
        if not ids:
            return {}
        param: Any
        if self.dialect == "postgresql":
            sql, param = "SELECT id, email_key FROM customers WHERE id = ANY(%s)", ids
        else:
            sql = "SELECT id, email_key FROM customers WHERE id IN (SELECT value FROM json_each(?))"
            param = json.dumps(ids)
        return {i: k for i, k in self._fetch(sql, param)}

    def _change(self, action: str, ids: list[int], before: list[dict[str, Any]] | None) -> None:
        self.seq += 1
        stmt = import_changes.insert().values(
            batch_id=self.batch_id, seq=self.seq, action=action, customer_ids=ids, before=before
        )
        self._write(lambda: self.conn.execute(stmt))

    def _write_keys(self, keys: pl.DataFrame) -> None:
        """Write the match keys of customers just created, each batch in key order.

        Tried: staging them in a temporary table and moving them in one sorted pass at the
        end. The sort (about 1.2 s of CPU per million keys) then ran after the last batch,
        alone, where written batch by batch they overlap the checking of the next batch."""
        if keys.height:
            self._write(lambda: dedupe.write_keys(self.conn, keys))

    def _update(self, matched: pl.DataFrame, report: ImportReport) -> None:
        ids = matched["__match"].to_list()
        current: dict[int, dict[str, Any]] = {}

        def read() -> None:
            for chunk in chunks(ids):
                for m in self.conn.execute(
                    select(customers.c.id, *(customers.c[c] for c in _SNAP)).where(
                        customers.c.id.in_(chunk)
                    )
                ).mappings():
                    current[m["id"]] = dict(m)

        self._db(read)
        changes: list[tuple[Any, ...]] = []
        befores: list[dict[str, Any]] = []
        changed_ids: list[int] = []
        changed_rows: list[int] = []
        changed_keys: list[str | None] = []
        audits: list[tuple[str, str, str]] = []  # ID, before, after (the history's snapshots)
        for row in matched.iter_rows(named=True):
            r: dict[str, Any] = row
            cid = r["__match"]
            cur = current[cid]
            new = _merged(cur, r)
            r = {**r, "__name": new["name"]}  # for the report, when the row gives none
            differs = any(not _same(k, new[k], cur[k]) for k in new)
            if self.on_conflict != "update" or not differs:
                report.unchanged += 1
                action: Literal["unchanged", "skip"] = "skip" if differs else "unchanged"
                if differs:
                    report.skipped += 1
                self._outcome(report, r, action, cid, {})
                continue
            before = {k: _jsonable(cur[k]) for k in _SNAP}
            befores.append(before)
            changed_ids.append(cid)
            changed_rows.append(r["__row"])
            changed_keys.append(new["email"].lower() if new["email"] else None)
            diff = {
                k: [cur[k], new[k]] for k in ("name", "email", "phone", "extra") if new[k] != cur[k]
            }
            audits.append((str(cid), _snapshot(cid, cur), _snapshot(cid, new)))
            self._outcome(report, r, "update", cid, diff)
            changes.append(
                (
                    new["name"],
                    new["email"],
                    new["email"].lower() if new["email"] else None,
                    new["phone"],
                    json.dumps(new["extra"], ensure_ascii=False),
                    json.dumps(new["warnings"], ensure_ascii=False),
                    len(new["warnings"]),
                    self.stamp_sql,
                    cid,
                )
            )
        if not changes:
            return
        mark = "%s" if self.dialect == "postgresql" else "?"
        sets = ", ".join(f"{c} = {mark}" for c in _SNAP)

        def write() -> None:
            raw = self.conn.connection.driver_connection
            assert raw is not None
            raw.cursor().executemany(f"UPDATE customers SET {sets} WHERE id = {mark}", changes)

        self._write(write)
        self._change("updated", changed_ids, befores)
        self._audit(
            pl.DataFrame(
                audits, schema=["entity_id", "before", "after"], orient="row"
            ).with_columns(pl.lit("update").alias("action"))
        )
        people = [(i, c[0], c[1], c[3], c[4]) for i, c in zip(changed_ids, changes, strict=True)]
        self._write(lambda: dedupe.index_rows(self.conn, people))
        self._touch(
            pl.DataFrame(
                {"__id_int": changed_ids, "__key": changed_keys, "__row": changed_rows},
                schema={"__id_int": pl.Int64, "__key": pl.String, "__row": pl.Int64},
            )
        )
        report.updated += len(changes)

    def _outcome(
        self,
        report: ImportReport,
        r: dict[str, Any],
        action: Literal["create", "update", "unchanged", "skip"],
        cid: int,
        diff: dict[str, list[Any]],
    ) -> None:
        if sum(o.action == action for o in report.outcomes) < KEEP:
            report.outcomes.append(
                RowOutcome(
                    row=r["__row"],
                    action=action,
                    id=cid,
                    name=r["__name"],
                    email=r["__email"],
                    phone=r["__phone"],
                    changes=diff,
                )
            )

    def record(self, report: ImportReport) -> int:
        """Fill in the batch row with the report; returns the batch ID."""
        self.finish()
        dedupe.set_live_count(self.conn)  # the duplicates model's n, counted once
        self.conn.execute(
            update(import_batches)
            .where(import_batches.c.id == self.batch_id)
            .values(
                rows_read=report.rows_read,
                imported=report.imported,
                updated=report.updated,
                unchanged=report.unchanged,
                rejected=report.rejected,
                status="imported",
                report=report.model_dump(
                    mode="json", exclude={"rejects", "outcomes", "duplicates", "batch_id"}
                ),
            )
        )
        return int(self.batch_id)


def write_audit(conn: Connection, rows: pl.DataFrame) -> None:
    """Insert audit entries in bulk (``at, actor, action, entity, entity_id, before, after,
    note``; ``at`` as the driver takes it, the snapshots as JSON text): ``executemany`` on
    SQLite, ``COPY`` on PostgreSQL, as the customers are written."""
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        text = rows.write_csv(include_header=False, null_value="\\N", quote_style="necessary")
        with (
            raw.cursor() as cur,
            cur.copy(
                f"COPY audit_log ({', '.join(_AUDIT)}) FROM STDIN (FORMAT csv, NULL '\\N')"
            ) as copy,
        ):
            copy.write(text)
    else:
        raw.cursor().executemany(
            f"INSERT INTO audit_log ({', '.join(_AUDIT)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows.iter_rows(),
        )


def _snapshot(cid: int, values: dict[str, Any]) -> str:
    """A customer as its audit entries record it (``customers.records``' snapshot)."""
    return json.dumps(
        {
            "id": cid,
            "name": values["name"],
            "email": values["email"],
            "phone": values["phone"],
            "extra": values["extra"] or {},
            "warnings": values["warnings"] or [],
            "deleted_at": None,
        },
        ensure_ascii=False,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return audit.aware(value).isoformat()  # type: ignore[union-attr]
    return value


def _same(field: str, new: Any, current: Any) -> bool:
    """Whether an update leaves ``field`` as it is: warnings are the same set in any order (an
    update puts the row's own after the ones it keeps)."""
    if field == "warnings":
        key = lambda w: json.dumps(w, sort_keys=True)  # noqa: E731
        return sorted(map(key, new or [])) == sorted(map(key, current or []))
    return bool(new == current)


def _merged(cur: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    """The customer's values after an update from row ``r``: empty cells leave a field as it
    is; extras merge; the warnings of the fields given are replaced."""
    given = {f for f in ("name", "email", "phone") if r[f"__{f}"] is not None}
    extra = dict(cur["extra"] or {})
    if r["__extra"]:
        extra.update(json.loads(r["__extra"]))
    row_warnings = json.loads(r["__wjson"])
    kept = [w for w in (cur["warnings"] or []) if w.get("field") not in given]
    return {
        "name": r["__name"] if r["__name"] is not None else cur["name"],
        "email": r["__email"] if r["__email"] is not None else cur["email"],
        "phone": r["__phone"] if r["__phone"] is not None else cur["phone"],
        "extra": extra,
        "warnings": kept + [w for w in row_warnings if w["field"] in given],
    }


def chunks(values: list[Any], size: int = 5000) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]
