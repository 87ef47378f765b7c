"""Agents are users: a ticket's assignee becomes a user (a foreign key), and teams appear.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Until issue 17 the assignee was free text: ``ana``, ``Ana Lima`` or ``anna@team.pt`` were all
accepted, whether or not such a user existed. Each distinct value is now mapped to a user:

- by email, ignoring case (``Ana@Team.pt`` is the user ``ana@team.pt``);
- else by name, ignoring case and repeated spaces, when exactly one user has that name.

The assignee column then holds the user's lower-cased email (``users.email_key``), as a
foreign key. A value that matches no user, or several, is taken off its tickets and kept in
``unmatched_assignees`` (ticket, value, reason): never dropped. ``customer-flow tickets
unmatched-assignees`` (and ``GET /api/v1/agents/unmatched-assignees``) lists them, and this
migration logs a warning per value. The report days that counted the old values are marked for
a recount, so reports by assignee follow.

On SQLite a column cannot gain a foreign key in place: a new column with the reference is
added, filled, and renamed over the old one (no table rebuild, so the AUTOINCREMENT sequence of
ticket IDs is untouched), and the indexes that named the old column are created again from
their stored definitions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

log = logging.getLogger("customer_flow.migrations")


def _collapse(value: str) -> str:
    return " ".join(value.split())


def assignee_map(
    values: list[str], people: list[tuple[str, str]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Map free-text assignees to users' email keys. ``people``: (email_key, name) of every
    user. Returns (value → email key, value → why it matched no one)."""
    by_email = {key: key for key, _ in people}
    by_name: dict[str, list[str]] = {}
    for key, name in people:
        folded = _collapse(name).casefold()
        if folded:
            by_name.setdefault(folded, []).append(key)
    mapped: dict[str, str] = {}
    unmatched: dict[str, str] = {}
    for value in values:
        text = _collapse(value)
        if text.lower() in by_email:
            mapped[value] = by_email[text.lower()]
            continue
        named = by_name.get(text.casefold(), [])
        if len(named) == 1:
            mapped[value] = named[0]
        elif named:
            unmatched[value] = f"{len(named)} users have this name"
        else:
            unmatched[value] = "no user has this email or name"
    return mapped, unmatched


def _new_tables() -> None:
    op.create_table(
        "teams",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("assignment", sa.String(20), nullable=False),
        sa.Column("last_assigned", sa.String(320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_teams"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_key", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_key"], ["teams.key"], name="fk_team_members_team_key_teams"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_team_members_user_id_users"),
        sa.PrimaryKeyConstraint("team_key", "user_id", name="pk_team_members"),
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"])
    op.create_table(
        "unmatched_assignees",
        sa.Column("ticket_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("assignee", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_unmatched_assignees"),
    )
    with op.batch_alter_table("ticket_types") as batch:
        batch.add_column(sa.Column("default_team", sa.String(64), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE tickets ADD COLUMN team VARCHAR(64) REFERENCES teams (key)")
    else:
        op.add_column("tickets", sa.Column("team", sa.String(64), nullable=True))
        op.create_foreign_key("fk_tickets_team_teams", "tickets", "teams", ["team"], ["key"])
    op.create_index("ix_tickets_team_is_open_id", "tickets", ["team", "is_open", "id"])


def upgrade() -> None:
    conn = op.get_bind()
    _new_tables()
    values = [
        str(v)
        for v in conn.execute(
            sa.text("SELECT DISTINCT assignee FROM tickets WHERE assignee IS NOT NULL")
        ).scalars()
    ]
    people = [
        (str(k), str(n)) for k, n in conn.execute(sa.text("SELECT email_key, name FROM users"))
    ]
    mapped, unmatched = assignee_map(values, people)
    now = datetime.now(UTC)
    for value, reason in sorted(unmatched.items()):
        count = conn.execute(
            sa.text(
                "INSERT INTO unmatched_assignees (ticket_id, assignee, reason, migrated_at) "
                "SELECT id, assignee, :reason, :now FROM tickets WHERE assignee = :value"
            ),
            {"reason": reason, "now": now, "value": value},
        ).rowcount
        log.warning(
            "0015: assignee %r on %s ticket(s) matches no user (%s); kept in "
            "unmatched_assignees, the tickets are unassigned",
            value,
            count,
            reason,
        )
    changed = [v for v in values if mapped.get(v) != v]
    for value in changed:  # their report days are counted again under the new value
        conn.execute(
            sa.text(
                "INSERT INTO report_dirty (day) SELECT DISTINCT day FROM report_days "
                "WHERE dim = 'assignee' AND key = :value"
            ),
            {"value": value},
        )
    with op.batch_alter_table("report_days") as batch:
        batch.alter_column("key", type_=sa.String(320), existing_nullable=False)
    if conn.dialect.name == "sqlite":
        _sqlite_swap(conn, mapped)
    else:
        op.alter_column("tickets", "assignee", type_=sa.String(320), existing_nullable=True)
        for value in changed:
            conn.execute(
                sa.text("UPDATE tickets SET assignee = :new WHERE assignee = :value"),
                {"new": mapped.get(value), "value": value},
            )
        op.create_foreign_key(
            "fk_tickets_assignee_users", "tickets", "users", ["assignee"], ["email_key"]
        )


def _sqlite_swap(conn: sa.Connection, mapped: dict[str, str]) -> None:
    """The assignee column again, with the reference to users, and the same indexes."""
    indexes = conn.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets' "
            "AND sql LIKE '%assignee%'"
        )
    ).all()
    for name, _ in indexes:
        op.execute(f'DROP INDEX "{name}"')
    op.execute(
        "ALTER TABLE tickets ADD COLUMN assignee_user VARCHAR(320) REFERENCES users (email_key)"
    )
    for value, key in mapped.items():
        conn.execute(
            sa.text("UPDATE tickets SET assignee_user = :key WHERE assignee = :value"),
            {"key": key, "value": value},
        )
    op.execute("ALTER TABLE tickets DROP COLUMN assignee")
    op.execute("ALTER TABLE tickets RENAME COLUMN assignee_user TO assignee")
    for _, sql in indexes:
        op.execute(sql)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        indexes = conn.execute(
            sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'tickets' AND (sql LIKE '%assignee%' OR sql LIKE '%team%')"
            )
        ).all()
        for name, _ in indexes:
            op.execute(f'DROP INDEX "{name}"')
        op.execute("ALTER TABLE tickets ADD COLUMN assignee_text VARCHAR(200)")
        op.execute("UPDATE tickets SET assignee_text = assignee")
        op.execute("ALTER TABLE tickets DROP COLUMN assignee")
        op.execute("ALTER TABLE tickets DROP COLUMN team")
        op.execute("ALTER TABLE tickets RENAME COLUMN assignee_text TO assignee")
        for name, sql in indexes:
            if "team" not in name:
                op.execute(sql)
    else:
        op.drop_constraint("fk_tickets_assignee_users", "tickets", type_="foreignkey")
        op.drop_index("ix_tickets_team_is_open_id", table_name="tickets")
        op.drop_constraint("fk_tickets_team_teams", "tickets", type_="foreignkey")
        op.drop_column("tickets", "team")
    # The values that matched no one go back on their tickets.
    op.execute(
        "UPDATE tickets SET assignee = (SELECT u.assignee FROM unmatched_assignees u "
        "WHERE u.ticket_id = tickets.id) WHERE id IN (SELECT ticket_id FROM unmatched_assignees)"
    )
    if conn.dialect.name != "sqlite":
        op.alter_column("tickets", "assignee", type_=sa.String(200), existing_nullable=True)
    with op.batch_alter_table("ticket_types") as batch:
        batch.drop_column("default_team")
    op.drop_table("unmatched_assignees")
    op.drop_index("ix_team_members_user_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
