"""What the daily digest reads: how much flagged mail waits in a mailbox, and since when.
The digest itself (counts and a link, queued like a reply) is built in act/digest.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from gateway.store.tables import messages


@dataclass(frozen=True)
class Waiting:
    open: int
    oldest: datetime | None


def waiting(connection: Connection, mailbox: str) -> Waiting:
    row = connection.execute(
        select(func.count(), func.min(messages.c.received_at)).where(
            messages.c.recipient_group == mailbox, messages.c.journal_state == "open"
        )
    ).one()
    oldest = row[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return Waiting(int(row[0]), oldest)
