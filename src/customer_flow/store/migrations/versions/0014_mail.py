"""Mail (issue 18): the mail servers, every message read, the outbox, attachments and failed
jobs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_at = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_accounts",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(10), nullable=False),
        sa.Column("username", sa.String(320), nullable=False),
        sa.Column("password_env", sa.String(100)),
        sa.Column("password_file", sa.String(1000)),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("default_type", sa.String(64)),
        sa.Column("ca_file", sa.String(1000)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _at, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_mail_accounts"),
    )
    op.create_table(
        "mail_inbound",
        sa.Column("id", _id, nullable=False),
        sa.Column("mailbox", sa.String(64), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Text()),
        sa.Column("message_key", sa.String(64)),
        sa.Column("sender", sa.String(320)),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger()),
        sa.Column("comment_id", sa.BigInteger()),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.LargeBinary()),
        sa.Column("received_at", _at, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_inbound"),
    )
    op.create_index(
        "uq_mail_inbound_mailbox_uidvalidity_uid",
        "mail_inbound",
        ["mailbox", "uidvalidity", "uid"],
        unique=True,
    )
    op.create_index(
        "uq_mail_inbound_message_key",
        "mail_inbound",
        ["message_key"],
        unique=True,
        sqlite_where=sa.text("message_key IS NOT NULL"),
        postgresql_where=sa.text("message_key IS NOT NULL"),
    )
    op.create_index("ix_mail_inbound_sender_received_at", "mail_inbound", ["sender", "received_at"])
    op.create_index("ix_mail_inbound_ticket_id", "mail_inbound", ["ticket_id"])
    op.create_table(
        "mail_outbox",
        sa.Column("id", _id, nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("comment_id", sa.BigInteger()),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text()),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("in_reply_to", sa.Text()),
        sa.Column("references", sa.Text()),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _at, nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", _at, nullable=False),
        sa.Column("sent_at", _at),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
        sa.UniqueConstraint("message_id", name="uq_mail_outbox_message_id"),
    )
    op.create_index(
        "ix_mail_outbox_status_next_attempt_at", "mail_outbox", ["status", "next_attempt_at"]
    )
    op.create_index("ix_mail_outbox_ticket_id", "mail_outbox", ["ticket_id"])
    op.create_table(
        "job_failures",
        sa.Column("id", _id, nullable=False),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", _at, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_failures"),
    )
    op.create_index("ix_job_failures_failed_at", "job_failures", ["failed_at"])
    op.create_table(
        "attachments",
        sa.Column("id", _id, nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("comment_id", sa.BigInteger()),
        sa.Column("inbound_id", sa.BigInteger()),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("created_at", _at, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    op.create_index("ix_attachments_ticket_id_id", "attachments", ["ticket_id", "id"])
    op.create_index("ix_attachments_sha256", "attachments", ["sha256"])
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notification_settings_user_id_users"
        ),
        sa.PrimaryKeyConstraint("user_id", "event", name="pk_notification_settings"),
    )
    op.create_table(
        "notifications_sent",
        sa.Column("id", _id, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("created_at", _at, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications_sent"),
    )
    op.create_index(
        "uq_notifications_sent_user_id_event_key",
        "notifications_sent",
        ["user_id", "event_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("notifications_sent")
    op.drop_table("notification_settings")
    op.drop_table("attachments")
    op.drop_table("job_failures")
    op.drop_table("mail_outbox")
    op.drop_table("mail_inbound")
    op.drop_table("mail_accounts")
