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
- the earlier rows of the file: only the earliest row of each group, as its key's 64-bit hash,
  its row and its ID (``SortedKeys``: about 75 MB for 1,000,000 rows, beyond that in mapped
  files); a created one is named from the database, and only rows never created keep their
  name, email and phone, in a private temporary SQLite database (``_Kept``) that spills to
  disk past a few MB;
- names: compared once per pair of distinct name signatures (sorted, accent-free tokens) that
  share a token, with RapidFuzz's Jaro-Winkler over whole groups at once (``dedupe.jaro_winkler``
  is the same implementation), and remembered for the rest of the import.

Within each group of rows that share a key (an email, a phone, a domain and a name signature,
last digits and a name signature), the earliest is the one named: a row of a file of a thousand
"Maria Smith"s at one domain names the first, not the other 998.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler
from sqlalchemy import Connection

from customer_flow.data.sorted_keys import SortedKeys
from customer_flow.duplicates import find as dedupe

__all__ = ["FLAT", "MAX_NAMED", "DuplicateCheck", "reject_messages", "warning_items", "who"]

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


_PAIR = {"sig": pl.Int64, "other": pl.Int64}
#: Name pairs the tail rule remembers comparing before it starts afresh (memory stays flat:
#: about 35 MB when full, a pair being one int key).
MEMO = 500_000


def _sig_hash() -> pl.Expr:
    return pl.col("sig").hash(seed=0x516)


class _Names:
    """Distinct name signatures seen in this import, and which pairs of them are similar."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.sig: list[str] = []
        self.canon: list[str] = []
        self.nums: list[str] = []
        self.by_token: dict[str, list[int]] = defaultdict(list)
        # Similar and sharing a token (the dn rule), both ways, by the hash of ``sig``: arrays,
        # not a set of tuples, so that millions of pairs cost 24 bytes each.
        self.pairs = SortedKeys(["sig", "other"])
        # Any similar pair (the tail rule), remembered up to MEMO pairs, then forgotten.
        self.memo: dict[int, bool] = {}  # (smaller << 32 | larger signature) -> similar

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
        found_a: list[int] = []
        found_b: list[int] = []
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
            xs, ys = np.nonzero(hit)
            for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
                a, b = new[x], group[y]
                if self.nums[a] == self.nums[b]:
                    found_a.append(a)
                    found_b.append(b)
        if found_a:
            # Each new pair has a new signature: only pairs found twice here can repeat.
            both = pl.DataFrame(
                {"sig": found_a + found_b, "other": found_b + found_a}, schema=_PAIR
            ).unique()
            self.pairs.add(both.with_columns(_sig_hash().alias("h")))

    def similar(self, a: int, b: int) -> bool:
        """``dedupe.names_similar`` of two signatures."""
        if a == b:
            return True
        key = (a << 32 | b) if a < b else (b << 32 | a)
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) >= MEMO:
                self.memo.clear()
            found = self.nums[a] == self.nums[b] and (
                dedupe.jaro_winkler(self.sig[a], self.sig[b]) >= 0.9
                or dedupe.jaro_winkler(self.canon[a], self.canon[b]) >= 0.9
            )
            self.memo[key] = found
        return found

    def pair_frame(self, sigs: list[int]) -> pl.DataFrame:
        """(sig, other) for every similar pair sharing a token, ``sig`` among ``sigs``; each
        signature with a token of two or more characters is paired with itself too."""
        same = [a for a in sigs if any(len(t) > 1 for t in self.sig[a].split(" "))]
        asked = pl.DataFrame({"sig": sigs}, schema={"sig": pl.Int64})
        known = self.pairs.lookup(asked.select(_sig_hash()).to_series())
        return pl.concat(
            [
                known.select("sig", "other").join(asked, on="sig", how="semi"),
                pl.DataFrame({"sig": same, "other": same}, schema=_PAIR),
            ]
        ).unique()


def _cdist(a: list[str], b: list[str]) -> Any:
    return (
        process.cdist(
            a, b, scorer=JaroWinkler.similarity, score_cutoff=0.9, dtype=np.float64, workers=1
        )
        > 0
    )


#: The groups of each rule: the columns that make the key, and whether names must be similar.
_GROUPS: dict[str, list[str]] = {
    "ekey": ["ekey"],
    "digits": ["digits"],
    "tail": ["tail", "sig"],
    "dn": ["domain", "sig"],
}
#: The columns a rule looks a group up by: the tail rule finds every name under a phone tail,
#: then compares the names.
_LOOKUP: dict[str, list[str]] = {**_GROUPS, "tail": ["tail"]}
#: Customers of the database rank before every row: their rank is their ID minus this.
_DB = 1 << 62
_SEED = 0x5EED
#: The flat candidates ``check`` returns: one row per (row, candidate), strongest first.
FLAT: dict[str, Any] = {
    "__row": pl.Int64,
    "c_rank": pl.Int64,
    "c_id": pl.Int64,
    "c_name": pl.String,
    "reasons": pl.List(pl.String),
    "why": pl.String,
}


def _hash(cols: list[str]) -> pl.Expr:
    """The 64-bit hash of a group's lookup key (one string, or several joined by a separator
    no key holds). Two keys share a hash by chance with odds about n / 2**64 per lookup: about
    one in 10**6 over every lookup of a 5,000,000-row import, and then a row names one
    candidate too many, never one too few."""
    if len(cols) == 1:
        return pl.col(cols[0]).hash(seed=_SEED)
    return pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="\x1f").hash(
        seed=_SEED
    )


class DuplicateCheck:
    """The possible duplicates of an import's new rows, batch after batch.

    What it keeps between batches grows with the groups, not with their members: for each
    rule, the earliest row of each group (``SortedKeys``: its key's hash, rank and ID), and the
    name, email and phone of the earliest rows that were not created (rejected as possible
    duplicates); a created one is named from the database."""

    def __init__(self, conn: Connection, *, existing: bool) -> None:
        self.conn = conn
        self.existing = existing  # the database had customers when the import began
        self.names = _Names()
        # Only the tail rule's groups have a name signature (its groups are tail and name).
        self.firsts = {
            kind: SortedKeys(["sig", "rank", "id"] if kind == "tail" else ["rank", "id"])
            for kind in _GROUPS
        }
        self.kept = _Kept()  # rank -> name, email, phone of rows not created
        self._batch = pl.DataFrame(schema=_REF)
        self._new_firsts: dict[str, pl.DataFrame] = {}
        self._parts = pl.DataFrame()
        self.created = SortedKeys(["id"])  # IDs this import created, when there were others

    def check(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows``: ``__row, __name, __email, __phone`` of the batch's new rows. Returns the
        candidates of the rows that have some (``FLAT``): ``c_rank`` is the candidate's row in
        the file, or negative for a customer already in the database; ``c_id`` its ID when
        known; ``why`` its reasons."""
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
        self._batch = refs
        found = [refs]
        if self.existing:
            found.insert(0, self._database(rows))
        every = _with_tail(pl.concat(found))
        # The pairs of similar names (sharing a token) that the dn rule may join on.
        mine = refs.filter(pl.col("domain").is_not_null() & pl.col("sig").is_not_null())
        pairs = self.names.pair_frame(mine["sig"].unique().to_list())
        wanted = {
            "ekey": refs.select(_hash(["ekey"])),
            "digits": refs.select(_hash(["digits"])),
            "tail": _with_tail(refs).select(_hash(["tail"])),  # any name: compared after
            "dn": mine.select("domain", "sig")
            .join(pairs, on="sig")
            .select(_hash(["domain", "other"])),
        }
        firsts = {}
        earlier = []
        for kind, cols in _GROUPS.items():
            has = every.select("rank", *cols).filter(
                pl.all_horizontal(pl.col(c).is_not_null() for c in cols)
            )
            here = (
                has.sort("rank")
                .group_by(cols, maintain_order=True)
                .agg(pl.col("rank").first())
                .select(
                    _hash(_LOOKUP[kind]).alias("h"),
                    (pl.col("sig") if kind == "tail" else pl.lit(None, dtype=pl.Int64)).alias(
                        "sig"
                    ),
                    "rank",
                )
            )
            before = self.firsts[kind].lookup(pl.concat([wanted[kind].to_series(), here["h"]]))
            if kind != "tail":
                before = before.with_columns(pl.lit(None, dtype=pl.Int64).alias("sig"))
            group = ["h", "sig"] if kind == "tail" else ["h"]
            self._new_firsts[kind] = here.join(before, on=group, how="anti", nulls_equal=True)
            earlier.append(before.select("rank", "id"))
            firsts[kind] = (
                pl.concat([before.select("h", "sig", "rank"), here])
                .sort("rank")
                .group_by(group, maintain_order=True)
                .agg(pl.col("rank").first())
            )
        shown = pl.concat(
            [self._shown(pl.concat(earlier).unique("rank")), every.select(list(_SHOWN))]
        )
        refs = _with_tail(refs)
        hits = pl.concat(
            [
                self._exact(refs, firsts["ekey"], shown, "ekey", "same email ({})", "email"),
                self._exact(refs, firsts["digits"], shown, "digits", "same phone ({})", "phone"),
                self._tail(refs, firsts["tail"], shown),
                self._domain(mine, pairs, firsts["dn"], shown),
            ]
        )
        return _candidates(hits)

    def remember(self, ids: pl.DataFrame) -> None:
        """Keep what later batches need of the batch just checked: the earliest row of each
        new group, with the ID it was given if it was created (``__row``, ``__id_int``)."""
        given = ids.select(pl.col("__row").alias("rank"), pl.col("__id_int").alias("id"))
        ranks = []
        for kind, new in self._new_firsts.items():
            new = new.filter(pl.col("rank") > 0)  # the database's customers are asked again
            new = new.join(given, on="rank", how="left")
            self.firsts[kind].add(new)
            ranks.append(new.filter(pl.col("id").is_null()).select("rank"))
        if ranks:
            # Rows that were not created cannot be named from the database: keep their values.
            wanted = pl.concat(ranks).unique()
            kept = self._batch.join(wanted, on="rank", how="semi").select(
                "rank", pl.lit(None, dtype=pl.Int64).alias("id"), "name", "email", "phone"
            )
            self.kept.add(kept)
        if self.existing:
            created = ids.select(pl.col("__id_int").alias("id")).drop_nulls()
            self.created.add(created.with_columns(pl.col("id").hash(seed=_SEED).alias("h")))
        self._new_firsts = {}
        self._batch = pl.DataFrame(schema=_REF)

    def close(self) -> None:
        self.kept.close()

    def _shown(self, earlier: pl.DataFrame) -> pl.DataFrame:
        """``rank, id, name, email, phone`` of earlier rows (``rank, id``): a created one from
        the database by its ID (one query), any other from what ``remember`` kept."""
        created = earlier.filter(pl.col("id").is_not_null())
        kept = self.kept.get(earlier.filter(pl.col("id").is_null())["rank"])
        if created.height == 0:
            return kept
        ids = created["id"].to_list()
        if self.conn.dialect.name == "postgresql":
            sql = "SELECT id, name, email, phone FROM customers WHERE id = ANY(%s)"
            param: Any = ids
        else:
            sql = (
                "SELECT id, name, email, phone FROM customers "
                "WHERE id IN (SELECT value FROM json_each(?))"
            )
            param = json.dumps(ids)
        values = _people(self.conn, sql, (param,))
        return pl.concat([created.join(values, on="id").select(list(_SHOWN)), kept])

    # -- the references: the batch, and the database's customers -------------------------------

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
            # A free-mail domain is no shared domain (dedupe.FREE_MAIL_DOMAINS): no dn group.
            pl.when(pl.col("_domain").is_in(list(dedupe.FREE_MAIL_DOMAINS)))
            .then(None)
            .otherwise(pl.col("_domain"))
            .alias("domain"),
            sig.alias("sig"),
        )

    def keys(self, ids: pl.DataFrame) -> pl.DataFrame:
        """The ``match_keys`` rows of the batch's rows just created (``__row``, ``__id_int``),
        from the parts the check already computed."""
        parts = ids.select(
            pl.col("__row").alias("rank"), pl.col("__id_int").alias("customer_id")
        ).join(self._parts, on="rank", how="left")
        self._parts = pl.DataFrame()  # written once: let the memory go
        return dedupe.keys_from_parts(parts)

    def _database(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Live customers that share a key with a row of the batch, not created by this
        import (its own rows are kept here): one query."""
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
        if self.conn.dialect.name == "postgresql":
            hits = _people(
                self.conn,
                "SELECT DISTINCT c.id, c.name, c.email, c.phone "
                "FROM unnest(%s::text[], %s::text[]) AS j(kind, value) "
                "JOIN match_keys mk ON mk.kind = j.kind AND mk.value = j.value "
                "JOIN customers c ON c.id = mk.customer_id WHERE c.deleted_at IS NULL",
                (keys["kind"].to_list(), keys["value"].to_list()),
            )
        else:
            # CROSS JOIN fixes the order: each key, then its index entries, then the
            # customer. Left to itself SQLite walked every live customer for each key.
            hits = _people(
                self.conn,
                "SELECT DISTINCT c.id, c.name, c.email, c.phone FROM json_each(?) j "
                "CROSS JOIN match_keys mk ON mk.kind = json_extract(j.value, '$[0]') "
                "AND mk.value = json_extract(j.value, '$[1]') "
                "CROSS JOIN customers c ON c.id = mk.customer_id WHERE c.deleted_at IS NULL",
                (json.dumps(keys.rows()),),
            )
        if len(self.created):
            mine = self.created.lookup(hits["id"].hash(seed=_SEED)).select("id")
            hits = hits.join(mine, on="id", how="anti")
        if hits.height == 0:
            return pl.DataFrame(schema=_REF)
        return self._refs(hits.with_columns((pl.col("id") - _DB).alias("rank")))

    # -- the rules ---------------------------------------------------------------------------

    def _exact(
        self,
        refs: pl.DataFrame,
        first: pl.DataFrame,
        shown: pl.DataFrame,
        key: str,
        reason: str,
        field: str,
    ) -> pl.DataFrame:
        found = _earlier(
            refs.filter(pl.col(key).is_not_null()).select("rank", _hash([key]).alias("h")),
            first,
            shown,
        )
        return _hits(found, pl.format(reason, pl.col(f"c_{field}")))

    def _tail(self, refs: pl.DataFrame, first: pl.DataFrame, shown: pl.DataFrame) -> pl.DataFrame:
        long = pl.col("digits").str.len_chars() >= dedupe.TAIL_DIGITS
        pairs = _earlier(
            refs.filter(long & pl.col("sig").is_not_null()).select(
                "rank", "digits", "sig", _hash(["tail"]).alias("h")
            ),
            first.rename({"sig": "c_sig"}),
            shown,
        ).filter(_digits_expr("c_phone") != pl.col("digits"))
        if pairs.height == 0:
            return _no_hits()
        ok = [
            self.names.similar(a, b)
            for a, b in zip(pairs["sig"].to_list(), pairs["c_sig"].to_list(), strict=True)
        ]
        reason = pl.format(
            "similar name ({}) and the same last {} phone digits",
            _quoted("c_name"),
            pl.lit(dedupe.TAIL_DIGITS),
        )
        return _hits(pairs.filter(pl.Series(ok, dtype=pl.Boolean)), reason)

    def _domain(
        self, mine: pl.DataFrame, pairs: pl.DataFrame, first: pl.DataFrame, shown: pl.DataFrame
    ) -> pl.DataFrame:
        if mine.height == 0:
            return _no_hits()
        found = _earlier(
            mine.select("rank", "domain", "sig")
            .join(pairs, on="sig")
            .with_columns(_hash(["domain", "other"]).alias("h")),
            first,
            shown,
        )
        reason = pl.format(
            "similar name ({}) and the same email domain ({})", _quoted("c_name"), pl.col("domain")
        )
        return _hits(found, reason)


def _earlier(rows: pl.DataFrame, first: pl.DataFrame, shown: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (``rank``, ``h``, ...) joined with the first row of their group (``first``: ``h``,
    ``rank``) when that one came before them, and with its ID and values (``c_*``)."""
    return (
        rows.join(first.rename({"rank": "c_rank"}), on="h")
        .filter(pl.col("c_rank") < pl.col("rank"))
        .join(_show(shown), on="c_rank")
    )


def _hits(found: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    """The hits of a rule: each row, its candidate, and why."""
    return found.select(
        pl.col("rank").alias("__row"), "c_rank", "c_id", "c_name", reason.alias("reason")
    )


_SHOWN = {
    "rank": pl.Int64,
    "id": pl.Int64,
    "name": pl.String,
    "email": pl.String,
    "phone": pl.String,
}


def _people(conn: Connection, sql: str, params: tuple[Any, ...]) -> pl.DataFrame:
    """``id, name, email, phone`` of the customers a raw query selects (in that order), through
    the driver itself: one statement, however many keys or IDs it is given."""
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        found = cur.fetchall()
    finally:
        cur.close()
    return pl.DataFrame(
        found,
        schema={"id": pl.Int64, "name": pl.String, "email": pl.String, "phone": pl.String},
        orient="row",
    )


def _with_tail(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``tail`` of each long-enough phone, as the ``tail`` rule compares it."""
    digits = pl.col("digits")
    return frame.with_columns(
        pl.when(digits.str.len_chars() >= dedupe.TAIL_DIGITS)
        .then(digits.str.slice(-dedupe.TAIL_DIGITS))
        .alias("tail")
    )


def _show(shown: pl.DataFrame) -> pl.DataFrame:
    return shown.select(
        pl.col("rank").alias("c_rank"),
        pl.col("id").alias("c_id"),
        pl.col("name").alias("c_name"),
        pl.col("email").alias("c_email"),
        pl.col("phone").alias("c_phone"),
    )


def _digits_expr(col: str) -> pl.Expr:
    """``dedupe.phone_digits`` of a stored phone (E.164, or as given)."""
    return pl.col(col).str.split(";ext=").list.first().str.replace_all(r"\D", "")


def _quoted(col: str) -> pl.Expr:
    """``repr`` of a name, as the check on entry writes it: single quotes, unless the name has
    one and no double quote (Python's rule); names needing escapes go through ``repr``."""
    name = pl.col(col)
    plain = ~name.str.contains(r"[\\\x00-\x1f\x7f-\x9f]") & ~(
        name.str.contains("'", literal=True) & name.str.contains('"', literal=True)
    )
    simple = (
        pl.when(name.str.contains("'", literal=True))
        .then(pl.lit('"') + name + pl.lit('"'))
        .otherwise(pl.lit("'") + name + pl.lit("'"))
    )
    return pl.when(plain).then(simple).otherwise(name.map_elements(repr, return_dtype=pl.String))


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


class _Kept:
    """``rank -> name, email, phone`` of earlier rows that were not created, to name them: in
    a private temporary SQLite database (an empty file name), which lives in its small page
    cache and spills to a temporary file beyond it, and is gone when closed. In a Polars frame
    they cost about 70 bytes a row for the whole import (400,000 rows of a 1,000,000-row file
    whose possible duplicates were rejected)."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE kept (rank INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT)"
        )

    def add(self, rows: pl.DataFrame) -> None:
        """``rank, name, email, phone`` rows."""
        with self.db:
            self.db.executemany(
                "INSERT INTO kept VALUES (?, ?, ?, ?)",
                rows.select("rank", "name", "email", "phone").iter_rows(),
            )

    def get(self, ranks: pl.Series) -> pl.DataFrame:
        """``_SHOWN`` rows of the kept rows among ``ranks`` (``id`` null)."""
        found = self.db.execute(
            "SELECT rank, NULL, name, email, phone FROM kept "
            "WHERE rank IN (SELECT value FROM json_each(?))",
            (json.dumps(ranks.to_list()),),
        ).fetchall()
        return pl.DataFrame(found, schema=_SHOWN, orient="row")

    def close(self) -> None:
        self.db.close()


def _candidates(hits: pl.DataFrame) -> pl.DataFrame:
    """One row per (checked row, candidate), the strongest first (a "same ..." reason), then
    customers already in the database, then earlier rows; at most ``MAX_NAMED`` per row. A
    candidate's reasons keep the rules' order (email, phone, last digits, domain), the "same"
    ones first."""
    if hits.height == 0:
        return pl.DataFrame(schema=FLAT)
    per = (
        hits.with_row_index("_i")
        .with_columns(pl.col("reason").str.starts_with("same ").alias("_strong"))
        .sort("__row", "c_rank", "_strong", "_i", descending=[False, False, True, False])
        .group_by("__row", "c_rank", maintain_order=True)
        .agg(
            pl.col("c_id").first(),
            pl.col("c_name").first(),
            pl.col("reason").alias("reasons"),
            pl.col("_strong").first(),
        )
        .sort("__row", "_strong", "c_rank", descending=[False, True, False])
    )
    if per.height > per["__row"].n_unique():  # some row has several: keep the first few
        per = per.filter(pl.int_range(pl.len()).over("__row") < MAX_NAMED)
    return per.with_columns(pl.col("reasons").list.join("; ").alias("why")).select(list(FLAT))


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
    each = pl.format("{}: {}", who(pl.col("c_rank"), pl.col("c_id"), pl.col("c_name")), "why")
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
    message = pl.format("may be the same as customer {} ({}): {}", "c_id", "c_name", "why")
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
