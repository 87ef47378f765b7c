"""Duplicates: find customers that are likely the same person, on entry and over the database.

Two ways in, one vocabulary:

- **On entry** (``entry_candidates``): a handful of index lookups in ``match_keys`` when a
  customer is created, updated or imported. Rules: the same normalised email or phone; or a
  similar name together with a shared email domain or the same last seven phone digits.
- **Over the database** (``find``): a probabilistic model on Splink (DuckDB here; the same
  settings run on Spark). Blocking rules keep it far from n²; default m/u parameters ship in
  ``dedupe_model.json`` so that a small database gives stable results, and u is re-estimated by
  random sampling only when there is enough data. Pairs above the threshold (minus the pairs a
  person dismissed as "not a duplicate") are grouped into clusters with a per-field explanation.

Merging lives in ``merging.py``. Nothing here prints, reads the environment or commits.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import polars as pl
from rapidfuzz.distance import JaroWinkler
from sqlalchemy import Connection, and_, delete, select, tuple_

from customer_flow.core.errors import ValidationError
from customer_flow.core.models import RecordWarning
from customer_flow.duplicates.fields import Attribute, check_fields, choose
from customer_flow.duplicates.models import (
    DuplicateCandidate,
    DuplicateCluster,
    DuplicatePair,
    DuplicateReport,
)
from customer_flow.duplicates.names import nicknames
from customer_flow.store.schema import customers, duplicate_dismissals, match_keys

__all__ = [
    "DUPLICATE_WARNING",
    "all_dismissed",
    "check_batch",
    "check_fields",
    "duplicate_warnings",
    "entry_candidates",
    "find",
    "index_customers",
    "index_frame",
    "index_rows",
    "is_dismissed",
    "jaro_winkler",
    "key_parts",
    "keys_for",
    "keys_frame",
    "keys_from_parts",
    "load_params",
    "name_tokens",
    "names_similar",
    "nicknames",
    "normalise_email",
    "phone_digits",
    "read_live",
    "reindex",
    "write_keys",
]

#: The ``RecordWarning.code`` a customer carries while it looks like another live one.
DUPLICATE_WARNING = "possible_duplicate"
_NON_ALNUM = re.compile(r"[\W_]+")
#: Providers that ignore dots in the local part.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
TAIL_DIGITS = 7
#: Free email providers: sharing one says nothing about two people, so a similar name at one of
#: these domains is not evidence (the "similar name and the same email domain" rule is for
#: company domains). Gmail's googlemail.com is folded into gmail.com first.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "outlook.com",
        "hotmail.com", "hotmail.co.uk", "hotmail.fr", "live.com", "msn.com", "icloud.com",
        "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de",
        "gmx.net", "web.de", "mail.com", "yandex.ru", "mail.ru", "qq.com", "163.com",
        "zoho.com", "fastmail.com", "tutanota.com", "orange.fr", "free.fr", "libero.it",
    }
)  # fmt: skip


# -- normalising -------------------------------------------------------------------------------


def name_tokens(name: str | None) -> list[str]:
    """Lower-case, accent-free tokens of letters and digits (any script) of a name, sorted:
    "Lima, Ana" = "Ana Lima"."""
    if not name:
        return []
    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return sorted(t for t in _NON_ALNUM.split(plain) if t)


def normalise_email(email: str | None) -> tuple[str, str, str] | None:
    """(key, local part, domain): lower-cased, ``+tag`` dropped, dots dropped at Gmail."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    domain = _DOTLESS.get(domain, domain)
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}", local, domain


def phone_digits(phone: str | None) -> str | None:
    """The digits of a stored phone, without any extension."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone.split(";ext=", 1)[0])
    return digits or None


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1], by RapidFuzz (prefix weight 0.1 over at most 4
    characters, applied above a Jaro similarity of 0.7). The import's vectorised check calls the
    same implementation on whole groups of names at once, so both agree on every pair."""
    return float(JaroWinkler.similarity(a, b))


def names_similar(a: str | None, b: str | None) -> bool:
    """Whether two names look like one person's: close spelling in any word order, nicknames
    read as the given name. Numbers must agree ("Customer 1" is not "Customer 2")."""
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return False
    if {t for t in ta if t.isdigit()} != {t for t in tb if t.isdigit()}:
        return False
    if jaro_winkler(" ".join(ta), " ".join(tb)) >= 0.9:
        return True
    nick = nicknames()
    ca = sorted(nick.get(t, t) for t in ta)
    cb = sorted(nick.get(t, t) for t in tb)
    return jaro_winkler(" ".join(ca), " ".join(cb)) >= 0.9


def keys_for(name: str | None, email: str | None, phone: str | None) -> list[tuple[str, str]]:
    """The ``match_keys`` rows of one customer: (kind, value)."""
    keys: list[tuple[str, str]] = []
    normal = normalise_email(email)
    if normal:
        keys.append(("email", normal[0][:400]))
        tokens = set() if normal[2] in FREE_MAIL_DOMAINS else set(name_tokens(name))
        for token in {t for t in tokens if len(t) > 1}:
            keys.append(("dn", f"{normal[2]} {token}"[:400]))
    digits = phone_digits(phone)
    if digits:
        # One key serves both phone rules: the whole number is compared on the customer found.
        keys.append(("tail", digits[-TAIL_DIGITS:]))
    return keys


def index_customers(conn: Connection, rows: Iterable[Any]) -> None:
    """(Re)write the match keys of customers (objects with ``id``, ``name``, ``email``,
    ``phone``, such as ``Customer``)."""
    index_rows(conn, [(r.id, r.name, r.email, r.phone) for r in rows])


def reindex(conn: Connection, ids: Sequence[int], *, fresh: bool = False) -> None:
    """(Re)write the match keys of the customers with these IDs, read from the table: what a
    bulk path (an import's revert) calls once for everything it changed."""
    for start in range(0, len(ids), 5000):
        rows = conn.execute(
            select(customers.c.id, customers.c.name, customers.c.email, customers.c.phone).where(
                customers.c.id.in_(ids[start : start + 5000])
            )
        ).all()
        index_rows(conn, [tuple(r) for r in rows], fresh=fresh)


def index_rows(
    conn: Connection,
    rows: Sequence[tuple[int, str | None, str | None, str | None]],
    *,
    fresh: bool = False,
) -> None:
    """(Re)write the match keys of ``(id, name, email, phone)`` rows; ``fresh`` (rows just
    inserted) skips deleting old keys."""
    if not rows:
        return
    frame = pl.DataFrame(
        rows,
        schema={"id": pl.Int64, "name": pl.String, "email": pl.String, "phone": pl.String},
        orient="row",
    )
    index_frame(conn, frame, fresh=fresh)


def index_frame(conn: Connection, frame: pl.DataFrame, *, fresh: bool = False) -> None:
    """(Re)write the match keys of the customers in ``frame`` (columns ``id``, ``name``,
    ``email``, ``phone``): the bulk path, keys built vectorised by ``keys_frame``."""
    if frame.height == 0:
        return
    if not fresh:
        ids = frame["id"].to_list()
        for start in range(0, len(ids), 500):
            conn.execute(
                delete(match_keys).where(match_keys.c.customer_id.in_(ids[start : start + 500]))
            )
    write_keys(conn, keys_frame(frame))


def write_keys(conn: Connection, keys: pl.DataFrame) -> None:
    """Insert ``(kind, value, customer_id)`` rows, in key order, through the driver itself:
    ``executemany`` on tuples (SQLite; measured here as fast as one ``INSERT ... SELECT`` over
    a JSON array) or ``COPY`` (PostgreSQL). An import writes several keys per customer, and
    random-order inserts into the text primary key dominated its time."""
    if keys.height == 0:
        return
    keys = keys.sort("kind", "value", "customer_id")
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


_ASCII = r"^[\x00-\x7f]*$"
_KEYS_SCHEMA = {"kind": pl.String, "value": pl.String, "customer_id": pl.Int64}


def keys_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``match_keys`` rows of many customers at once: ``id, name, email, phone`` in,
    distinct ``(kind, value, customer_id)`` out. The very keys of ``keys_for``, vectorised:
    ASCII values in Polars expressions, any other value through ``keys_for``'s own functions,
    once per distinct value (a test checks both agree on a large random sample)."""
    df = key_parts(frame.rename({"id": "customer_id"}))
    return keys_from_parts(df)


def key_parts(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``name``, ``email``, ``phone``) plus what its keys are made of:
    ``_tokens`` (``name_tokens``), ``_ekey`` and ``_domain`` (``normalise_email``) and
    ``_digits`` (``phone_digits``)."""
    df = frame.with_columns(
        pl.col("name").cast(pl.String),
        pl.col("email").cast(pl.String),
        pl.col("phone").cast(pl.String),
    )
    df = _email_parts(df).with_columns(
        _tokens_expr(pl.col("name")).alias("_tokens"),
        _digits_expr(pl.col("phone")).alias("_digits"),
    )
    return _slow_values(df)


def keys_from_parts(df: pl.DataFrame) -> pl.DataFrame:
    """The ``(kind, value, customer_id)`` rows of a frame made by ``key_parts``."""
    has_email = df.filter(pl.col("_ekey").is_not_null())
    parts = [
        has_email.select(
            pl.lit("email").alias("kind"),
            pl.col("_ekey").str.slice(0, 400).alias("value"),
            "customer_id",
        ),
        has_email.filter(~pl.col("_domain").is_in(list(FREE_MAIL_DOMAINS)))
        .select("customer_id", "_domain", pl.col("_tokens").list.unique())
        .explode("_tokens")
        .filter(pl.col("_tokens").str.len_chars() > 1)
        .select(
            pl.lit("dn").alias("kind"),
            (pl.col("_domain") + " " + pl.col("_tokens")).str.slice(0, 400).alias("value"),
            "customer_id",
        ),
        df.filter(pl.col("_digits").is_not_null()).select(
            pl.lit("tail").alias("kind"),
            pl.col("_digits").str.slice(-TAIL_DIGITS).alias("value"),
            "customer_id",
        ),
    ]
    keys = pl.concat(parts).cast(_KEYS_SCHEMA)  # type: ignore[arg-type]
    # A customer's keys are distinct by construction, unless cutting at 400 characters made
    # two of them one.
    if keys.height and int(keys["value"].str.len_chars().max() or 0) >= 400:  # type: ignore[arg-type]
        keys = keys.unique(maintain_order=True)
    return keys


_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() strips, within ASCII


def _email_parts(df: pl.DataFrame) -> pl.DataFrame:
    """``normalise_email`` of the ASCII emails of ``email``: ``_ekey`` (null when there is
    none) and ``_domain``, in steps (each intermediate column computed once)."""
    email = pl.col("email")
    df = df.with_columns(
        (
            email.str.contains("@", literal=True).fill_null(False)
            & (email.str.len_bytes() == email.str.len_chars())
        ).alias("_usable"),
        email.str.strip_chars(_SPACE).str.to_lowercase().alias("_lower"),
    ).with_columns(pl.col("_lower").str.extract(r"@([^@]*)$", 1).alias("_domain"))
    df = df.with_columns(
        pl.col("_lower")
        .str.head(pl.col("_lower").str.len_chars() - pl.col("_domain").str.len_chars() - 1)
        .alias("_local"),
        pl.when(pl.col("_domain") == "googlemail.com")
        .then(pl.lit("gmail.com"))
        .otherwise(pl.col("_domain"))
        .alias("_domain"),
    ).with_columns(pl.col("_local").str.extract(r"^([^+]*)", 1).alias("_untagged"))
    local = pl.when(pl.col("_untagged") != "").then(pl.col("_untagged")).otherwise("_local")
    local = (
        pl.when(pl.col("_domain") == "gmail.com")
        .then(local.str.replace_all(".", "", literal=True))
        .otherwise(local)
    )
    return df.with_columns(
        pl.when("_usable").then(pl.concat_str(local, pl.lit("@"), "_domain")).alias("_ekey"),
        pl.when("_usable").then("_domain").alias("_domain"),
    ).drop("_usable", "_lower", "_local", "_untagged")


def _tokens_expr(name: pl.Expr) -> pl.Expr:
    """``name_tokens`` for ASCII names (casefold, NFKD and accents change nothing there)."""
    return pl.when(name.str.len_bytes() == name.str.len_chars()).then(
        name.str.to_lowercase().str.extract_all(r"[a-z0-9]+")
    )


def _digits_expr(phone: pl.Expr) -> pl.Expr:
    """``phone_digits`` for ASCII phones."""
    digits = phone.str.split(";ext=").list.first().str.replace_all(r"[^0-9]", "")
    return pl.when((phone.str.len_bytes() == phone.str.len_chars()) & (digits != "")).then(digits)


def _slow_values(df: pl.DataFrame) -> pl.DataFrame:
    """Fill in, through the scalar functions, what the ASCII expressions left undecided."""
    name_todo = df["name"].filter(df["_tokens"].is_null() & df["name"].is_not_null()).unique()
    if len(name_todo):
        names = name_todo.to_list()
        found = pl.DataFrame(
            {"name": names, "_t2": [name_tokens(n) for n in names]},
            schema={"name": pl.String, "_t2": pl.List(pl.String)},
        )
        df = (
            df.join(found, on="name", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_tokens", "_t2").alias("_tokens"))
            .drop("_t2")
        )
    todo = (
        df["email"]
        .filter(
            df["_ekey"].is_null() & df["email"].str.contains("@", literal=True).fill_null(False)
        )
        .unique()
    )
    if len(todo):
        emails = todo.to_list()
        normal = [normalise_email(e) for e in emails]
        found = pl.DataFrame(
            {
                "email": emails,
                "_e2": [n[0] if n else None for n in normal],
                "_d2": [n[2] if n else None for n in normal],
            },
            schema={"email": pl.String, "_e2": pl.String, "_d2": pl.String},
        )
        df = (
            df.join(found, on="email", how="left", maintain_order="left")
            .with_columns(
                pl.coalesce("_ekey", "_e2").alias("_ekey"),
                pl.coalesce("_domain", "_d2").alias("_domain"),
            )
            .drop("_e2", "_d2")
        )
    todo = (
        df["phone"]
        .filter(df["_digits"].is_null() & ~df["phone"].str.contains(_ASCII).fill_null(True))
        .unique()
    )
    if len(todo):
        phones = todo.to_list()
        found = pl.DataFrame(
            {"phone": phones, "_p2": [phone_digits(p) for p in phones]},
            schema={"phone": pl.String, "_p2": pl.String},
        )
        df = (
            df.join(found, on="phone", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_digits", "_p2").alias("_digits"))
            .drop("_p2")
        )
    return df


# -- on entry ----------------------------------------------------------------------------------


def entry_candidates(
    conn: Connection,
    name: str | None,
    email: str | None,
    phone: str | None,
    *,
    exclude_id: int | None = None,
) -> list[DuplicateCandidate]:
    """Live customers that look like the one described, each with why; index lookups only."""
    return check_batch(conn, [(name, email, phone, exclude_id)])[0]


def check_batch(
    conn: Connection, rows: Sequence[tuple[str | None, str | None, str | None, int | None]]
) -> list[list[DuplicateCandidate]]:
    """For each (name, email, phone, own ID or None): the live customers it may duplicate.

    One indexed query per batch, whatever its size, so the import pipeline can call it for each
    batch it loads and list the rows in its report. Dismissed pairs are not reported.
    """
    wanted: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for i, (name, email, phone, _own) in enumerate(rows):
        for kind, value in keys_for(name, email, phone):
            wanted.setdefault((kind, value), []).append((i, kind))
    found: list[dict[int, list[str]]] = [{} for _ in rows]
    if not wanted:
        return [[] for _ in rows]
    hits: list[Any] = []
    by_kind: dict[str, list[str]] = {}
    for kind, value in wanted:
        by_kind.setdefault(kind, []).append(value)
    for kind, values in sorted(by_kind.items()):
        for start in range(0, len(values), 500):
            # "kind = ? AND value IN (...)" is a range of the primary key. The trash is left out
            # here, not in SQL: with a pair IN list, or with "deleted_at IS NULL", SQLite
            # walked every key or every live customer instead (0.2 s a check at 200,000).
            hits += [
                hit
                for hit in conn.execute(
                    select(match_keys.c.kind, match_keys.c.value, customers)
                    .join(customers, customers.c.id == match_keys.c.customer_id)
                    .where(
                        match_keys.c.kind == kind,
                        match_keys.c.value.in_(values[start : start + 500]),
                    )
                )
                if hit.deleted_at is None
            ]
    info: dict[int, Any] = {}
    for hit in hits:
        info[hit.id] = hit
        for i, kind in wanted[(hit.kind, hit.value)]:
            name, email, phone, own = rows[i]
            if hit.id == own:
                continue
            why = _reason(kind, hit, name, email, phone)
            if why and why not in found[i].setdefault(hit.id, []):
                found[i][hit.id].append(why)
    dismissed = _dismissed_among(conn, {(i, o) for f in found for i in f for o in _owns(rows)})
    result: list[list[DuplicateCandidate]] = []
    for (_n, _e, _p, own), reasons in zip(rows, found, strict=True):
        result.append(
            [
                DuplicateCandidate(
                    id=cid,
                    name=info[cid].name,
                    email=info[cid].email,
                    phone=info[cid].phone,
                    reasons=why,
                )
                for cid, why in sorted((c, _tidy(w)) for c, w in reasons.items())
                if why and (own is None or _pair(own, cid) not in dismissed)
            ]
        )
    return result


def _tidy(reasons: list[str]) -> list[str]:
    """Strongest first; the same last digits say nothing more when the whole phone is the same."""
    if any(r.startswith("same phone") for r in reasons):
        reasons = [r for r in reasons if "phone digits" not in r]
    return sorted(reasons, key=lambda r: not r.startswith("same "))


def _owns(rows: Sequence[tuple[Any, Any, Any, int | None]]) -> set[int]:
    return {r[3] for r in rows if r[3] is not None}


def _reason(kind: str, hit: Any, name: str | None, email: str | None, phone: str | None) -> str:
    if kind == "email":
        return f"same email ({hit.email})"
    if kind == "tail" and phone_digits(hit.phone) == phone_digits(phone):
        return f"same phone ({hit.phone})"
    if not names_similar(name, hit.name):
        return ""
    if kind == "dn":
        domain = (normalise_email(email) or ("", "", "?"))[2]
        return f"similar name ({hit.name!r}) and the same email domain ({domain})"
    return f"similar name ({hit.name!r}) and the same last {TAIL_DIGITS} phone digits"


def duplicate_warnings(candidates: Sequence[DuplicateCandidate]) -> list[RecordWarning]:
    """The warnings a customer keeps while it looks like other live customers."""
    return [
        RecordWarning(
            field="duplicate",
            code=DUPLICATE_WARNING,
            message=f"may be the same as customer {c.id} ({c.name}): {'; '.join(c.reasons)}",
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


# -- over the whole database: Splink -----------------------------------------------------------


def load_params() -> dict[str, Any]:
    """The shipped default model parameters (``dedupe_model.json``)."""
    text = (resources.files(__package__) / "model.json").read_text()
    params: dict[str, Any] = json.loads(text)
    return params


def read_live(conn: Connection, attributes: Sequence[Attribute]) -> dict[str, list[Any]]:
    """The live customers as columns, each extra attribute as ``x_<name>``: the first non-empty
    value among its keys, as text. Read in batches through the driver's own cursor, the values
    taken out of ``extra`` by the database's JSON functions: at a million rows, SQLAlchemy's row
    objects (or parsing every object in Python) would cost more than the whole model."""
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
        names.append(f"x_{a.name}")
        cols[f"x_{a.name}"] = []
    cursor = conn.connection.cursor()
    try:
        cursor.execute(
            f"SELECT {', '.join(wanted)} FROM customers WHERE deleted_at IS NULL", tuple(params)
        )
        while batch := cursor.fetchmany(100_000):
            for key, part in zip(names, zip(*batch, strict=True), strict=True):
                if key.startswith("x_"):
                    # SQLite gives JSON numbers as numbers; the model compares text.
                    part = tuple(v if v is None or isinstance(v, str) else str(v) for v in part)
                cols[key].extend(part)
    finally:
        cursor.close()
    return cols


def find(
    columns: dict[str, list[Any]],
    *,
    threshold: float,
    attributes: Sequence[Attribute] = (),
    auto_fields: bool = True,
    dismissed: set[tuple[int, int]] | None = None,
    train: bool | None = None,
    params: dict[str, Any] | None = None,
) -> DuplicateReport:
    """Score the pairs the blocking rules pick out, keep those at or above ``threshold``, drop
    dismissed pairs, and group the rest into clusters (connected components).

    ``attributes`` are the extra attributes read into ``columns`` (``read_live``);
    ``dedupe_fields.choose`` decides which of them are compared, and the report says which
    fields were compared and why (``auto_fields`` says whether identifying attributes were
    looked for at all)."""
    from customer_flow.duplicates import model as dedupe_model

    if not 0.0 < threshold < 1.0:
        raise ValidationError(
            f"threshold: {threshold} must be between 0 and 1 (exclusive)",
            field="threshold",
            code="bad_threshold",
        )
    params = params or load_params()
    started = time.perf_counter()
    n = len(columns["unique_id"])
    fields, compared, left_out = choose(columns, attributes, params)
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
    if n < 2:
        return report
    scored = dedupe_model.score(
        columns, fields=fields, params=params, threshold=threshold, train=train
    )
    dismissed = dismissed or set()
    pairs = [p for p in scored.pairs if _pair(p.a, p.b) not in dismissed]
    report.clusters = _cluster(pairs, columns)
    report.pairs_compared = scored.pairs_compared
    report.trained = scored.trained
    report.seconds = round(time.perf_counter() - started, 3)
    report.blocking_seconds = round(scored.blocking_seconds, 3)
    return report


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
                    DuplicateCandidate.model_construct(
                        id=m, name=names[m][0], email=names[m][1], phone=names[m][2], reasons=[]
                    )
                    for m in members
                ],
                pairs=edges,
            )
        )
    clusters.sort(key=lambda c: (-c.score, c.ids[0]))
    return clusters
