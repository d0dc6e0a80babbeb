"""Settling an auto-reply: in the transaction that records the original as accepted.

One reply per envelope sender and mailbox per period (RFC 3834's 7 days), under an hourly cap
shared by every instance; both decisions are single upsert statements (store.primitives), so
two gateways on one database never both win. The reply is queued in the outbox in the same
transaction, so "accepted" and "reply queued" are committed together or not at all.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, update

from gateway.act.reply import ReplyPlan
from gateway.model import Reply
from gateway.store import primitives, records
from gateway.store.records import QuarantinePlace, RecordRef
from gateway.store.tables import messages

REPLY_SCOPE = "reply"
CAP_SCOPE = "reply-hourly-cap"


def sender_key(plan: ReplyPlan) -> str:
    return f"{plan.recipient.lower()}|{plan.mailbox}"


def settle_reply(connection: Connection, message_id: str, plan: ReplyPlan) -> str:
    """Queue the reply or record why not; returns the message's reply state."""
    reason = plan.suppressed
    if reason is None:
        key = sender_key(plan)
        if not primitives.claim_once(connection, REPLY_SCOPE, key, plan.period):
            reason = f"already answered within {plan.period.days} days"
        elif not primitives.take_quota(
            connection, CAP_SCOPE, "all", plan.hourly_cap, timedelta(hours=1)
        ):
            # The sender was not answered: the next mail within the period may be.
            primitives.release_once(connection, REPLY_SCOPE, key)
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
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(reply_state=state, reply_reason=(reason or "queued")[:255])
    )
    return state


def _not_sent(connection: Connection, message_id: str, reason: str) -> None:
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(reply_state="suppressed", reply_reason=reason[:255])
    )


def record_outcome_with_reply(
    connection: Connection, ref: RecordRef, reply: Reply, plan: ReplyPlan | None
) -> str | None:
    """The next hop's answer, and the reply it allows: only mail it accepted is answered."""
    if not records.record_outcome(connection, ref, reply) or plan is None:
        return None
    if not reply.positive:
        _not_sent(connection, ref.id, f"original not accepted ({reply.code})")
        return "suppressed"
    return settle_reply(connection, ref.id, plan)


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
