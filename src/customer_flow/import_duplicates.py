"""The duplicate check on entry, for a whole import at once (issue 7, point 1).

A new row of an import is a *possible duplicate* when it looks like a live customer or an earlier
row of the same file by the rules of the check on entry (``dedupe.check_batch``): the same
normalised email or phone; or a similar name (``dedupe.names_similar``) together with the same
email domain (and a shared name token, as the ``dn`` keys require) or the same last 7 phone
digits. Rows that match a customer by ID or email under ``--on-conflict`` are updates, not
duplicates, and are not checked.

Vectorised, per batch, never a query per row:

- the live customers: one query per batch joins the batch's distinct keys with ``match_keys``
  (skipped when the database held no customer when the import started);
- the earlier rows of the file: kept in memory as a *pool* (their keys and display values);
- names: compared once per pair of distinct name signatures (sorted, accent-free tokens) that
  share a token, with RapidFuzz's Jaro-Winkler over whole groups at once (``dedupe.jaro_winkler``
  is the same implementation), and remembered for the rest of the import.

Within each group of rows that share a key (an email, a phone, a domain and a name signature,
last digits and a name signature), the earliest is the one named: a row of a file of a thousand
"Maria Smith"s at one domain names the first, not the other 998.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler
from sqlalchemy import Connection

from . import dedupe

__all__ = ["MAX_NAMED", "DuplicateCheck", "describe", "reject_messages", "warning_item"]

#: Candidates named per row (the strongest first).
MAX_NAMED = 5
_REF = {
    "rank": pl.Int64,
    "id": pl.Int64,
    "name": pl.String,
    "email": pl.String,
    "phone": pl.String,
    "ekey": pl.String,
    "digits": pl.String,
    "domain": pl.String,
    "sig": pl.Int64,
}
_CAND = pl.Struct(
    {"rank": pl.Int64, "id": pl.Int64, "name": pl.String, "reasons": pl.List(pl.String)}
)


class _Names:
    """Distinct name signatures seen in this import, and which pairs of them are similar."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.sig: list[str] = []
        self.canon: list[str] = []
        self.nums: list[str] = []
        self.by_token: dict[str, list[int]] = defaultdict(list)
        self.pairs: set[tuple[int, int]] = set()  # similar and sharing a token (the dn rule)
        self.memo: dict[tuple[int, int], bool] = {}  # any similar pair (the tail rule)

    def add(self, tokens: pl.Series) -> pl.Series:
        """The signature ID of each list of name tokens (null for a name without tokens); new
        signatures are compared with every known one that shares a token."""
        sigs = pl.select(
            pl.when(tokens.list.len() > 0).then(
                tokens.list.eval(pl.element().sort()).list.join(" ")
            )
        ).to_series()
        distinct = sigs.drop_nulls().unique().to_list()
        fresh: list[int] = []
        nick = dedupe.nicknames()
        for sig in distinct:
            if sig in self.ids:
                continue
            known = self.ids[sig] = len(self.sig)
            ordered = sig.split(" ")
            self.sig.append(sig)
            self.canon.append(" ".join(sorted(nick.get(t, t) for t in ordered)))
            self.nums.append(" ".join(sorted({t for t in ordered if t.isdigit()})))
            for t in {t for t in ordered if len(t) > 1}:
                self.by_token[t].append(known)
            fresh.append(known)
        if fresh:
            self._compare(fresh)
        return sigs.replace_strict(
            {s: self.ids[s] for s in distinct}, default=None, return_dtype=pl.Int64
        )

    def _compare(self, fresh: list[int]) -> None:
        todo: dict[str, list[int]] = defaultdict(list)
        for i in fresh:
            for t in {t for t in self.sig[i].split(" ") if len(t) > 1}:
                todo[t].append(i)
        for token, new in todo.items():
            group = self.by_token[token]
            a_sig = [self.sig[i] for i in new]
            b_sig = [self.sig[j] for j in group]
            hit = _cdist(a_sig, b_sig) | _cdist(
                [self.canon[i] for i in new], [self.canon[j] for j in group]
            )
            for x, y in zip(*np.nonzero(hit), strict=True):
                a, b = new[int(x)], group[int(y)]
                if self.nums[a] == self.nums[b]:
                    self.pairs.add((a, b))
                    self.pairs.add((b, a))

    def similar(self, a: int, b: int) -> bool:
        """``dedupe.names_similar`` of two signatures."""
        if a == b:
            return True
        if (a, b) in self.pairs:
            return True
        key = (a, b) if a < b else (b, a)
        found = self.memo.get(key)
        if found is None:
            found = self.nums[a] == self.nums[b] and (
                dedupe.jaro_winkler(self.sig[a], self.sig[b]) >= 0.9
                or dedupe.jaro_winkler(self.canon[a], self.canon[b]) >= 0.9
            )
            self.memo[key] = found
        return found

    def pair_frame(self, sigs: list[int]) -> pl.DataFrame:
        """(sig, other) for every similar pair sharing a token, ``sig`` among ``sigs``; each
        signature with a token of two or more characters is paired with itself too."""
        wanted = set(sigs)
        rows = {(a, b) for a, b in self.pairs if a in wanted}
        rows |= {(a, a) for a in wanted if any(len(t) > 1 for t in self.sig[a].split(" "))}
        return pl.DataFrame(list(rows), schema={"sig": pl.Int64, "other": pl.Int64}, orient="row")


def _cdist(a: list[str], b: list[str]) -> Any:
    return (
        process.cdist(
            a, b, scorer=JaroWinkler.similarity, score_cutoff=0.9, dtype=np.float64, workers=1
        )
        > 0
    )


class DuplicateCheck:
    """The possible duplicates of an import's new rows, batch after batch."""

    def __init__(self, conn: Connection, *, existing: bool) -> None:
        self.conn = conn
        self.existing = existing  # the database had customers when the import began
        self.names = _Names()
        self.pool = pl.DataFrame(schema=_REF)
        self._last = pl.DataFrame(schema=_REF)
        self._parts = pl.DataFrame()

    def check(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows``: ``__row, __name, __email, __phone`` of the batch's new rows. Returns
        ``__row`` and ``__dups`` (candidates: ``rank`` 0 for a customer already in the
        database, else the row of the file; ``id``; ``name``; ``reasons``), only for the rows
        that have some."""
        refs = self._refs(
            rows.select(
                pl.col("__row").alias("rank"),
                pl.lit(None, dtype=pl.Int64).alias("id"),
                pl.col("__name").alias("name"),
                pl.col("__email").alias("email"),
                pl.col("__phone").alias("phone"),
            ),
            keep=True,
        )
        self._last = refs
        found = [self.pool, refs]
        if self.existing:
            found.insert(0, self._database(rows))
        every = pl.concat(found)
        if every.height == 0:
            return pl.DataFrame(schema={"__row": pl.Int64, "__dups": pl.List(_CAND)})
        hits = pl.concat(
            [
                self._exact(refs, every, "ekey", "same email ({})", "email"),
                self._exact(refs, every, "digits", "same phone ({})", "phone"),
                self._tail(refs, every),
                self._domain(refs, every),
            ]
        )
        return _candidates(hits)

    def remember(self, ids: pl.DataFrame) -> None:
        """Add the batch just checked to the pool, with the IDs its created rows were given
        (``__row``, ``__id_int``)."""
        last = self._last.join(
            ids.select(pl.col("__row").alias("rank"), pl.col("__id_int").alias("_id")),
            on="rank",
            how="left",
        ).with_columns(pl.col("_id").alias("id"))
        self.pool = pl.concat([self.pool, last.drop("_id")], rechunk=False)
        self._last = pl.DataFrame(schema=_REF)

    # -- the references: the pool, the batch, and the database's customers ---------------------

    def _refs(self, rows: pl.DataFrame, *, keep: bool = False) -> pl.DataFrame:
        parts = dedupe.key_parts(rows)
        if keep:  # the batch's own rows: their keys are written once they are created
            self._parts = parts.select("rank", "_tokens", "_ekey", "_domain", "_digits")
        sig = self.names.add(parts["_tokens"])
        return parts.select(
            "rank",
            "id",
            "name",
            "email",
            "phone",
            pl.col("_ekey").alias("ekey"),
            pl.col("_digits").alias("digits"),
            pl.col("_domain").alias("domain"),
            sig.alias("sig"),
        )

    def keys(self, ids: pl.DataFrame) -> pl.DataFrame:
        """The ``match_keys`` rows of the batch's rows just created (``__row``, ``__id_int``),
        from the parts the check already computed."""
        parts = ids.select(
            pl.col("__row").alias("rank"), pl.col("__id_int").alias("customer_id")
        ).join(self._parts, on="rank", how="left")
        return dedupe.keys_from_parts(parts)

    def _database(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Live customers that share a key with a row of the batch, not created by this
        import (those are in the pool): one query."""
        keys = (
            dedupe.keys_frame(
                rows.select(
                    pl.col("__row").alias("id"),
                    pl.col("__name").alias("name"),
                    pl.col("__email").alias("email"),
                    pl.col("__phone").alias("phone"),
                )
            )
            .select("kind", "value")
            .unique()
        )
        if keys.height == 0:
            return pl.DataFrame(schema=_REF)
        raw = self.conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            if self.conn.dialect.name == "postgresql":
                cur.execute(
                    "SELECT DISTINCT c.id, c.name, c.email, c.phone "
                    "FROM unnest(%s::text[], %s::text[]) AS j(kind, value) "
                    "JOIN match_keys mk ON mk.kind = j.kind AND mk.value = j.value "
                    "JOIN customers c ON c.id = mk.customer_id WHERE c.deleted_at IS NULL",
                    (keys["kind"].to_list(), keys["value"].to_list()),
                )
            else:
                cur.execute(
                    "SELECT DISTINCT c.id, c.name, c.email, c.phone FROM json_each(?) j "
                    "JOIN match_keys mk ON mk.kind = json_extract(j.value, '$[0]') "
                    "AND mk.value = json_extract(j.value, '$[1]') "
                    "JOIN customers c ON c.id = mk.customer_id WHERE c.deleted_at IS NULL",
                    (json.dumps(keys.rows()),),
                )
            found = cur.fetchall()
        finally:
            cur.close()
        hits = pl.DataFrame(
            found,
            schema={"id": pl.Int64, "name": pl.String, "email": pl.String, "phone": pl.String},
            orient="row",
        )
        mine = self.pool.filter(pl.col("id").is_not_null()).select("id")
        hits = hits.join(mine, on="id", how="anti")
        if hits.height == 0:
            return pl.DataFrame(schema=_REF)
        return self._refs(hits.with_columns(pl.lit(0, dtype=pl.Int64).alias("rank")))

    # -- the rules ---------------------------------------------------------------------------

    def _exact(
        self, refs: pl.DataFrame, every: pl.DataFrame, key: str, reason: str, shown: str
    ) -> pl.DataFrame:
        first = _firsts(every.filter(pl.col(key).is_not_null()), [key])
        return (
            refs.filter(pl.col(key).is_not_null())
            .select("rank", key)
            .join(first, on=key)
            .filter(pl.col("c_rank") < pl.col("rank"))
            .select(
                pl.col("rank").alias("__row"),
                "c_rank",
                "c_id",
                "c_name",
                pl.format(reason, pl.col(f"c_{shown}")).alias("reason"),
            )
        )

    def _tail(self, refs: pl.DataFrame, every: pl.DataFrame) -> pl.DataFrame:
        tail = pl.col("digits").str.slice(-dedupe.TAIL_DIGITS)
        long = pl.col("digits").str.len_chars() >= dedupe.TAIL_DIGITS
        pool = every.filter(long & pl.col("sig").is_not_null()).with_columns(tail.alias("tail"))
        first = _firsts(pool, ["tail", "sig"], more=["digits"])
        pairs = (
            refs.filter(long & pl.col("sig").is_not_null())
            .select("rank", "digits", "sig", tail.alias("tail"))
            .join(first, on="tail")
            .filter((pl.col("c_rank") < pl.col("rank")) & (pl.col("c_digits") != pl.col("digits")))
        )
        if pairs.height == 0:
            return _no_hits()
        ok = [
            self.names.similar(a, b)
            for a, b in zip(pairs["sig"].to_list(), pairs["c_sig"].to_list(), strict=True)
        ]
        return pairs.filter(pl.Series(ok, dtype=pl.Boolean)).select(
            pl.col("rank").alias("__row"),
            "c_rank",
            "c_id",
            "c_name",
            pl.format(
                "similar name ('{}') and the same last {} phone digits",
                pl.col("c_name"),
                pl.lit(dedupe.TAIL_DIGITS),
            ).alias("reason"),
        )

    def _domain(self, refs: pl.DataFrame, every: pl.DataFrame) -> pl.DataFrame:
        mine = refs.filter(pl.col("domain").is_not_null() & pl.col("sig").is_not_null())
        if mine.height == 0:
            return _no_hits()
        pairs = self.names.pair_frame(mine["sig"].unique().to_list())
        first = _firsts(
            every.filter(pl.col("domain").is_not_null() & pl.col("sig").is_not_null()),
            ["domain", "sig"],
        )
        return (
            mine.select("rank", "domain", "sig")
            .join(pairs, on="sig")
            .join(first, left_on=["domain", "other"], right_on=["domain", "c_sig"])
            .filter(pl.col("c_rank") < pl.col("rank"))
            .select(
                pl.col("rank").alias("__row"),
                "c_rank",
                "c_id",
                "c_name",
                pl.format(
                    "similar name ('{}') and the same email domain ({})",
                    pl.col("c_name"),
                    pl.col("domain"),
                ).alias("reason"),
            )
        )


def _firsts(frame: pl.DataFrame, keys: list[str], more: tuple[str, ...] | list[str] = ()) -> Any:
    """The earliest reference of each group: ``c_rank, c_id, c_name, c_email, c_phone, c_sig``
    (a customer of the database before any row; the lowest ID first)."""
    cols = ["rank", "id", "name", "email", "phone", "sig", *more]
    return (
        frame.sort("rank", "id", nulls_last=True)
        .group_by(keys, maintain_order=True)
        .agg(pl.col(c).first().alias(f"c_{c}") for c in cols if c not in keys)
        .with_columns(*(pl.col(k).alias(f"c_{k}") for k in keys if k in cols))
    )


def _no_hits() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "__row": pl.Int64,
            "c_rank": pl.Int64,
            "c_id": pl.Int64,
            "c_name": pl.String,
            "reason": pl.String,
        }
    )


def _candidates(hits: pl.DataFrame) -> pl.DataFrame:
    """One row per checked row with candidates: the strongest first (a "same ..." reason),
    then customers already in the database, then the earlier rows; at most ``MAX_NAMED``."""
    if hits.height == 0:
        return pl.DataFrame(schema={"__row": pl.Int64, "__dups": pl.List(_CAND)})
    strong = pl.col("reason").str.starts_with("same ")
    per = (
        hits.with_columns(strong.alias("_strong"))
        .sort("__row", "_strong", "c_rank", "c_id", descending=[False, True, False, False])
        .group_by("__row", "c_rank", "c_id", maintain_order=True)
        .agg(pl.col("c_name").first(), pl.col("reason"), pl.col("_strong").first())
        .sort("__row", "_strong", "c_rank", "c_id", descending=[False, True, False, False])
    )
    return (
        per.group_by("__row", maintain_order=True)
        .agg(
            pl.struct(
                pl.col("c_rank").alias("rank"),
                pl.col("c_id").alias("id"),
                pl.col("c_name").alias("name"),
                pl.col("reason").alias("reasons"),
            )
            .head(MAX_NAMED)
            .alias("__dups")
        )
        .with_columns(pl.col("__dups").cast(pl.List(_CAND)))
    )


def reject_messages(dups: pl.Expr) -> pl.Expr:
    """The ``possible_duplicate`` error message of each row: ``describe`` of its candidates."""
    e = pl.element().struct
    who = (
        pl.when(e.field("rank") == 0)
        .then(pl.format("customer {} ({})", e.field("id"), e.field("name")))
        .when(e.field("id").is_not_null())
        .then(
            pl.format(
                "customer {} ({}, row {} of this file)",
                e.field("id"),
                e.field("name"),
                e.field("rank"),
            )
        )
        .otherwise(pl.format("row {} of this file ({})", e.field("rank"), e.field("name")))
    )
    listed = dups.list.eval(pl.format("{}: {}", who, e.field("reasons").list.join("; ")))
    return pl.lit("possible duplicate of ") + listed.list.join("; ")


def describe(candidate: dict[str, Any]) -> str:
    """ "customer 12 (Ana Lima)", "row 7 of this file (Ana Lima)", or both."""
    if candidate["rank"] == 0:
        who = f"customer {candidate['id']} ({candidate['name']})"
    elif candidate["id"] is not None:
        who = (
            f"customer {candidate['id']} ({candidate['name']}, "
            f"row {candidate['rank']} of this file)"
        )
    else:
        who = f"row {candidate['rank']} of this file ({candidate['name']})"
    return f"{who}: {'; '.join(candidate['reasons'])}"


def warning_item() -> pl.Expr:
    """One candidate's ``possible_duplicate`` warning as stored (a JSON object), in the words
    of ``dedupe.duplicate_warnings``; from the columns ``id``, ``name`` and ``reasons``."""
    message = pl.format(
        "may be the same as customer {} ({}): {}",
        pl.col("id"),
        pl.col("name"),
        pl.col("reasons").list.join("; "),
    )
    return pl.struct(
        pl.lit("duplicate").alias("field"),
        pl.lit(dedupe.DUPLICATE_WARNING).alias("code"),
        message.alias("message"),
    ).struct.json_encode()
