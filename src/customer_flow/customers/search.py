"""Substring search over customers' name, email and phone, served by an index on both databases.

What a search finds (``customers.filter_conditions``): the customers whose name, email or phone
contains the text, ignoring case; and when the text has 3 or more digits among other
characters, the customers whose phone contains those digits ("(415) 555" finds +14155552671).
Text shorter than 3 characters is searched by a scan (no trigram to look up); text found in
very many customers is checked customer by customer in the page's order, which stops early.

SQLite (migration 0008): ``customer_search`` holds each customer's name, email and phone
case-folded with ``str.casefold`` (Unicode case folding, so "élodie" finds "ÉLODIE", which
SQLite's ASCII-only ``LIKE`` did not), and the FTS5 table ``customer_search_fts`` indexes that
text by trigrams (``detail=none``: it only yields candidates, the smallest index that can). A
search asks the index for the customers holding trigrams that cover the text, then checks
each candidate's folded text with ``instr``, so the index never changes what is found, only how
fast. A page in ID order walks the index itself, which yields its candidates in ID order: it
stops after a page of matches, with no count beforehand and no sort. The index is written by
``refresh``, never by triggers: per-row FTS5 triggers made a bulk insert 37x slower, while one
``refresh`` over an import's IDs costs a third to a half of inserting those rows
(benchmarks/RESULTS.md, "Search index"). Every write of a name, email or phone calls it on the
same connection, in the same transaction: ``customers.create``, ``update_customer`` and
``purge``, and the Hub for merges, imports and their reverts.

PostgreSQL: pg_trgm GIN indexes on ``customers.name``, ``email`` and ``phone`` serve the
search's ``ILIKE`` and ``LIKE`` directly; the server maintains them, and the query is the
scan's own. ``refresh`` only merges their pending lists after a bulk write.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    Select,
    String,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.exc import DBAPIError

from customer_flow.store.engine import casefold
from customer_flow.store.schema import customer_search, customers

__all__ = [
    "BULK_WRITE",
    "DENSE_CANDIDATES",
    "DENSE_CANDIDATES_SORTED",
    "FEW_CANDIDATES",
    "MIN_INDEXED",
    "Plan",
    "Shape",
    "condition",
    "fold",
    "id_column",
    "in_search_index",
    "plan",
    "rebuild",
    "refresh",
    "shape",
    "stale_ids",
    "template",
    "values",
]

#: The shortest folded text the trigram index can look up.
MIN_INDEXED = 3
#: Up to this many candidates, ``plan`` hands them to the query (fetching more would cost
#: more than the query looking them up again).
FEW_CANDIDATES = 200
#: More candidates than this and a page in ID order is found faster by checking customers in
#: that order, which stops after a page of matches, than from the candidates.
DENSE_CANDIDATES = 2000
#: The same for a page by name or by creation. Checking customers in that order reads their
#: rows scattered (about 10 µs each at 100,000 customers, against 2 µs a candidate to fetch
#: and sort), and how far it reads depends on where the matches sort: "Rita" by name, 5% of
#: the customers but all past the middle, took 157 ms that way and 9 ms from candidates.
DENSE_CANDIDATES_SORTED = 10000

#: A write of this many customers or more is a bulk write (see ``refresh``).
BULK_WRITE = 1000

_FTS = "customer_search_fts"
#: The FTS5 table, for queries: its hidden column of its own name takes MATCH.
fts = table(_FTS, column("rowid"), column(_FTS), column("name"), column("email"), column("phone"))
_TRGM_INDEXES = ("ix_customers_name_trgm", "ix_customers_email_trgm", "ix_customers_phone_trgm")


def fold(value: str) -> str:
    """The text as the index stores it and a search compares it (see ``store.casefold``)."""
    folded = casefold(value)
    assert folded is not None
    return folded


def in_search_index(name: str | None) -> bool:
    """Whether a database object belongs to the search index (migration 0008), which
    ``schema.metadata`` leaves out because it differs per database."""
    return bool(name) and (
        name == customer_search.name or str(name).startswith(_FTS) or name in _TRGM_INDEXES
    )


# -- searching ---------------------------------------------------------------------------------


def _digits(term: str) -> str | None:
    """The digits to look for in phones as well, or None."""
    digits = re.sub(r"\D", "", term)
    return digits if len(digits) >= 3 and digits != term else None


def _trigrams(term: str) -> str:
    """An FTS5 query for rows holding trigrams that cover ``term``: every third one and the
    last (each a quoted string). Every trigram would hardly narrow the candidates more, and
    reading half as many lists of rows halves the lookup."""
    grams = [term[i : i + 3] for i in range(0, len(term) - 2, 3)] + [term[-3:]]
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in dict.fromkeys(grams))


def _match(term: str) -> str:
    query = _trigrams(fold(term))
    digits = _digits(term)
    return f"({query}) OR ({_trigrams(digits)})" if digits else query


@dataclass(frozen=True)
class Plan:
    """How one search runs on SQLite (``plan`` picks it; every plan finds the same rows).

    ``scan``: check each customer in the page's order, which stops after a page when most
    customers match. ``candidates``: every customer the search can find, already looked up
    (the query only checks them). ``walk``: for a page in ID order, read the index's
    candidates in ID order (the query joins the index and orders by ``id_column``), which
    stops after a page of matches. None of them: the query looks the candidates up itself.
    """

    scan: bool = False
    candidates: tuple[int, ...] | None = None
    walk: bool = False


@dataclass(frozen=True)
class Shape:
    """What a search's SQL depends on, besides the values it is given: the database, how it
    runs (``way``) and whether it also looks for digits in phones. The SQL for each shape is
    built once (``template``); a search only binds its values (``values``)."""

    dialect: str
    way: Literal["server", "scan", "walk", "candidates", "short", "lookup"]
    digits: bool


def shape(dialect: str, term: str, plan: Plan | None = None) -> Shape:
    """The shape of a search for ``term`` (collapsed, not empty) run by ``plan``."""
    digits = _digits(term) is not None
    if dialect != "sqlite":
        return Shape(dialect, "server", digits)
    plan = plan or Plan()
    if plan.scan:
        return Shape(dialect, "scan", digits)
    if plan.walk:
        return Shape(dialect, "walk", digits)
    if plan.candidates is not None:
        return Shape(dialect, "candidates", digits)
    if len(fold(term)) < MIN_INDEXED:
        return Shape(dialect, "short", digits)
    return Shape(dialect, "lookup", digits)


def condition(dialect: str, term: str, plan: Plan | None = None) -> ColumnElement[bool]:
    """The WHERE clause on ``customers`` for a search (``term`` already collapsed, not empty),
    with its values bound: ``template`` and ``values`` in one."""
    of = shape(dialect, term, plan)
    return _build(of, values(of, term, plan))


@functools.cache
def template(of: Shape) -> ColumnElement[bool]:
    """The WHERE clause on ``customers`` for searches of this shape, with bound parameters
    named ``search_*`` for ``values`` to fill. Built once per shape."""
    return _build(of, None)


def _build(of: Shape, given: dict[str, Any] | None) -> ColumnElement[bool]:
    """The search's WHERE clause, its parameters bound to ``given`` (or left to fill).

    PostgreSQL: ``ILIKE`` on name and email, ``LIKE`` on phone, which the trigram indexes
    serve. On SQLite, the candidates drive the query unless the search scans: the trigram
    index's for text of 3 or more characters, else the customers whose folded text holds it
    (one pass over ``customer_search``). A walk joins the index itself to ``customers``; order
    its page by ``id_column``. The same rows whatever the way."""

    def param(name: str) -> Any:
        if given is None:
            return bindparam(name, type_=String)
        return bindparam(name, given[name], type_=String)

    if of.dialect != "sqlite":
        like = param("search_like")
        terms = [
            customers.c.name.ilike(like, escape="/"),
            customers.c.email.ilike(like, escape="/"),
            customers.c.phone.like(like, escape="/"),
        ]
        if of.digits:
            terms.append(customers.c.phone.like(param("search_digits_like")))
        return or_(*terms)
    folded = param("search_text")
    checks = [func.instr(customer_search.c[f], folded) > 0 for f in ("name", "email", "phone")]
    if of.digits:
        checks.append(func.instr(customers.c.phone, param("search_digits")) > 0)
    found = exists().where(customer_search.c.id == customers.c.id, or_(*checks))
    if of.way == "scan":
        return found
    if of.way == "short":
        return customers.c.id.in_(select(customer_search.c.id).where(or_(*checks)))
    if of.way == "candidates":
        ids = func.json_each(param("search_ids")).table_valued("value")
        return customers.c.id.in_(select(ids.c.value)) & found
    matches = fts.c[_FTS].op("MATCH")(param("search_match"))
    if of.way == "walk":
        return (customers.c.id == fts.c.rowid) & matches & found
    return customers.c.id.in_(select(fts.c.rowid).where(matches)) & found


def values(of: Shape, term: str, plan: Plan | None = None) -> dict[str, Any]:
    """The values of ``template(of)``'s parameters for a search of ``term`` run by ``plan``."""
    digits = _digits(term)
    if of.dialect != "sqlite":
        found = {"search_like": f"%{_escape_like(term)}%"}
        if digits:
            found["search_digits_like"] = f"%{digits}%"  # digits: no wildcard to escape
        return found
    found = {"search_text": fold(term)}
    if digits:
        found["search_digits"] = digits
    if of.way in ("walk", "lookup"):
        found["search_match"] = _match(term)
    if of.way == "candidates":
        assert plan is not None and plan.candidates is not None
        found["search_ids"] = json.dumps(list(plan.candidates))
    return found


def _escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it literally, with ``/`` as the escape
    character (what SQLAlchemy's ``contains(..., autoescape=True)`` does)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _matches(term: str) -> ColumnElement[bool]:
    """The index's rows that may hold ``term`` (3 or more characters once folded)."""
    return fts.c[_FTS].op("MATCH")(_match(term))


def id_column(of: Shape | None) -> ColumnElement[int]:
    """The column a page in ID order is sorted and continued by: the customer's ID, or, when
    the search walks the index, the index's row ID, which holds the same value. (Sorted by
    ``customers.id``, SQLite would read the customers in ID order and look each one up in the
    index, or sort every candidate; by the index's row ID it reads the index in order.)"""
    return fts.c.rowid if of is not None and of.way == "walk" else customers.c.id


def _checks(term: str) -> list[ColumnElement[bool]]:
    """The folded text holds the folded term, per column of ``customer_search``."""
    folded = fold(term)
    return [func.instr(customer_search.c[f], folded) > 0 for f in ("name", "email", "phone")]


def plan(conn: Connection, term: str, *, by_id: bool = True) -> Plan:
    """The fastest way to a page of results for ``term``, in the page's order (``by_id``, or
    by name or creation). Call it in the transaction that searches.

    SQLite, a page in ID order of text the index can look up: walk the index, which yields
    its candidates in ID order, so the page costs what its own candidates cost, however many
    customers match (at 100,000 customers, "ana", in 5 % of them, took 1.2 ms with a count of
    the candidates and a scan, 0.2 ms walking the index). Otherwise: look the candidates up,
    bounded, so asking is cheap. Up to ``FEW_CANDIDATES``, the search checks just those; past
    ``DENSE_CANDIDATES`` (``DENSE_CANDIDATES_SORTED`` for a page by name or creation), it
    checks customers in the page's order instead; in between, the query looks them up itself.

    PostgreSQL: nothing to decide; the server plans each search for its own text, because
    ``Store`` sets ``plan_cache_mode`` on every connection (a generic plan knows no pattern
    and so scanned every customer)."""
    if conn.dialect.name != "sqlite":
        return Plan()
    indexed = len(fold(term)) >= MIN_INDEXED
    if indexed and by_id:
        return Plan(walk=True)
    if not indexed:
        # No trigram to look up: the matches themselves, in one pass over customer_search
        # that stops at the bound (short text is usually in many customers: a short pass).
        probe = select(customer_search.c.id).where(or_(*_checks(term)))
    else:
        probe = select(fts.c.rowid).where(_matches(term))
    # One lookup, one row back: how many (up to the bound), and which (joined by SQLite).
    bound = DENSE_CANDIDATES if by_id else DENSE_CANDIDATES_SORTED
    first = probe.limit(bound + 1).subquery()
    count, joined = conn.execute(select(func.count(), func.group_concat(first.c[0]))).one()
    if count <= FEW_CANDIDATES:
        return Plan(candidates=tuple(int(i) for i in joined.split(",")) if count else ())
    return Plan(scan=count > bound)


# -- writing -----------------------------------------------------------------------------------


def refresh(conn: Connection, ids: Sequence[int], *, fresh: Sequence[int] = ()) -> None:
    """Bring the index up to date for the customers with these IDs, after any write of their
    name, email or phone, or their purge: on the caller's connection, in its transaction.
    ``fresh`` are IDs just created, never indexed (an import's new customers, as a ``range``
    when they fill one): when no entry lies between the smallest and the largest, every
    customer there is added, chosen by that range, which skips looking for entries to remove.

    On PostgreSQL the server maintains the indexes; after a bulk write (``BULK_WRITE`` IDs or
    more) this merges their pending lists, which every search would read until then (5 ms
    instead of 1 ms for a rare text at 100,000 customers)."""
    if conn.dialect.name == "postgresql":
        if len(ids) + len(fresh) >= BULK_WRITE:
            _merge_pending(conn)
        return
    if conn.dialect.name != "sqlite":
        return
    if fresh:
        low, high = (fresh[0], fresh[-1]) if isinstance(fresh, range) else (min(fresh), max(fresh))
        within = customer_search.c.id.between(low, high)
        if conn.execute(select(customer_search.c.id).where(within)).first():
            # Entries under IDs said to be new: customers deleted around the Hub, their IDs
            # issued again. Replace those entries rather than fail on them.
            ids, fresh = [*ids, *fresh], ()
    if ids:
        chosen = _ids(ids)
        # External content: FTS5 removes a row's entries given the values it indexed, which
        # ``customer_search`` still holds.
        old = customer_search.c
        conn.execute(
            insert(fts).from_select(
                [_FTS, "rowid", "name", "email", "phone"],
                select(literal("delete"), old.id, old.name, old.email, old.phone).where(
                    old.id.in_(chosen)
                ),
            )
        )
        conn.execute(customer_search.delete().where(customer_search.c.id.in_(chosen)))
        _add(conn, chosen)
    if fresh:
        # No entry in their range: every customer in it gets one (all of them fresh, unless
        # some were written around the Hub, which this indexes too), chosen by the range.
        _add(conn, (low, high))


def _merge_pending(conn: Connection) -> None:
    """Merge the trigram indexes' pending lists into the indexes (PostgreSQL). Only their
    owner may; for another role, or without the indexes, this does nothing."""
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    "SELECT gin_clean_pending_list(c.oid) FROM pg_class c "
                    "WHERE c.relkind = 'i' AND c.relname IN :names"
                ).bindparams(bindparam("names", list(_TRGM_INDEXES), expanding=True))
            )
    except DBAPIError:
        pass


def _ids(ids: Sequence[int]) -> Select[tuple[Any]]:
    """The IDs as a subquery: one JSON parameter, however many there are."""
    return select(func.json_each(json.dumps(list(ids))).table_valued("value").c.value)


def _folded(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """``casefold(col)`` in SQL, with SQLite's own ``lower`` for plain ASCII text (as many
    characters as bytes, so no NUL either), where the two agree: the Python function is
    called only for the rest (a third of an import's search-index time went into calling it)."""
    ascii_only = func.length(col) == func.length(cast(col, LargeBinary))
    return case((col.is_(None), null()), (ascii_only, func.lower(col)), else_=func.casefold(col))


def _add(conn: Connection, chosen: Select[tuple[Any]] | tuple[int, int]) -> None:
    """Index the customers ``chosen``: IDs from a subquery, or every customer whose ID lies in
    an inclusive range."""
    c = customers.c
    new = customer_search.c
    if isinstance(chosen, tuple):
        mine, theirs = c.id.between(*chosen), new.id.between(*chosen)
    else:
        mine, theirs = c.id.in_(chosen), new.id.in_(chosen)
    conn.execute(
        insert(customer_search).from_select(
            ["id", "name", "email", "phone"],
            select(c.id, _folded(c.name), _folded(c.email), _folded(c.phone)).where(mine),
        )
    )
    conn.execute(
        insert(fts).from_select(
            ["rowid", "name", "email", "phone"],
            select(new.id, new.name, new.email, new.phone).where(theirs),
        )
    )


def rebuild(conn: Connection) -> None:
    """Rebuild the whole index from ``customers``: what migration 0008 does, for a database
    whose customers were written around the Hub. (PostgreSQL: merges the pending lists.)"""
    if conn.dialect.name == "postgresql":
        _merge_pending(conn)
    if conn.dialect.name != "sqlite":
        return
    conn.execute(customer_search.delete())
    conn.execute(
        insert(customer_search).from_select(
            ["id", "name", "email", "phone"],
            select(
                customers.c.id,
                _folded(customers.c.name),
                _folded(customers.c.email),
                _folded(customers.c.phone),
            ),
        )
    )
    conn.execute(insert(fts).values({_FTS: "rebuild"}))


def stale_ids(conn: Connection) -> list[int]:
    """The customers whose index entry is missing, left over or out of date (SQLite), after
    FTS5's own integrity check of the index against ``customer_search``: for tests and
    repairs; empty when the index is whole."""
    if conn.dialect.name != "sqlite":
        return []
    conn.execute(insert(fts).values({_FTS: "integrity-check"}))
    s, c = customer_search.c, customers.c
    wrong = (
        select(c.id)
        .outerjoin_from(customers, customer_search, s.id == c.id)
        .where(
            s.id.is_(None)
            | s.name.is_not(func.casefold(c.name))
            | s.email.is_not(func.casefold(c.email))
            | s.phone.is_not(func.casefold(c.phone))
        )
    )
    orphans = select(s.id).where(~exists().where(c.id == s.id))
    return sorted(int(i) for (i,) in conn.execute(wrong.union(orphans)))
