"""The TLS version of the hop out (issue 23): kept next to the hop in's, for the record and
the staff page.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column(
                "tls_out",
                sa.String(16),
                nullable=True,
                comment="TLS version of the hop out (TLSv1.3); NULL: cleartext or not sent",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("tls_out")
