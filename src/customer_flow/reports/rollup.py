"""The report rollup: per-day counts of ticket events, kept current as tickets change.

A report over two years would otherwise count a million tickets a dozen ways. ``report_days``
holds, per UTC day and per value of a dimension (``type``, ``priority``, ``assignee``), how many
of that day's events fell on tickets with that value (the ticket's current value):

- on its creation instant: ``opened``; of those, ``reopened`` (reopened at least once) and
  ``resolved_once`` (resolved at least once);
- on its resolution instant: ``resolved``; ``resolutions`` (with a business-time duration) and
  the resolution-time bars ``bar_0`` … ``bar_5`` (``RESOLUTION_BUCKETS``);
- on its first public agent reply: ``replies`` (with a business-time duration);
- per duration bucket (``DURATION_BOUNDS``, 10 % wide), under the dimensions ``frh`` (first
  replies) and ``resh`` (resolutions): how many durations of the day fell in it (in
  ``replies`` and ``resolutions``). A median is then found in its bucket without sorting;
- on the instant an SLA target was settled, for the targets whose clock has stopped (a reply or
  a resolution came): ``fr_met`` / ``fr_breached`` and ``res_met`` / ``res_breached``. A target
  still running breaches as time passes, not as a ticket changes: reports count those from the
  tickets themselves (the few that are not resolved).

Only a ticket's own columns decide its counts, never the clock, so the rollup changes exactly
when a ticket does. Keeping it current: each ticket change inserts the days it touched (those of
the row before and after it) into ``report_dirty`` in the change's transaction. These are plain
inserts, never updates, so writers never wait on one another. A report counts a marked day from
the tickets (with the partial days at the edges of its period), and ``refresh``, run before a
report when the database is free, recounts the marked days into ``report_days``. ``rebuild``
recounts everything: the migration runs it, and so should anyone who changes tickets outside
Customer_Flow.

One statement (``_events``) counts the events in a set of instant ranges. It fills the rollup,
refreshes marked days and counts a report's partial days, so rolled-up and live counts cannot
disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Date,
    DateTime,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from customer_flow.reports.models import Interval
from customer_flow.store.schema import ROLLUP_COUNTERS, report_days, report_dirty, tickets

__all__ = [
    "COUNTERS",
    "DIMS",
    "RESOLUTION_BUCKETS",
    "UNASSIGNED",
    "Counts",
    "around",
    "counts",
    "dirty_days",
    "mark",
    "rebuild",
    "refresh",
    "step_of",
    "total",
]

COUNTERS = ROLLUP_COUNTERS
UNASSIGNED = "(unassigned)"
H = 3600
#: Resolution-time bars (business seconds).
RESOLUTION_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 h", 0, H),
    ("1–4 h", H, 4 * H),
    ("4–8 h", 4 * H, 8 * H),
    ("8–24 h", 8 * H, 24 * H),
    ("24–72 h", 24 * H, 72 * H),
    ("≥ 72 h", 72 * H, None),
)
DIMS = ("type", "priority", "assignee")


def _duration_bounds() -> tuple[int, ...]:
    out = [0, 60]
    while out[-1] < 400 * 86400:
        out.append(max(out[-1] + 1, round(out[-1] * 1.1)))
    return tuple(out)


#: Lower bounds (business seconds) of the duration buckets the rollup counts per day, 10 % wide
#: from a minute to 400 days: a median is found in its bucket by these counts, then picked
#: among the few durations of that bucket (``reports.py``).
DURATION_BOUNDS = _duration_bounds()
#: The rollup's histogram dimensions: per duration, (dimension, counter of the values).
HISTOGRAMS = {"first_response": ("frh", "replies"), "resolution": ("resh", "resolutions")}
#: Counts per (step or "", dimension value).
Counts = dict[tuple[str, str], Counter[str]]

_T = tickets.c
#: The columns whose change changes a ticket's counts, and the instants it counts on.
_INSTANTS = (
    "created_at", "resolved_at", "first_response_at", "first_response_due_at",
    "resolution_due_at",
)  # fmt: skip
_WATCHED = (
    *_INSTANTS, "reopened_count", "first_response_seconds", "resolution_seconds", "type_key",
    "priority", "assignee",
)  # fmt: skip
_PG_REFRESH_LOCK = 7_241_006  # advisory lock key: one refresh at a time
_CHUNK = 200  # day ranges per statement


# -- time steps ----------------------------------------------------------------------------


def step_of(dialect: str, at: ColumnElement[Any], interval: Interval) -> ColumnElement[Any]:
    """The first day of the step an instant falls in, as 'YYYY-MM-DD' text, cut in UTC."""
    if dialect == "sqlite":  # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
        return _sqlite_step(at, interval)
    utc = func.timezone(literal_column("'UTC'"), at)
    return func.to_char(func.date_trunc(literal_column(f"'{interval}'"), utc), _YMD)


def _day_step(dialect: str, day: ColumnElement[Any], interval: Interval) -> ColumnElement[Any]:
    """The same for a rolled-up day."""
    if dialect == "sqlite":  # a Date is stored as 'YYYY-MM-DD'
        return _sqlite_step(day, interval)
    midnight = cast(day, DateTime(timezone=False))
    return func.to_char(func.date_trunc(literal_column(f"'{interval}'"), midnight), _YMD)


_YMD: ColumnElement[Any] = literal_column("'YYYY-MM-DD'")


def _sqlite_step(col: ColumnElement[Any], interval: Interval) -> ColumnElement[Any]:
    if interval == "day":
        return func.substr(col, 1, 10)
    if interval == "month":
        return func.substr(col, 1, 7).op("||")(literal_column("'-01'"))
    return func.date(col, literal_column("'weekday 0'"), literal_column("'-6 days'"))


def _day_of(dialect: str, at: ColumnElement[Any]) -> ColumnElement[Any]:
    """The UTC day of an instant, as a ``Date``."""
    if dialect == "sqlite":
        return type_coerce(func.substr(at, 1, 10), Date)
    return cast(func.timezone(literal_column("'UTC'"), at), Date)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


# -- the events of a set of instant ranges ---------------------------------------------------


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


_ONE: ColumnElement[Any] = literal_column("1")
_ZERO: ColumnElement[Any] = literal_column("0")


def _bars(value: ColumnElement[Any]) -> dict[str, ColumnElement[Any]]:
    """``bar_i``: 1 when the duration falls in ``RESOLUTION_BUCKETS[i]`` (contiguous from 0)."""
    out: dict[str, ColumnElement[Any]] = {}
    for i, (_, lo, hi) in enumerate(RESOLUTION_BUCKETS):
        bounds = []
        if i:
            bounds.append(value >= lo)
        if hi is not None:
            bounds.append(value < hi)
        out[f"bar_{i}"] = _flag(and_(value.is_not(None), *bounds))
    return out


def _events(ranges: Sequence[tuple[datetime, datetime]] | None) -> CompoundSelect[Any]:
    """Every counted event whose instant is in one of ``ranges`` (``None``: any instant): the
    instant ``at``, the ticket's dimensions, the duration buckets ``frh`` (of a first reply)
    and ``resh`` (of a resolution), and a 0/1 column per counter.

    One arm per kind of instant, each selecting by that instant's index. A target settled in
    time is counted when its clock stopped (met); one that stopped late, at its due instant.
    """
    t = _T

    def within(col: ColumnElement[Any]) -> ColumnElement[bool]:
        if ranges is None:
            return col.is_not(None)
        return or_(*(and_(col >= lo, col < hi) for lo, hi in ranges))

    none = cast(null(), String())

    def arm(
        at: ColumnElement[Any],
        *where: Any,
        frh: Any = none,
        resh: Any = none,
        **counted: ColumnElement[Any],
    ) -> Select[Any]:
        return select(
            at.label("at"),
            t.type_key.label("type"),
            t.priority.label("priority"),
            func.coalesce(t.assignee, literal_column(f"'{UNASSIGNED}'")).label("assignee"),
            frh.label("frh"),
            resh.label("resh"),
            *(counted.get(name, _ZERO).label(name) for name in COUNTERS),
        ).where(within(at), *where)

    fr_due, res_due = t.first_response_due_at, t.resolution_due_at
    return union_all(
        arm(
            t.created_at,
            opened=_ONE,
            reopened=_flag(t.reopened_count > 0),
            resolved_once=_flag(or_(t.resolved_at.is_not(None), t.reopened_count > 0)),
        ),
        arm(
            t.resolved_at,
            resolved=_ONE,
            resolutions=_flag(t.resolution_seconds.is_not(None)),
            resh=_bucket_of(t.resolution_seconds),
            **_bars(t.resolution_seconds),
            # No reply came: the resolution stopped the first-response clock.
            fr_met=_flag(
                and_(t.first_response_at.is_(None), fr_due.is_not(None), t.resolved_at <= fr_due)
            ),
            res_met=_flag(and_(res_due.is_not(None), t.resolved_at <= res_due)),
        ),
        arm(
            t.first_response_at,
            replies=_flag(t.first_response_seconds.is_not(None)),
            frh=_bucket_of(t.first_response_seconds),
            fr_met=_flag(and_(fr_due.is_not(None), t.first_response_at <= fr_due)),
        ),
        arm(fr_due, func.coalesce(t.first_response_at, t.resolved_at) > fr_due, fr_breached=_ONE),
        arm(res_due, t.resolved_at > res_due, res_breached=_ONE),
    )


def bucket_key(index: int) -> str:
    """The rollup ``key`` of a duration bucket: its index, zero-padded so text sorts as numbers."""
    return f"{index:03d}"


@cache
def _bucket_of(value: ColumnElement[Any], lo: int = 0, hi: int | None = None) -> Any:
    """The bucket key of a duration: a binary search over ``DURATION_BOUNDS`` as nested
    ``CASE`` (NULL for no duration). Built once per column."""
    if hi is None:
        return case(
            (value.is_(None), cast(null(), String())),
            else_=_bucket_of(value, 0, len(DURATION_BOUNDS)),
        )
    if hi - lo == 1:
        return literal_column(f"'{bucket_key(lo)}'")
    mid = (lo + hi) // 2
    return case(
        (value < DURATION_BOUNDS[mid], _bucket_of(value, lo, mid)), else_=_bucket_of(value, mid, hi)
    )


def _summed(events: Any) -> list[ColumnElement[Any]]:
    return [func.sum(events.c[name]).label(name) for name in COUNTERS]


def _runs(days: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """Consecutive days as instant ranges ``[first midnight, midnight after the last)``."""
    out: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        start = _day_start(day)
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], start + timedelta(days=1))
        else:
            out.append((start, start + timedelta(days=1)))
    return out


# -- keeping it current --------------------------------------------------------------------


def mark(
    conn: Connection, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> None:
    """Mark the days a ticket change touched (``before``/``after``: the row, or None when the
    ticket is new or gone), unless nothing the rollup counts changed."""
    same = before is not None and after is not None
    if same and all(before.get(c) == after.get(c) for c in _WATCHED):  # type: ignore[union-attr]
        return
    days = {
        _utc(row[c]).date()
        for row in (before, after)
        if row is not None
        for c in _INSTANTS
        if row.get(c) is not None
    }
    if days:
        conn.execute(insert(report_dirty), [{"day": d} for d in sorted(days)])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _recount(conn: Connection, ranges: Sequence[tuple[datetime, datetime]] | None) -> None:
    """Insert the rollup rows of the events in ``ranges`` (whose days hold no rows now)."""
    dialect = conn.dialect.name
    events = _events(ranges).cte("events")
    day = _day_of(dialect, events.c.at).label("day")
    dims = (events.c.type, events.c.priority, events.c.assignee)
    fine = select(day, *dims, *_summed(events)).group_by(literal_column("day"), *dims).cte("fine")
    arms = [
        select(
            fine.c.day,
            literal_column(f"'{dim}'"),
            fine.c[dim],
            *(func.sum(fine.c[name]) for name in COUNTERS),
        ).group_by(fine.c.day, fine.c[dim])
        for dim in DIMS
    ]
    for dim, counter in HISTOGRAMS.values():
        arms.append(
            select(
                day,
                literal_column(f"'{dim}'"),
                events.c[dim],
                *(func.sum(events.c[n]) if n == counter else _ZERO for n in COUNTERS),
            )
            .where(events.c[dim].is_not(None))
            .group_by(literal_column("day"), events.c[dim])
        )
    conn.execute(
        insert(report_days).from_select(["day", "dim", "key", *COUNTERS], union_all(*arms))
    )


def _lock(conn: Connection) -> bool:
    """PostgreSQL: one refresh or rebuild at a time (SQLite's writers queue anyway)."""
    if conn.dialect.name != "postgresql":
        return True
    got = conn.execute(select(func.pg_try_advisory_xact_lock(_PG_REFRESH_LOCK))).scalar()
    return bool(got)


def _forget(conn: Connection, ids: Sequence[int]) -> None:
    """Delete the markers that were read (never one inserted since, even with a lower ID)."""
    for start in range(0, len(ids), 1000):
        conn.execute(delete(report_dirty).where(report_dirty.c.id.in_(ids[start : start + 1000])))


def rebuild(conn: Connection) -> None:
    """Count the rollup again from every ticket (seconds per million tickets)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_PG_REFRESH_LOCK)))
    ids = list(conn.execute(select(report_dirty.c.id)).scalars())
    conn.execute(delete(report_days))
    _recount(conn, None)
    _forget(conn, ids)


def refresh(conn: Connection) -> int:
    """Recount the marked days into the rollup; returns how many. A rollup left empty while
    tickets exist (tickets written outside Customer_Flow) is rebuilt."""
    if not _lock(conn):
        return 0
    marked = conn.execute(select(report_dirty.c.id, report_dirty.c.day)).all()
    if not marked:
        empty = conn.execute(select(report_days.c.day).limit(1)).first() is None
        if empty and conn.execute(select(_T.id).limit(1)).first() is not None:
            rebuild(conn)
        return 0
    days = sorted({as_date(d) for _, d in marked})
    for start in range(0, len(days), _CHUNK):
        chunk = days[start : start + _CHUNK]
        conn.execute(delete(report_days).where(report_days.c.day.in_(chunk)))
        _recount(conn, _runs(chunk))
    _forget(conn, [int(i) for i, _ in marked])
    return len(days)


def as_date(value: Any) -> date:
    """A rolled-up day as a ``date`` (SQLite hands back text in a raw ``SELECT``)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def dirty_days(conn: Connection) -> list[date]:
    """The days marked and not recounted yet, as this transaction sees them."""
    return sorted(
        {as_date(d) for d in conn.execute(select(report_dirty.c.day).distinct()).scalars()}
    )


# -- reading -------------------------------------------------------------------------------


def counts(
    conn: Connection,
    since: datetime,
    until: datetime,
    interval: Interval,
    dim: str,
    *,
    by_step: bool,
    only: Sequence[str] = COUNTERS,
) -> Counts:
    """Per (step, value of ``dim``) (step "" unless ``by_step``): the counters (``only`` those)
    of the events in ``[since, until)``. Whole days come from the rollup unless marked; marked
    days and the partial days at either end are counted from the tickets."""
    dialect = conn.dialect.name
    first = since.date() + timedelta(days=1) if _day_start(since.date()) < since else since.date()
    last = until.date()  # whole days are [first, last)
    marked = [d for d in dirty_days(conn) if first <= d < last]
    ranges: list[tuple[datetime, datetime]] = []
    out: Counts = {}
    if first < last:
        if _day_start(first) > since:
            ranges.append((since, _day_start(first)))
        ranges += _runs(marked)
        if _day_start(last) < until:
            ranges.append((_day_start(last), until))
        r = report_days.c
        step = _day_step(dialect, r.day, interval) if by_step else literal_column("''")
        stmt = (
            select(step.label("s"), r["key"].label("k"), *(func.sum(r[n]) for n in only))
            .where(r.dim == dim, r.day >= first, r.day < last)
            .group_by(literal_column("s"), literal_column("k"))
        )
        if marked:
            stmt = stmt.where(r.day.not_in(marked))
        _add(out, conn.execute(stmt), only)
    else:
        ranges.append((since, until))
    for start in range(0, len(ranges), _CHUNK):
        events = _events(ranges[start : start + _CHUNK]).subquery("events")
        step = step_of(dialect, events.c.at, interval) if by_step else literal_column("''")
        stmt = (
            select(
                step.label("s"),
                events.c[dim].label("k"),
                *(func.sum(events.c[n]) for n in only),
            )
            .where(events.c[dim].is_not(None))
            .group_by(literal_column("s"), literal_column("k"))
        )
        _add(out, conn.execute(stmt), only)
    return out


def _add(out: Counts, rows: Iterable[Any], names: Sequence[str]) -> None:
    for step, key, *values in rows:
        where = (str(step), str(key))
        bucket = out.get(where)
        if bucket is None:
            bucket = out[where] = Counter()
        for name, value in zip(names, values, strict=True):
            if value:
                bucket[name] += int(value)


def total(conn: Connection, counter: str) -> int:
    """A counter over all time from the rollup alone (an estimate while days are marked)."""
    r = report_days.c
    return int(conn.execute(select(func.sum(r[counter])).where(r.dim == "type")).scalar() or 0)


def around(conn: Connection, when: datetime) -> tuple[int, int]:
    """From the rollup alone (an estimate): tickets created before ``when``'s day, and tickets
    resolved from that day on; for choosing which index to read a backlog along."""
    r = report_days.c
    day = when.date()
    stmt = select(
        func.sum(case((r.day < day, r.opened), else_=0)),
        func.sum(case((r.day >= day, r.resolved), else_=0)),
    ).where(r.dim == "type")
    before, after = conn.execute(stmt).one()
    return int(before or 0), int(after or 0)


def bucket_totals(conn: Connection, dim: str, counter: str) -> dict[str, int]:
    """All-time values per duration bucket, from the rollup alone (an estimate while days are
    marked): how long a walk through a bucket of the duration index is."""
    r = report_days.c
    stmt = select(r["key"], func.sum(r[counter])).where(r.dim == dim).group_by(r["key"])
    return {str(k): int(n or 0) for k, n in conn.execute(stmt)}
