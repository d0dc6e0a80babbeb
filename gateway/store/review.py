"""The flagged-mail log as staff use it: find, read, mark handled — each step audited.

Every function takes the staff member's mailboxes (None: an admin, all mailboxes) and never
returns a record outside them. Functions that change something write their audit entry in
the same transaction, so an action without its audit entry cannot exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    Connection,
    Row,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from gateway.store.records import QuarantinePlace, read_quarantined
from gateway.store.tables import (
    JOURNAL_STATES,
    answers,
    audit_log,
    messages,
    outbox,
    quarantine,
)

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
"""A row of any columns (SQLAlchemy 2.1 types rows by their column types)."""


class NotFound(LookupError):
    """No such record, or not in the staff member's mailboxes (the same answer for both)."""


@dataclass(frozen=True)
class Filters:
    mailbox: str | None = None
    journal_state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    entity: str | None = None
    reply_state: str | None = None
    outcome: str | None = None  # held, released, answered (OUTCOMES)
    text: str | None = None
    sort: str = "time"
    descending: bool = True
    page: int = 1
    per_page: int = 50


SORTS = ("time", "sender", "state")
OUTCOMES = ("held", "released", "answered")
"""What became of a flagged mail besides its journaling: still held, released from the
quarantine, answered through Digital Post (an answer queued or sent)."""
SEARCHED = ("mail_from", "sender_name", "subject_masked", "id", "case_number", "case_hint")
"""What the list's search looks in: what caseworkers remember of a mail. The masked subject
is there only for mailboxes that show it."""
DELETED_BY_STAFF = "quarantined copy deleted by staff"


def disposition(row: Any) -> str:
    """What became of the mail, in one word: held, released, delivered, held-deleted,
    refused, pending or failed (the delivery state, with what staff did to a held copy)."""
    if row.held_outcome == "released":
        return "released"
    if row.held_outcome == "deleted" or (
        row.state == "failed" and row.upstream_reply == DELETED_BY_STAFF
    ):
        return "held-deleted"
    return {"quarantined": "held", "rejected": "refused"}.get(row.state, row.state)


def audit(
    connection: Connection,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    connection.execute(
        insert(audit_log).values(
            at=datetime.now(UTC), actor=actor, action=action, target=target, detail=detail or {}
        )
    )


def _scope(mailboxes: list[str] | None) -> Any:
    flagged = messages.c.journal_state.is_not(None)
    if mailboxes is None:
        return flagged
    return and_(flagged, messages.c.recipient_group.in_(mailboxes))


def _condition(mailboxes: list[str] | None, filters: Filters) -> Any:
    where = [_scope(mailboxes)]
    if filters.mailbox:
        where.append(messages.c.recipient_group == filters.mailbox)
    if filters.journal_state:
        where.append(messages.c.journal_state == filters.journal_state)
    if filters.reply_state:
        where.append(messages.c.reply_state == filters.reply_state)
    if filters.since:
        where.append(messages.c.received_at >= filters.since)
    if filters.until:
        where.append(messages.c.received_at < filters.until)
    if filters.entity:
        where.append(messages.c.entity_types.contains(f" {filters.entity} ", autoescape=True))
    if filters.outcome:
        where.append(_outcome(filters.outcome))
    text = (filters.text or "").strip().lower()[:200]
    if text:
        # lower() is Unicode-aware on both back ends (gateway.store.engine gives SQLite one).
        where.append(
            or_(
                *(func.lower(messages.c[name]).contains(text, autoescape=True) for name in SEARCHED)
            )
        )
    return and_(*where)


def _outcome(outcome: str) -> Any:
    if outcome == "held":
        return and_(messages.c.state == "quarantined", messages.c.held_outcome.is_(None))
    if outcome == "released":
        return messages.c.held_outcome == "released"
    if outcome == "answered":
        return exists().where(answers.c.message_id == messages.c.id, answers.c.state != "failed")
    raise ValueError(f"unknown outcome {outcome!r}")


def _order(filters: Filters) -> list[Any]:
    orders: dict[str, list[Any]] = {
        "time": [messages.c.received_at],
        "sender": [func.lower(messages.c.mail_from), messages.c.received_at],
        "state": [messages.c.journal_state, messages.c.state, messages.c.received_at],
    }
    columns = orders[filters.sort if filters.sort in SORTS else "time"]
    ordered = [c.desc() if filters.descending else c.asc() for c in columns]
    return [*ordered, messages.c.id]


def list_flagged(
    connection: Connection, mailboxes: list[str] | None, filters: Filters
) -> tuple[list[AnyRow], int]:
    """One page of flagged mail (newest first unless sorted otherwise), and how many match
    in all."""
    condition = _condition(mailboxes, filters)
    total = connection.execute(select(func.count()).select_from(messages).where(condition))
    rows = connection.execute(
        select(messages)
        .where(condition)
        .order_by(*_order(filters))
        .limit(filters.per_page)
        .offset((max(filters.page, 1) - 1) * filters.per_page)
    ).all()
    return list(rows), int(total.scalar_one())


EXPORT_LIMIT = 20_000


def export_flagged(
    connection: Connection, mailboxes: list[str] | None, filters: Filters, actor: str
) -> list[AnyRow]:
    """Every entry the filters match (up to EXPORT_LIMIT), in the page's order; audited."""
    rows = list(
        connection.execute(
            select(messages)
            .where(_condition(mailboxes, filters))
            .order_by(*_order(filters))
            .limit(EXPORT_LIMIT)
        ).all()
    )
    shown = {
        k: v
        for k, v in {
            "mailbox": filters.mailbox,
            "status": filters.journal_state or filters.outcome,
            "entity": filters.entity,
            "reply": filters.reply_state,
            "search": bool(filters.text),
        }.items()
        if v
    }
    audit(connection, actor, "export", None, {**shown, "rows": len(rows)})
    return rows


def get_many(connection: Connection, ids: list[str], mailboxes: list[str] | None) -> list[AnyRow]:
    """The entries among ``ids`` in the staff member's mailboxes (others are left out)."""
    if not ids:
        return []
    return list(
        connection.execute(
            select(messages)
            .where(messages.c.id.in_(ids), _scope(mailboxes))
            .order_by(messages.c.received_at.desc(), messages.c.id)
        ).all()
    )


def open_by_mailbox(connection: Connection, mailboxes: list[str] | None) -> dict[str, int]:
    """Open entries per mailbox, for the top of the list."""
    rows = connection.execute(
        select(messages.c.recipient_group, func.count())
        .where(_scope(mailboxes), messages.c.journal_state == "open")
        .group_by(messages.c.recipient_group)
    ).all()
    return {group: int(n) for group, n in rows}


def held_ids(connection: Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` still have a held copy that was not released."""
    if not ids:
        return set()
    rows = connection.execute(
        select(quarantine.c.message_id).where(
            quarantine.c.message_id.in_(ids), quarantine.c.released_at.is_(None)
        )
    ).scalars()
    return set(rows)


def statistics_rows(
    connection: Connection, mailboxes: list[str] | None, since: datetime
) -> list[AnyRow]:
    """The facts the statistics page counts (no addresses, no masked values)."""
    return list(
        connection.execute(
            select(
                messages.c.received_at,
                messages.c.recipient_group,
                messages.c.entity_types,
                messages.c.reply_state,
                messages.c.reply_reason,
                messages.c.protection,
                messages.c.handled_at,
                messages.c.journal_state,
            )
            .where(_scope(mailboxes), messages.c.received_at >= since)
            .order_by(messages.c.received_at)
        ).all()
    )


def get_flagged(connection: Connection, message_id: str, mailboxes: list[str] | None) -> AnyRow:
    row = connection.execute(
        select(messages).where(messages.c.id == message_id, _scope(mailboxes))
    ).first()
    if row is None:
        raise NotFound(message_id)
    return row


def history(connection: Connection, message_id: str) -> list[AnyRow]:
    return list(
        connection.execute(
            select(audit_log).where(audit_log.c.target == message_id).order_by(audit_log.c.id)
        ).all()
    )


def quarantine_entry(connection: Connection, message_id: str) -> AnyRow | None:
    return connection.execute(
        select(
            quarantine.c.stored_at,
            quarantine.c.size,
            quarantine.c.sha256,
            quarantine.c.released_at,
        ).where(quarantine.c.message_id == message_id)
    ).first()


def read_held(
    connection: Connection,
    message_id: str,
    mailboxes: list[str] | None,
    actor: str,
    place: QuarantinePlace,
    purpose: str,
) -> bytes:
    """The held copy of a flagged mail as received, for a staff member who may see its
    mailbox; the read is audited with its ``purpose`` ("download", "preview")."""
    get_flagged(connection, message_id, mailboxes)
    if quarantine_entry(connection, message_id) is None:
        raise NotFound(message_id)
    raw = read_quarantined(connection, message_id, place)
    audit(connection, actor, purpose, message_id)
    return raw


def with_held_copy(connection: Connection, ids: list[str], unreleased_only: bool) -> set[str]:
    """Of ``ids``, those with a held copy (not yet released, when ``unreleased_only``)."""
    if unreleased_only:
        return held_ids(connection, ids)
    return {i for i in ids if quarantine_entry(connection, i) is not None}


def view(
    connection: Connection, message_id: str, mailboxes: list[str] | None, actor: str
) -> AnyRow:
    """Read one entry for a staff member; the read itself is audited (who saw what)."""
    row = get_flagged(connection, message_id, mailboxes)
    audit(connection, actor, "view", message_id)
    return row


def mark(
    connection: Connection,
    message_id: str,
    mailboxes: list[str] | None,
    actor: str,
    state: str,
    *,
    case_number: str | None = None,
    note: str | None = None,
) -> None:
    """journaled (with its case number), not-needed (with why), false-positive, or open again."""
    if state not in JOURNAL_STATES:
        raise ValueError(f"unknown journal state {state!r}")
    if state == "journaled" and not (case_number or "").strip():
        raise ValueError("a journaled mail needs its case number")
    if state == "not-needed" and not (note or "").strip():
        raise ValueError("say why no journaling is needed")
    get_flagged(connection, message_id, mailboxes)
    now = datetime.now(UTC)
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(
            journal_state=state,
            case_number=(case_number or "").strip()[:64] or None,
            handled_note=(note or "").strip()[:500] or None,
            handled_by=None if state == "open" else actor,
            handled_at=None if state == "open" else now,
        )
    )
    detail = {"state": state}
    if case_number:
        detail["case_number"] = case_number.strip()[:64]
    audit(connection, actor, f"mark-{state}", message_id, detail)


def forget_quarantined(
    connection: Connection, message_id: str, mailboxes: list[str] | None, actor: str
) -> str | None:
    """Delete the held copy (the record and its audit trail stay); returns its file, for the
    caller to remove after the commit, if it lives in the quarantine folder."""
    get_flagged(connection, message_id, mailboxes)
    held = connection.execute(
        select(quarantine.c.path, quarantine.c.released_at).where(
            quarantine.c.message_id == message_id
        )
    ).first()
    if held is None:
        raise NotFound(message_id)
    connection.execute(delete(quarantine).where(quarantine.c.message_id == message_id))
    if held.released_at is None:  # a released mail was delivered: its record says so
        connection.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(state="failed", upstream_reply=DELETED_BY_STAFF, held_outcome="deleted")
        )
    audit(connection, actor, "delete-quarantined", message_id)
    return str(held.path) if held.path else None


def claim_release(
    connection: Connection, message_id: str, place: QuarantinePlace
) -> tuple[str, list[str], bytes] | None:
    """Take a held message for release — one winner, however many staff click — and return
    its envelope and raw bytes; None if it is not held (any more)."""
    claimed = connection.execute(
        update(quarantine)
        .where(quarantine.c.message_id == message_id, quarantine.c.released_at.is_(None))
        .values(released_at=datetime.now(UTC))
    )
    if claimed.rowcount != 1:
        return None
    row = connection.execute(
        select(messages.c.mail_from, messages.c.recipients).where(messages.c.id == message_id)
    ).one()
    return row.mail_from, list(row.recipients), read_quarantined(connection, message_id, place)


def unclaim_release(connection: Connection, message_id: str) -> None:
    """The next hop did not take it: held again."""
    connection.execute(
        update(quarantine).where(quarantine.c.message_id == message_id).values(released_at=None)
    )


def mark_released(connection: Connection, message_id: str, actor: str, reply: str) -> None:
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(
            state="delivered",
            updated_at=datetime.now(UTC),
            upstream_reply=reply[:512],
            held_outcome="released",
        )
    )
    audit(connection, actor, "release", message_id, {"upstream": reply[:3]})


def counts(connection: Connection, mailboxes: list[str] | None = None) -> dict[str, int]:
    """For the health view and /metrics: queue sizes, not contents. With ``mailboxes`` (a
    staff member's), only theirs, and no outbox figures (those span every mailbox)."""
    in_scope = (
        messages.c.recipient_group.in_(mailboxes)
        if mailboxes is not None
        else messages.c.id.isnot(None)
    )
    flagged_open = connection.execute(
        select(func.count())
        .select_from(messages)
        .where(messages.c.journal_state == "open", in_scope)
    ).scalar_one()
    held = connection.execute(
        select(func.count())
        .select_from(quarantine.join(messages, messages.c.id == quarantine.c.message_id))
        .where(quarantine.c.released_at.is_(None), in_scope)
    ).scalar_one()
    out = {"flagged_open": int(flagged_open), "quarantined": int(held)}
    if mailboxes is None:
        queued = connection.execute(
            select(outbox.c.state, func.count()).group_by(outbox.c.state)
        ).all()
        out.update({f"outbox_{state}": int(n) for state, n in queued})
    return out
