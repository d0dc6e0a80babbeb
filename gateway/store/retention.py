"""Storage limitation (GDPR art. 5(1)(e)): what is kept, for how long, and the purge.

Message records go after ``records_days``, the raw copies of quarantined mail after
``quarantine_days`` (their record stays, marked), finished outbox items with their records
(a reply's text names no one, but its address does), expired rate-limit rows at once. The
audit log is kept: it holds who did what to which id, and outlives the entries it refers to.
Work is done in batches so the gateway's own writes never wait long.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, delete, select, update

from gateway.store.records import QuarantinePlace
from gateway.store.tables import answers, messages, outbox, quarantine, rate_limits

log = logging.getLogger("postvagt.retention")
BATCH = 500


@dataclass
class Purged:
    records: int = 0
    quarantined: int = 0
    outbox: int = 0
    rate_limits: int = 0
    files: list[str] = field(default_factory=list)  # removed after the commit

    def __str__(self) -> str:
        return (
            f"{self.records} records, {self.quarantined} quarantined copies, "
            f"{self.outbox} outbox items, {self.rate_limits} expired limits"
        )


def purge_batch(
    connection: Connection,
    *,
    records_days: float,
    quarantine_days: float,
    now: datetime | None = None,
) -> Purged:
    """One batch of each kind; call until it returns nothing (``purge`` does)."""
    now = now or datetime.now(UTC)
    done = Purged()
    held_cutoff = now - timedelta(days=quarantine_days)
    held = connection.execute(
        select(quarantine.c.message_id, quarantine.c.path)
        .where(quarantine.c.stored_at < held_cutoff)
        .limit(BATCH)
    ).all()
    if held:
        ids = [row.message_id for row in held]
        connection.execute(delete(quarantine).where(quarantine.c.message_id.in_(ids)))
        connection.execute(
            update(messages)
            .where(messages.c.id.in_(ids), messages.c.state == "quarantined")
            .values(state="failed", upstream_reply="held copy removed by retention")
        )
        done.quarantined = len(ids)
        done.files.extend(row.path for row in held if row.path)
    cutoff = now - timedelta(days=records_days)
    # Never a record still in flight, one whose held copy is younger than its own period, or
    # one with a reply or journal copy not sent yet: they go in a later run.
    held_young = (
        select(quarantine.c.message_id)
        .where(quarantine.c.message_id == messages.c.id, quarantine.c.stored_at >= held_cutoff)
        .exists()
    )
    unsent = (
        select(outbox.c.id)
        .where(outbox.c.message_id == messages.c.id, outbox.c.state.in_(("queued", "sending")))
        .exists()
    )
    old = list(
        connection.execute(
            select(messages.c.id)
            .where(
                messages.c.received_at < cutoff,
                messages.c.state != "pending",
                ~held_young,
                ~unsent,
            )
            .limit(BATCH)
        ).scalars()
    )
    if old:
        files = connection.execute(
            select(quarantine.c.path).where(
                quarantine.c.message_id.in_(old), quarantine.c.path.is_not(None)
            )
        ).scalars()
        done.files.extend(files)
        connection.execute(delete(quarantine).where(quarantine.c.message_id.in_(old)))
        connection.execute(delete(answers).where(answers.c.message_id.in_(old)))
        done.outbox = connection.execute(
            delete(outbox).where(outbox.c.message_id.in_(old))
        ).rowcount
        done.records = connection.execute(delete(messages).where(messages.c.id.in_(old))).rowcount
    finished = list(
        connection.execute(
            select(outbox.c.id)
            .where(outbox.c.state.in_(("sent", "failed")), outbox.c.created_at < cutoff)
            .limit(BATCH)
        ).scalars()
    )
    if finished:
        done.outbox += connection.execute(delete(outbox).where(outbox.c.id.in_(finished))).rowcount
    done.rate_limits = connection.execute(
        delete(rate_limits).where(rate_limits.c.expires_at < now)
    ).rowcount
    return done


def remove_files(place: QuarantinePlace, paths: list[str]) -> None:
    if place.folder is None:
        return
    for relative in paths:
        path = Path(place.folder) / relative
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            log.error("retention: could not remove a held file: %s", e.strerror)


def empty(batch: Purged) -> bool:
    return not (batch.records or batch.quarantined or batch.outbox or batch.files)
