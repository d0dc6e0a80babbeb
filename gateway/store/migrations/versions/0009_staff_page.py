"""The staff page of issue 24 (points 6–12): the sender's display name on flagged mail, the
Digital Post answer as it went out (its PDF and MeMo XML, the recipient's number masked), and
the read-only ``dpo`` role (the audit log and statistics, no mail).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# 0002 named its check "ck_users_role" under the naming convention: the database has it as
# ck_users_ck_users_role. The names are given whole (op.f), on both back ends.
OLD_CHECK, NEW_CHECK = "ck_users_ck_users_role", "ck_users_role"
USERS = sa.Table(  # as 0002 made it: SQLite's batch copy needs the old check to drop it
    "users",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("mailboxes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column(
        "session_version",
        sa.Integer,
        nullable=False,
        server_default="0",
        comment="raised at logout, password change and disabling: older sessions end",
    ),
    sa.CheckConstraint("role IN ('staff', 'admin')", name=OLD_CHECK),
    sa.UniqueConstraint("name", name="uq_users_name"),
)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column(
                "sender_name",
                sa.String(200),
                nullable=True,
                comment="the From display name, cleaned (flagged mail only)",
            )
        )
    with op.batch_alter_table("answers") as batch:
        batch.add_column(
            sa.Column(
                "letter_pdf",
                sa.LargeBinary,
                nullable=True,
                comment="the answer as a letter (PDF), as sent; the number masked",
            )
        )
        batch.add_column(
            sa.Column(
                "memo_xml",
                sa.LargeBinary,
                nullable=True,
                comment="the MeMo message as sent, the recipient's number masked",
            )
        )
    with op.batch_alter_table("users", copy_from=USERS) as batch:
        batch.drop_constraint(op.f(OLD_CHECK), type_="check")
        batch.create_check_constraint(op.f(NEW_CHECK), "role IN ('staff', 'admin', 'dpo')")


def downgrade() -> None:
    op.execute("DELETE FROM users WHERE role = 'dpo'")  # no such role before
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f(NEW_CHECK), type_="check")
        batch.create_check_constraint(op.f(OLD_CHECK), "role IN ('staff', 'admin')")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("memo_xml")
        batch.drop_column("letter_pdf")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("sender_name")
