"""The review of flagged mail: journal state, case number, who handled it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS: list[tuple[str, sa.types.TypeEngine[Any], str | None]] = [
    (
        "journal_state",
        sa.String(16),
        "open, journaled, not-needed, false-positive; NULL: not flagged",
    ),
    ("case_hint", sa.String(64), "KLE/SBSYS case number seen in the subject"),
    ("case_number", sa.String(64), "the case the mail was journaled on"),
    ("handled_by", sa.String(255), None),
    ("handled_at", sa.DateTime(timezone=True), None),
    ("handled_note", sa.String(500), "why no journaling was needed, or a false positive"),
    ("subject_masked", sa.String(300), "only where the admin switched it on for the mailbox"),
    ("entity_types", sa.String(500), "' DK_CPR HEALTH ': for the staff page's filter"),
]


def upgrade() -> None:
    for name, type_, comment in COLUMNS:
        op.add_column("messages", sa.Column(name, type_, nullable=True, comment=comment))
    op.create_index(
        "ix_messages_journal_state_received_at", "messages", ["journal_state", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_messages_journal_state_received_at", "messages")
    for name, _, _ in reversed(COLUMNS):
        op.drop_column("messages", name)
