"""Imports started from the web run as background jobs (issue 18 item 4, issue 19 item 7).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

One row per job: a preview (a dry run) or an import of a staged upload, who started it, its
state (queued, running, done, failed), its report or error and, for an import, the batch it
wrote. The row of an import turns ``done`` in the import's own transaction, so a retried job
never imports twice. Its progress (rows read of about how many) is a small file beside the
staged upload, since the import holds SQLite's write lock while it runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_at = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", _id, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("folder", sa.String(1000), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("report", sa.Text()),
        sa.Column("batch_id", sa.BigInteger()),
        sa.Column("error", sa.Text()),
        sa.Column("error_status", sa.Integer()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", _at, nullable=False),
        sa.Column("started_at", _at),
        sa.Column("finished_at", _at),
        sa.PrimaryKeyConstraint("id", name="pk_import_jobs"),
    )
    op.create_index("ix_import_jobs_user_id_id", "import_jobs", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_import_jobs_user_id_id", table_name="import_jobs")
    op.drop_table("import_jobs")
