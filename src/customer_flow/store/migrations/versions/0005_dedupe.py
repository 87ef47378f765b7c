"""Duplicates: customers.merged_into, match keys, merges and "not a duplicate" decisions.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("merged_into", sa.BigInteger()))
    op.create_index("ix_customers_merged_into", "customers", ["merged_into"])
    op.create_table(
        "match_keys",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(400), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_match_keys_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "value", "customer_id", name="pk_match_keys"),
    )
    op.create_index("ix_match_keys_customer_id", "match_keys", ["customer_id"])
    op.create_table(
        "merges",
        sa.Column("id", _serial, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("survivor_id", sa.BigInteger(), nullable=False),
        sa.Column("merged_ids", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True)),
        sa.Column("undone_by", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_merges"),
    )
    op.create_index("ix_merges_survivor_id", "merges", ["survivor_id"])
    op.create_table(
        "duplicate_dismissals",
        sa.Column("low_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("high_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("low_id", "high_id", name="pk_duplicate_dismissals"),
    )
    _backfill_match_keys()


def _backfill_match_keys() -> None:
    """Nothing: the keys of the customers that exist are built by revision 0011, with the rules
    of the model in force (this revision's rules were replaced there)."""


def downgrade() -> None:
    op.drop_table("duplicate_dismissals")
    op.drop_index("ix_merges_survivor_id", table_name="merges")
    op.drop_table("merges")
    op.drop_index("ix_match_keys_customer_id", table_name="match_keys")
    op.drop_table("match_keys")
    op.drop_index("ix_customers_merged_into", table_name="customers")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("merged_into")
