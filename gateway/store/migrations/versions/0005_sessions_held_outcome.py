"""Sessions that end (a per-user session version) and what became of a held copy.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "session_version",
            sa.Integer(),
            nullable=False,
            server_default="0",
            comment="raised at logout, password change and disabling: older sessions end",
        ),
    )
    op.add_column(
        "messages",
        sa.Column(
            "held_outcome",
            sa.String(16),
            nullable=True,
            comment="released, deleted: what staff did with the held copy",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("held_outcome")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
