"""Reports: ticket and customer metrics for a period, computed in the database.

Every number is counted in SQL (SQLAlchemy Core); no ticket or customer row is loaded into
Python. Python only adds up counted rows (per day into steps, per type into totals), fills in the
empty steps of a timeline, turns per-step counts into running totals, and interpolates between
two order statistics that SQL picked. The numbers are the same on SQLite and PostgreSQL.

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
  PostgreSQL's ``percentile_cont`` does. SQL picks the values at those ranks by order, never by
  sorting a million durations: the rollup's per-day duration histogram says which bucket holds a
  rank, and only that bucket's durations are ordered (along an index kept in (duration, instant)
  order, or within the period); per type, priority or assignee, an index kept in (dimension,
  duration, instant) order is walked to the rank. PostgreSQL orders each group's durations in
  one array instead (``array_agg``); the ranks and the interpolation are the same.
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
  E.164 form (``+`` and digits, not kept as given); any open warning; and **likely
  duplicates**: the live customers that the check on entry flagged as a possible duplicate of
  another (their ``possible_duplicate`` warning; a merge, an edit or "not a duplicate" clears
  it). It counts the records a merge would fold away: of two records of one person, one is
  flagged. It is read in the same pass as the other figures, never by pairing customers.

Time steps (day, ISO week starting Monday, month) are cut in UTC.

How it stays fast over millions of tickets: the per-day counts come from the report rollup
(``report_rollup.py``), kept current as tickets change; what depends on the clock (SLA targets
still running, the backlog) and the durations are read from the tickets through covering indexes
(``schema.py``, revision 0007).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    MetaData,
    Subquery,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)

from customer_flow.core.models import PRIORITIES
from customer_flow.reports import rollup as report_rollup
from customer_flow.reports.models import (
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
from customer_flow.reports.period import (
    DEFAULT_DAYS,
    MAX_STEPS,
    parse_bound,
    parse_group_by,
    resolve_period,
    steps,
)
from customer_flow.reports.rollup import RESOLUTION_BUCKETS, UNASSIGNED, step_of
from customer_flow.store.schema import customers, tickets

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

D = 86400
#: Backlog age bars (wall-clock seconds since creation).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 day", 0, D),
    ("1–3 days", D, 3 * D),
    ("3–7 days", 3 * D, 7 * D),
    ("7–30 days", 7 * D, 30 * D),
    ("≥ 30 days", 30 * D, None),
)
#: (numerator, denominator) of the percentiles taken: the median and the 90th.
_MEDIAN, _P90 = (1, 2), (9, 10)
#: A period holding at least this share of a duration's values walks the duration indexes
#: (bounded by the index's size); a smaller one sorts its own values (bounded by its size).
_WALK_SHARE = 1 / 6

_T = tickets.c
#: The ticket column of each grouping dimension (and of the rollup's ``dim``).
_DIM_COLUMNS: dict[str, ColumnElement[Any]] = {
    "type": _T.type_key,
    "priority": _T.priority,
    "assignee": func.coalesce(_T.assignee, literal_column(f"'{UNASSIGNED}'")),
}
_INDEXED_DIMS = {"type": "type_key", "priority": "priority", "assignee": "assignee"}
#: name: (event instant, duration, rollup counter of the durations)
_METRICS: dict[str, tuple[ColumnElement[Any], ColumnElement[Any], str]] = {
    "first_response": (_T.first_response_at, _T.first_response_seconds, "replies"),
    "resolution": (_T.resolved_at, _T.resolution_seconds, "resolutions"),
}


# -- SQL building blocks -----------------------------------------------------------------------


def _between(col: ColumnElement[Any], since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(col >= since, col < until)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _unindexed(dialect: str, col: ColumnElement[Any]) -> ColumnElement[Any]:
    """``col`` as an expression SQLite cannot look up in an index (its ``+col`` idiom: ``+ 0``
    for a number, ``coalesce`` for an instant), to steer its planner to the index that serves
    the query better; PostgreSQL plans by cost alone."""
    if dialect != "sqlite":
        return col
    if isinstance(col.type, (Integer, BigInteger)):
        return col + 0
    return func.coalesce(col, col)


def _backlog_rows(conn: Connection, when: datetime, *columns: ColumnElement[Any]) -> Subquery:
    """Tickets in the backlog at ``when``, as two index-friendly halves: never resolved (a
    partial index holds only those, with the columns read), and resolved at or after ``when``
    but created before it: read along the (covering) resolution index when few were resolved
    since ``when``, else along the creation index, when few were created before it."""
    t = _T
    never = select(*columns).where(t.resolved_at.is_(None), t.created_at < when)
    created: ColumnElement[Any] = t.created_at
    resolved: ColumnElement[Any] = t.resolved_at
    before, after = report_rollup.around(conn, when)
    if before < after:
        resolved = _unindexed(conn.dialect.name, resolved)
    else:
        created = _unindexed(conn.dialect.name, created)
    later = select(*columns).where(resolved >= when, created < when)
    return union_all(never, later).subquery()


# -- the report --------------------------------------------------------------------------------


def build_report(
    conn: Connection, query: ReportQuery, *, now: datetime, calendar: dict[str, Any]
) -> Report:
    """Every metric of ``query``'s period, as of ``now``. Run it in a snapshot (the Hub does:
    ``Store.read(snapshot=True)``), so that the rollup, its marked days and the tickets are
    read as of one instant."""
    since, until, interval = resolve_period(query, now)
    timed = query.group_by in ("day", "week", "month")
    dim = None if timed else query.group_by
    # Per step and type: the timeline, the SLA by type and, for a time grouping, the groups.
    by_type = report_rollup.counts(conn, since, until, interval, "type", by_step=True)
    per_step = _sum(by_type, 0)
    per_type = _sum(by_type, 1)
    if dim is None:
        keys = [d.isoformat() for d in steps(since, until, interval)]
        per_group = {k: per_step.get(k, Counter()) for k in keys}
    else:
        by_dim = report_rollup.counts(conn, since, until, interval, dim, by_step=False)
        per_group = _sum(by_dim, 1)
    groups = {k: _group(k, c) for k, c in per_group.items()}
    sla_types = {k: _group(k, c) for k, c in per_type.items()}
    for (key, type_key), (fr, res) in _running_sla(conn, since, until, now, interval, dim).items():
        for target in (_at(groups, key), _at(sla_types, type_key)):
            target.sla_first_response.breached += fr
            target.sla_resolution.breached += res

    totals = GroupMetrics(key="total")
    for metric, (_, _, counter) in _METRICS.items():
        wanted = {k: c[counter] for k, c in per_group.items() if c[counter]}
        per, whole = _durations(conn, metric, since, until, interval, dim, wanted)
        for k, d in per.items():
            setattr(_at(groups, k), metric, d)
        setattr(totals, metric, whole)

    if dim is None:
        running = _backlog_count(conn, since)
        for g in groups.values():
            running += g.opened - g.resolved
            g.backlog = running
        ordered = list(groups.values())
    else:
        for k, count in _backlog_by(conn, _DIM_COLUMNS[dim], until).items():
            _at(groups, k).backlog = count
        ordered = _order(query.group_by, [g for g in groups.values() if _counted(g)])

    for g in ordered:
        totals.opened += g.opened
        totals.resolved += g.resolved
        totals.reopened += g.reopened
        totals.resolved_once += g.resolved_once
        totals.sla_first_response += g.sla_first_response
        totals.sla_resolution += g.sla_resolution
    totals.backlog = _backlog_count(conn, until)
    sla_by_type = [
        GroupMetrics(
            key=k, sla_first_response=g.sla_first_response, sla_resolution=g.sla_resolution
        )
        for k, g in sorted(sla_types.items())
        if g.sla.settled
    ]
    everything = Counter[str]()
    for c in per_type.values():
        everything.update(c)

    return Report(
        since=since,
        until=until,
        generated_at=now,
        group_by=query.group_by,
        interval=interval,
        calendar=calendar,
        totals=totals,
        groups=ordered,
        timeline=_timeline(conn, since, until, interval, per_step, _backlog_count(conn, since)),
        sla_by_type=sla_by_type,
        resolution_histogram=[
            Bucket(bucket=label, min_seconds=lo, max_seconds=hi, tickets=everything[f"bar_{i}"])
            for i, (label, lo, hi) in enumerate(RESOLUTION_BUCKETS)
        ],
        backlog_age=_backlog_age(conn, until),
        top_customers=_top_customers(
            conn, since, until, query.top, long=_long(conn, totals.opened, "opened")
        ),
        customers=_customer_growth(conn, since, until),
        data_quality=_data_quality(conn),
    )


def _sum(counts: report_rollup.Counts, by: int) -> dict[str, Counter[str]]:
    """Add up the (step, key) counts by step (``by=0``) or by key (``by=1``)."""
    out: dict[str, Counter[str]] = {}
    for k, c in counts.items():
        out.setdefault(k[by], Counter()).update(c)
    return out


def _group(key: str, c: Counter[str]) -> GroupMetrics:
    return GroupMetrics(
        key=key,
        opened=c["opened"],
        resolved=c["resolved"],
        reopened=c["reopened"],
        resolved_once=c["resolved_once"],
        sla_first_response=SlaCompliance(met=c["fr_met"], breached=c["fr_breached"]),
        sla_resolution=SlaCompliance(met=c["res_met"], breached=c["res_breached"]),
    )


def _at(groups: dict[str, GroupMetrics], key: str) -> GroupMetrics:
    return groups.setdefault(key, GroupMetrics(key=key))


def _counted(g: GroupMetrics) -> bool:
    """Whether a type, priority or assignee has anything to show in the period."""
    return bool(
        g.opened
        or g.resolved
        or g.backlog
        or g.first_response.count
        or g.resolution.count
        or g.sla.settled
    )


def _order(group_by: str, groups: list[GroupMetrics]) -> list[GroupMetrics]:
    if group_by == "priority":
        rank: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
        return sorted(groups, key=lambda g: (rank.get(g.key, 99), g.key))
    return sorted(groups, key=lambda g: (g.key == UNASSIGNED, g.key))


def _running_sla(
    conn: Connection,
    since: datetime,
    until: datetime,
    now: datetime,
    interval: Interval,
    dim: str | None,
) -> dict[tuple[str, str], tuple[int, int]]:
    """Targets still running that breached in the period: per (group, type), (first response,
    resolution). Only tickets not resolved have a running clock (a partial index holds them)."""
    t = _T
    clock = func.coalesce(t.paused_at, now)
    out: dict[tuple[str, str], list[int]] = {}
    for i, (due, extra) in enumerate(
        (
            (t.first_response_due_at, [t.first_response_at.is_(None)]),
            (t.resolution_due_at, []),
        )
    ):
        key = step_of(conn.dialect.name, due, interval) if dim is None else _DIM_COLUMNS[dim]
        stmt = (
            select(key.label("g"), t.type_key.label("ty"), func.count().label("n"))
            # Not by the due index (every target of the period): by the few unresolved tickets.
            .where(
                t.resolved_at.is_(None),
                *extra,
                due < clock,
                _between(_unindexed(conn.dialect.name, due), since, until),
            )
            .group_by(literal_column("g"), literal_column("ty"))
        )
        for g, type_key, n in conn.execute(stmt):
            out.setdefault((str(g), str(type_key)), [0, 0])[i] += int(n)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _backlog_count(conn: Connection, when: datetime) -> int:
    rows = _backlog_rows(conn, when, _T.id)
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def _backlog_by(conn: Connection, dimension: ColumnElement[Any], when: datetime) -> dict[str, int]:
    rows = _backlog_rows(conn, when, dimension.label("k"))
    stmt = select(rows.c.k, func.count()).group_by(rows.c.k)
    return {str(k): int(n) for k, n in conn.execute(stmt)}


def _timeline(
    conn: Connection,
    since: datetime,
    until: datetime,
    interval: Interval,
    per_step: dict[str, Counter[str]],
    backlog: int,
) -> list[TimelinePoint]:
    c = customers.c
    dialect = conn.dialect.name
    points = [TimelinePoint(start=d.isoformat()) for d in steps(since, until, interval)]

    def counts(col: ColumnElement[Any]) -> dict[str, int]:
        stmt = (
            select(step_of(dialect, col, interval).label("k"), func.count())
            .where(_between(col, since, until))
            .group_by(literal_column("k"))
        )
        return {str(k): int(n) for k, n in conn.execute(stmt)}

    new, gone = counts(c.created_at), counts(c.deleted_at)
    live = _live_customers(conn, since)
    for p in points:
        step = per_step.get(p.start, Counter())
        p.opened, p.resolved = step["opened"], step["resolved"]
        backlog += p.opened - p.resolved
        p.backlog = backlog
        p.new_customers = new.get(p.start, 0)
        live += p.new_customers - gone.get(p.start, 0)
        p.customers = live
    return points


def _backlog_age(conn: Connection, until: datetime) -> list[Bucket]:
    # Age bars as bounds on the creation instant: bar i holds (until - hi, until - lo].
    created = _T.created_at
    whens = [
        (created > until - timedelta(seconds=hi), i)
        for i, (_, _, hi) in enumerate(AGE_BUCKETS)
        if hi is not None
    ]
    rows = _backlog_rows(conn, until, case(*whens, else_=len(AGE_BUCKETS) - 1).label("bar"))
    stmt = select(rows.c.bar, func.count()).group_by(rows.c.bar)
    counts = {int(i): int(n) for i, n in conn.execute(stmt)}
    return [
        Bucket(bucket=label, min_seconds=lo, max_seconds=hi, tickets=counts.get(i, 0))
        for i, (label, lo, hi) in enumerate(AGE_BUCKETS)
    ]


def _top_customers(
    conn: Connection, since: datetime, until: datetime, limit: int, *, long: bool
) -> list[TopCustomer]:
    """The customers with most tickets opened. Over a ``long`` period (a large share of all
    tickets), counted along the (customer, created) index in customer order, with no sort;
    over a short one, from the period's tickets."""
    t = _T
    created = _unindexed(conn.dialect.name, t.created_at) if long else t.created_at
    per = (
        select(
            t.customer_id.label("cid"),
            func.count().label("opened"),
            _flag(or_(t.resolved_at.is_(None), t.resolved_at >= until)).label("unresolved"),
        )
        .where(_between(created, since, until))
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


def _data_quality(conn: Connection) -> DataQuality:
    c = customers.c
    # Warnings are a JSON list of {"field", "code", "message"}; the codes are searched as text,
    # which reads the same on both databases: "email_…" codes, and the phone codes of a value
    # kept as given.
    warned_text = cast(c.warnings, Text)
    # Most records have no warning: the text search runs only for those that do.
    clean = c.warning_count == 0
    email_ok = and_(
        c.email.is_not(None), or_(clean, ~warned_text.contains('"email_', autoescape=True))
    )
    phone_ok = and_(
        c.phone.like("+%"),
        or_(
            clean,
            and_(
                ~warned_text.contains('"phone_unparsed"', autoescape=True),
                ~warned_text.contains('"phone_impossible"', autoescape=True),
            ),
        ),
    )
    # A likely duplicate is a customer the check on entry flagged (its ``possible_duplicate``
    # warning): counted in the same pass, so the figure costs nothing more per report.
    flagged = and_(~clean, warned_text.contains('"possible_duplicate"', autoescape=True))
    stmt = select(
        func.count(),
        _flag(email_ok),
        _flag(phone_ok),
        _flag(c.warning_count > 0),
        _flag(flagged),
    ).where(c.deleted_at.is_(None))
    total, email, phone, warned, duplicates = conn.execute(stmt).one()
    return DataQuality(
        customers=int(total),
        valid_email=int(email or 0),
        e164_phone=int(phone or 0),
        with_warnings=int(warned or 0),
        likely_duplicates=int(duplicates or 0),
    )


def _ranks(n: int) -> list[int]:
    """The 1-based ranks the median and the p90 of ``n`` values interpolate between."""
    out: set[int] = set()
    for num, den in (_MEDIAN, _P90):
        rank = (n - 1) * num // den + 1
        out.add(rank)
        if (n - 1) * num % den:
            out.add(rank + 1)
    return sorted(out)


def _from_ranks(n: int, values: dict[int, Any]) -> Durations:
    def pick(fraction: tuple[int, int]) -> float:
        num, den = fraction
        rank = (n - 1) * num // den + 1
        share = (n - 1) * num % den / den
        lo = float(values[rank])
        return lo + (float(values[rank + 1]) - lo) * share if share else lo

    return Durations(count=n, median_seconds=pick(_MEDIAN), p90_seconds=pick(_P90))


def _durations(
    conn: Connection,
    metric: str,
    since: datetime,
    until: datetime,
    interval: Interval,
    dim: str | None,
    counts: dict[str, int],
) -> tuple[dict[str, Durations], Durations]:
    """Median and p90 of a duration per group (``counts``: the number of values per group, from
    the rollup) and over the whole period."""
    event, value, counter = _METRICS[metric]
    total = sum(counts.values())
    if not total:
        return {}, Durations()
    dialect = conn.dialect.name
    per = {}
    hist_dim = report_rollup.HISTOGRAMS[metric][0]
    sizes = report_rollup.bucket_totals(conn, hist_dim, counter)
    pick = _BucketPicks(conn, event, value, sizes)
    whole_hist = report_rollup.counts(
        conn, since, until, interval, hist_dim, by_step=False, only=[counter]
    )
    whole_durations = pick(since, until, total, _histograms(whole_hist, counter).get("", {}))
    if dim is None:
        hist = report_rollup.counts(
            conn, since, until, interval, hist_dim, by_step=True, only=[counter]
        )
        per_step = _histograms(hist, counter)
        for k, n in counts.items():
            start = datetime.combine(date.fromisoformat(k), datetime.min.time(), since.tzinfo)
            lo, hi = max(start, since), min(_next_step(start, interval), until)
            per[k] = pick(lo, hi, n, per_step.get(k, {}))
    elif dialect == "postgresql":
        # By the bare column, the (dimension, duration, instant) index hands the groups over in
        # order, each already sorted (NULL, no assignee, comes back as "(unassigned)"); by the
        # displayed name when someone is assigned under that very name.
        odd = _odd_assignee(conn, dim)
        key = _DIM_COLUMNS[dim] if odd else _T[_INDEXED_DIMS[dim]]
        per = _pg_durations(conn, event, value, since, until, key)
    elif _long(conn, total, counter) and not _odd_assignee(conn, dim):
        # Along the (dimension, duration, instant) index: each group's values in order.
        column = _INDEXED_DIMS[dim]
        index = f"ix_tickets_{column}_{value.name}"
        for k, n in counts.items():
            match = (column, None if k == UNASSIGNED else k)
            got: dict[int, Any] = {}
            for rank in _ranks(n):
                if rank not in got:
                    found = _pick(conn, index, value, event, since, until, rank, match=match)
                    got.update({rank + j: v for j, v in enumerate(found)})
            per[k] = _from_ranks(n, got)
    else:
        per = _sorted_picks(conn, event, value, since, until, counts, dim)
    return per, whole_durations


def _histograms(hist: report_rollup.Counts, counter: str) -> dict[str, dict[str, int]]:
    """Per step, its values per duration bucket (bucket keys sort in duration order)."""
    out: dict[str, dict[str, int]] = {}
    for (step, bucket), c in hist.items():
        if c[counter]:
            out.setdefault(step, {})[bucket] = c[counter]
    return out


class _BucketPicks:
    """SQLite: the values at the median's and the p90's ranks of one period, by the rollup's
    duration histogram. Its counts say which bucket holds a rank and where in the bucket it
    is; SQL then orders only that bucket's durations, by the cheaper of two routes: walking the
    (duration, instant) index through the bucket (as long as the bucket is over all time), or
    scanning the period along its instant's index and sorting the bucket's values in it (as
    long as the period). A histogram that does not add up (days marked while counting) makes
    it sort the whole period instead."""

    def __init__(
        self,
        conn: Connection,
        event: ColumnElement[Any],
        value: ColumnElement[Any],
        sizes: dict[str, int],
    ) -> None:
        self.conn, self.event, self.value, self.sizes = conn, event, value, sizes
        self.dialect = conn.dialect.name

    def __call__(self, lo: datetime, hi: datetime, n: int, hist: dict[str, int]) -> Durations:
        value, event, conn = self.value, self.event, self.conn
        along_instant = _EVENT_INDEXES[event.name]
        values: dict[int, Any] = {}
        if sum(hist.values()) != n:
            for rank in _ranks(n):
                if rank not in values:
                    found = _pick(conn, along_instant, value, event, lo, hi, rank)
                    values.update({rank + j: v for j, v in enumerate(found)})
            return _from_ranks(n, values)
        order = sorted(hist)
        starts, at = {}, 0
        for b in order:
            starts[b] = at
            at += hist[b]
        bounds = report_rollup.DURATION_BOUNDS
        for rank in _ranks(n):
            if rank in values:
                continue
            i = next(j for j, b in enumerate(order) if starts[b] < rank <= starts[b] + hist[b])
            first, offset = order[i], rank - starts[order[i]]
            # Rank + 1 may be the first value of the next bucket: order both then.
            last = order[i + 1] if offset == hist[first] and i + 1 < len(order) else first
            top = int(last) + 1
            through = sum(self.sizes.get(b, 0) for b in order[i : order.index(last) + 1])
            found = _pick(
                conn,
                f"ix_tickets_{value.name}" if through <= n else along_instant,
                value,
                event,
                lo,
                hi,
                offset,
                low=bounds[int(first)],
                high=bounds[top] if top < len(bounds) else None,
            )
            values.update({rank + j: v for j, v in enumerate(found)})
        return _from_ranks(n, values)


#: The covering index of each duration's instant, which holds the duration too.
_EVENT_INDEXES = {
    "resolved_at": "ix_tickets_resolved_at",
    "first_response_at": "ix_tickets_first_response_at",
}
_AT = DateTime(timezone=True)


def _pick(
    conn: Connection,
    index: str,
    value: ColumnElement[Any],
    event: ColumnElement[Any],
    lo: datetime,
    hi: datetime,
    rank: int,
    *,
    low: int | None = None,
    high: int | None = None,
    match: tuple[str, str | None] | None = None,
) -> list[Any]:
    """The durations at ``rank`` (1-based) and the next, in duration order, of the tickets with
    the instant in ``[lo, hi)``, the duration in ``[low, high)`` and, with ``match``, a
    dimension column equal to a value (``None``: no value).

    ``ORDER BY duration LIMIT 2 OFFSET rank - 1`` along ``index``: SQLite is told which
    (``INDEXED BY``), as its planner would pick an index that reads far more entries (it skips
    through the (duration, instant) index by the instant, for one); PostgreSQL plans by cost."""
    v, at = value.name, event.name
    hint = f" INDEXED BY {index}" if conn.dialect.name == "sqlite" else ""
    where = [f"{v} IS NOT NULL", f"{at} >= :lo", f"{at} < :hi"]
    params: dict[str, Any] = {"lo": lo, "hi": hi, "skip": rank - 1}
    if low is not None:
        where.append(f"{v} >= :low")
        params["low"] = low
    if high is not None:
        where.append(f"{v} < :high")
        params["high"] = high
    if match is not None:
        column, key = match
        where.append(f"{column} IS NULL" if key is None else f"{column} = :key")
        params["key"] = key
    sql = text(
        f"SELECT {v} FROM tickets{hint} WHERE {' AND '.join(where)} "
        f"ORDER BY {v} LIMIT 2 OFFSET :skip"
    ).bindparams(bindparam("lo", type_=_AT), bindparam("hi", type_=_AT))
    return list(conn.execute(sql, params).scalars())


def _long(conn: Connection, count: int, counter: str) -> bool:
    """Whether a period's ``count`` is a large share of the rollup's all-time ``counter``."""
    return count >= _WALK_SHARE * report_rollup.total(conn, counter)


def _odd_assignee(conn: Connection, dim: str) -> bool:
    """Whether someone is assigned under the very name that stands for "unassigned" (then the
    assignee index cannot pick that group's values alone)."""
    if dim != "assignee":
        return False
    found = select(_T.id).where(_T.assignee == UNASSIGNED).limit(1)
    return conn.execute(found).first() is not None


def _sorted_picks(
    conn: Connection,
    event: ColumnElement[Any],
    value: ColumnElement[Any],
    since: datetime,
    until: datetime,
    counts: dict[str, int],
    dim: str,
) -> dict[str, Durations]:
    """SQLite, a short period by type, priority or assignee: the period's durations sorted once
    by group and duration into a temporary table, so that its rowid is the rank; the ranks
    wanted are read back by rowid. The group sizes come from the rollup; the group at each
    boundary is checked, and if one does not match they are counted from the table instead."""
    ranked = Table("cf_report_ranks", MetaData(), Column("k"), Column("v"))
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.cf_report_ranks")
    conn.exec_driver_sql("CREATE TEMPORARY TABLE cf_report_ranks (k, v)")  # no type: any key
    order = sorted(counts)  # text keys, as SQLite sorts them
    try:
        column = _INDEXED_DIMS[dim]
        key = f"coalesce({column}, '{UNASSIGNED}')" if dim == "assignee" else column
        v, at = value.name, event.name
        source = text(
            f"INSERT INTO temp.cf_report_ranks (k, v) SELECT {key}, {v} "
            f"FROM tickets INDEXED BY {_EVENT_INDEXES[at]} "
            f"WHERE {v} IS NOT NULL AND {at} >= :lo AND {at} < :hi ORDER BY 1, 2"
        ).bindparams(bindparam("lo", type_=_AT), bindparam("hi", type_=_AT))
        inserted = conn.execute(source, {"lo": since, "hi": until}).rowcount
        sizes = [counts[k] for k in order]
        if not _boundaries_hold(conn, ranked, order, sizes, inserted):
            found: dict[Any, int] = {
                k: int(n)
                for k, n in conn.execute(select(ranked.c.k, func.count()).group_by(ranked.c.k))
            }
            sizes = [int(found.get(k, 0)) for k in order]
        starts, at_row = [], 1
        for n in sizes:
            starts.append(at_row)
            at_row += n
        wanted = {s + r - 1 for s, n in zip(starts, sizes, strict=True) if n for r in _ranks(n)}
        rowid: ColumnElement[Any] = literal_column("rowid")
        got: dict[int, Any] = {}
        listed = sorted(wanted)
        for i in range(0, len(listed), 500):
            chunk = listed[i : i + 500]
            stmt = select(rowid, ranked.c.v).select_from(ranked).where(rowid.in_(chunk))
            got.update({int(r): v for r, v in conn.execute(stmt)})
        return {
            k: _from_ranks(n, {r: got[s + r - 1] for r in _ranks(n)})
            for k, s, n in zip(order, starts, sizes, strict=True)
            if n
        }
    finally:
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.cf_report_ranks")


def _boundaries_hold(
    conn: Connection, ranked: Table, keys: list[Any], sizes: list[int], inserted: int
) -> bool:
    """Whether the sorted table holds the groups at the rows their sizes say."""
    if inserted != sum(sizes):
        return False
    rowid: ColumnElement[Any] = literal_column("rowid")
    expect: dict[int, Any] = {}
    at = 1
    for k, n in zip(keys, sizes, strict=True):
        if n:
            expect[at], expect[at + n - 1] = k, k
        at += n
    listed = sorted(expect)
    for i in range(0, len(listed), 500):
        chunk = listed[i : i + 500]
        stmt = select(rowid, ranked.c.k).select_from(ranked).where(rowid.in_(chunk))
        for r, k in conn.execute(stmt):
            if k != expect[int(r)]:
                return False
    return True


def _next_step(start: datetime, interval: Interval) -> datetime:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _pg_durations(
    conn: Connection,
    event: ColumnElement[Any],
    value: ColumnElement[Any],
    since: datetime,
    until: datetime,
    key: ColumnElement[Any],
) -> dict[str, Durations]:
    """PostgreSQL: each group's values in one sorted array; SQL picks the two ranks of each
    percentile (exact integers, the same ranks as everywhere else)."""
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    inner = (
        select(key.label("k"), value.label("v"))
        .where(value.is_not(None), _between(event, since, until))
        .subquery()
    )
    agg = (
        select(
            inner.c.k,
            func.count().label("n"),
            func.array_agg(aggregate_order_by(inner.c.v, inner.c.v)).label("a"),
        )
        .group_by(inner.c.k)
        .subquery()
    )
    n, arr = agg.c.n, agg.c.a
    picks = []
    for num, den in (_MEDIAN, _P90):
        at = (n - 1) * num // den + 1
        picks += [arr[at], arr[at + 1]]
    out = {}
    for k, count, m_lo, m_hi, p_lo, p_hi in conn.execute(select(agg.c.k, n, *picks)):
        size = int(count)
        values: dict[int, Any] = {}
        for fraction, lo, hi in ((_MEDIAN, m_lo, m_hi), (_P90, p_lo, p_hi)):
            rank = (size - 1) * fraction[0] // fraction[1] + 1
            values[rank], values[rank + 1] = lo, hi
        out[UNASSIGNED if k is None else str(k)] = _from_ranks(size, values)
    return out
