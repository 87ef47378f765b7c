"""Extra attributes without NUL characters.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Until issue 15 the web app stored a NUL (``\\u0000``) inside a customer's ``extra`` as it came.
PostgreSQL's JSON functions cannot turn it into text, so the duplicate finder (which reads
``extra`` with them) answered 500 for every user until that customer was purged. The app now
refuses control characters at the edge; this removes the NULs already stored, from keys and
values, on both databases. Nothing else changes, so there is nothing to undo.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def upgrade() -> None:
    conn = op.get_bind()
    # The JSON text holds a NUL as the escape \u0000 (six characters); only those rows are read.
    if conn.dialect.name == "postgresql":
        text, found, new = "CAST(extra AS text)", "strpos", "CAST(:extra AS json)"
    else:
        text, found, new = "extra", "instr", ":extra"
    rows = conn.execute(
        sa.text(f"SELECT id, {text} FROM customers WHERE {found}({text}, '\\u0000') > 0")
    ).all()
    for cid, stored in rows:
        found = json.loads(stored)
        cleaned = _clean(found)
        if cleaned == found:
            continue  # a backslash followed by "u0000" in the text itself
        conn.execute(
            sa.text(f"UPDATE customers SET extra = {new} WHERE id = :id"),
            {"extra": json.dumps(cleaned, ensure_ascii=False), "id": cid},
        )


def downgrade() -> None:
    pass  # the NULs are not put back
