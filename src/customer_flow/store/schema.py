"""Tables, declared once with SQLAlchemy Core. Alembic migrations create them.

Core tables rather than ORM classes: the bulk paths (imports, reports) need plain SQL speed,
and the domain modules pass dicts and Pydantic models, not ORM instances.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

__all__ = [
    "api_tokens",
    "audit_log",
    "counters",
    "customer_ids",
    "customer_search",
    "customers",
    "duplicate_dismissals",
    "duplicate_model",
    "import_batches",
    "import_changes",
    "login_failures",
    "match_keys",
    "merges",
    "metadata",
    "search_metadata",
    "sessions",
    "ticket_types",
    "users",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Every customer ID ever issued. Rows are never deleted, so a purged ID is never reused.
customer_ids = Table(
    "customer_ids",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
)

#: Named high-water marks (``customer``: the largest customer ID issued).
counters = Table(
    "counters",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(300), nullable=False),
    Column("email", String(320)),
    # Lower-cased email: what uniqueness is checked on.
    Column("email_key", String(320)),
    Column("phone", String(64)),
    Column("extra", JSON, nullable=False, default=dict),
    Column("warnings", JSON, nullable=False, default=list),
    Column("warning_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Column("merged_into", BigInteger),
    Index(
        "uq_customers_live_email",
        "email_key",
        unique=True,
        sqlite_where=text("deleted_at IS NULL"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
    Index("ix_customers_name_id", "name", "id"),
    Index("ix_customers_created_at_id", "created_at", "id"),
    Index("ix_customers_merged_into", "merged_into"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("entity", String(50), nullable=False),
    Column("entity_id", String(100), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("note", Text),
    Index("ix_audit_log_entity", "entity", "entity_id", "id"),
)

ticket_types = Table(
    "ticket_types",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("default_priority", String(20), nullable=False, default="normal"),
    # SLA targets in seconds: {"first_response": 14400, "resolution": 172800}; either may be absent.
    Column("sla", JSON, nullable=False, default=dict),
    # Extra fields: {"invoice_number": {"type": "string", "required": true, ...}}
    Column("fields", JSON, nullable=False, default=dict),
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- tickets ---------------------------------------------------------------------------------

__all__ += [
    "OPEN_SLA_COLUMNS",
    "OPEN_SLA_WHERE",
    "OPEN_STATUSES",
    "PRIORITY_RANKS",
    "PRIORITY_RANK_SQL",
    "STATUS_RANKS",
    "STATUS_RANK_SQL",
    "ticket_comments",
    "tickets",
]

#: Statuses in the open queue; ``tickets.is_open`` mirrors this so one index serves the queue.
OPEN_STATUSES = ("new", "open", "pending")
#: The lifecycle's order (the queue's status sort) and most urgent first (its priority sort).
STATUS_RANKS = {"new": 0, "open": 1, "pending": 2, "resolved": 3, "closed": 4}
PRIORITY_RANKS = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def _rank_sql(column: str, ranks: dict[str, int]) -> str:
    whens = " ".join(f"WHEN '{value}' THEN {rank}" for value, rank in ranks.items())
    return f"CASE {column} {whens} ELSE {len(ranks)} END"


#: ``ix_tickets_open_sla``: the due-time range first, then what ``queue.sla_condition`` reads.
OPEN_SLA_COLUMNS = (
    "queue_due_at", "id", "first_response_due_at", "first_response_risk_at",
    "resolution_due_at", "resolution_risk_at", "first_response_at", "resolved_at", "paused_at",
)  # fmt: skip
OPEN_SLA_WHERE = {
    "sqlite": "is_open = 1 AND queue_due_at IS NOT NULL",
    "postgresql": "is_open AND queue_due_at IS NOT NULL",
}
STATUS_RANK_SQL = _rank_sql("status", STATUS_RANKS)
PRIORITY_RANK_SQL = _rank_sql("priority", PRIORITY_RANKS)

tickets = Table(
    "tickets",
    metadata,
    # AUTOINCREMENT on SQLite, an identity on PostgreSQL: a purged ticket's ID is never reused.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("customer_id", BigInteger, ForeignKey("customers.id"), nullable=False),
    Column("type_key", String(64), ForeignKey("ticket_types.key"), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("priority", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("tags", JSON, nullable=False, default=list),
    # The agent working the ticket: a user, named by their lower-cased email (0014; the
    # free text before it was mapped to users, and what matched no one is kept in
    # ``unmatched_assignees``). Reports group by this value, so it is the key, not the ID.
    Column("assignee", String(320), ForeignKey("users.email_key")),
    Column("fields", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("first_response_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    # The SLA clock: stopped since ``paused_at`` (pending), and the business seconds of every
    # finished pause (pending, or resolved before a reopen) in ``paused_seconds``.
    Column("paused_at", DateTime(timezone=True)),
    Column("paused_seconds", BigInteger, nullable=False, default=0),
    # ``paused_seconds`` as it stood at the first response: reports subtract it from the
    # business time between ``created_at`` and ``first_response_at``.
    Column("first_response_paused_seconds", BigInteger),
    Column("reopened_count", Integer, nullable=False, default=0),
    # Targets in business seconds after priority scaling, and the instants they fall due / at risk.
    Column("first_response_target", BigInteger),
    Column("first_response_due_at", DateTime(timezone=True)),
    Column("first_response_risk_at", DateTime(timezone=True)),
    Column("resolution_target", BigInteger),
    Column("resolution_due_at", DateTime(timezone=True)),
    Column("resolution_risk_at", DateTime(timezone=True)),
    Index("ix_tickets_is_open_id", "is_open", "id"),
    # The next due instant of a running SLA clock, or 9999-12-31 when none runs (no target
    # left, or paused while pending): the queue's
    # "due" sort, kept NOT NULL so that one index orders it the same way on both databases.
    Column("queue_due_at", DateTime(timezone=True), nullable=False),
    Index("ix_tickets_is_open_queue_due_at_id", "is_open", "queue_due_at", "id"),
    Index("ix_tickets_customer_id_id", "customer_id", "id"),
    Index("ix_tickets_type_key_is_open_id", "type_key", "is_open", "id"),
    Index("ix_tickets_assignee_is_open_id", "assignee", "is_open", "id"),
    Index("ix_tickets_priority_is_open_id", "priority", "is_open", "id"),
    Index("ix_tickets_status_id", "status", "id"),
    # The queue's rank sorts (0019), computed by the database from the row itself so that no
    # write path can leave them stale: the lifecycle's order, most urgent first, and the
    # assignee with nobody as "" (first). Stored on PostgreSQL; migration 0019 adds them as
    # virtual columns on SQLite (which indexes them all the same). Each index serves its sort
    # of the open queue as a range scan, and never needs a write to keep it.
    Column("status_rank", SmallInteger, Computed(STATUS_RANK_SQL, persisted=True), nullable=False),
    Column(
        "priority_rank", SmallInteger, Computed(PRIORITY_RANK_SQL, persisted=True), nullable=False
    ),
    Column(
        "assignee_key",
        String(320),
        Computed("coalesce(assignee, '')", persisted=True),
        nullable=False,
    ),
    Index("ix_tickets_is_open_status_rank_id", "is_open", "status_rank", "id"),
    Index("ix_tickets_is_open_priority_rank_id", "is_open", "priority_rank", "id"),
    Index("ix_tickets_is_open_assignee_key_id", "is_open", "assignee_key", "id"),
    # The open tickets by due time with every column the SLA state reads (0019): the at-risk
    # and on-track filters, and the SLA sort past the breached tickets, test each ticket on
    # the index and read the table only for the ones they list (SQLite is told to use it).
    # "queue_due_at IS NOT NULL" (always true) keeps it to queries that compare the due time:
    # with "is_open = 1" alone, SQLite read it to sort the open queue by creation or customer.
    Index(
        "ix_tickets_open_sla",
        *OPEN_SLA_COLUMNS,
        sqlite_where=text(OPEN_SLA_WHERE["sqlite"]),
        postgresql_where=text(OPEN_SLA_WHERE["postgresql"]),
    ),
    sqlite_autoincrement=True,
)

ticket_comments = Table(
    "ticket_comments",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("ticket_id", BigInteger, ForeignKey("tickets.id"), nullable=False),
    Column("author", String(200), nullable=False),
    # A public reply (the customer sees it) or an internal note.
    Column("public", Boolean, nullable=False),
    # Written by the customer (e.g. a reply by email) rather than by an agent.
    Column("by_customer", Boolean, nullable=False, default=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_ticket_comments_ticket_id_id", "ticket_id", "id"),
)
# -- users, sessions and API tokens (web issue) ---------------------------------------------

#: People who log in to the web app or the API. The CLI acts locally as an admin.
users = Table(
    "users",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("email", String(320), nullable=False),
    # Lower-cased email: what logins and uniqueness use.
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(500), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Server-side login sessions. Only a SHA-256 of the session id is stored.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # The last request seen, kept to the minute (the idle timeout); NULL: none since created_at.
    Column("last_seen_at", DateTime(timezone=True)),
    Index("ix_sessions_user_id", "user_id"),
)

#: Bearer tokens for the API. Only a SHA-256 of the token is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_api_tokens_user_id", "user_id"),
)

#: Failed logins, per account and client address, for throttling (users/throttle.py); kept in
#: the database so every app server sees the same counts.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("email_key", String(320), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    # Per account and address (and, by its first column, per account); per address.
    Index("ix_login_failures_email_key_address_at", "email_key", "address", "at"),
    Index("ix_login_failures_address_at", "address", "at"),
)

#: Live customers in ID order straight from an index: without it SQLite picked a one-column
#: index on deleted_at and sorted every live row for each page (7 ms → 0.1 ms at 20,000 rows;
#: found by benchmarks/bench_web.py). That index went in migration 0018: this one serves its
#: queries too.
Index("ix_customers_deleted_at_id", customers.c.deleted_at, customers.c.id)
# -- duplicates (dedupe.py) ------------------------------------------------------------------
# ``customers.merged_into`` (above, last column): the survivor a merged customer was folded into.

#: Indexed match keys of each customer, so the check on entry is a few index lookups, not a
#: scan: ``email`` (normalised address), ``phone`` (digits), ``tail`` (last 7 phone digits),
#: ``dn`` (email domain + one name token).
match_keys = Table(
    "match_keys",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("value", String(400), primary_key=True),
    Column(
        "customer_id",
        BigInteger,
        ForeignKey("customers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_match_keys_customer_id", "customer_id"),
    # The primary key is the table itself (migration 0009): one B-tree less per key.
    sqlite_with_rowid=False,
)

#: Every merge, with the records as they were before it, so that unmerge is exact.
merges = Table(
    "merges",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("survivor_id", BigInteger, nullable=False),
    Column("merged_ids", JSON, nullable=False),
    # Raw rows of the survivor and the merged customers before, and the survivor after.
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    # What the re-pointers moved (tickets, ...), per kind, so unmerge can move it back.
    Column("moved", JSON, nullable=False),
    Column("undone_at", DateTime(timezone=True)),
    Column("undone_by", String(200)),
    Index("ix_merges_survivor_id", "survivor_id"),
)

#: Pairs a person said are NOT the same customer (``low_id`` < ``high_id``); find skips them.
duplicate_dismissals = Table(
    "duplicate_dismissals",
    metadata,
    Column("low_id", BigInteger, primary_key=True, autoincrement=False),
    Column("high_id", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
)

#: The duplicates model ``duplicates find`` last used (one row, ``id`` 1): the fields it compared
#: and m and u per level, as shipped or trained on this database. The check on entry scores with
#: it, so that the same evidence gets the same verdict at the door and in ``find``.
duplicate_model = Table(
    "duplicate_model",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    # Live customers when it was made, and how m and u were obtained (shipped, u, full).
    Column("customers", BigInteger, nullable=False),
    Column("training", String(10), nullable=False),
    # {"fields": [...], "keys": {attribute: [extra keys]}, "mu": {comparison: [[m, u], ...]}}
    Column("model", JSON, nullable=False),
)

# -- reports ---------------------------------------------------------------------------------
# Business-time durations, stored by ``tickets.py`` when the event happens (with the calendar in
# force then), so that reports take medians and percentiles of a plain column in SQL. Both are
# net of pauses. NULL until the event: no first public agent reply yet, or not resolved (a
# reopen clears ``resolution_seconds`` until the next resolution).
tickets.append_column(Column("first_response_seconds", BigInteger))
tickets.append_column(Column("resolution_seconds", BigInteger))
# Reports select tickets by the instant of an event in a period. The indexes on nullable
# instants are partial (NOT NULL): a range implies it, so reports use them, while the queue's
# "IS NULL" tests cannot, which kept SQLite from picking them over the queue's own index (that
# made the at-risk filter ~10x slower at 1M tickets).
Index("ix_tickets_created_at", tickets.c.created_at)


def _event_index(name: str, column: Column[Any]) -> Index:
    where = text(f"{column.name} IS NOT NULL")
    return Index(name, column, sqlite_where=where, postgresql_where=where)


_event_index("ix_tickets_first_response_due_at", tickets.c.first_response_due_at)
_event_index("ix_tickets_resolution_due_at", tickets.c.resolution_due_at)


def _partial(name: str, where: str, *columns: Column[Any]) -> Index:
    clause = text(where)
    return Index(name, *columns, sqlite_where=clause, postgresql_where=clause)


# Covering indexes, so that a report over a long period reads narrow index entries, never the
# wide rows (0007). The event instant first, then what reports read with it: per time step, the
# durations sorted within each step; the backlog at an instant (created before it, resolved at
# or after it) by type, priority and assignee.
_t = tickets.c
_partial(
    "ix_tickets_resolved_at", "resolved_at IS NOT NULL",
    _t.resolved_at, _t.resolution_seconds, _t.created_at, _t.type_key, _t.priority, _t.assignee,
)  # fmt: skip
_partial(
    "ix_tickets_first_response_at", "first_response_at IS NOT NULL",
    _t.first_response_at, _t.first_response_seconds,
)  # fmt: skip
# Medians and 90th percentiles by index order: the n-th duration of a period is the n-th entry
# of the period in (duration, instant) order, for the whole period and for each type, priority
# and assignee, so no report sorts a million durations (0007).
for _value, _event in (
    (_t.resolution_seconds, _t.resolved_at),
    (_t.first_response_seconds, _t.first_response_at),
):
    _where = f"{_value.name} IS NOT NULL"
    _partial(f"ix_tickets_{_value.name}", _where, _value, _event)
    for _dim in (_t.type_key, _t.priority, _t.assignee):
        _partial(f"ix_tickets_{_dim.name}_{_value.name}", _where, _dim, _value, _event)
# The tickets not resolved: the backlog's first half and the SLA clocks still running.
_partial(
    "ix_tickets_unresolved_created_at", "resolved_at IS NULL",
    _t.created_at, _t.resolved_at, _t.type_key, _t.priority, _t.assignee, _t.first_response_at,
    _t.first_response_due_at, _t.resolution_due_at, _t.paused_at,
)  # fmt: skip
# Top customers: tickets per customer in a period, counted in customer order.
Index("ix_tickets_customer_id_created_at", _t.customer_id, _t.created_at, _t.resolved_at)

#: The report rollup (``report_rollup.py``): per UTC day and per value of a dimension (``type``,
#: ``priority`` or ``assignee``), counts of the day's ticket events. Rebuilt from ``tickets`` at
#: any time; days marked in ``report_dirty`` are recounted.
ROLLUP_COUNTERS = (
    "opened", "reopened", "resolved_once", "resolved", "resolutions",
    "bar_0", "bar_1", "bar_2", "bar_3", "bar_4", "bar_5",
    "replies", "fr_met", "fr_breached", "res_met", "res_breached",
)  # fmt: skip
report_days = Table(
    "report_days",
    metadata,
    # In (dim, day) order: a report reads one dimension over a range of days.
    Column("dim", String(8), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("key", String(320), primary_key=True),
    *(Column(name, BigInteger, nullable=False, default=0) for name in ROLLUP_COUNTERS),
)
#: Days a ticket change touched since the rollup last counted them: plain inserts (duplicates
#: allowed), so that writers never wait on one another.
report_dirty = Table(
    "report_dirty",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("day", Date, nullable=False),
    Index("ix_report_dirty_day", "day"),
)
__all__ += ["ROLLUP_COUNTERS", "report_days", "report_dirty"]

# -- imports (issue 3) ---------------------------------------------------------------------

#: One row per import of a customer file: what it did, and whether it was reverted.
import_batches = Table(
    "import_batches",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("source", String(500), nullable=False),
    Column("on_conflict", String(10), nullable=False),
    Column("rows_read", BigInteger, nullable=False),
    Column("imported", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("unchanged", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    # imported | reverted
    Column("status", String(20), nullable=False),
    Column("reverted_at", DateTime(timezone=True)),
    Column("reverted_by", String(200)),
    # The import report: cleaning counts, error and warning counts, column mapping, notes.
    Column("report", JSON, nullable=False),
)

#: What a batch changed, a chunk at a time (one row per loaded chunk, not per customer, so a
#: million-row import writes a few rows here): the IDs it created, or the IDs it updated with
#: each customer's values before the update. ``imports revert`` replays these backwards.
import_changes = Table(
    "import_changes",
    metadata,
    Column(
        "batch_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("import_batches.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    # created | updated
    Column("action", String(10), nullable=False),
    Column("customer_ids", JSON, nullable=False),
    Column("before", JSON),
)


# -- teams and assignment (issue 17) ---------------------------------------------------------

#: A named group of agents that tickets can be given to. Teams are never deleted (tickets and
#: ticket types name them), like ticket types.
teams = Table(
    "teams",
    metadata,
    # What tickets, ticket types and the doors name the team by: "billing", "level-2".
    Column("key", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    # How a ticket given to the team finds its agent: "round_robin" or "none".
    Column("assignment", String(20), nullable=False),
    # Round-robin: the agent (email key) the team gave its last ticket to.
    Column("last_assigned", String(320)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_key", String(64), ForeignKey("teams.key"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Index("ix_team_members_user_id", "user_id"),
)

#: The team a ticket is queued for (with or without an agent), and the one a type defaults to.
tickets.append_column(Column("team", String(64), ForeignKey("teams.key")))
Index("ix_tickets_team_is_open_id", tickets.c.team, tickets.c.is_open, tickets.c.id)
ticket_types.append_column(Column("default_team", String(64)))

#: Migration 0015's report: the free-text assignees that matched no user (or several), with the
#: ticket they were on. Kept for good: the value left the ticket, so it lives here.
unmatched_assignees = Table(
    "unmatched_assignees",
    metadata,
    Column("ticket_id", BigInteger, primary_key=True, autoincrement=False),
    Column("assignee", String(200), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("migrated_at", DateTime(timezone=True), nullable=False),
)
__all__ += ["team_members", "teams", "unmatched_assignees"]

#: SQLite's substring-search index (``search.py``), outside ``metadata``: it exists on SQLite
#: only (PostgreSQL serves the same search with pg_trgm indexes on ``customers``), so the schema
#: that both databases share does not list it. Migration 0008 creates it.
search_metadata = MetaData()

#: Each customer's name, email and phone, case-folded (``str.casefold``): the text the FTS5
#: trigram table ``customer_search_fts`` indexes (external content) and that a search checks.
#: Written only by ``search.refresh``; a row per customer, live or in the trash.
customer_search = Table(
    "customer_search",
    search_metadata,
    # INTEGER PRIMARY KEY: the rowid, which the FTS5 table's rowids are.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", Text),
    Column("email", Text),
    Column("phone", Text),
)

# -- mail (issue 18) ---------------------------------------------------------------------------

__all__ += ["mail_accounts", "mail_inbound", "mail_outbox"]

#: The mail servers: IMAP mailboxes read for tickets (``kind`` imap) and the SMTP server that
#: sends replies (``kind`` smtp, at most one active). Passwords are never stored: only the name
#: of the environment variable or the file that holds one.
mail_accounts = Table(
    "mail_accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    # tls (implicit, 993/465), starttls (143/587)
    Column("security", String(10), nullable=False),
    Column("username", String(320), nullable=False),
    Column("password_env", String(100)),
    Column("password_file", String(1000)),
    # Our address: the mailbox's own (mail from it is never turned into a ticket) or From.
    Column("address", String(320), nullable=False),
    Column("folder", String(200), nullable=False, default="INBOX"),
    # The type of the tickets a new message opens (imap only).
    Column("default_type", String(64)),
    # A CA bundle that signs the server's certificate (a private CA); None: the system's.
    Column("ca_file", String(1000)),
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Every message read from a mailbox, once: the (mailbox, UIDVALIDITY, UID) key and the
#: Message-ID are unique, so a fetch killed halfway or two fetches at once never make two
#: tickets of one message. ``raw`` is the original, kept whole.
mail_inbound = Table(
    "mail_inbound",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("mailbox", String(64), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("message_id", Text),
    # SHA-256 of the Message-ID (without its angle brackets): unique where there is one.
    Column("message_key", String(64)),
    Column("sender", String(320)),
    Column("subject", String(300), nullable=False, default=""),
    # ticket, comment, ignored, rate_limited, duplicate
    Column("outcome", String(20), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("ticket_id", BigInteger),
    Column("comment_id", BigInteger),
    Column("size", BigInteger, nullable=False, default=0),
    Column("raw", LargeBinary),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("uq_mail_inbound_mailbox_uidvalidity_uid", "mailbox", "uidvalidity", "uid", unique=True),
    Index(
        "uq_mail_inbound_message_key",
        "message_key",
        unique=True,
        sqlite_where=text("message_key IS NOT NULL"),
        postgresql_where=text("message_key IS NOT NULL"),
    ),
    Index("ix_mail_inbound_sender_received_at", "sender", "received_at"),
    Index("ix_mail_inbound_ticket_id", "ticket_id"),
)

#: The transactional outbox: a public reply and its message commit together; the worker sends
#: it and keeps trying (``next_attempt_at``) until it is sent or fails for good.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("comment_id", BigInteger),
    Column("to_address", String(320), nullable=False),
    Column("subject", String(400), nullable=False),
    # reply (to the customer: its thread finds the ticket) or notification (to an agent)
    Column("kind", String(12), nullable=False, default="reply"),
    # The text part, and the HTML part (None: text only), rendered from the templates.
    Column("body", Text, nullable=False),
    Column("html", Text),
    # Without angle brackets; unique, so a reply's headers find their ticket.
    Column("message_id", String(255), nullable=False, unique=True),
    Column("in_reply_to", Text),
    Column("references", Text),
    # pending, sending (claimed until next_attempt_at), sent, failed
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_mail_outbox_ticket_id", "ticket_id"),
)

# -- background jobs (issue 18) ----------------------------------------------------------------

__all__ += ["job_failures"]

#: Jobs the worker gave up on after their retries, for admins to see.
job_failures = Table(
    "job_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("job", String(100), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Index("ix_job_failures_failed_at", "failed_at"),
)

#: Files that came with a ticket's mail: the bytes live outside the database in a
#: content-addressed store (``mail/files.py``: SHA-256, each file once); a row per appearance.
attachments = Table(
    "attachments",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("comment_id", BigInteger),
    Column("inbound_id", BigInteger),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_attachments_ticket_id_id", "ticket_id", "id"),
    Index("ix_attachments_sha256", "sha256"),
)
__all__ += ["attachments"]

#: Each user's choice of notifications by email; a missing row is the event's default.
notification_settings = Table(
    "notification_settings",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True),
    Column("event", String(30), primary_key=True),
    Column("enabled", Boolean, nullable=False),
)

#: Every notification sent: unique per user and event, so none goes out twice.
notifications_sent = Table(
    "notifications_sent",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("event_key", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("uq_notifications_sent_user_id_event_key", "user_id", "event_key", unique=True),
)
__all__ += ["notification_settings", "notifications_sent"]

# -- canned replies, saved views, time zones (issue 17, migration 0016) -----------------------

#: The queue's sorts by last change and by subject (issue 17), within the open queue.
Index("ix_tickets_is_open_updated_at_id", tickets.c.is_open, tickets.c.updated_at, tickets.c.id)
Index("ix_tickets_is_open_subject_id", tickets.c.is_open, tickets.c.subject, tickets.c.id)

#: Each user's time zone (an IANA name); NULL: not chosen yet, shown as UTC.
users.append_column(Column("time_zone", String(64)))

#: Text snippets with placeholders that agents insert in a reply: personal (``shared`` false:
#: only ``owner_id`` sees it) or shared (everyone; its owner or an admin changes it).
canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("owner_id", BigInteger, ForeignKey("users.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_canned_replies_owner_id", "owner_id"),
)

#: The queue's filters and sort under a name, personal or shared like canned replies.
saved_views = Table(
    "saved_views",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("filters", JSON, nullable=False),
    Column("sort", String(20), nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("owner_id", BigInteger, ForeignKey("users.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_saved_views_owner_id", "owner_id"),
)
__all__ += ["canned_replies", "saved_views"]

#: Imports started from the web, run by the worker (``jobs/imports.py``): a preview or an
#: import of a staged upload, its state, and its report or error.
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("user_id", BigInteger),
    Column("actor", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("source", String(255), nullable=False),
    Column("folder", String(1000), nullable=False),
    Column("options", Text, nullable=False),
    Column("report", Text),
    Column("batch_id", BigInteger),
    Column("error", Text),
    Column("error_status", Integer),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_import_jobs_user_id_id", "user_id", "id"),
)
__all__ += ["import_jobs"]
