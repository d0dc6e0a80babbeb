"""Answers through Digital Post (issue 19): one row per answer, the recipient masked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column(
            "outbox_id", sa.Integer(), nullable=True, comment="the outbox item that sends it"
        ),
        sa.Column(
            "channel", sa.String(16), nullable=False, comment="digital-post or physical-mail"
        ),
        sa.Column("recipient_type", sa.String(3), nullable=False, comment="CPR or CVR"),
        sa.Column(
            "recipient_masked", sa.String(16), nullable=False, comment="150385-****, 12******"
        ),
        sa.Column("matched", sa.Boolean(), nullable=False, comment="the number matched a finding"),
        sa.Column("memo_uuid", sa.String(36), nullable=False, comment="MeMo messageUUID"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_id", sa.String(64), nullable=True, comment="Serviceplatformen's"),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'sent', 'failed')", name="ck_answers_state"),
        sa.UniqueConstraint("memo_uuid", name="uq_answers_memo_uuid"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_answers_message_id_messages"
        ),
    )
    op.create_index("ix_answers_message_id", "answers", ["message_id"])
    # Settling an answer finds it by its outbox item (gateway.store.answers.settle).
    op.create_index("ix_answers_outbox_id", "answers", ["outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_answers_outbox_id", table_name="answers")
    op.drop_index("ix_answers_message_id", table_name="answers")
    op.drop_table("answers")
