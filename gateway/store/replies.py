"""Settling an auto-reply: in the transaction that records the original as accepted.

One reply per envelope sender and mailbox per period (RFC 3834's 7 days), under an hourly cap
shared by every instance; both decisions are single upsert statements (store.primitives), so
two gateways on one database never both win. The reply is queued in the outbox in the same
transaction, so "accepted" and "reply queued" are committed together or not at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Update, bindparam, case, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.model import Reply, ReplyPlan
from gateway.store import primitives, records
from gateway.store.records import QuarantinePlace, RecordRef
from gateway.store.tables import messages, outbox

log = logging.getLogger("postvagt.store")

CAP_SCOPE = "reply-hourly-cap"
SETTLED = ("queued", "sent", "failed")


def _settled_before(connection: Connection, message_id: str) -> str | None:
    """An earlier attempt of this message (a sender's retry) already settled its reply:
    leave it, and its record, alone."""
    state = connection.execute(
        select(messages.c.reply_state).where(messages.c.id == message_id)
    ).scalar()
    return state if state in SETTLED else None


def settle_reply(connection: Connection, message_id: str, plan: ReplyPlan) -> str:
    """Queue the reply or record why not; returns the message's reply state.

    Runs in a savepoint: whatever goes wrong here costs the reply, never the record of the
    accepted original that shares the transaction (the client already has its 250).
    """
    if plan.suppressed is not None:
        # The common case, one statement: no claim to take, nothing to roll back.
        return _not_sent(connection, message_id, plan.suppressed)
    if earlier := _settled_before(connection, message_id):
        return earlier
    try:
        with connection.begin_nested():
            return _settle(connection, message_id, plan)
    except SQLAlchemyError as e:
        log.error("id=%s reply not settled: %s", message_id, type(e).__name__)
        _set_state(connection, message_id, "failed", f"internal error: {type(e).__name__}")
        return "failed"


_REPLY_STATE: Update = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"))
    .values(reply_state=bindparam("new_reply_state"), reply_reason=bindparam("new_reply_reason"))
)
_settled = records.one_of(messages.c.reply_state, SETTLED)
_REPLY_STATE_UNLESS_SETTLED: Update = _REPLY_STATE.where(
    or_(messages.c.reply_state.is_(None), ~_settled)
)


def _set_state(
    connection: Connection,
    message_id: str,
    state: str,
    reason: str,
    *,
    unless_settled: bool = False,
) -> bool:
    result = connection.execute(
        _REPLY_STATE_UNLESS_SETTLED if unless_settled else _REPLY_STATE,
        {"message_id": message_id, "new_reply_state": state, "new_reply_reason": reason[:255]},
    )
    return result.rowcount == 1


def _settle(connection: Connection, message_id: str, plan: ReplyPlan) -> str:
    reason = plan.suppressed
    if reason is None:
        key = primitives.reply_key(plan.recipient, plan.mailbox)
        if not primitives.claim_once(connection, primitives.REPLY_SCOPE, key, plan.period):
            reason = f"already answered within {plan.period.days} days"
        elif not primitives.take_quota(
            connection, CAP_SCOPE, "all", plan.hourly_cap, timedelta(hours=1)
        ):
            # The sender was not answered: the next mail within the period may be.
            primitives.release_once(connection, primitives.REPLY_SCOPE, key)
            reason = f"hourly cap of {plan.hourly_cap} replies reached"
    if reason is None:
        primitives.enqueue(
            connection,
            kind="reply",
            mail_from=plan.envelope_from,
            recipient=plan.recipient,
            payload=plan.payload,
            message_id=message_id,
        )
        state = "queued"
    else:
        state = "suppressed"
    _set_state(connection, message_id, state, reason or "queued")
    return state


def _copied_before(connection: Connection, message_id: str) -> bool:
    return (
        connection.execute(
            select(outbox.c.id).where(
                outbox.c.message_id == message_id, outbox.c.kind == "journal-copy"
            )
        ).first()
        is not None
    )


def _not_sent(connection: Connection, message_id: str, reason: str) -> str:
    """Suppressed, unless an earlier attempt of this message already settled its reply."""
    if _set_state(connection, message_id, "suppressed", reason, unless_settled=True):
        return "suppressed"
    return _settled_before(connection, message_id) or "suppressed"


def record_outcome_with_reply(
    connection: Connection,
    ref: RecordRef,
    reply: Reply,
    plan: ReplyPlan | None,
    journal_copy: tuple[str, bytes] | None = None,
    tls_out: str | None = None,
) -> str | None:
    """The next hop's answer, and what it allows: only mail it accepted is answered, and
    only accepted mail is copied to the mailbox's journal address (the ESDH import)."""
    if plan is not None and plan.suppressed is not None and reply.positive and not journal_copy:
        # The common case, one statement: delivered, and no reply to send.
        return _delivered_not_answered(connection, ref, reply, plan.suppressed, tls_out)
    if not records.record_outcome(connection, ref, reply, tls_out):
        return None
    # A sender's retry of mail already copied is not copied twice.
    if journal_copy is not None and reply.positive and not _copied_before(connection, ref.id):
        address, message = journal_copy
        primitives.enqueue(
            connection,
            kind="journal-copy",
            mail_from="",
            recipient=address,
            payload=message,
            message_id=ref.id,
        )
    if plan is None:
        return None
    if not reply.positive:
        return _not_sent(connection, ref.id, f"original not accepted ({reply.code})")
    return settle_reply(connection, ref.id, plan)


_DELIVERED_NOT_ANSWERED: Update = records.OUTCOME.values(
    # What an earlier attempt of this message settled stays (as in _not_sent).
    reply_state=case((_settled, messages.c.reply_state), else_="suppressed"),
    reply_reason=case((_settled, messages.c.reply_reason), else_=bindparam("new_reply_reason")),
).returning(messages.c.reply_state)


def _delivered_not_answered(
    connection: Connection, ref: RecordRef, reply: Reply, reason: str, tls_out: str | None
) -> str | None:
    """record_outcome and _not_sent in one statement; None when a newer attempt of the
    same message has taken the record over."""
    row = connection.execute(
        _DELIVERED_NOT_ANSWERED,
        {
            "message_id": ref.id,
            "attempt": ref.attempt,
            "new_state": records.state_for(reply),
            "now": datetime.now(UTC),
            "reply": str(reply)[:512],
            "tls_out": tls_out,
            "new_reply_reason": reason[:255],
        },
    ).first()
    return None if row is None else str(row.reply_state)


def quarantine_with_reply(
    connection: Connection,
    message_id: str,
    raw: bytes,
    place: QuarantinePlace,
    plan: ReplyPlan | None,
) -> str | None:
    """Held for review is accepted too (the client gets 250): the sender is answered."""
    records.store_quarantined(connection, message_id, raw, place)
    return None if plan is None else settle_reply(connection, message_id, plan)


def settle_sent(
    connection: Connection, item: primitives.OutboxItem, result: primitives.SendResult
) -> None:
    """A reply's outbox item settled: its message records whether the reply reached the
    sender (called by finish_outbox, same transaction)."""
    if item.message_id is None or isinstance(result, primitives.Retry):
        return
    if isinstance(result, primitives.Failed):
        # Never reached the sender: a later mail within the period may be answered.
        group = connection.execute(
            select(messages.c.recipient_group).where(messages.c.id == item.message_id)
        ).scalar()
        if group is not None:
            primitives.release_once(
                connection, primitives.REPLY_SCOPE, primitives.reply_key(item.recipient, group)
            )
    sent = isinstance(result, primitives.Sent)
    reason = result.reply if isinstance(result, primitives.Sent) else result.error
    _set_state(connection, item.message_id, "sent" if sent else "failed", reason)
