"""Duplicates: find customers that are likely the same person, on entry and over the database.

Two ways in, one model (``model.py``):

- **On entry** (:func:`entry_candidates`): the customers that share a blocking key with the one
  at hand (``match_keys``, index lookups), scored in Python with the parameters ``find`` last
  used (``scorer.py``). A candidate at or above the default threshold is a possible duplicate.
- **Over the database** (:func:`find`): the model on Splink (DuckDB here; the same settings run
  on Spark). Pairs at or above the threshold, minus those a person dismissed as "not a
  duplicate", are grouped into clusters, each pair with its evidence per field.

Merging lives in ``merge.py``. Nothing here prints, reads the environment or commits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import polars as pl
from sqlalchemy import Connection, and_, delete, func, insert, select, tuple_

from customer_flow.core.errors import ValidationError
from customer_flow.core.models import RecordWarning
from customer_flow.duplicates import model as dedupe_model
from customer_flow.duplicates.features import (
    KINDS,
    features_frame,
    normalise_email,
    phone_digits,
)
from customer_flow.duplicates.fields import Attribute, check_fields, choose, field_values
from customer_flow.duplicates.models import (
    DuplicateCandidate,
    DuplicateCluster,
    DuplicatePair,
    DuplicateReport,
)
from customer_flow.duplicates.scorer import (
    ActiveModel,
    Scorer,
    active_model,
    keys_frame,
    keys_of,
    reasons,
    record_features,
)
from customer_flow.duplicates.spark import SparkEngine
from customer_flow.store.schema import counters, customers, duplicate_dismissals, match_keys

__all__ = [
    "DUPLICATE_WARNING",
    "all_dismissed",
    "check_fields",
    "duplicate_warnings",
    "entry_candidates",
    "exact_live_count",
    "find",
    "index_customers",
    "index_rows",
    "is_dismissed",
    "live_count",
    "load_params",
    "normalise_email",
    "phone_digits",
    "read_live",
    "rebuild_keys",
    "reindex",
    "set_live_count",
    "write_keys",
]

#: The ``RecordWarning.code`` a customer carries while it looks like another live one.
DUPLICATE_WARNING = "possible_duplicate"
load_params = dedupe_model.load_params


# -- match keys --------------------------------------------------------------------------------


def _extra(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


def key_rows(rows: Sequence[tuple[int, str | None, str | None, str | None, Any]]) -> pl.DataFrame:
    """``kind, value, customer_id`` of ``(id, name, email, phone, extra)`` rows, for every
    blocking rule (the check on entry picks the rules of the active model among them). A few
    rows (an add, an update) go through the scalar functions, many through Polars: the same
    keys (a test checks both agree)."""
    if len(rows) < _FEW:
        return pl.DataFrame(
            _few_keys(rows),
            schema={"kind": pl.String, "value": pl.String, "customer_id": pl.Int64},
            orient="row",
        )
    values = [field_values(_extra(r[4])) for r in rows]
    frame = pl.DataFrame(
        {
            "unique_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "email": [r[2] for r in rows],
            "phone": [r[3] for r in rows],
            **{k: [None if v.get(k) is None else str(v[k]) for v in values] for k in KINDS},
        },
        schema={
            "unique_id": pl.Int64,
            "name": pl.String,
            "email": pl.String,
            "phone": pl.String,
            **dict.fromkeys(KINDS, pl.String),
        },
    )
    return keys_frame(features_frame(frame, list(KINDS)), dedupe_model.RULES)


#: Fewer rows than this are keyed through the scalar functions (Polars costs more for a few).
_FEW = 20


def _few_keys(
    rows: Sequence[tuple[int, str | None, str | None, str | None, Any]],
) -> list[tuple[str, str, int]]:
    return sorted(
        {
            (kind, value, r[0])
            for r in rows
            for kind, value in keys_of(
                record_features(None, r[1], r[2], r[3], _extra(r[4])), dedupe_model.RULES
            )
        }
    )


def index_customers(conn: Connection, rows: Iterable[Any], *, fresh: bool = False) -> None:
    """(Re)write the match keys of customers (objects with ``id``, ``name``, ``email``,
    ``phone`` and ``extra``, such as ``Customer``); ``fresh``: just created, no old keys."""
    index_rows(conn, [(r.id, r.name, r.email, r.phone, r.extra) for r in rows], fresh=fresh)


def reindex(conn: Connection, ids: Sequence[int], *, fresh: bool = False) -> None:
    """(Re)write the match keys of the customers with these IDs, read from the table: what a
    bulk path (an import's revert) calls once for everything it changed."""
    for start in range(0, len(ids), 5000):
        rows = conn.execute(
            select(
                customers.c.id,
                customers.c.name,
                customers.c.email,
                customers.c.phone,
                customers.c.extra,
            ).where(customers.c.id.in_(ids[start : start + 5000]))
        ).all()
        index_rows(conn, [tuple(r) for r in rows], fresh=fresh)


def rebuild_keys(conn: Connection, batch: int = 50_000) -> None:
    """Every customer's match keys, rebuilt from the table (migration 0011)."""
    conn.execute(delete(match_keys))
    last = None
    while True:
        stmt = (
            select(
                customers.c.id,
                customers.c.name,
                customers.c.email,
                customers.c.phone,
                customers.c.extra,
            )
            .order_by(customers.c.id)
            .limit(batch)
        )
        if last is not None:
            stmt = stmt.where(customers.c.id > last)
        rows = [tuple(r) for r in conn.execute(stmt)]
        if not rows:
            set_live_count(conn)
            return
        write_keys(conn, key_rows(rows))
        last = rows[-1][0]


def index_rows(
    conn: Connection,
    rows: Sequence[tuple[int, str | None, str | None, str | None, Any]],
    *,
    fresh: bool = False,
) -> None:
    """(Re)write the match keys of ``(id, name, email, phone, extra)`` rows; ``fresh`` (rows
    just inserted) skips deleting old keys."""
    if not rows:
        return
    if not fresh:
        ids = [r[0] for r in rows]
        for start in range(0, len(ids), 500):
            conn.execute(
                delete(match_keys).where(match_keys.c.customer_id.in_(ids[start : start + 500]))
            )
    if len(rows) < _FEW:
        keys = _few_keys(rows)
        if keys:
            conn.execute(
                insert(match_keys),
                [{"kind": k, "value": v, "customer_id": c} for k, v, c in keys],
            )
        return
    write_keys(conn, key_rows(rows))


def write_keys(conn: Connection, keys: pl.DataFrame) -> None:
    """Insert ``(kind, value, customer_id)`` rows, in key order, through the driver itself:
    ``executemany`` on tuples (SQLite) or ``COPY`` (PostgreSQL). An import writes several keys
    per customer, and random-order inserts into the text primary key dominated its time."""
    if keys.height == 0:
        return
    keys = keys.select("kind", "value", "customer_id").sort("kind", "value", "customer_id")
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        text = keys.write_csv(include_header=False, quote_style="necessary")
        with (
            raw.cursor() as cur,
            cur.copy("COPY match_keys (kind, value, customer_id) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(text)
        return
    cur = raw.cursor()
    try:
        cur.executemany(
            "INSERT INTO match_keys (kind, value, customer_id) VALUES (?, ?, ?)", keys.iter_rows()
        )
    finally:
        cur.close()


# -- on entry ----------------------------------------------------------------------------------


#: The ``counters`` row holding the live customers' number as of the last ``find`` or import.
LIVE = "live_customers"


def live_count(conn: Connection) -> int:
    """The ``n`` of the model's prior: the live customers counted by the last ``find`` or
    import (``set_live_count``), else counted now. Counting a million rows costs more than the
    whole check on entry, and the prior needs only the size's order: a database twice as big
    as counted moves every weight by one bit (the threshold is about 3 bits)."""
    found = conn.execute(select(counters.c.value).where(counters.c.name == LIVE)).first()
    if found is not None:
        return int(found.value)
    return exact_live_count(conn)


def exact_live_count(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(customers).where(customers.c.deleted_at.is_(None))
        ).scalar_one()
    )


def set_live_count(conn: Connection, n: int | None = None) -> None:
    """Remember ``n`` (default: counted now) as the live customers' number."""
    n = exact_live_count(conn) if n is None else n
    conn.execute(delete(counters).where(counters.c.name == LIVE))
    conn.execute(insert(counters).values(name=LIVE, value=n))


def entry_candidates(
    conn: Connection,
    name: str | None,
    email: str | None,
    phone: str | None,
    extra: dict[str, Any] | None = None,
    *,
    exclude_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> list[DuplicateCandidate]:
    """Live customers that look like the one described (at or above the default threshold),
    the most likely first, each with its probability, evidence per field and reasons."""
    params = params or load_params()
    model = active_model(conn, params)
    mine = record_features(model, name, email, phone, extra)
    keys = keys_of(mine, model.rules)
    if not keys:
        return []
    found = [r for r in _candidates(conn, keys) if r.id != exclude_id]
    if not found:
        return []
    scorer = Scorer(model, live_count(conn), float(params["expected_duplicate_share"]))
    threshold = float(params["default_threshold"])
    hits = []
    for r in found:
        theirs = record_features(model, r.name, r.email, r.phone, r.extra)
        p = scorer.probability(scorer.weight(mine, theirs))
        if p >= threshold:
            hits.append((p, r, theirs))
    if exclude_id is not None and hits:
        dismissed = _dismissed_among(conn, {(exclude_id, r.id) for _p, r, _t in hits})
        hits = [h for h in hits if _pair(exclude_id, h[1].id) not in dismissed]
    hits.sort(key=lambda h: (-h[0], h[1].id))
    out = []
    for p, r, theirs in hits:
        explanation = scorer.explain(mine, theirs)
        out.append(
            DuplicateCandidate(
                id=r.id,
                name=r.name,
                email=r.email,
                phone=r.phone,
                reasons=reasons(explanation),
                probability=round(p, 6),
                explanation=explanation,
            )
        )
    return out


class _Person(NamedTuple):
    id: int
    name: str
    email: str | None
    phone: str | None
    extra: dict[str, Any]


def _candidates(conn: Connection, keys: list[tuple[str, str]]) -> list[_Person]:
    """The live customers with any of these keys: one statement, each key a range of the
    primary key of ``match_keys`` (written in SQL here: building it with SQLAlchemy's
    expressions cost more than running it)."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    one = f"SELECT customer_id FROM match_keys WHERE kind = {mark} AND value = {mark}"
    sql = (
        "SELECT id, name, email, phone, extra FROM customers WHERE deleted_at IS NULL AND id IN ("
        + " UNION ".join([one] * len(keys))
        + ")"
    )
    params = tuple(v for key in keys for v in key)
    rows = conn.exec_driver_sql(sql, params).all()
    return [_Person(r[0], r[1], r[2], r[3], _extra(r[4])) for r in rows]


def warning_message(cid: int, name: str, probability: float, why: Sequence[str]) -> str:
    """The words of a ``possible_duplicate`` warning (the import writes the same)."""
    return f"may be the same as customer {cid} ({name}), probability {probability:.3f}: " + (
        "; ".join(why)
    )


def duplicate_warnings(candidates: Sequence[DuplicateCandidate]) -> list[RecordWarning]:
    """The warnings a customer keeps while it looks like other live customers."""
    return [
        RecordWarning(
            field="duplicate",
            code=DUPLICATE_WARNING,
            message=warning_message(c.id, c.name, c.probability or 0.0, c.reasons),
        )
        for c in candidates
    ]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _dismissed_among(conn: Connection, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    wanted = list({_pair(a, b) for a, b in pairs if a != b})
    out: set[tuple[int, int]] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        out |= {
            (r.low_id, r.high_id)
            for r in conn.execute(
                select(duplicate_dismissals.c.low_id, duplicate_dismissals.c.high_id).where(
                    tuple_(duplicate_dismissals.c.low_id, duplicate_dismissals.c.high_id).in_(chunk)
                )
            )
        }
    return out


def all_dismissed(conn: Connection) -> set[tuple[int, int]]:
    """Every pair marked "not a duplicate", as (lower ID, higher ID)."""
    rows = conn.execute(select(duplicate_dismissals.c.low_id, duplicate_dismissals.c.high_id))
    return {(r.low_id, r.high_id) for r in rows}


def is_dismissed(conn: Connection, a: int, b: int) -> bool:
    low, high = _pair(a, b)
    cond = and_(duplicate_dismissals.c.low_id == low, duplicate_dismissals.c.high_id == high)
    return conn.execute(select(duplicate_dismissals.c.low_id).where(cond)).first() is not None


def read_live(conn: Connection, attributes: Sequence[Attribute]) -> dict[str, list[Any]]:
    """The live customers as columns, each extra attribute under its ``column``: the first
    non-empty value among its keys, as text. Read in batches through the driver's own cursor,
    the values taken out of ``extra`` by the database's JSON functions: at a million rows,
    SQLAlchemy's row objects (or parsing every object in Python) would cost more than the whole
    model."""
    cols: dict[str, list[Any]] = {"unique_id": [], "name": [], "email": [], "phone": []}
    names = ["unique_id", "name", "email", "phone"]
    wanted, params = ["id", "name", "email", "phone"], []
    postgres = conn.dialect.name == "postgresql"
    for a in attributes:
        parts = []
        for key in a.keys:
            if postgres:
                parts.append("nullif(extra ->> %s, '')")
                params.append(key)
            else:
                parts.append("nullif(json_extract(extra, ?), '')")
                params.append(f'$."{key}"')
        wanted.append(f"coalesce({', '.join(parts)})" if len(parts) > 1 else parts[0])
        names.append(a.column)
        cols[a.column] = []
    cursor = conn.connection.cursor()
    try:
        cursor.execute(
            f"SELECT {', '.join(wanted)} FROM customers WHERE deleted_at IS NULL", tuple(params)
        )
        while batch := cursor.fetchmany(100_000):
            for key, part in zip(names, zip(*batch, strict=True), strict=True):
                if key not in ("unique_id", "name", "email", "phone"):
                    # SQLite gives JSON numbers as numbers; the model compares text.
                    part = tuple(v if v is None or isinstance(v, str) else str(v) for v in part)
                cols[key].extend(part)
    finally:
        cursor.close()
    return cols


# -- over the whole database: Splink -----------------------------------------------------------


def find(
    columns: dict[str, list[Any]],
    *,
    threshold: float,
    attributes: Sequence[Attribute] = (),
    auto_fields: bool = True,
    dismissed: set[tuple[int, int]] | None = None,
    train: bool | None = None,
    params: dict[str, Any] | None = None,
    spark: SparkEngine | None = None,
    stored: ActiveModel | None = None,
) -> tuple[DuplicateReport, ActiveModel]:
    """Score the pairs the blocking rules pick out, keep those at or above ``threshold``, drop
    dismissed pairs, and group the rest into clusters (connected components).

    ``attributes`` are the extra attributes read into ``columns`` (``read_live``);
    ``fields.choose`` decides which of them are compared, and the report says which fields
    were compared and why (``auto_fields`` says whether identifying attributes were looked for
    at all). Returns the report and the model it used (fields, m and u), which the check on
    entry then uses too.

    ``spark`` runs the model on Spark instead of DuckDB (``spark.py``). There it scores with
    the model ``find`` last used (``stored``: its m and u where they cover these fields, the
    shipped ones elsewhere); ``train`` true trains on Spark, false uses the shipped values.
    The pairs come back to this same clustering either way."""
    if not 0.0 < threshold < 1.0:
        raise ValidationError(
            f"threshold: {threshold} must be between 0 and 1 (exclusive)",
            field="threshold",
            code="bad_threshold",
        )
    params = params or load_params()
    started = time.perf_counter()
    n = len(columns["unique_id"])
    chosen, compared, left_out = choose(columns, attributes, params)
    usable = {f.name for f in compared if f.values >= 2}
    fields = [f.name for f in compared if f.source == "built-in" and f.name != "name"]
    fields += [a.name for a in chosen]
    mode = dedupe_model.training_mode(n, train, params)
    report = DuplicateReport(
        customers=n,
        pairs_compared=0,
        threshold=threshold,
        trained=False,
        auto_fields=auto_fields,
        fields=compared,
        fields_not_compared=left_out,
        clusters=[],
    )
    keys = {a.name: list(a.keys) for a in chosen if a.field is None}
    if n < 2:
        shipped = dedupe_model.mu_of(dedupe_model.comparisons(fields), params)
        return report, ActiveModel(fields=fields, keys=keys, mu=shipped, training="shipped")
    if spark is None:
        scored = dedupe_model.score(
            columns,
            fields=fields,
            params=params,
            threshold=threshold,
            train_mode=mode,
            usable=usable,
        )
    else:
        from customer_flow.duplicates import spark as on_spark

        mu: dict[str, list[list[float]]] | None = None
        if train is not True:
            # --no-train: the shipped values, as on DuckDB; else the model find last stored.
            use_stored = train is None and stored is not None and stored.stored
            trained = stored.mu if use_stored and stored is not None else None
            mu = dedupe_model.mu_of(dedupe_model.comparisons(fields), params, trained)
            mode = stored.training if trained is not None and stored is not None else "shipped"
        scored = on_spark.score(
            columns,
            fields=fields,
            params=params,
            threshold=threshold,
            train_mode=mode,
            usable=usable,
            mu=mu,
            engine=spark,
        )
    dismissed = dismissed or set()
    pairs = [p for p in scored.pairs if _pair(p.a, p.b) not in dismissed]
    report.clusters = _cluster(pairs, columns)
    report.pairs_compared = scored.pairs_compared
    report.training = scored.training  # type: ignore[assignment]
    report.trained = scored.training != "shipped"
    report.seconds = round(time.perf_counter() - started, 3)
    report.blocking_seconds = round(scored.blocking_seconds, 3)
    report.training_seconds = round(scored.training_seconds, 3)
    return report, ActiveModel(fields=fields, keys=keys, mu=scored.mu, training=scored.training)


def _cluster(pairs: list[DuplicatePair], columns: dict[str, list[Any]]) -> list[DuplicateCluster]:
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        ra, rb = root(p.a), root(p.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(root(x), []).append(x)
    by_root: dict[int, list[DuplicatePair]] = {}
    for p in pairs:
        by_root.setdefault(root(p.a), []).append(p)
    wanted = {x for members in groups.values() for x in members}
    names = {
        uid: (name, email, phone)
        for uid, name, email, phone in zip(
            columns["unique_id"], columns["name"], columns["email"], columns["phone"], strict=True
        )
        if uid in wanted
    }
    clusters = []
    for key, members in groups.items():
        members.sort()
        edges = sorted(by_root[key], key=lambda p: (-p.probability, p.a, p.b))
        clusters.append(
            DuplicateCluster.model_construct(
                ids=members,
                score=min(p.probability for p in edges),
                customers=[
                    # Every field given: model_construct resolves a missing default_factory
                    # through inspect.signature, seconds over 100,000s of customers.
                    DuplicateCandidate.model_construct(
                        id=m,
                        name=names[m][0],
                        email=names[m][1],
                        phone=names[m][2],
                        reasons=[],
                        probability=None,
                        explanation={},
                    )
                    for m in members
                ],
                pairs=edges,
            )
        )
    clusters.sort(key=lambda c: (-c.score, c.ids[0]))
    return clusters
