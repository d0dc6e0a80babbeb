"""The audit log as the admins and the data protection officer read it (issue 24.12): who
saw, released, exported, answered or looked up what and when, filtered by user, action,
mailbox and date. Reading it is audited too, in the same transaction.

A mail's entries name it by its Postvagt id; the mailbox comes from its record, so the
entries of a mail whose record retention has purged keep no mailbox (the audit log itself
is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from gateway.store.review import AnyRow, audit
from gateway.store.tables import audit_log, messages

PER_PAGE = 100
EXPORT_LIMIT = 50_000


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    mailbox: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1

    def shown(self) -> dict[str, Any]:
        """What the reader asked for, for the reader's own audit entry."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "mailbox": self.mailbox,
            "since": self.since.date().isoformat() if self.since else None,
            "until": self.until.date().isoformat() if self.until else None,
        }
        return {k: v for k, v in values.items() if v}


def actors(connection: Connection) -> list[str]:
    """Everyone with an entry: staff, the command line (cli:…), Postvagt itself."""
    rows = connection.execute(select(audit_log.c.actor).distinct().order_by(audit_log.c.actor))
    return list(rows.scalars())


def actions(connection: Connection) -> list[str]:
    rows = connection.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action))
    return list(rows.scalars())


def _select(filters: AuditFilters) -> Any:
    where = []
    if filters.actor:
        where.append(audit_log.c.actor == filters.actor)
    if filters.action:
        where.append(audit_log.c.action == filters.action)
    if filters.mailbox:
        where.append(messages.c.recipient_group == filters.mailbox)
    if filters.since:
        where.append(audit_log.c.at >= filters.since)
    if filters.until:
        where.append(audit_log.c.at < filters.until)
    query = select(audit_log, messages.c.recipient_group.label("mailbox")).select_from(
        audit_log.outerjoin(messages, messages.c.id == audit_log.c.target)
    )
    return query.where(*where) if where else query


def entries(connection: Connection, filters: AuditFilters, reader: str) -> tuple[list[AnyRow], int]:
    """One page of entries, newest first, and how many match; the reading is audited."""
    query = _select(filters)
    total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = connection.execute(
        query.order_by(audit_log.c.id.desc())
        .limit(PER_PAGE)
        .offset((max(filters.page, 1) - 1) * PER_PAGE)
    ).all()
    audit(connection, reader, "audit-view", None, {**filters.shown(), "page": filters.page})
    return list(rows), int(total)


def export(connection: Connection, filters: AuditFilters, reader: str) -> list[AnyRow]:
    """Every entry the filters match (up to EXPORT_LIMIT), newest first; audited."""
    rows = list(
        connection.execute(_select(filters).order_by(audit_log.c.id.desc()).limit(EXPORT_LIMIT))
    )
    audit(connection, reader, "audit-export", None, {**filters.shown(), "rows": len(rows)})
    return rows
