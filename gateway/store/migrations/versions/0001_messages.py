"""Messages and quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATES = "('pending', 'delivered', 'quarantined', 'rejected', 'failed')"


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), primary_key=True, comment="X-Postvagt-Id"),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("slot", sa.String(16), nullable=False),
        sa.Column("mail_from", sa.String(998), nullable=False),
        sa.Column("recipient_group", sa.String(255), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("protection", sa.JSON, nullable=False, comment="TLS, signed, encrypted …"),
        sa.Column("unscanned", sa.JSON, nullable=False),
        sa.Column("verdict", sa.JSON, nullable=True, comment="action, rule, reasons"),
        sa.Column(
            "findings", sa.JSON, nullable=False, comment="entity types, counts, masked values"
        ),
        sa.Column("upstream_reply", sa.String(512), nullable=True),
        sa.CheckConstraint(f"state IN {STATES}", name="ck_messages_state"),
        sa.UniqueConstraint("idempotency_key", name="uq_messages_idempotency_key"),
    )
    op.create_index("ix_messages_state_updated", "messages", ["state", "updated_at"])
    op.create_index("ix_messages_received_at", "messages", ["received_at"])
    op.create_table(
        "quarantine",
        sa.Column(
            "message_id",
            sa.String(36),
            sa.ForeignKey("messages.id", name="fk_quarantine_message_id_messages"),
            primary_key=True,
        ),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column(
            "raw", sa.LargeBinary, nullable=True, comment="the message, when kept in the database"
        ),
        sa.Column(
            "path", sa.Text, nullable=True, comment="or its file under the quarantine folder"
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(raw IS NULL) <> (path IS NULL)", name="ck_quarantine_one_place"),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_index("ix_messages_received_at", "messages")
    op.drop_index("ix_messages_state_updated", "messages")
    op.drop_table("messages")
