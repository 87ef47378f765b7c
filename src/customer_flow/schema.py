"""Tables, declared once with SQLAlchemy Core. Alembic migrations create them.

Core tables rather than ORM classes: the bulk paths (imports, reports) need plain SQL speed,
and the domain modules pass dicts and Pydantic models, not ORM instances.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

__all__ = [
    "audit_log",
    "counters",
    "customer_ids",
    "customers",
    "duplicate_dismissals",
    "match_keys",
    "merges",
    "metadata",
    "ticket_types",
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
    Index("ix_customers_deleted_at", "deleted_at"),
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
