"""The tables, as SQLAlchemy Core metadata. Migrations (migrations/versions) create them;
this module is what the code queries. Keep the two in step: tests/test_store.py compares them.

No subject, body or text snippet is ever stored: messages hold facts (entity types, counts,
masked values), the quarantine holds the raw message for staff, readable by the service only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every back end (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MESSAGE_STATES = ("pending", "delivered", "quarantined", "rejected", "failed")
OUTBOX_STATES = ("queued", "sending", "sent", "failed")

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True, comment="X-Postvagt-Id"),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("instance", String(255), nullable=False),
    Column("slot", String(16), nullable=False),
    Column("mail_from", String(998), nullable=False),
    Column("recipient_group", String(255), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("size", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("protection", JSON, nullable=False, comment="TLS, signed, encrypted …"),
    Column("unscanned", JSON, nullable=False),
    Column("verdict", JSON, nullable=True, comment="action, rule, reasons"),
    Column("findings", JSON, nullable=False, comment="entity types, counts, masked values"),
    Column(
        "number_keys",
        JSON,
        nullable=True,
        comment="keyed hashes (HMAC-SHA256) of the CPR/CVR numbers found, never the numbers",
    ),
    Column("upstream_reply", String(512), nullable=True),
    Column(
        "tls_out",
        String(16),
        nullable=True,
        comment="TLS version of the hop out (TLSv1.3); NULL: cleartext or not sent",
    ),
    Column(
        "reply_state",
        String(16),
        nullable=True,
        comment="queued, sent, suppressed, failed; NULL: no reply asked",
    ),
    Column("reply_reason", String(255), nullable=True),
    Column(
        "journal_state",
        String(16),
        nullable=True,
        comment="open, journaled, not-needed, false-positive; NULL: not flagged",
    ),
    Column(
        "case_hint", String(64), nullable=True, comment="KLE/SBSYS case number seen in the subject"
    ),
    Column("case_number", String(64), nullable=True, comment="the case the mail was journaled on"),
    Column("handled_by", String(255), nullable=True),
    Column("handled_at", UtcDateTime(), nullable=True),
    Column(
        "handled_note",
        String(500),
        nullable=True,
        comment="why no journaling was needed, or a false positive",
    ),
    Column(
        "subject_masked",
        String(300),
        nullable=True,
        comment="only where the admin switched it on for the mailbox",
    ),
    Column(
        "sender_name",
        String(200),
        nullable=True,
        comment="the From display name, cleaned (flagged mail only)",
    ),
    Column(
        "entity_types",
        String(500),
        nullable=True,
        comment="' DK_CPR HEALTH ': for the staff page's filter",
    ),
    Column(
        "held_outcome",
        String(16),
        nullable=True,
        comment="released, deleted: what staff did with the held copy",
    ),
    CheckConstraint(f"state IN {MESSAGE_STATES!r}", name="state"),
    Index("ix_messages_state_updated", "state", "updated_at"),
    Index("ix_messages_received_at", "received_at"),
    Index("ix_messages_journal_state_received_at", "journal_state", "received_at"),
)

JOURNAL_STATES = ("open", "journaled", "not-needed", "false-positive")

quarantine = Table(
    "quarantine",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.id"), primary_key=True),
    Column("stored_at", UtcDateTime(), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=True, comment="the message, when kept in the database"),
    Column("path", Text, nullable=True, comment="or its file under the quarantine folder"),
    Column("released_at", UtcDateTime(), nullable=True),
    CheckConstraint("(raw IS NULL) <> (path IS NULL)", name="one_place"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), ForeignKey("messages.id"), nullable=True),
    Column("kind", String(32), nullable=False, comment="reply, journal-copy"),
    Column("mail_from", String(998), nullable=False),
    Column("recipient", String(998), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("claimed_by", String(255), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_error", String(512), nullable=True),
    Column(
        "reclaims",
        Integer,
        nullable=False,
        server_default="0",
        comment="claims after a sender died mid-send: possible duplicates",
    ),
    CheckConstraint(f"state IN {OUTBOX_STATES!r}", name="state"),
    Index("ix_outbox_state_not_before", "state", "not_before"),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("scope", String(64), primary_key=True, comment="e.g. reply"),
    Column("key", String(512), primary_key=True, comment="e.g. sender and mailbox"),
    Column("first_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("hits", Integer, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("role", String(16), nullable=False),
    Column("mailboxes", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column(
        "session_version",
        Integer,
        nullable=False,
        server_default="0",
        comment="raised at logout, password change and disabling: older sessions end",
    ),
    CheckConstraint("role IN ('staff', 'admin', 'dpo')", name="role"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
)

ANSWER_STATES = ("queued", "sent", "failed")

# Answers to a mail sent through Digital Post (issue 19). The recipient's number is kept
# masked only; the typed number lives encrypted in the outbox item until the send settles.
answers = Table(
    "answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), ForeignKey("messages.id"), nullable=False),
    Column("outbox_id", Integer, nullable=True, comment="the outbox item that sends it"),
    Column("channel", String(16), nullable=False, comment="digital-post or physical-mail"),
    Column("recipient_type", String(3), nullable=False, comment="CPR or CVR"),
    Column("recipient_masked", String(16), nullable=False, comment="150385-****, 12******"),
    Column("matched", Boolean, nullable=False, comment="the number matched a finding"),
    Column(
        "recipient_key",
        String(64),
        nullable=True,
        comment="keyed hash of the recipient's number (gateway.detect.keyed)",
    ),
    Column("memo_uuid", String(36), nullable=False, unique=True, comment="MeMo messageUUID"),
    Column("state", String(16), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("transaction_id", String(64), nullable=True, comment="Serviceplatformen's"),
    Column("last_error", String(512), nullable=True),
    Column(
        "letter_pdf",
        LargeBinary,
        nullable=True,
        comment="the answer as a letter (PDF), as sent; the number masked",
    ),
    Column(
        "memo_xml",
        LargeBinary,
        nullable=True,
        comment="the MeMo message as sent, the recipient's number masked",
    ),
    CheckConstraint(f"state IN {ANSWER_STATES!r}", name="state"),
    Index("ix_answers_message_id", "message_id"),
    Index("ix_answers_outbox_id", "outbox_id"),
)
