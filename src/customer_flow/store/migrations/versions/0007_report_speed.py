"""Report speed: covering indexes on tickets, and the per-day report rollup.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

The rollup is counted from the tickets at the end of the upgrade (``report_rollup.rebuild``), so
a database with tickets gets correct reports at once; it takes seconds per million tickets.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTERS = (
    "opened", "reopened", "resolved_once", "resolved", "resolutions",
    "bar_0", "bar_1", "bar_2", "bar_3", "bar_4", "bar_5",
    "replies", "fr_met", "fr_breached", "res_met", "res_breached",
)  # fmt: skip
_UNRESOLVED = [
    "created_at", "resolved_at", "type_key", "priority", "assignee", "first_response_at",
    "first_response_due_at", "resolution_due_at", "paused_at",
]  # fmt: skip
#: name: (columns, partial WHERE or None)
_INDEXES: dict[str, tuple[list[str], str | None]] = {
    "ix_tickets_resolved_at": (
        ["resolved_at", "resolution_seconds", "created_at", "type_key", "priority", "assignee"],
        "resolved_at IS NOT NULL",
    ),
    "ix_tickets_first_response_at": (
        ["first_response_at", "first_response_seconds"],
        "first_response_at IS NOT NULL",
    ),
    "ix_tickets_unresolved_created_at": (_UNRESOLVED, "resolved_at IS NULL"),
    "ix_tickets_customer_id_created_at": (["customer_id", "created_at", "resolved_at"], None),
}
for _value, _event in (
    ("resolution_seconds", "resolved_at"),
    ("first_response_seconds", "first_response_at"),
):
    _INDEXES[f"ix_tickets_{_value}"] = ([_value, _event], f"{_value} IS NOT NULL")
    for _dim in ("type_key", "priority", "assignee"):
        _INDEXES[f"ix_tickets_{_dim}_{_value}"] = ([_dim, _value, _event], f"{_value} IS NOT NULL")
#: The 0006 indexes that 0007 widens (dropped and created again with more columns).
_WIDENED = {
    "ix_tickets_resolved_at": (["resolved_at"], "resolved_at IS NOT NULL"),
    "ix_tickets_first_response_at": (["first_response_at"], "first_response_at IS NOT NULL"),
}


def _create(name: str, columns: list[str], where: str | None) -> None:
    clause = sa.text(where) if where else None
    op.create_index(name, "tickets", columns, sqlite_where=clause, postgresql_where=clause)


def upgrade() -> None:
    for name in _WIDENED:
        op.drop_index(name, table_name="tickets")
    for name, (columns, where) in _INDEXES.items():
        _create(name, columns, where)
    op.create_table(
        "report_days",
        sa.Column("dim", sa.String(8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _COUNTERS),
        sa.PrimaryKeyConstraint("dim", "day", "key", name="pk_report_days"),
    )
    op.create_table(
        "report_dirty",
        sa.Column("id", _serial, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_dirty"),
    )
    op.create_index("ix_report_dirty_day", "report_dirty", ["day"])

    from customer_flow.reports import rollup as report_rollup

    report_rollup.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_report_dirty_day", table_name="report_dirty")
    op.drop_table("report_dirty")
    op.drop_table("report_days")
    for name in _INDEXES:
        op.drop_index(name, table_name="tickets")
    for name, (columns, where) in _WIDENED.items():
        _create(name, columns, where)
