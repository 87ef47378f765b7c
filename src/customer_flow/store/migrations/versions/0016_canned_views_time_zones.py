"""Canned replies, saved views and each user's time zone (issue 17, items 3, 6 and 7).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

- ``canned_replies``: a title and a body with placeholders (``{customer.name}``, ...), personal
  (only its owner sees it) or shared (everyone; its owner or an admin changes it). A shared one
  made by the CLI's local admin, who may be no user, has no owner.
- ``saved_views``: a named set of queue filters and a sort, personal or shared, like them.
- ``users.time_zone``: an IANA name (``Europe/Lisbon``); NULL until chosen or detected, shown
  as UTC.
- Two indexes for the queue's sorts by last change and by subject within the open queue.

Nothing existing changes, so the downgrade drops what this adds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _owned(name: str, *columns: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        *columns,
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=f"fk_{name}_owner_id_users"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )
    op.create_index(f"ix_{name}_owner_id", name, ["owner_id"])


def upgrade() -> None:
    _owned("canned_replies", sa.Column("body", sa.Text(), nullable=False))
    _owned(
        "saved_views",
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("sort", sa.String(20), nullable=False),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))
    for column in ("updated_at", "subject"):
        op.create_index(f"ix_tickets_is_open_{column}_id", "tickets", ["is_open", column, "id"])


def downgrade() -> None:
    for column in ("updated_at", "subject"):
        op.drop_index(f"ix_tickets_is_open_{column}_id", table_name="tickets")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("time_zone")
    for name in ("saved_views", "canned_replies"):
        op.drop_index(f"ix_{name}_owner_id", table_name=name)
        op.drop_table(name)
