"""Import speed: a cheaper layout for the duplicate check's match keys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

An import writes several match keys per customer, and writing them was most of its time. Two
changes make each customer cost fewer B-tree entries, with the same answers on entry:

- one phone key instead of two: ``tail`` holds the last 7 digits (all of them when there are
  fewer), and the check compares the whole number on the customer it finds. The separate
  ``phone`` keys (all digits) go;
- on SQLite, ``match_keys`` becomes a ``WITHOUT ROWID`` table: the primary key is the table,
  instead of a rowid table plus an index holding the same three columns.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TAIL = 7


def _table(name: str, *, rowid: bool) -> None:
    op.create_table(
        name,
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
        sqlite_with_rowid=rowid,
    )


def _rebuild(*, rowid: bool) -> None:
    """SQLite only: copy match_keys into a table of the other layout, in key order."""
    _table("match_keys_new", rowid=rowid)
    op.execute(
        "INSERT INTO match_keys_new (kind, value, customer_id) "
        "SELECT kind, value, customer_id FROM match_keys ORDER BY kind, value, customer_id"
    )
    op.drop_index("ix_match_keys_customer_id", table_name="match_keys")
    op.drop_table("match_keys")
    op.rename_table("match_keys_new", "match_keys")
    op.create_index("ix_match_keys_customer_id", "match_keys", ["customer_id"])


def upgrade() -> None:
    # A phone of fewer than 7 digits had only a "phone" key: it becomes its "tail".
    op.execute(
        "INSERT INTO match_keys (kind, value, customer_id) "
        f"SELECT 'tail', value, customer_id FROM match_keys "
        f"WHERE kind = 'phone' AND length(value) < {_TAIL}"
    )
    op.execute("DELETE FROM match_keys WHERE kind = 'phone'")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(rowid=True)
    conn = op.get_bind()
    table = sa.table("match_keys", sa.column("kind"), sa.column("value"), sa.column("customer_id"))
    rows = conn.execute(sa.text("SELECT id, phone FROM customers WHERE phone IS NOT NULL"))
    keys = []
    for cid, phone in rows:
        digits = re.sub(r"\D", "", phone.split(";ext=", 1)[0])
        if digits:
            keys.append({"kind": "phone", "value": digits[:400], "customer_id": cid})
    op.execute(f"DELETE FROM match_keys WHERE kind = 'tail' AND length(value) < {_TAIL}")
    for start in range(0, len(keys), 5000):
        conn.execute(table.insert(), keys[start : start + 5000])
