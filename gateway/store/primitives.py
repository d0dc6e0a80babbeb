"""Atomic building blocks for the features that share the database across instances.

``claim_once``: one winner per (scope, key) and period — e.g. one auto-reply per sender and
mailbox per week — race-free on PostgreSQL and SQLite, because the decision is a single
INSERT … ON CONFLICT DO UPDATE … WHERE statement, not a read followed by a write.

``claim_outbox``: hands queued items to one sender at a time. PostgreSQL: SELECT … FOR UPDATE
SKIP LOCKED, so instances never wait for or take each other's items. SQLite: the transaction
holds the write lock from BEGIN IMMEDIATE, so claims are serialised. A claim is a lease: an
item whose sender died is claimed again after ``lease`` (at least once, duplicates counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, insert, or_, select, update

from gateway.store.records import _insert_for
from gateway.store.tables import outbox, rate_limits


def claim_once(connection: Connection, scope: str, key: str, period: timedelta) -> bool:
    """True for exactly one caller per (scope, key) until ``period`` has passed."""
    now = datetime.now(UTC)
    statement = _insert_for(connection.dialect.name)(rate_limits).values(
        scope=scope, key=key, first_at=now, expires_at=now + period, hits=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=[rate_limits.c.scope, rate_limits.c.key],
        set_={"first_at": now, "expires_at": now + period, "hits": 1},
        where=rate_limits.c.expires_at <= now,
    ).returning(rate_limits.c.key)
    won = connection.execute(statement).first() is not None
    if not won:
        connection.execute(
            update(rate_limits)
            .where(rate_limits.c.scope == scope, rate_limits.c.key == key)
            .values(hits=rate_limits.c.hits + 1)
        )
    return won


@dataclass(frozen=True)
class OutboxItem:
    id: int
    message_id: str | None
    kind: str
    mail_from: str
    recipient: str
    payload: bytes
    attempts: int


def enqueue(
    connection: Connection,
    *,
    kind: str,
    mail_from: str,
    recipient: str,
    payload: bytes,
    message_id: str | None = None,
) -> int:
    now = datetime.now(UTC)
    result = connection.execute(
        insert(outbox)
        .values(
            message_id=message_id,
            kind=kind,
            mail_from=mail_from,
            recipient=recipient,
            payload=payload,
            state="queued",
            attempts=0,
            created_at=now,
            not_before=now,
        )
        .returning(outbox.c.id)
    )
    return int(result.scalar_one())


def claim_outbox(
    connection: Connection, worker: str, *, limit: int = 10, lease: timedelta
) -> list[OutboxItem]:
    """Claim up to ``limit`` items that are due, or whose earlier claim has expired."""
    now = datetime.now(UTC)
    due = or_(
        and_(outbox.c.state == "queued", outbox.c.not_before <= now),
        and_(outbox.c.state == "sending", outbox.c.claimed_until < now),
    )
    query = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(connection.execute(query).scalars())
    if not ids:
        return []
    rows = connection.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids))
        .values(
            state="sending",
            claimed_by=worker,
            claimed_until=now + lease,
            attempts=outbox.c.attempts + 1,
        )
        .returning(
            outbox.c.id,
            outbox.c.message_id,
            outbox.c.kind,
            outbox.c.mail_from,
            outbox.c.recipient,
            outbox.c.payload,
            outbox.c.attempts,
        )
    ).all()
    return sorted((OutboxItem(**row._mapping) for row in rows), key=lambda item: item.id)


def finish_outbox(connection: Connection, item_id: int, worker: str, error: str | None) -> bool:
    """Mark a claimed item sent (error None) or back to queued; False if the lease was lost."""
    now = datetime.now(UTC)
    values = (
        {"state": "sent", "sent_at": now, "last_error": None}
        if error is None
        else {"state": "queued", "not_before": now + timedelta(minutes=5), "last_error": error}
    )
    result = connection.execute(
        update(outbox)
        .where(outbox.c.id == item_id, outbox.c.claimed_by == worker, outbox.c.state == "sending")
        .values(claimed_by=None, claimed_until=None, **values)
    )
    return result.rowcount == 1
