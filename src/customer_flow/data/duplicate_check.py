"""The duplicate check on entry, for a whole import at once.

A new row of an import is a *possible duplicate* when the duplicates model gives it a match
probability at or above the default threshold with a live customer or an earlier row of the
same file: the model ``duplicates find`` last used (or the shipped one), the same blocking keys,
the same comparisons and the same parameters as the check on entry (``duplicates.scorer``).
Rows that match a customer by ID or email under ``--on-conflict`` are updates, not duplicates,
and are not checked.

Vectorised, per batch, never a query per row:

- **keys**: each row's blocking keys (``scorer.keys_frame``), as a 64-bit hash;
- **earlier rows of the file**: for each key, the first ``MAX_PER_KEY`` rows that had it
  (``SortedKeys``: a hash and a row number, about 16 bytes each), and each row's name, email,
  phone and compared extra fields in a private temporary SQLite database (``_Kept``) that
  spills to disk past a few MB;
- **the live customers** (when there were any when the import began): one query per batch
  joins the batch's distinct keys with ``match_keys``; at most ``MAX_PER_KEY`` customers per key;
- **scoring**: every candidate pair at once in DuckDB, with the SQL of the model's levels
  (the very conditions Splink runs in ``find``) and the weights of the active model.

The one difference from the check on entry: a key shared by more than ``MAX_PER_KEY`` earlier
records (one office phone across a large file) is compared with its first ``MAX_PER_KEY`` only,
so that a file of a thousand colleagues does not cost a million comparisons. ``duplicates
find`` afterwards compares them all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection

from customer_flow.data.sorted_keys import SortedKeys
from customer_flow.duplicates import find as dedupe
from customer_flow.duplicates import model as dedupe_model
from customer_flow.duplicates import scorer as dedupe_scorer
from customer_flow.duplicates.features import KINDS, features_frame
from customer_flow.duplicates.fields import field_values, recognised_keys
from customer_flow.duplicates.models import FIELD_WORDS

__all__ = [
    "FLAT",
    "MAX_NAMED",
    "MAX_PER_KEY",
    "DuplicateCheck",
    "reject_messages",
    "score_pairs",
    "warning_items",
    "who",
]

#: Candidates named per row (the most likely first).
MAX_NAMED = 5
#: Earlier records compared per key (see the module's docstring).
MAX_PER_KEY = 50
#: Rows of a batch paired and scored at once (memory: up to MAX_PER_KEY pairs per row and key,
#: each joined with both records' features).
ROW_SLICE = 5_000
#: Customers of the database rank before every row: their rank is their ID minus this.
_DB = 1 << 62
_SEED = 0x5EED
#: The candidates ``check`` returns: one row per (row, candidate), the most likely first.
FLAT: dict[str, Any] = {
    "__row": pl.Int64,
    "c_rank": pl.Int64,
    "c_id": pl.Int64,
    "c_name": pl.String,
    "probability": pl.Float64,
    "p_text": pl.String,
    "reasons": pl.List(pl.String),
    "why": pl.String,
}
_RAW = {"rank": pl.Int64, "id": pl.Int64, "name": pl.String, "email": pl.String, "phone": pl.String}


def _key_hash() -> pl.Expr:
    return pl.concat_str("kind", "value", separator="\x1f").hash(seed=_SEED).alias("h")


class DuplicateCheck:
    """The possible duplicates of an import's new rows, batch after batch.

    ``extras`` are the file's extra columns: those recognised as a model field (``dob``,
    ``postcode``, ...) are compared and give keys, as on entry."""

    def __init__(
        self,
        conn: Connection,
        *,
        existing: bool,
        extras: Sequence[str] = (),
        run: Callable[[Callable[[], Any]], Any] | None = None,
    ) -> None:
        self.conn = conn
        # How a read runs: on the import's writer thread, after the writes queued before it.
        self.run: Callable[[Callable[[], Any]], Any] = run or (lambda fn: fn())
        self.existing = existing  # the database had customers when the import began
        self.params = dedupe_model.load_params()
        self.model = dedupe_scorer.active_model(conn, self.params)
        self.active = {r.kind for r in self.model.rules}
        self.comparisons = dedupe_model.comparisons(self.model.fields)
        self.weights = dedupe_model.weights(self.model.mu)
        self.threshold = float(self.params["default_threshold"])
        self.share = float(self.params["expected_duplicate_share"])
        # Where each value the model reads comes from: a field's keys in the file's extras.
        self.fields = recognised_keys(extras)
        self.generic = {
            name: [k for k in keys if k in extras] for name, keys in self.model.keys.items()
        }
        self.columns = [*KINDS, *(f"x_{g}" for g in self.generic)]
        self.n = dedupe.live_count(conn) if existing else 0
        self.seen = SortedKeys(["rank", "id"])  # the first MAX_PER_KEY rows of each key
        self.kept = _Kept(self.columns)  # rank -> ID, name, email, phone, fields of each row
        self.created = SortedKeys(["id"])  # IDs this import created, when there were others
        self._keys = pl.DataFrame()
        self._people: pl.DataFrame | None = None  # the batch's candidates from the database
        self._shown: pl.DataFrame | None = None  # its candidates from earlier batches
        self._raw = pl.DataFrame()
        self._firsts = pl.DataFrame(schema={"h": pl.UInt64, "rank": pl.Int64})

    # -- a batch -------------------------------------------------------------------------------

    def _values(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (``__row``, ``__name``, ``__email``, ``__phone``, ``__extra``) as the
        model's raw input: ``unique_id``, ``name``, ``email``, ``phone`` and a column per field."""
        wanted = sorted(
            {k for keys in self.fields.values() for k in keys}
            | {k for keys in self.generic.values() for k in keys}
        )
        extra = pl.col("__extra")
        if wanted:
            decoded = extra.str.json_decode(pl.Struct({k: pl.String for k in wanted}))
            parts = {
                f: pl.coalesce([decoded.struct.field(k) for k in self.fields.get(f, ())])
                if self.fields.get(f)
                else pl.lit(None, dtype=pl.String)
                for f in KINDS
            }
            parts.update(
                {
                    f"x_{g}": pl.coalesce([decoded.struct.field(k) for k in keys])
                    if keys
                    else pl.lit(None, dtype=pl.String)
                    for g, keys in self.generic.items()
                }
            )
        else:
            parts = {c: pl.lit(None, dtype=pl.String) for c in self.columns}
        return rows.select(
            pl.col("__row").alias("unique_id"),
            pl.col("__name").alias("name"),
            pl.col("__email").alias("email"),
            pl.col("__phone").alias("phone"),
            *(v.alias(k) for k, v in parts.items()),
        )

    def check(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows``: ``__row, __name, __email, __phone, __extra`` of the batch's new rows.
        Returns the candidates of the rows that have some (``FLAT``): ``c_rank`` is the
        candidate's row in the file, or negative for a customer already in the database;
        ``c_id`` its ID when known."""
        # The prior's n for each row is what the check on entry would see if the rows were
        # added one by one: the customers there before, the rows checked before, and itself.
        order = rows.select(
            pl.col("__row").alias("row"), (self.n + pl.int_range(1, pl.len() + 1)).alias("n")
        )
        self.n += rows.height
        raw = self._values(rows)
        self._raw = raw
        feats = features_frame(raw, self.columns)
        keys = dedupe_scorer.keys_frame(feats, dedupe_model.RULES)
        self._keys = keys
        mine = keys.filter(pl.col("kind").is_in(list(self.active))).with_columns(_key_hash())
        mine = mine.rename({"customer_id": "row"})
        members, known = self._earlier(mine)
        cand = [feats]
        db_keys = None
        if self.existing:
            db_keys, db_feats = self._database(mine)
            cand.append(db_feats)
        batch_rows = set(feats["unique_id"].to_list())
        # The batch's rows and the database's candidates (negative ranks) never share an ID
        # with earlier batches' rows (positive ranks below the batch's): no repeats to drop.
        known_feats = pl.concat(cand).unique("unique_id")
        shown: list[pl.DataFrame] = []
        found_hits: list[pl.DataFrame] = []
        # A slice of the rows at a time: each row is paired with up to MAX_PER_KEY records per
        # key, and each pair is joined with both sides' features. In a file where many rows
        # share a block (one phone prefix for a whole city) that is millions of pairs per batch.
        ranks = mine["row"].unique().sort()
        for start in range(0, len(ranks), ROW_SLICE):
            part = mine.filter(pl.col("row").is_in(ranks.slice(start, ROW_SLICE).implode()))
            pairs = [
                part.select("h", "row")
                .join(members.rename({"rank": "c_rank"}), on="h")
                .filter(pl.col("c_rank") < pl.col("row"))
                .select("row", "c_rank")
            ]
            if db_keys is not None:
                pairs.append(
                    part.select("kind", "value", "row")
                    .join(db_keys, on=["kind", "value"])
                    .select("row", (pl.col("customer_id") - _DB).alias("c_rank"))
                )
            found = pl.concat(pairs).unique()
            if found.height == 0:
                continue
            before = (
                found.filter((pl.col("c_rank") > 0) & ~pl.col("c_rank").is_in(batch_rows))
                .select("c_rank")
                .unique()
                .join(known, left_on="c_rank", right_on="rank", how="left")
            )
            others = known_feats
            if before.height:
                raw_before = self._earlier_rows(before)
                shown.append(raw_before.select("rank", "id", "name"))
                others = pl.concat(
                    [known_feats, features_frame(raw_before.drop("rank", "id"), self.columns)]
                )
            scored = score_pairs(
                found.join(order, on="row"),
                feats,
                others,
                self.comparisons,
                self.weights,
                self.share,
            )
            found_hits.append(scored.filter(pl.col("probability") >= self.threshold))
        self._shown = pl.concat(shown).unique("rank") if shown else None
        if not found_hits:
            return pl.DataFrame(schema=FLAT)
        hits = pl.concat(found_hits)
        if hits.height == 0:
            return pl.DataFrame(schema=FLAT)
        hits = hits.sort(["row", "probability", "c_rank"], descending=[False, True, False]).filter(
            pl.int_range(pl.len()).over("row") < MAX_NAMED
        )
        return self._named(hits)

    def _earlier(self, mine: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(h, rank): for each key of the batch, the first ``MAX_PER_KEY`` rows of the file that
        have it (earlier batches' and this one's); and the (rank, id) of the earlier batches'
        rows among them. The batch's own firsts are remembered in ``remember``, with the IDs
        they were given."""
        none = pl.DataFrame(schema={"rank": pl.Int64, "id": pl.Int64})
        self._firsts = pl.DataFrame(schema={"h": pl.UInt64, "rank": pl.Int64})
        if mine.height == 0:
            return pl.DataFrame(schema={"h": pl.UInt64, "rank": pl.Int64}), none
        before = self.seen.lookup(mine["h"])
        members = (
            pl.concat([before.select("h", "rank"), mine.select("h", pl.col("row").alias("rank"))])
            .unique()
            .sort("h", "rank")
            .filter(pl.int_range(pl.len()).over("h") < MAX_PER_KEY)
        )
        self._firsts = members.join(before.select("h", "rank"), on=["h", "rank"], how="anti")
        return members, before.select("rank", "id").unique("rank")

    def _earlier_rows(self, before: pl.DataFrame) -> pl.DataFrame:
        """The model's raw input of earlier batches' rows (``c_rank``), with the ID of those
        created, as ``remember`` kept them."""
        return self.kept.get(before["c_rank"])

    def _database(self, mine: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(kind, value, customer_id): the first ``MAX_PER_KEY`` live customers of each of the
        batch's keys (not created by this import), and those customers' features."""
        wanted = mine.select("kind", "value").unique()
        hits = self.run(lambda: _fetch(self.conn, wanted)) if wanted.height else None
        hits = hits if hits is not None else pl.DataFrame(schema=_HIT)
        if len(self.created) and hits.height:
            mine_ids = self.created.lookup(hits["customer_id"].hash(seed=_SEED)).select("id")
            hits = hits.join(mine_ids.rename({"id": "customer_id"}), on="customer_id", how="anti")
        hits = hits.sort("kind", "value", "customer_id").filter(
            pl.int_range(pl.len()).over("kind", "value") < MAX_PER_KEY
        )
        ids = hits["customer_id"].unique().to_list()
        people = self.run(lambda: _people(self.conn, ids))
        raw = self._raw_of(people, pl.col("id") - _DB)
        self._people = people.select((pl.col("id") - _DB).alias("rank"), "id", "name")
        return hits.select("kind", "value", "customer_id"), features_frame(raw, self.columns)

    def _raw_of(self, people: pl.DataFrame, unique_id: pl.Expr) -> pl.DataFrame:
        """The model's raw input of customers read from the database (``id``, ``name``,
        ``email``, ``phone``, ``extra`` as JSON text): their fields read as on entry; ``id``
        kept."""
        extras = [_extra(e) for e in people["extra"].to_list()]
        values = [field_values(e) for e in extras]
        return people.select(
            unique_id.alias("unique_id"), "id", "name", "email", "phone"
        ).with_columns(
            *(
                pl.Series(k, [None if v.get(k) is None else str(v[k]) for v in values], pl.String)
                for k in KINDS
            ),
            *(
                pl.Series(f"x_{g}", [_first(e, keys) for e in extras], pl.String)
                for g, keys in self.model.keys.items()
            ),
        )

    def _named(self, hits: pl.DataFrame) -> pl.DataFrame:
        """The hits with their candidates' IDs and names, and the evidence in words."""
        names = [
            self._raw.select(
                pl.col("unique_id").alias("rank"), pl.lit(None, pl.Int64).alias("id"), "name"
            )
        ]
        if self._shown is not None:
            names.append(self._shown)
        if self._people is not None:
            names.append(self._people)
        hits = hits.join(
            pl.concat(names)
            .unique("rank")
            .rename({"rank": "c_rank", "id": "c_id", "name": "c_name"}),
            on="c_rank",
            how="left",
        )
        # The evidence in words, as scorer.reasons writes it on entry (the same order and
        # rounding), without building the per-field objects of 10,000s of hits.
        words = [
            (FIELD_WORDS.get(c.name, c.name), c.labels, [round(w, 3) for w in self.weights[c.name]])
            for c in self.comparisons
        ]
        why: list[list[str]] = []
        for levels in hits.select([f"g_{c.name}" for c in self.comparisons]).iter_rows():
            shown: list[tuple[float, str]] = [
                (weights[lv], f"{word}: {labels[lv]} ({weights[lv]:+.1f})")
                for (word, labels, weights), lv in zip(words, levels, strict=True)
                if lv is not None and lv >= 0
            ]
            shown.sort(key=lambda s: -s[0])
            why.append([text for _w, text in shown])
        p_text = [f"{round(p, 6):.3f}" for p in hits["probability"].to_list()]
        return hits.select(
            pl.col("row").alias("__row"),
            "c_rank",
            "c_id",
            "c_name",
            "probability",
            pl.Series("p_text", p_text, dtype=pl.String),
            pl.Series("reasons", why, dtype=pl.List(pl.String)),
        ).with_columns(pl.col("reasons").list.join("; ").alias("why"))

    def keys(self, ids: pl.DataFrame) -> pl.DataFrame:
        """The ``match_keys`` rows of the batch's rows just created (``__row``, ``__id_int``),
        from the features the check already computed."""
        out = self._keys.join(
            ids.select(pl.col("__row").alias("customer_id"), pl.col("__id_int").alias("_id")),
            on="customer_id",
        ).select("kind", "value", pl.col("_id").alias("customer_id"))
        return out

    def remember(self, ids: pl.DataFrame) -> None:
        """Note the IDs the batch's rows were given (``__row``, ``__id_int``) once created."""
        given = ids.select(pl.col("__row").alias("rank"), pl.col("__id_int").alias("id"))
        self.seen.add(self._firsts.join(given, on="rank", how="left"))
        # Every row's values, with the ID of those created: later rows are scored against them
        # without reading the database, where the writer thread may not have put them yet.
        self.kept.add(
            self._raw.join(
                given.drop_nulls("id"),
                left_on="unique_id",
                right_on="rank",
                how="left",
                maintain_order="left",
            )
        )
        created = ids.filter(pl.col("__id_int").is_not_null())
        if self.existing and created.height:
            self.created.add(
                created.select(
                    pl.col("__id_int").hash(seed=_SEED).alias("h"), pl.col("__id_int").alias("id")
                )
            )
        self._keys = pl.DataFrame()
        self._people = None
        self._shown = None
        self._raw = pl.DataFrame()
        self._firsts = pl.DataFrame(schema={"h": pl.UInt64, "rank": pl.Int64})

    def close(self) -> None:
        self.kept.close()


_HIT = {"kind": pl.String, "value": pl.String, "customer_id": pl.Int64}


def _extra(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


def _first(extra: dict[str, Any], keys: Sequence[str]) -> str | None:
    for k in keys:
        v = extra.get(k)
        if v is not None and v != "":
            return v if isinstance(v, str) else str(v)
    return None


def score_pairs(
    pairs: pl.DataFrame,
    left: pl.DataFrame,
    right: pl.DataFrame,
    comparisons: Sequence[dedupe_model.Comparison],
    weights: dict[str, list[float]],
    share: float,
) -> pl.DataFrame:
    """Score ``pairs`` (``row``, ``c_rank``, and ``n`` for the prior) of ``left`` rows
    (features, ``unique_id`` = ``row``) and ``right`` ones (``unique_id`` = ``c_rank``) in
    DuckDB, with the SQL of the model's levels: ``row, c_rank, g_<comparison>`` (the level
    index, −1 missing), ``weight`` and ``probability``."""
    import duckdb

    both = pairs.join(
        left.rename({c: f"{c}_l" for c in left.columns}), left_on="row", right_on="unique_id_l"
    ).join(
        right.rename({c: f"{c}_r" for c in right.columns}), left_on="c_rank", right_on="unique_id_r"
    )
    sql = dedupe_model.Sql()
    cases = ", ".join(f"{c.case_sql(sql)} AS g_{c.name}" for c in comparisons)
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 1")
        con.register("pairs", both.to_arrow())
        levels = pl.from_arrow(
            con.sql(f"SELECT row, c_rank, n, {cases} FROM pairs").to_arrow_table()
        )
    finally:
        con.close()
    assert isinstance(levels, pl.DataFrame)
    # λ = min(0.5, 2 × share / (n − 1)) as dedupe_model.prior, as log2 odds.
    lam = pl.min_horizontal(pl.lit(0.5), 2 * share / (pl.col("n") - 1).clip(lower_bound=1))
    total = (lam / (1 - lam)).log(2)
    for c in comparisons:
        mapping = {i: w for i, w in enumerate(weights[c.name])}
        mapping[-1] = 0.0
        total = total + pl.col(f"g_{c.name}").replace_strict(mapping, return_dtype=pl.Float64)
    return levels.with_columns(total.alias("weight")).with_columns(
        (1.0 / (1.0 + pl.lit(2.0).pow(-pl.col("weight").clip(-1000, 1000)))).alias("probability")
    )


def _fetch(conn: Connection, keys: pl.DataFrame) -> pl.DataFrame:
    """``kind, value, customer_id`` of the live customers' keys among ``keys``: one query."""
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cur.execute(
                "SELECT mk.kind, mk.value, mk.customer_id "
                "FROM unnest(%s::text[], %s::text[]) AS j(kind, value) "
                "JOIN match_keys mk ON mk.kind = j.kind AND mk.value = j.value "
                "JOIN customers c ON c.id = mk.customer_id WHERE c.deleted_at IS NULL",
                (keys["kind"].to_list(), keys["value"].to_list()),
            )
        else:
            # CROSS JOIN fixes the order: each key, then its index entries, then the
            # customer. Left to itself SQLite walked every live customer for each key.
            cur.execute(
                "SELECT mk.kind, mk.value, mk.customer_id FROM json_each(?) j "
                "CROSS JOIN match_keys mk ON mk.kind = json_extract(j.value, '$[0]') "
                "AND mk.value = json_extract(j.value, '$[1]') "
                "CROSS JOIN customers c ON c.id = mk.customer_id WHERE c.deleted_at IS NULL",
                (json.dumps(keys.rows()),),
            )
        found = cur.fetchall()
    finally:
        cur.close()
    return pl.DataFrame(
        found,
        schema={"kind": pl.String, "value": pl.String, "customer_id": pl.Int64},
        orient="row",
    )


def _people(conn: Connection, ids: list[int]) -> pl.DataFrame:
    """``id, name, email, phone, extra`` (JSON text) of these customers: one query."""
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cur.execute(
                "SELECT id, name, email, phone, extra::text FROM customers WHERE id = ANY(%s)",
                (ids,),
            )
        else:
            cur.execute(
                "SELECT id, name, email, phone, extra FROM customers "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            )
        found = cur.fetchall()
    finally:
        cur.close()
    return pl.DataFrame(
        found,
        schema={
            "id": pl.Int64,
            "name": pl.String,
            "email": pl.String,
            "phone": pl.String,
            "extra": pl.String,
        },
        orient="row",
    )


class _Kept:
    """``rank -> ID, name, email, phone`` and the compared field values of the rows checked (the
    ID of those created), to score later rows against them and to name them: in a private
    temporary SQLite database
    (an empty file name), which lives in its small page cache and spills to a temporary file
    beyond it, and is gone when closed."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.db = sqlite3.connect("")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE kept (rank INTEGER PRIMARY KEY, id INTEGER, name TEXT, email TEXT, "
            "phone TEXT, fields TEXT)"
        )

    def add(self, raw: pl.DataFrame) -> None:
        """Rows of the model's raw input (``unique_id`` is the row)."""
        fields = raw.select(
            pl.struct(self.columns).struct.json_encode().alias("fields")
        ).to_series()
        ids = raw["id"] if "id" in raw.columns else pl.lit(None, dtype=pl.Int64)
        rows = raw.select("unique_id", ids.alias("id"), "name", "email", "phone").with_columns(
            fields
        )
        with self.db:
            self.db.executemany(
                "INSERT INTO kept (rank, id, name, email, phone, fields) VALUES (?, ?, ?, ?, ?, ?)",
                rows.iter_rows(),
            )

    def get(self, ranks: pl.Series) -> pl.DataFrame:
        """The raw input of the kept rows among ``ranks``, with ``rank`` and ``id``."""
        found = self.db.execute(
            "SELECT rank, id, name, email, phone, fields FROM kept "
            "WHERE rank IN (SELECT value FROM json_each(?))",
            (json.dumps(ranks.to_list()),),
        ).fetchall()
        frame = pl.DataFrame(found, schema={**_RAW, "fields": pl.String}, orient="row")
        struct = pl.Struct({c: pl.String for c in self.columns})
        return frame.select(
            "rank",
            "id",
            pl.col("rank").alias("unique_id"),
            "name",
            "email",
            "phone",
            pl.col("fields").str.json_decode(struct).alias("_f"),
        ).unnest("_f")

    def close(self) -> None:
        self.db.close()


def who(rank: pl.Expr, cid: pl.Expr, name: pl.Expr) -> pl.Expr:
    """ "customer 12 (Ana Lima)", "row 7 of this file (Ana Lima)", or both."""
    return (
        pl.when(rank < 0)
        .then(pl.format("customer {} ({})", cid, name))
        .when(cid.is_not_null())
        .then(pl.format("customer {} ({}, row {} of this file)", cid, name, rank))
        .otherwise(pl.format("row {} of this file ({})", rank, name))
    )


def reject_messages(flat: pl.DataFrame) -> pl.DataFrame:
    """``__row`` and the ``possible_duplicate`` error message of each row with candidates."""
    each = pl.format(
        "{}, probability {}: {}",
        who(pl.col("c_rank"), pl.col("c_id"), pl.col("c_name")),
        "p_text",
        "why",
    )
    return (
        flat.with_columns(each.alias("_each"))
        .group_by("__row", maintain_order=True)
        .agg(pl.col("_each"))
        .select(
            "__row",
            (pl.lit("possible duplicate of ") + pl.col("_each").list.join("; ")).alias("message"),
        )
    )


def warning_items(flat: pl.DataFrame) -> pl.DataFrame:
    """``__row`` and the row's ``possible_duplicate`` warnings as stored (JSON objects joined
    by commas), in the words of ``dedupe.duplicate_warnings``; ``c_id`` must be filled in."""
    message = pl.format(
        "may be the same as customer {} ({}), probability {}: {}",
        "c_id",
        "c_name",
        "p_text",
        "why",
    )
    item = pl.struct(
        pl.lit("duplicate").alias("field"),
        pl.lit(dedupe.DUPLICATE_WARNING).alias("code"),
        message.alias("message"),
    ).struct.json_encode()
    return (
        flat.with_columns(item.alias("_item"))
        .group_by("__row", maintain_order=True)
        .agg(pl.col("_item"))
        .select(
            "__row",
            pl.col("_item").list.join(",").alias("_items"),
            pl.col("_item").list.len().alias("_n"),
        )
    )
