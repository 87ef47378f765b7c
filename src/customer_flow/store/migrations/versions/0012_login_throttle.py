"""Login throttling per client address as well as per account, and the sessions' idle timeout.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

``login_failures`` gains the client's address (users/throttle.py). Its rows only matter for a
day, so the table is made anew rather than altered. ``sessions`` gains ``last_seen_at``;
existing sessions count as last seen when they were created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _failures(*address: sa.Column[str]) -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", _id, nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        *address,
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )


def upgrade() -> None:
    op.drop_table("login_failures")
    _failures(sa.Column("address", sa.String(64), nullable=False))
    op.create_index(
        "ix_login_failures_email_key_address_at",
        "login_failures",
        ["email_key", "address", "at"],
    )
    op.create_index("ix_login_failures_address_at", "login_failures", ["address", "at"])
    op.add_column("sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE sessions SET last_seen_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("last_seen_at")
    op.drop_table("login_failures")
    _failures()
    op.create_index("ix_login_failures_email_key_at", "login_failures", ["email_key", "at"])
