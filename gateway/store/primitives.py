"""Atomic building blocks for the features that share the database across instances.

``claim_once``: one winner per (scope, key) and period — e.g. one auto-reply per sender and
mailbox per week — race-free on PostgreSQL and SQLite, because the decision is a single
INSERT … ON CONFLICT DO UPDATE … WHERE statement, not a read followed by a write.

``take_quota``: at most ``limit`` takers per (scope, key) and period — e.g. the hourly cap on
auto-replies across all instances — by the same one-statement upsert.

``claim_outbox``: hands queued items to one sender at a time. PostgreSQL: SELECT … FOR UPDATE
SKIP LOCKED, so instances never wait for or take each other's items. SQLite: the transaction
holds the write lock from BEGIN IMMEDIATE, so claims are serialised. A claim is a lease: an
item whose sender died is claimed again after ``lease`` (at least once, duplicates counted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, insert, or_, select, update

from gateway.store.records import _insert_for
from gateway.store.tables import outbox, rate_limits

REPLY_SCOPE = "reply"


def reply_key(recipient: str, mailbox: str) -> str:
    """The per-sender claim's key: a hash, so the table holds no addresses."""
    return hashlib.sha256(f"{recipient.lower()}|{mailbox}".encode("utf-8", "replace")).hexdigest()


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


def release_once(connection: Connection, scope: str, key: str) -> None:
    """Give a claim_once back (within the transaction that took it)."""
    connection.execute(
        update(rate_limits)
        .where(rate_limits.c.scope == scope, rate_limits.c.key == key)
        .values(expires_at=datetime.now(UTC))
    )


def _count_in_window(
    connection: Connection, scope: str, key: str, period: timedelta, limit: int | None = None
) -> Any:
    """One hit in the (scope, key) window as one upsert: a new or expired window starts at 1,
    an open one counts on (only below ``limit`` where given)."""
    now = datetime.now(UTC)
    insert_ = _insert_for(connection.dialect.name)(rate_limits)
    expired = rate_limits.c.expires_at <= now
    return insert_.values(
        scope=scope, key=key, first_at=now, expires_at=now + period, hits=1
    ).on_conflict_do_update(
        index_elements=[rate_limits.c.scope, rate_limits.c.key],
        set_={
            "first_at": case((expired, now), else_=rate_limits.c.first_at),
            "expires_at": case((expired, now + period), else_=rate_limits.c.expires_at),
            "hits": case((expired, 1), else_=rate_limits.c.hits + 1),
        },
        where=None if limit is None else or_(expired, rate_limits.c.hits < limit),
    )


def take_quota(connection: Connection, scope: str, key: str, limit: int, period: timedelta) -> bool:
    """True for at most ``limit`` callers per (scope, key) within a window of ``period``."""
    if limit <= 0:
        return False
    statement = _count_in_window(connection, scope, key, period, limit)
    return connection.execute(statement.returning(rate_limits.c.key)).first() is not None


def count_hit(connection: Connection, scope: str, key: str, period: timedelta) -> int:
    """Count one hit in the (scope, key) window and return the count with it, in one
    statement: callers at the same moment each get their own number, on every back end."""
    statement = _count_in_window(connection, scope, key, period)
    return int(connection.execute(statement.returning(rate_limits.c.hits)).scalar_one())


def uncount_hit(connection: Connection, scope: str, key: str) -> None:
    """Take one hit back from an open window (one that turned out not to count)."""
    connection.execute(
        update(rate_limits)
        .where(
            rate_limits.c.scope == scope,
            rate_limits.c.key == key,
            rate_limits.c.expires_at > datetime.now(UTC),
            rate_limits.c.hits > 0,
        )
        .values(hits=rate_limits.c.hits - 1)
    )


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
    connection: Connection,
    worker: str,
    *,
    limit: int = 10,
    lease: timedelta,
    kinds: Sequence[str] | None = None,
) -> list[OutboxItem]:
    """Claim up to ``limit`` items that are due, or whose earlier claim has expired; only
    of ``kinds`` where given (what this instance can send: another instance takes the rest)."""
    now = datetime.now(UTC)
    due = or_(
        and_(outbox.c.state == "queued", outbox.c.not_before <= now),
        and_(outbox.c.state == "sending", outbox.c.claimed_until < now),
    )
    if kinds is not None:
        due = and_(due, outbox.c.kind.in_(list(kinds)))
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
            # Still "sending" means an earlier sender's lease ran out mid-send: it may have
            # delivered before it died, so this send may be a duplicate. Counted, not hidden.
            reclaims=outbox.c.reclaims + case((outbox.c.state == "sending", 1), else_=0),
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


@dataclass(frozen=True)
class Sent:
    reply: str
    kept: tuple[tuple[str, bytes], ...] = ()
    """What the item's own record keeps of what went out, by name (a Digital Post answer's
    ``letter_pdf`` and ``memo_xml``, for the case file); the payload itself is wiped."""


@dataclass(frozen=True)
class Retry:
    error: str
    not_before: datetime


@dataclass(frozen=True)
class Failed:
    error: str


SendResult = Sent | Retry | Failed


Settle = Callable[[Connection, "OutboxItem", "SendResult"], None]


def finish_outbox(
    connection: Connection,
    item: OutboxItem,
    worker: str,
    result: SendResult,
    settle: Settle | None = None,
    *,
    wipe: bool = False,
) -> bool:
    """Record a claimed item's send: sent, due again later, or given up. ``settle``: what
    the item's own record does with the result, in the same transaction (a reply's state on
    its message, a Digital Post answer's state). ``wipe``: the payload is personal data (a
    journal copy is the whole message; a Digital Post answer holds the recipient's number,
    encrypted): once sent or given up the database keeps no copy of it, and the held-mail
    retention is not outlived by the outbox. False if the lease was lost to another sender
    meanwhile."""
    now = datetime.now(UTC)
    values: dict[str, object]
    if isinstance(result, Sent):
        values = {"state": "sent", "sent_at": now, "last_error": None}
    elif isinstance(result, Retry):
        values = {"state": "queued", "not_before": result.not_before, "last_error": result.error}
    else:
        values = {"state": "failed", "last_error": result.error}
    if wipe and not isinstance(result, Retry):
        values["payload"] = b""
    if isinstance(values.get("last_error"), str):
        values["last_error"] = str(values["last_error"])[:512]
    changed = connection.execute(
        update(outbox)
        .where(outbox.c.id == item.id, outbox.c.claimed_by == worker, outbox.c.state == "sending")
        .values(claimed_by=None, claimed_until=None, **values)
    )
    if changed.rowcount != 1:
        return False
    if settle is not None:
        settle(connection, item, result)
    return True
