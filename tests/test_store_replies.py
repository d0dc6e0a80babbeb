"""Settling auto-replies in the store, on SQLite and PostgreSQL: what a failure or a sender's
retry may and may not change."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gateway.model import Inspection, Reply, ReplyPlan
from gateway.store import Store, primitives, replies
from gateway.store.tables import messages, outbox
from tests.test_store import received

PLAN = ReplyPlan(recipient="borger@example.net", mailbox="default", suppressed=None, payload=b"x")


def reply_state(store: Store, message_id: str) -> tuple[str | None, str | None, str]:
    with store.engine.connect() as c:
        row = c.execute(select(messages).where(messages.c.id == message_id)).one()
    return row.reply_state, row.reply_reason, row.state


def accept(store: Store, reply: Reply, plan: ReplyPlan = PLAN):
    message = received()
    ref = asyncio.run(store.record_pending(message, Inspection()))
    state = asyncio.run(store.record_outcome(ref, reply, plan))
    return ref, state


def test_a_settlement_failure_costs_the_reply_never_the_record(store: Store, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("claim", {}, Exception("disk I/O error"))

    monkeypatch.setattr(primitives, "claim_once", broken)
    ref, state = accept(store, Reply(250, "2.0.0 Ok"))
    assert state == "failed"
    assert reply_state(store, ref.id) == ("failed", "internal error: OperationalError", "delivered")
    with store.engine.connect() as c:
        assert c.execute(select(outbox)).all() == []


def test_a_retried_attempt_leaves_a_settled_reply_alone(store: Store):
    ref, state = accept(store, Reply(250, "2.0.0 Ok"))
    assert state == "queued"
    # The client did not get our 250 and sends the same mail again; this time upstream 451s.
    again = asyncio.run(store.record_pending(received(), Inspection()))
    assert (again.id, again.attempt) == (ref.id, 2)
    assert asyncio.run(store.record_outcome(again, Reply(451, "4.3.0 busy"), PLAN)) == "queued"
    assert reply_state(store, ref.id)[:2] == ("queued", "queued")
    with store.engine.connect() as c:
        assert len(c.execute(select(outbox)).all()) == 1


def test_a_delivered_retry_with_no_reply_to_send_keeps_the_settled_one(store: Store):
    """Delivered and "no reply" is one statement (the common case): it records the
    delivery, and leaves a reply that an earlier attempt settled as it was."""
    ref, state = accept(store, Reply(250, "2.0.0 Ok"))
    assert state == "queued"
    again = asyncio.run(store.record_pending(received(), Inspection()))
    quiet = ReplyPlan(recipient="borger@example.net", mailbox="default", suppressed="no findings")
    ok = Reply(250, "2.0.0 Ok: queued as 4F2")
    assert asyncio.run(store.record_outcome(again, ok, quiet)) == "queued"
    assert reply_state(store, ref.id) == ("queued", "queued", "delivered")
    with store.engine.connect() as c:
        row = c.execute(select(messages).where(messages.c.id == ref.id)).one()
    assert (row.attempts, row.upstream_reply) == (2, "250 2.0.0 Ok: queued as 4F2")
    # A first attempt: suppressed, with its reason; a stale attempt changes nothing.
    other = asyncio.run(store.record_pending(received(b"Subject: y\r\n\r\nz\r\n"), Inspection()))
    assert other.attempt == 1
    first, state = other, asyncio.run(store.record_outcome(other, Reply(250, "2.0.0 Ok"), quiet))
    assert state == "suppressed"
    assert reply_state(store, first.id) == ("suppressed", "no findings", "delivered")
    stale = replace(again, attempt=1)
    assert asyncio.run(store.record_outcome(stale, Reply(250, "2.0.0 Ok"), quiet)) is None


def test_a_failed_reply_gives_the_sender_claim_back(store: Store):
    ref, _ = accept(store, Reply(250, "2.0.0 Ok"))
    key = primitives.reply_key(PLAN.recipient, PLAN.mailbox)
    with store.engine.begin() as c:
        (item,) = primitives.claim_outbox(c, "w", lease=timedelta(minutes=5))
        assert primitives.claim_once(c, primitives.REPLY_SCOPE, key, timedelta(days=7)) is False
        refused = primitives.Failed("550 5.7.54 relay refused")
        primitives.finish_outbox(c, item, "w", refused, replies.settle_sent)
        assert primitives.claim_once(c, primitives.REPLY_SCOPE, key, timedelta(days=7)) is True
    assert reply_state(store, ref.id)[:2] == ("failed", "550 5.7.54 relay refused")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_sender_claim_keeps_no_address(store: Store):
    accept(store, Reply(250, "2.0.0 Ok"))
    with store.engine.connect() as c:
        keys = [row.key for row in c.execute(select(primitives.rate_limits)).all()]
    assert keys and not any("example.net" in key for key in keys)
