"""Reports: ticket and customer metrics for a period, computed in the database.

Every number is an SQL aggregate (SQLAlchemy Core, ``GROUP BY``, window functions); no ticket or
customer row is loaded into Python. Python only fills in the empty steps of a timeline, adds up
per-step counts into running totals, and interpolates between two order statistics that SQL
picked. The same statements run on SQLite and PostgreSQL and give the same numbers.

Definitions (the period is ``[since, until)``, instants in UTC):

- **opened**: tickets created in the period. **resolved**: tickets whose ``resolved_at`` is in
  the period (closing an unresolved ticket resolves it too). A reopened ticket counts where it
  was last resolved: the ticket keeps its latest resolution only.
- **backlog** at an instant ``t``: tickets created before ``t`` and not resolved before ``t``.
  For a time step it is taken at the end of the step; for a type, priority or assignee, at the
  end of the period. It is read from each ticket's current state, so a ticket reopened later
  counts as unresolved from its first resolution to its reopen.
- **first-response time**: business seconds from creation to the first public agent reply, net
  of the time the SLA clock was paused before it (``tickets.first_response_seconds``), for
  replies in the period. **resolution time**: business seconds from creation to resolution, net
  of pauses (``tickets.resolution_seconds``), for resolutions in the period. Both are measured
  when the event happens, in the business calendar in force then (``sla.py``).
- **median / p90**: continuous percentiles, interpolating between the two nearest ranks as
  PostgreSQL's ``percentile_cont`` does; picked with ``row_number()`` over the ordered values.
- **SLA compliance**: of the SLA targets *settled* in the period, the share met. A target is met
  when its stop (first response: the first reply, or the resolution when none came; resolution:
  the resolution) is at or before its due instant, and is then settled at the stop; it is
  breached when its due instant passed without a timely stop (before the pause, for a pending
  ticket), and is then settled at the due instant. Per time step, targets count in the step
  they were settled in.
- **reopen rate**: of the tickets opened in the period that have been resolved at least once,
  the share reopened at least once.
- **backlog age**: the backlog at the end of the period by wall-clock age since creation.
- **top customers**: by tickets opened in the period.
- **customers**: created in the period; live (created, not in the trash) at its start and end.
- **data quality**, now and for live customers: an email with no warning on it; a phone in
  E.164 form (``+`` and digits, not kept as given); any open warning. Likely duplicates are
  ``None`` until duplicate detection lands: ``likely_duplicates`` is the hook for it.

Time steps (day, ISO week starting Monday, month) are cut in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Select,
    Subquery,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union,
    union_all,
)

from .models import PRIORITIES
from .report_models import (
    Bucket,
    CustomerGrowth,
    DataQuality,
    Durations,
    GroupMetrics,
    Interval,
    Report,
    ReportQuery,
    SlaCompliance,
    TimelinePoint,
    TopCustomer,
)
from .report_period import (
    DEFAULT_DAYS,
    MAX_STEPS,
    as_utc,
    parse_bound,
    parse_group_by,
    resolve_period,
    steps,
)
from .schema import customers, tickets

__all__ = [
    "AGE_BUCKETS",
    "DEFAULT_DAYS",
    "MAX_STEPS",
    "RESOLUTION_BUCKETS",
    "build_report",
    "parse_bound",
    "parse_group_by",
    "resolve_period",
]

UNASSIGNED = "(unassigned)"
H = 3600
D = 86400
#: Backlog age bars (wall-clock seconds since creation).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 day", 0, D),
    ("1–3 days", D, 3 * D),
    ("3–7 days", 3 * D, 7 * D),
    ("7–30 days", 7 * D, 30 * D),
    ("≥ 30 days", 30 * D, None),
)
#: Resolution-time bars (business seconds).
RESOLUTION_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 h", 0, H),
    ("1–4 h", H, 4 * H),
    ("4–8 h", 4 * H, 8 * H),
    ("8–24 h", 8 * H, 24 * H),
    ("24–72 h", 24 * H, 72 * H),
    ("≥ 72 h", 72 * H, None),
)
#: (numerator, denominator) of the percentiles taken: the median and the 90th.
_MEDIAN, _P90 = (1, 2), (9, 10)

Key = Callable[[ColumnElement[Any]], ColumnElement[Any]]


# -- SQL building blocks -----------------------------------------------------------------------


def _bucket(dialect: str, col: ColumnElement[Any], interval: Interval) -> ColumnElement[Any]:
    """The first day of ``col``'s step as 'YYYY-MM-DD' text, cut in UTC, on either database."""
    if dialect == "sqlite":  # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
        if interval == "day":
            return func.substr(col, 1, 10)
        if interval == "month":
            return func.substr(col, 1, 7).op("||")(literal("-01"))
        return func.date(col, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc(interval, func.timezone("UTC", col)), "YYYY-MM-DD")


def _between(col: ColumnElement[Any], since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(col >= since, col < until)


def _by_key(key: ColumnElement[Any], *aggregates: ColumnElement[Any]) -> Select[Any]:
    """``SELECT key, aggregates ... GROUP BY key``, grouped by the output name: an expression
    with bound values repeated in GROUP BY would get fresh parameters that PostgreSQL cannot
    match to the selected one."""
    return select(key.label("k"), *aggregates).group_by(literal_column("k"))


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _percentiles(
    conn: Connection, key: ColumnElement[Any], value: ColumnElement[Any], where: Sequence[Any]
) -> dict[str, Durations]:
    """Median and p90 of ``value`` per ``key``: ``row_number()`` ranks, SQL picks two ranks."""
    inner = select(key.label("k"), value.label("v")).where(value.is_not(None), *where).subquery()
    ranked = select(
        inner.c.k,
        inner.c.v,
        func.row_number().over(partition_by=inner.c.k, order_by=inner.c.v).label("rn"),
        func.count().over(partition_by=inner.c.k).label("n"),
    ).subquery()
    n, rn, v = ranked.c.n, ranked.c.rn, ranked.c.v

    def pick(fraction: tuple[int, int], upper: bool) -> ColumnElement[Any]:
        num, den = fraction
        rank = ((n - 1) * num) // den + 1
        if upper:
            rank = rank + case((((n - 1) * num) % den > 0, 1), else_=0)
        return func.max(case((rn == rank, v)))

    stmt = select(
        ranked.c.k,
        n,
        pick(_MEDIAN, False),
        pick(_MEDIAN, True),
        pick(_P90, False),
        pick(_P90, True),
    ).group_by(ranked.c.k, n)
    out = {}
    for k, count, m_lo, m_hi, p_lo, p_hi in conn.execute(stmt):
        out[str(k)] = Durations(
            count=int(count),
            median_seconds=_interpolate(int(count), _MEDIAN, m_lo, m_hi),
            p90_seconds=_interpolate(int(count), _P90, p_lo, p_hi),
        )
    return out


def _interpolate(n: int, fraction: tuple[int, int], lo: Any, hi: Any) -> float:
    num, den = fraction
    share = ((n - 1) * num) % den / den
    return float(lo) + (float(hi) - float(lo)) * share


def _sla_targets(
    src: Table, now: datetime
) -> list[tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[bool]]]:
    """Per target: (its due instant, the instant it was settled or NULL while it runs, met)."""
    out: list[tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[bool]]] = []
    t = src.c
    for stop, due in (
        (func.coalesce(t.first_response_at, t.resolved_at), t.first_response_due_at),
        (t.resolved_at, t.resolution_due_at),
    ):
        met = and_(stop.is_not(None), stop <= due)
        clock = func.coalesce(t.paused_at, now)
        settled = case(
            (met, stop),
            (stop.is_not(None), due),
            (due < clock, due),
            else_=null(),
        )
        out.append((due, settled, met))
    return out


def _backlog_rows(src: Table, when: datetime, *columns: ColumnElement[Any]) -> Subquery:
    """Tickets in the backlog at ``when``, as two index-friendly halves (never resolved, and
    resolved later) rather than one OR that a planner may scan the whole table for."""
    t = src.c
    never = select(*columns).where(t.resolved_at.is_(None), t.created_at < when)
    later = select(*columns).where(t.resolved_at >= when, t.created_at < when)
    return union_all(never, later).subquery()


# -- the report --------------------------------------------------------------------------------


def build_report(
    conn: Connection,
    query: ReportQuery,
    *,
    now: datetime,
    calendar: dict[str, Any],
    likely_duplicates: int | None = None,
) -> Report:
    """Every metric of ``query``'s period, as of ``now``.

    The tickets that touch the period are first copied, with only the columns the report
    reads, into a temporary table on this connection: one pass over the indexes instead of a
    dozen, and every query after it scans a narrow table. It is dropped at the end.
    """
    since, until, interval = resolve_period(query, now)
    src = _snapshot(conn, since, until)
    if src is None:  # the period holds every ticket: read the table itself
        return _build(
            conn, tickets, query, since, until, interval, now, calendar, likely_duplicates
        )
    try:
        return _build(conn, src, query, since, until, interval, now, calendar, likely_duplicates)
    finally:
        if conn.dialect.name != "postgresql":  # PostgreSQL drops it at commit
            src.drop(conn)


#: The columns of ``tickets`` a report reads.
_SNAPSHOT_COLUMNS = (
    "id", "customer_id", "type_key", "priority", "assignee", "created_at", "first_response_at",
    "resolved_at", "paused_at", "reopened_count", "first_response_seconds",
    "resolution_seconds", "first_response_due_at", "resolution_due_at",
)  # fmt: skip


def _snapshot(conn: Connection, since: datetime, until: datetime) -> Table | None:
    """The tickets the period's metrics can count, in a temporary table.

    Every metric counts a ticket created before ``until`` that was open at ``since`` or later
    (backlog), or was answered, resolved or settled an SLA target at ``since`` or later (a
    settled target is due at or after its instant). One OR of indexed bounds finds them all.
    """
    t = tickets.c
    first = conn.execute(select(func.min(t.created_at))).scalar()
    if first is None or since <= as_utc(first):
        return None
    table = Table(
        "cf_report_tickets",
        MetaData(),
        *(Column(name, t[name].type) for name in _SNAPSHOT_COLUMNS),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    table.drop(conn, checkfirst=True)  # left over by a report that died on this connection
    table.create(conn)
    bounds = (
        t.resolved_at.is_(None),
        t.resolved_at >= since,
        t.first_response_at >= since,
        t.first_response_due_at >= since,
        t.resolution_due_at >= since,
    )
    rows = select(*(t[name] for name in _SNAPSHOT_COLUMNS)).where(t.created_at < until)
    if conn.dialect.name == "postgresql":  # a BitmapOr of the five index ranges
        rows = rows.where(or_(*bounds))
    else:  # SQLite scans the created_at index for an OR: a UNION of the ranges instead
        rows = rows.where(t.id.in_(union(*(select(t.id).where(b) for b in bounds))))
    conn.execute(table.insert().from_select(list(_SNAPSHOT_COLUMNS), rows))
    return table


def _build(
    conn: Connection,
    src: Table,
    query: ReportQuery,
    since: datetime,
    until: datetime,
    interval: Interval,
    now: datetime,
    calendar: dict[str, Any],
    likely_duplicates: int | None,
) -> Report:
    dialect = conn.dialect.name
    t = src.c
    timed = query.group_by in ("day", "week", "month")

    def step(col: ColumnElement[Any]) -> ColumnElement[Any]:
        return _bucket(dialect, col, interval)

    dimension: ColumnElement[Any] = {
        "type": t.type_key,
        "priority": t.priority,
        "assignee": func.coalesce(t.assignee, UNASSIGNED),
    }.get(query.group_by, t.type_key)
    key: Key = step if timed else (lambda _col: dimension)

    groups, sla_types = _group_metrics(conn, src, key, since, until, now)
    if timed:
        keys = [d.isoformat() for d in steps(since, until, interval)]
        groups = {k: groups.get(k, GroupMetrics(key=k)) for k in keys}
        running = _backlog_count(conn, src, since)
        for g in groups.values():
            running += g.opened - g.resolved
            g.backlog = running
        ordered = list(groups.values())
    else:
        for k, count in _backlog_by(conn, src, dimension, until).items():
            groups.setdefault(k, GroupMetrics(key=k)).backlog = count
        ordered = _order(query.group_by, groups)

    totals = GroupMetrics(key="total")
    for g in ordered:
        totals.opened += g.opened
        totals.resolved += g.resolved
        totals.reopened += g.reopened
        totals.resolved_once += g.resolved_once
        totals.sla_first_response += g.sla_first_response
        totals.sla_resolution += g.sla_resolution
    totals.backlog = _backlog_count(conn, src, until)
    whole: Key = lambda _col: literal("total")  # noqa: E731
    totals.first_response = _percentiles(
        conn, whole(t.first_response_at), t.first_response_seconds,
        [_between(t.first_response_at, since, until)],
    ).get("total", Durations())  # fmt: skip
    totals.resolution = _percentiles(
        conn, whole(t.resolved_at), t.resolution_seconds, [_between(t.resolved_at, since, until)]
    ).get("total", Durations())

    by_type = [
        GroupMetrics(key=k, sla_first_response=fr, sla_resolution=res)
        for k, (fr, res) in sorted(sla_types.items())
    ]

    return Report(
        since=since,
        until=until,
        generated_at=now,
        group_by=query.group_by,
        interval=interval,
        calendar=calendar,
        totals=totals,
        groups=ordered,
        timeline=_timeline(conn, src, dialect, since, until, interval, groups if timed else None),
        sla_by_type=by_type,
        resolution_histogram=_resolution_histogram(conn, src, since, until),
        backlog_age=_backlog_age(conn, src, until),
        top_customers=_top_customers(conn, src, since, until, query.top),
        customers=_customer_growth(conn, since, until),
        data_quality=_data_quality(conn, likely_duplicates),
    )


def _group_metrics(
    conn: Connection, src: Table, key: Key, since: datetime, until: datetime, now: datetime
) -> tuple[dict[str, GroupMetrics], dict[str, tuple[SlaCompliance, SlaCompliance]]]:
    """The metrics per group, and the SLA counts per ticket type."""
    t = src.c
    groups: dict[str, GroupMetrics] = {}

    def group(k: Any) -> GroupMetrics:
        return groups.setdefault(str(k), GroupMetrics(key=str(k)))

    opened = _by_key(
        key(t.created_at),
        func.count(),
        _flag(t.reopened_count > 0),
        _flag(or_(t.resolved_at.is_not(None), t.reopened_count > 0)),
    ).where(_between(t.created_at, since, until))
    for k, count, reopened, resolved_once in conn.execute(opened):
        g = group(k)
        g.opened, g.reopened, g.resolved_once = int(count), int(reopened), int(resolved_once)
    resolved = _by_key(key(t.resolved_at), func.count())
    for k, count in conn.execute(resolved.where(_between(t.resolved_at, since, until))):
        group(k).resolved = int(count)
    for k, d in _percentiles(
        conn, key(t.first_response_at), t.first_response_seconds,
        [_between(t.first_response_at, since, until)],
    ).items():  # fmt: skip
        group(k).first_response = d
    for k, d in _percentiles(
        conn, key(t.resolved_at), t.resolution_seconds, [_between(t.resolved_at, since, until)]
    ).items():
        group(k).resolution = d
    sla = _sla_by(conn, src, key, since, until, now)
    for k, (fr, res) in _sum_sla(sla, 0).items():
        g = group(k)
        g.sla_first_response, g.sla_resolution = fr, res
    return groups, _sum_sla(sla, 1)


def _sla_by(
    conn: Connection, src: Table, key: Key, since: datetime, until: datetime, now: datetime
) -> dict[tuple[str, str], tuple[SlaCompliance, SlaCompliance]]:
    """Met and breached targets per (group, ticket type): one pass per target serves both the
    groups and the by-type table."""
    out: dict[tuple[str, str], list[SlaCompliance]] = {}
    for i, (due, settled, met) in enumerate(_sla_targets(src, now)):
        stmt = (
            select(key(settled).label("k"), src.c.type_key, _flag(met), _flag(~met))
            # Settled in the period implies due at or after its start: met means stopped by
            # the due instant, breached means settled at it. An index serves this bound.
            .where(due >= since, settled.is_not(None), _between(settled, since, until))
            .group_by(literal_column("k"), src.c.type_key)
        )
        for group, type_key, n_met, n_breached in conn.execute(stmt):
            pair = out.setdefault((str(group), type_key), [SlaCompliance(), SlaCompliance()])
            pair[i] = SlaCompliance(met=int(n_met), breached=int(n_breached))
    return {k: (v[0], v[1]) for k, v in out.items()}


def _sum_sla(
    sla: dict[tuple[str, str], tuple[SlaCompliance, SlaCompliance]], by: int
) -> dict[str, tuple[SlaCompliance, SlaCompliance]]:
    """Add up the (group, type) counts by group (``by=0``) or by type (``by=1``)."""
    out: dict[str, tuple[SlaCompliance, SlaCompliance]] = {}
    for k, (fr, res) in sla.items():
        a, b = out.get(k[by], (SlaCompliance(), SlaCompliance()))
        out[k[by]] = (a + fr, b + res)
    return out


def _backlog_count(conn: Connection, src: Table, when: datetime) -> int:
    rows = _backlog_rows(src, when, src.c.id)
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def _backlog_by(
    conn: Connection, src: Table, dimension: ColumnElement[Any], when: datetime
) -> dict[str, int]:
    rows = _backlog_rows(src, when, dimension.label("k"))
    stmt = select(rows.c.k, func.count()).group_by(rows.c.k)
    return {str(k): int(n) for k, n in conn.execute(stmt)}


def _order(group_by: str, groups: dict[str, GroupMetrics]) -> list[GroupMetrics]:
    if group_by == "priority":
        rank: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
        return sorted(groups.values(), key=lambda g: (rank.get(g.key, 99), g.key))
    return sorted(groups.values(), key=lambda g: (g.key == UNASSIGNED, g.key))


def _timeline(
    conn: Connection,
    src: Table,
    dialect: str,
    since: datetime,
    until: datetime,
    interval: Interval,
    groups: dict[str, GroupMetrics] | None,
) -> list[TimelinePoint]:
    t, c = src.c, customers.c
    points = {
        d.isoformat(): TimelinePoint(start=d.isoformat()) for d in steps(since, until, interval)
    }

    def counts(col: ColumnElement[Any], table_where: Iterable[Any]) -> dict[str, int]:
        stmt = _by_key(_bucket(dialect, col, interval), func.count()).where(*table_where)
        return {str(k): int(n) for k, n in conn.execute(stmt)}

    if groups is not None:
        for k, g in groups.items():
            p = points[k]
            p.opened, p.resolved, p.backlog = g.opened, g.resolved, g.backlog
    else:
        opened = counts(t.created_at, [_between(t.created_at, since, until)])
        resolved = counts(t.resolved_at, [_between(t.resolved_at, since, until)])
        running = _backlog_count(conn, src, since)
        for k, p in points.items():
            p.opened, p.resolved = opened.get(k, 0), resolved.get(k, 0)
            running += p.opened - p.resolved
            p.backlog = running
    new = counts(c.created_at, [_between(c.created_at, since, until)])
    gone = counts(c.deleted_at, [_between(c.deleted_at, since, until)])
    live = _live_customers(conn, since)
    for k, p in points.items():
        p.new_customers = new.get(k, 0)
        live += p.new_customers - gone.get(k, 0)
        p.customers = live
    return list(points.values())


def _bars(
    value: ColumnElement[Any], bars: Sequence[tuple[str, int, int | None]]
) -> ColumnElement[Any]:
    """The index of the bar ``value`` falls in (bars are contiguous from 0)."""
    whens = [(value < upper, i) for i, (_, _, upper) in enumerate(bars) if upper is not None]
    return case(*whens, else_=len(bars) - 1)


def _resolution_histogram(
    conn: Connection, src: Table, since: datetime, until: datetime
) -> list[Bucket]:
    t = src.c
    bar = _bars(t.resolution_seconds, RESOLUTION_BUCKETS)
    stmt = _by_key(bar, func.count()).where(
        t.resolution_seconds.is_not(None), _between(t.resolved_at, since, until)
    )
    counts = {int(i): int(n) for i, n in conn.execute(stmt)}
    return [
        Bucket(bucket=label, min_seconds=lo, max_seconds=hi, tickets=counts.get(i, 0))
        for i, (label, lo, hi) in enumerate(RESOLUTION_BUCKETS)
    ]


def _backlog_age(conn: Connection, src: Table, until: datetime) -> list[Bucket]:
    # Age bars as bounds on the creation instant: bar i holds (until - hi, until - lo].
    created = src.c.created_at
    whens = [
        (created > until - timedelta(seconds=hi), i)
        for i, (_, _, hi) in enumerate(AGE_BUCKETS)
        if hi is not None
    ]
    rows = _backlog_rows(src, until, case(*whens, else_=len(AGE_BUCKETS) - 1).label("bar"))
    stmt = select(rows.c.bar, func.count()).group_by(rows.c.bar)
    counts = {int(i): int(n) for i, n in conn.execute(stmt)}
    return [
        Bucket(bucket=label, min_seconds=lo, max_seconds=hi, tickets=counts.get(i, 0))
        for i, (label, lo, hi) in enumerate(AGE_BUCKETS)
    ]


def _top_customers(
    conn: Connection, src: Table, since: datetime, until: datetime, limit: int
) -> list[TopCustomer]:
    t = src.c
    per = (
        select(
            t.customer_id.label("cid"),
            func.count().label("opened"),
            _flag(or_(t.resolved_at.is_(None), t.resolved_at >= until)).label("unresolved"),
        )
        .where(_between(t.created_at, since, until))
        .group_by(t.customer_id)
        .order_by(func.count().desc(), t.customer_id)
        .limit(limit)
        .subquery()
    )
    stmt = (
        select(per.c.cid, customers.c.name, per.c.opened, per.c.unresolved)
        .join_from(per, customers, customers.c.id == per.c.cid)
        .order_by(per.c.opened.desc(), per.c.cid)
    )
    return [
        TopCustomer(id=int(i), name=name, opened=int(o), unresolved=int(u))
        for i, name, o, u in conn.execute(stmt)
    ]


def _live_customers(conn: Connection, when: datetime) -> int:
    """Customers created before ``when`` and not in the trash at it (purged ones are gone).

    Counted as created minus trashed (trashing comes after creation), two counts that the
    indexes on ``created_at`` and ``deleted_at`` answer without reading the table.
    """
    c = customers.c
    created = select(func.count()).where(c.created_at < when)
    trashed = select(func.count()).where(c.deleted_at < when)
    return int(conn.execute(created).scalar_one()) - int(conn.execute(trashed).scalar_one())


def _customer_growth(conn: Connection, since: datetime, until: datetime) -> CustomerGrowth:
    c = customers.c
    new = select(func.count()).where(_between(c.created_at, since, until))
    return CustomerGrowth(
        new=int(conn.execute(new).scalar_one()),
        at_start=_live_customers(conn, since),
        at_end=_live_customers(conn, until),
    )


def _data_quality(conn: Connection, likely_duplicates: int | None) -> DataQuality:
    c = customers.c
    # Warnings are a JSON list of {"field", "code", "message"}; the codes are searched as text,
    # which reads the same on both databases: "email_…" codes, and the phone codes of a value
    # kept as given.
    text = cast(c.warnings, Text)
    # Most records have no warning: the text search runs only for those that do.
    clean = c.warning_count == 0
    email_ok = and_(c.email.is_not(None), or_(clean, ~text.contains('"email_', autoescape=True)))
    phone_ok = and_(
        c.phone.like("+%"),
        or_(
            clean,
            and_(
                ~text.contains('"phone_unparsed"', autoescape=True),
                ~text.contains('"phone_impossible"', autoescape=True),
            ),
        ),
    )
    stmt = select(func.count(), _flag(email_ok), _flag(phone_ok), _flag(c.warning_count > 0)).where(
        c.deleted_at.is_(None)
    )
    total, email, phone, warned = conn.execute(stmt).one()
    return DataQuality(
        customers=int(total),
        valid_email=int(email or 0),
        e164_phone=int(phone or 0),
        with_warnings=int(warned or 0),
        likely_duplicates=likely_duplicates,
    )
