"""Duplicates model: the match keys of the new blocking rules, and the model find last used.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

The check on entry now uses the model of ``duplicates find`` (issue 14): the same blocking rules
pick its candidates, so ``match_keys`` holds one key per rule a customer has values for (rule
``kind``, the values joined), instead of the email, domain-and-name and phone-tail keys of the
old rules. This revision rebuilds the keys of every customer, a batch at a time, and adds
``duplicate_model``: the fields, m and u that ``find`` last used, which the check on entry
scores with.

Downgrade rebuilds the old keys (email, ``dn``, ``tail``) with a copy of the old rules.
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from customer_flow.duplicates.find import rebuild_keys

    op.create_table(
        "duplicate_model",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        sa.Column("training", sa.String(10), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_duplicate_model"),
    )
    rebuild_keys(op.get_bind())


# -- downgrade: the old rules, frozen here -------------------------------------------------------

_FREE = frozenset(
    {
        "gmail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "outlook.com",
        "hotmail.com", "hotmail.co.uk", "hotmail.fr", "live.com", "msn.com", "icloud.com",
        "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de",
        "gmx.net", "web.de", "mail.com", "yandex.ru", "mail.ru", "qq.com", "163.com",
        "zoho.com", "fastmail.com", "tutanota.com", "orange.fr", "free.fr", "libero.it",
    }
)  # fmt: skip


def _old_keys(name: str | None, email: str | None, phone: str | None) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if email and "@" in email:
        local, _, domain = email.strip().lower().rpartition("@")
        local = local.split("+", 1)[0] or local
        domain = "gmail.com" if domain == "googlemail.com" else domain
        if domain == "gmail.com":
            local = local.replace(".", "")
        keys.append(("email", f"{local}@{domain}"[:400]))
        if domain not in _FREE and name:
            plain = unicodedata.normalize("NFKD", name.casefold())
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            tokens = {t for t in re.split(r"[\W_]+", plain) if len(t) > 1}
            keys += [("dn", f"{domain} {t}"[:400]) for t in tokens]
    if phone:
        digits = re.sub(r"\D", "", phone.split(";ext=", 1)[0])
        if digits:
            keys.append(("tail", digits[-7:]))
    return keys


def downgrade() -> None:
    conn = op.get_bind()
    op.drop_table("duplicate_model")
    op.execute("DELETE FROM match_keys")
    table = sa.table("match_keys", sa.column("kind"), sa.column("value"), sa.column("customer_id"))
    rows = conn.execute(sa.text("SELECT id, name, email, phone FROM customers")).fetchall()
    for start in range(0, len(rows), 5000):
        keys = {
            (kind, value, r.id)
            for r in rows[start : start + 5000]
            for kind, value in _old_keys(r.name, r.email, r.phone)
        }
        if keys:
            conn.execute(
                table.insert(), [{"kind": k, "value": v, "customer_id": c} for k, v, c in keys]
            )
