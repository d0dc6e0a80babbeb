"""Outbox, rate limits, users and audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            sa.String(36),
            sa.ForeignKey("messages.id", name="fk_outbox_message_id_messages"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(32), nullable=False, comment="reply, journal-copy"),
        sa.Column("mail_from", sa.String(998), nullable=False),
        sa.Column("recipient", sa.String(998), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'sending', 'sent', 'failed')", name="ck_outbox_state"
        ),
    )
    op.create_index("ix_outbox_state_not_before", "outbox", ["state", "not_before"])
    op.create_table(
        "rate_limits",
        sa.Column("scope", sa.String(64), primary_key=True, comment="e.g. reply"),
        sa.Column("key", sa.String(512), primary_key=True, comment="e.g. sender and mailbox"),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("mailboxes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.CheckConstraint("role IN ('staff', 'admin')", name="ck_users_role"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_table("users")
    op.drop_table("rate_limits")
    op.drop_index("ix_outbox_state_not_before", "outbox")
    op.drop_table("outbox")
