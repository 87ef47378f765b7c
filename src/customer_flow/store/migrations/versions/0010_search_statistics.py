"""Search statistics: PostgreSQL samples more of customers' names, to plan searches well.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25

A search pattern such as ``%carv%`` is estimated from the column's histogram. With the
default 100 entries, a name part in 5 % of 100,000 customers ('Carv', 'Pin', 'Pinto') was
taken for 10 rows: the planner read all 5,000 matches through the trigram indexes and sorted
them for a page by ID (4-6 ms) instead of walking the primary key until a page was found
(0.8 ms). 300 entries for the name estimate such parts well. More cost more than they save:
each search is planned for its own text, and the planner tries the pattern on every entry
(planning took 0.13 ms with 100 entries, 0.21 ms with 300, 0.43 ms with 1,000 per column).
Emails and phones keep the default: their searches are rare parts, estimated as rare.
SQLite has no such statistics: nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATISTICS = 300


def _set(target: int) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE customers ALTER COLUMN name SET STATISTICS {target}")


def upgrade() -> None:
    _set(STATISTICS)


def downgrade() -> None:
    _set(-1)  # the server's default_statistics_target
