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
    "import_batches",
    "import_changes",
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
