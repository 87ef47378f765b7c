"""Search index: substring search over customers' name, email and phone without a full scan.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

SQLite: ``customer_search`` holds each customer's name, email and phone case-folded (the SQL
function ``casefold`` that ``Store`` registers), and the FTS5 table ``customer_search_fts``
indexes it by trigrams (external content, ``detail=none``: it only has to find candidates; a
search checks them against ``customer_search``). Filled here from the customers already there.

PostgreSQL: pg_trgm GIN indexes on ``customers.name``, ``email`` and ``phone`` serve the search's
``ILIKE`` / ``LIKE '%...%'`` as they are. A server without the pg_trgm extension, or a role that
may not create it, gets no indexes: search still works, by scanning, as before.

None of these objects are in ``schema.metadata`` (they differ per database); ``search.py`` names
them for the schema comparison.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from customer_flow.store.engine import casefold

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_PG_INDEXES = {
    "ix_customers_name_trgm": "name",
    "ix_customers_email_trgm": "email",
    "ix_customers_phone_trgm": "phone",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Store registers casefold on its connections; Alembic may run on a plain engine.
        bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "casefold", 1, casefold, deterministic=True
        )
        op.execute(
            "CREATE TABLE customer_search ("
            "id INTEGER NOT NULL PRIMARY KEY, name TEXT, email TEXT, phone TEXT)"
        )
        op.execute(
            "CREATE VIRTUAL TABLE customer_search_fts USING fts5("
            "name, email, phone, content='customer_search', content_rowid='id', "
            "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)"
        )
        op.execute(
            "INSERT INTO customer_search (id, name, email, phone) "
            "SELECT id, casefold(name), casefold(email), casefold(phone) FROM customers"
        )
        op.execute("INSERT INTO customer_search_fts (customer_search_fts) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        if not _pg_trgm(bind):
            logging.getLogger(__name__).warning(
                "pg_trgm is not available: customer search will scan instead of using an index"
            )
            return
        for name, column in _PG_INDEXES.items():
            # A pending list (GIN's fast update) is read by every search until it is merged:
            # 1 MB rather than the default 4 MB bounds that; search.refresh merges it after a
            # bulk write.
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON customers "
                f"USING gin ({column} gin_trgm_ops) WITH (gin_pending_list_limit = 1024)"
            )


def _pg_trgm(bind: sa.Connection) -> bool:
    """Whether pg_trgm is (or could now be) installed in this database."""
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first():
        return True
    if not bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).first():
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return False  # e.g. a role without the CREATE privilege on the database
    return True


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS customer_search_fts")
        op.execute("DROP TABLE IF EXISTS customer_search")
    elif bind.dialect.name == "postgresql":
        for name in _PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
