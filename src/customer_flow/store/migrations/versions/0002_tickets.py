"""Tickets: tickets with their SLA columns, and their comments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_when = sa.DateTime(timezone=True)

_TICKET_INDEXES = {
    "ix_tickets_is_open_id": ["is_open", "id"],
    "ix_tickets_is_open_queue_due_at_id": ["is_open", "queue_due_at", "id"],
    "ix_tickets_customer_id_id": ["customer_id", "id"],
    "ix_tickets_type_key_is_open_id": ["type_key", "is_open", "id"],
    "ix_tickets_assignee_is_open_id": ["assignee", "is_open", "id"],
    "ix_tickets_priority_is_open_id": ["priority", "is_open", "id"],
    "ix_tickets_status_id": ["status", "id"],
}


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", _id, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("type_key", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("assignee", sa.String(200)),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", _when, nullable=False),
        sa.Column("updated_at", _when, nullable=False),
        sa.Column("first_response_at", _when),
        sa.Column("resolved_at", _when),
        sa.Column("closed_at", _when),
        sa.Column("paused_at", _when),
        sa.Column("paused_seconds", sa.BigInteger(), nullable=False),
        sa.Column("first_response_paused_seconds", sa.BigInteger()),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("first_response_target", sa.BigInteger()),
        sa.Column("first_response_due_at", _when),
        sa.Column("first_response_risk_at", _when),
        sa.Column("resolution_target", sa.BigInteger()),
        sa.Column("resolution_due_at", _when),
        sa.Column("resolution_risk_at", _when),
        sa.Column("queue_due_at", _when, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_tickets_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["type_key"], ["ticket_types.key"], name="fk_tickets_type_key_ticket_types"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sqlite_autoincrement=True,
    )
    for name, columns in _TICKET_INDEXES.items():
        op.create_index(name, "tickets", columns)
    op.create_table(
        "ticket_comments",
        sa.Column("id", _id, nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("by_customer", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _when, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_ticket_comments_ticket_id_tickets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_comments"),
    )
    op.create_index("ix_ticket_comments_ticket_id_id", "ticket_comments", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_comments_ticket_id_id", table_name="ticket_comments")
    op.drop_table("ticket_comments")
    for name in reversed(_TICKET_INDEXES):
        op.drop_index(name, table_name="tickets")
    op.drop_table("tickets")
