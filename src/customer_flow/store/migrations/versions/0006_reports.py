"""Reports: business-time durations per ticket, and indexes on event instants.

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-25

Tickets resolved before this revision keep NULL durations: the migration cannot know the
business calendar (it is a setting), so it does not guess one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_tickets_created_at": ["created_at"],
    "ix_tickets_resolved_at": ["resolved_at"],
    "ix_tickets_first_response_at": ["first_response_at"],
    "ix_tickets_first_response_due_at": ["first_response_due_at"],
    "ix_tickets_resolution_due_at": ["resolution_due_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("first_response_seconds", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("resolution_seconds", sa.BigInteger(), nullable=True))
    for name, columns in _INDEXES.items():
        # Partial on the nullable instants: see schema.py (the queue's IS NULL tests must not
        # pick these indexes).
        where = None if columns == ["created_at"] else sa.text(f"{columns[0]} IS NOT NULL")
        op.create_index(name, "tickets", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("resolution_seconds")
        batch.drop_column("first_response_seconds")
