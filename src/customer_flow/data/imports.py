"""Importing customer files: the run, the batches, and revert.

``run_import`` drives the pipeline of ``data`` (read, map) and ``data_clean`` (clean, validate)
and hands each batch to ``loading.Loader``, on one connection inside the caller's transaction:
the Hub owns it, so an import is atomic and a dry run is the same run rolled back. Every row read
ends in exactly one of imported, updated, unchanged or rejected. ``revert`` replays a batch's
recorded changes backwards.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Connection, func, select, update

from customer_flow.core.errors import NotFoundError, StateError, ValidationError
from customer_flow.data import sources as data
from customer_flow.data.cleaning import ERROR_CODES, Context, clean_batch, validate
from customer_flow.data.loading import ENTITY as ENTITY_CUSTOMER
from customer_flow.data.loading import Loader, chunks, stamp_sql, write_audit
from customer_flow.data.prefetch import prefetch
from customer_flow.data.report import (
    KEEP,
    ImportBatch,
    ImportOptions,
    ImportReport,
    KeptCustomer,
    Progress,
    RejectedRow,
    RejectsWriter,
    RevertResult,
    RowOutcome,
    csv_line,
    listing,
    neutralise,
)
from customer_flow.store import audit
from customer_flow.store.schema import (
    customer_ids,
    customers,
    import_batches,
    import_changes,
    tickets,
)

__all__ = [
    "ENTITY",
    "ImportBatch",
    "ImportOptions",
    "ImportReport",
    "RejectedRow",
    "RevertResult",
    "RowOutcome",
    "csv_line",
    "get_batch",
    "list_batches",
    "neutralise",
    "revert",
    "run_import",
    "touched",
]

ENTITY = "import_batch"


def run_import(
    conn: Connection,
    path: Path,
    options: ImportOptions,
    *,
    actor: str,
    region: str,
    dry_run: bool = False,
    load: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Read, clean, validate and (with ``load``) load ``path`` on ``conn``.

    Without ``load`` nothing is written and nothing is compared with the database: that is
    ``validate FILE``. A dry run loads inside the caller's transaction, which then rolls back.
    Raises ``ValidationError`` when more rows than ``max_errors`` are rejected, and
    ``ConflictError`` on a match with ``on_conflict="fail"``.
    """
    with data.open_source(
        path,
        format=options.format,
        encoding=options.encoding,
        delimiter=options.delimiter,
        sheet=options.sheet,
        max_rows=options.max_rows,
    ) as source:
        # With --on-conflict update a row may only change a customer's email or phone: the
        # name column is needed only by rows that create a customer (checked per row).
        name_optional = load and options.on_conflict == "update"
        plan = data.plan_columns(
            source.header,
            options.mapping,
            ignore_unknown=options.ignore_unknown,
            require_name=not name_optional,
        )
        if options.max_rows is not None:
            data.check_row_limit(source)  # before any work on rows that would be thrown away
        report = ImportReport(
            source=path.name,
            format=source.format,
            encoding=source.encoding,
            delimiter=source.delimiter,
            dry_run=dry_run,
            validated_only=not load,
            columns=plan.describe(),
            notes=list(source.notes),
        )
        if plan.ignored:
            report.notes.append(f"columns ignored: {listing(plan.ignored)}")
        if plan.extras:
            report.notes.append(f"kept as extra attributes: {listing(plan.extras)}")
        expected = data.estimate_rows(source) if progress is not None else None
        loader = Loader(
            conn,
            options.on_conflict,
            actor,
            path.name,
            plan.targets,
            write=load,
            reject_duplicates=options.reject_duplicates,
            extras=plan.extras,
            reserve_ids=not dry_run,
        )
        if load:
            loader.claim_above(data.max_id(source, plan))
        rejects = RejectsWriter(options.rejects_path, source.header)
        ctx = Context(region=region, unquote=source.format == "csv")
        errors: Counter[str] = Counter()
        warnings: Counter[str] = Counter()
        real_rejects = 0  # rows rejected for more than repeating an earlier row (--max-errors)
        keep_rejects = False
        completed = False  # every batch was handed to the loader

        cleaned: Counter[str] = Counter()  # ctx.changed of the batches handed over

        def prepared() -> Iterator[tuple[int, pl.DataFrame, Counter[str]]]:
            """Read, map, clean and validate, a batch ahead of the loading (``prefetch``):
            nothing here touches the database. Each batch comes with its cleaning counts, so
            that a run stopped early counts only the batches it took."""
            for raw in data.read_batches(source, options.batch_rows):
                before = Counter(ctx.changed)
                # A row with no value is blank, unless the reader found something wrong with
                # it (a line that is not a JSON object, values past the header): that is a
                # rejected row, counted in the rows read.
                flags = [pl.col(c).is_null() for c in ("__bad_json", "__overflow") if c in raw]
                blank = raw.select(
                    pl.all_horizontal(*(pl.col(h).is_null() for h in source.header), *flags)
                ).to_series()
                batch = raw.filter(~blank)
                if batch.height:
                    batch = data.map_columns(batch, plan)
                    batch = clean_batch(batch, ctx)
                    batch = validate(batch, plan.targets, plan.extras, name_optional=name_optional)
                yield int(blank.sum()), batch, ctx.changed - before

        try:
            with prefetch(prepared()) as batches:
                for blanks, batch, changed in batches:
                    report.blank_rows += blanks
                    cleaned.update(changed)
                    if batch.height == 0:
                        continue
                    report.rows_read += batch.height
                    batch = loader.settle(batch)
                    batch = loader.check_duplicates(batch)
                    _count_problems(batch, errors, warnings)
                    bad = batch.filter(pl.col("__errors").list.len() > 0)
                    report.rejected += bad.height
                    found = _rejected_rows(bad, source.header)
                    rejects.write(found)
                    if len(report.rejects) < KEEP:
                        report.rejects.extend(
                            _model(p, source.header)
                            for p in found.head(KEEP - len(report.rejects)).iter_rows()
                        )
                    limit = options.max_errors
                    real = _real_rejects(bad)
                    if limit is not None and real_rejects + len(real) > limit:
                        crossed = real[limit - real_rejects]
                        _finish(report, cleaned, errors, warnings, loader, rejects, options)
                        keep_rejects = True
                        where = f"; see {options.rejects_path}" if options.rejects_path else ""
                        raise ValidationError(
                            f"{path.name}: more than {limit:,} rows rejected (--max-errors): "
                            f"row {crossed:,} was rejected number {limit + 1:,}; nothing was "
                            f"imported{where}",
                            code="too_many_errors",
                        )
                    real_rejects += len(real)
                    loader.load(batch, report)
                    if progress is not None:
                        progress(report.rows_read + report.blank_rows, expected)
            if load and report.rows_read == 0:
                what = "blank rows" if report.blank_rows else "a header"
                raise ValidationError(
                    f"{path.name}: no rows: the file has {what} and nothing else; nothing was "
                    "imported",
                    code="no_rows",
                )
            keep_rejects = True
            completed = True
        finally:
            rejects.close(keep=keep_rejects)
            loader.close(completed=completed)
        _finish(report, cleaned, errors, warnings, loader, rejects, options)
        if load:
            report.batch_id = loader.record(report)
        return report


def _real_rejects(bad: pl.DataFrame) -> list[int]:
    """The rows of ``bad`` (rejected) with a problem besides repeating an earlier row, in
    order: the rows ``--max-errors`` counts."""
    if bad.height == 0:
        return []
    codes = pl.col("__errors").list.eval(pl.element().struct.field("code"))
    real = bad.filter(codes.list.eval(pl.element() != "duplicate_row").list.any())
    return sorted(real["__row"].to_list())


def _finish(
    report: ImportReport,
    cleaned: Counter[str],
    errors: Counter[str],
    warnings: Counter[str],
    loader: Loader | None,
    rejects: RejectsWriter,
    options: ImportOptions,
) -> None:
    report.cleaning = {k: v for k, v in sorted(cleaned.items()) if v}
    if report.possible_duplicates:  # imported with a warning (the default)
        warnings["possible_duplicate"] = report.possible_duplicates
    else:  # rejected, or none
        report.possible_duplicates = errors.get("possible_duplicate", 0)
    report.errors = dict(errors.most_common())
    report.warnings = dict(warnings.most_common())
    if rejects.started and options.rejects_path is not None:
        report.rejects_file = str(options.rejects_path)


def _count_problems(batch: pl.DataFrame, errors: Counter[str], warnings: Counter[str]) -> None:
    for col, counter in (("__errors", errors), ("__warnings", warnings)):
        codes = batch[col].explode().drop_nulls()
        if len(codes):
            for code, n in codes.struct.field("code").value_counts().iter_rows():
                counter[code] += n


def _rejected_rows(bad: pl.DataFrame, header: list[str]) -> pl.DataFrame:
    """One row per problem of each rejected row: row, column, code, message, then the original
    values in the header's order (under positional names: a file may have a column "code")."""
    values = [pl.col(h).alias(f"__v{i}") for i, h in enumerate(header)]
    return (
        bad.select(pl.col("__row").alias("__r"), "__errors", *values)
        .explode("__errors")
        .select(
            "__r",
            pl.col("__errors").struct.field("column").alias("__c"),
            pl.col("__errors").struct.field("code").alias("__k"),
            pl.col("__errors").struct.field("message").alias("__m"),
            *(f"__v{i}" for i in range(len(header))),
        )
    )


def _model(p: tuple[Any, ...], header: list[str]) -> RejectedRow:
    return RejectedRow(
        row=p[0], column=p[1], code=p[2], message=p[3], values=dict(zip(header, p[4:], strict=True))
    )


# -- batches -------------------------------------------------------------------------------


def list_batches(conn: Connection, *, limit: int = 100) -> list[ImportBatch]:
    """The most recent imports first."""
    rows = conn.execute(
        select(import_batches)
        .where(import_batches.c.status != "importing")
        .order_by(import_batches.c.id.desc())
        .limit(limit)
    ).mappings()
    return [
        ImportBatch.model_validate(
            {
                **r,
                "created_at": audit.aware(r["created_at"]),
                "reverted_at": audit.aware(r["reverted_at"]),
            }
        )
        for r in rows
    ]


def get_batch(conn: Connection, batch_id: int) -> ImportBatch:
    row = conn.execute(select(import_batches).where(import_batches.c.id == batch_id)).mappings()
    found = row.first()
    if found is None or found["status"] == "importing":
        raise NotFoundError(f"no import batch {batch_id}", field="batch")
    return ImportBatch.model_validate(
        {
            **found,
            "created_at": audit.aware(found["created_at"]),
            "reverted_at": audit.aware(found["reverted_at"]),
        }
    )


def _changes(conn: Connection, batch_id: int) -> tuple[list[int], list[tuple[int, dict[str, Any]]]]:
    """What a batch did: the IDs it created, and (ID, values before) of those it updated."""
    recorded = conn.execute(
        select(import_changes)
        .where(import_changes.c.batch_id == batch_id)
        .order_by(import_changes.c.seq.desc())
    ).mappings()
    created: list[int] = []
    updated: list[tuple[int, dict[str, Any]]] = []
    for ch in recorded:
        if ch["action"] == "created":
            created.extend(ch["customer_ids"])
        else:
            updated.extend(zip(ch["customer_ids"], ch["before"], strict=True))
    return created, updated


def touched(conn: Connection, batch_id: int) -> tuple[Sequence[int], list[int]]:
    """The IDs a batch created, and the IDs it updated. The created ones come as a ``range``
    when they are every ID from the smallest to the largest (an import's usual case: IDs are
    never issued twice), so that a 5,000,000-row import does not hold a Python list of them
    (about 175 MB; read here a recorded step at a time into 8 bytes an ID)."""
    steps: list[np.ndarray] = []
    updated: list[int] = []
    recorded = conn.execute(
        select(import_changes.c.action, import_changes.c.customer_ids).where(
            import_changes.c.batch_id == batch_id
        )
    )
    for action, ids in recorded:
        if action == "created":
            steps.append(np.asarray(ids, dtype=np.int64))
        else:
            updated.extend(ids)
    created = np.concatenate(steps) if steps else np.empty(0, dtype=np.int64)
    if len(created) == 0:
        return range(0), updated
    low, high = int(created.min()), int(created.max())
    if high - low + 1 == len(created):
        return range(low, high + 1), updated
    return sorted(created.tolist()), updated


def revert(
    conn: Connection, batch_id: int, *, actor: str, skip_changed: bool = False
) -> RevertResult:
    """Undo a batch exactly: delete the customers it created (their IDs are free again, for a
    file that gives them) and put back the values of the ones it updated; each customer's
    history gets an entry with the values it had (``revert``).

    Refused, naming them, when some of its customers cannot be undone: changed after the
    import (edited, deleted, merged or imported again), or created by it and holding tickets.
    With ``skip_changed`` those stay as they are (listed in ``kept``) and the others are
    undone: the batch is then ``partly reverted``."""
    batch = get_batch(conn, batch_id)
    if batch.status != "imported":
        raise StateError(f"import {batch_id} was already {batch.status}", code="already_reverted")
    created, updated = _changes(conn, batch_id)
    blocked = _blocked(conn, batch.created_at, created, [cid for cid, _ in updated])
    if blocked and not skip_changed:
        listed = "; ".join(
            f"customer {k.id}{f' ({k.name})' if k.name else ''} {k.reason}"
            for k in list(blocked.values())[:10]
        )
        more = f"; and {len(blocked) - 10:,} more" if len(blocked) > 10 else ""
        raise StateError(
            f"cannot revert import {batch_id}: {len(blocked):,} of its customers cannot be "
            f"undone: {listed}{more}. Revert the others with --skip-changed (skip_changed "
            "in the API); those stay as they are",
            code="changed_since_import",
        )
    removing = [cid for cid in created if cid not in blocked]
    restoring = [(cid, before) for cid, before in updated if cid not in blocked]
    stamp = audit.now()
    note = f"import {batch_id} reverted"

    def record(entries: list[tuple[str, str | None, str | None]]) -> None:
        """The customers' history entries of one chunk, in one bulk insert."""
        if not entries:
            return
        at = stamp_sql(conn.dialect.name, stamp)
        write_audit(
            conn,
            pl.DataFrame(entries, schema=["entity_id", "before", "after"], orient="row").select(
                pl.lit(at if isinstance(at, str) else at.isoformat()).alias("at"),
                pl.lit(actor).alias("actor"),
                pl.lit("revert").alias("action"),
                pl.lit(ENTITY_CUSTOMER).alias("entity"),
                "entity_id",
                "before",
                "after",
                pl.lit(note).alias("note"),
            ),
        )

    for chunk in chunks(removing):
        found = conn.execute(select(*_SNAPSHOT).where(customers.c.id.in_(chunk))).mappings()
        record([(str(row["id"]), _snapshot_json(row), None) for row in found])
        conn.execute(customers.delete().where(customers.c.id.in_(chunk)))
        # Only this import ever used these IDs: a file may give them again.
        conn.execute(customer_ids.delete().where(customer_ids.c.id.in_(chunk)))
    for part in chunks(restoring):
        current = {
            row["id"]: _snapshot_json(row)
            for row in conn.execute(
                select(*_SNAPSHOT).where(customers.c.id.in_([cid for cid, _ in part]))
            ).mappings()
        }
        for cid, before in part:
            values = dict(before)
            values["updated_at"] = datetime.fromisoformat(values["updated_at"])
            conn.execute(update(customers).where(customers.c.id == cid).values(**values))
        record(
            [
                (str(cid), current.get(cid), _snapshot_json({"id": cid, **before}))
                for cid, before in part
            ]
        )
    conn.execute(
        update(import_batches)
        .where(import_batches.c.id == batch_id)
        .values(
            status="partly reverted" if blocked else "reverted",
            reverted_at=stamp,
            reverted_by=actor,
        )
    )
    return RevertResult(
        **get_batch(conn, batch_id).model_dump(),
        removed=len(removing),
        restored=len(restoring),
        kept=list(blocked.values()),
    )


_SNAPSHOT = (
    customers.c.id,
    customers.c.name,
    customers.c.email,
    customers.c.phone,
    customers.c.extra,
    customers.c.warnings,
    customers.c.deleted_at,
)


def _snapshot_json(row: Any) -> str:
    """A customer as its audit entries record it (as ``customers.records`` does)."""
    deleted = row.get("deleted_at")
    return json.dumps(
        {
            "id": row["id"],
            "name": row["name"],
            "email": row["email"],
            "phone": row["phone"],
            "extra": row["extra"] or {},
            "warnings": row["warnings"] or [],
            "deleted_at": audit.aware(deleted).isoformat() if deleted is not None else None,  # type: ignore[union-attr]
        },
        ensure_ascii=False,
    )


def _blocked(
    conn: Connection, at: datetime, created: list[int], updated: list[int]
) -> dict[int, KeptCustomer]:
    """The customers of a batch that a revert cannot undo, by ID, with the reason: changed
    since the import (or gone), or created by it and holding tickets."""
    out: dict[int, KeptCustomer] = {}
    stamp = _stamp_param(conn, at)
    ids = [*created, *updated]
    for chunk in chunks(ids):
        seen: set[int] = set()
        for cid, name, changed, trashed in conn.execute(
            select(
                customers.c.id,
                customers.c.name,
                customers.c.updated_at != stamp,
                customers.c.deleted_at.is_not(None),
            ).where(customers.c.id.in_(chunk))
        ):
            seen.add(cid)
            if trashed:
                out[cid] = KeptCustomer(id=cid, name=name, reason="is in the trash")
            elif changed:
                out[cid] = KeptCustomer(
                    id=cid,
                    name=name,
                    reason="was changed after the import (edited, merged or imported again)",
                )
        for cid in set(chunk) - seen:
            out[cid] = KeptCustomer(id=cid, name=None, reason="was purged after the import")
    for chunk in chunks(created):
        for cid, n in conn.execute(
            select(tickets.c.customer_id, func.count())
            .where(tickets.c.customer_id.in_(chunk))
            .group_by(tickets.c.customer_id)
        ):
            reason = f"has {n} ticket{'s' if n != 1 else ''}"
            if cid in out:
                out[cid].reason += f", and {reason}"
            else:
                name = conn.execute(select(customers.c.name).where(customers.c.id == cid)).scalar()
                out[cid] = KeptCustomer(id=cid, name=name, reason=reason)
    return dict(sorted(out.items()))


def _stamp_param(conn: Connection, at: datetime) -> Any:
    if conn.dialect.name == "sqlite":
        return at.replace(tzinfo=None)
    return at


def error_codes() -> dict[str, str]:
    """Every reason code a rejected row can carry, with what it means."""
    return dict(ERROR_CODES)
