"""Keyed numbers (issue 24): the keyed hashes of the CPR/CVR numbers found in a mail, and
of an answer's recipient, so a typed number is matched whole and every send can be checked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column(
            "number_keys",
            sa.JSON(),
            nullable=True,
            comment="keyed hashes (HMAC-SHA256) of the CPR/CVR numbers found, never the numbers",
        ),
    )
    op.add_column(
        "answers",
        sa.Column(
            "recipient_key",
            sa.String(64),
            nullable=True,
            comment="keyed hash of the recipient's number (gateway.detect.keyed)",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("recipient_key")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("number_keys")
