"""Auto-reply state per message; possible duplicate sends per outbox item.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column(
            "reply_state",
            sa.String(16),
            nullable=True,
            comment="queued, sent, suppressed, failed; NULL: no reply asked",
        ),
    )
    op.add_column("messages", sa.Column("reply_reason", sa.String(255), nullable=True))
    op.add_column(
        "outbox",
        sa.Column(
            "reclaims",
            sa.Integer,
            nullable=False,
            server_default="0",
            comment="claims after a sender died mid-send: possible duplicates",
        ),
    )


def downgrade() -> None:
    op.drop_column("outbox", "reclaims")
    op.drop_column("messages", "reply_reason")
    op.drop_column("messages", "reply_state")
