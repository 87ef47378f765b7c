"""Drop ``ix_customers_deleted_at``: ``ix_customers_deleted_at_id`` begins with the same column.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

Every query that filters on ``deleted_at`` alone is served by the two-column index
(``deleted_at, id``), which also orders each page. The one-column index was a third B-tree that
every import, add and delete kept up to date for nothing (issue 19).
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_customers_deleted_at", table_name="customers")


def downgrade() -> None:
    op.create_index("ix_customers_deleted_at", "customers", ["deleted_at"])
