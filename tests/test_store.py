"""The store on both back ends: migrations, message records, quarantine, atomic primitives."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from gateway.model import Inspection, ParsedMail, Received, Reply, ReviewFacts, Unscanned
from gateway.parse import parse
from gateway.store import Store, StoreUnavailable, migrate, primitives, records, review
from gateway.store.engine import make_engine
from gateway.store.tables import messages, metadata, outbox, quarantine, rate_limits


def received(raw: bytes = b"Subject: x\r\n\r\nbody\r\n", **changes) -> Received:
    values = dict(
        id=str(uuid.uuid4()),
        received_at=datetime.now(UTC),
        peer="127.0.0.1",
        helo="c.example",
        mail_from="borger@example.net",
        rcpt_tos=("post@kommune.example",),
        group="default",
        raw=raw,
    )
    values.update(changes)
    return Received(**values)


FACTS = Inspection(parsed=ParsedMail(message_id="<1@example.net>", header_count=1))


def rows(store: Store) -> list:
    with store.engine.connect() as connection:
        return list(connection.execute(select(messages).order_by(messages.c.received_at)))


# -- migrations --------------------------------------------------------------------------------


def test_migrations_build_exactly_the_tables_the_code_uses(db_url):
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    # Type renderings differ between back ends (JSON on SQLite, say); tables, columns,
    # indexes and constraints must not.
    assert [d for d in diff if d[0] not in ("modify_type", "modify_comment")] == []
    engine.dispose()


def test_migration_from_the_previous_schema_keeps_the_data(db_url):
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0001")
    assert "outbox" not in inspect(engine).get_table_names()
    r = received()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        # A row as the 0001 code wrote it: its columns only.
        connection.execute(
            messages.insert().values(
                id=r.id,
                idempotency_key="k" * 64,
                received_at=now,
                updated_at=now,
                instance="old",
                slot="mx",
                mail_from=r.mail_from,
                recipient_group="default",
                recipients=list(r.rcpt_tos),
                size=len(r.raw),
                state="delivered",
                attempts=1,
                protection={},
                unscanned=[],
                verdict=None,
                findings=[],
            )
        )
    migrate.upgrade(engine)
    assert {"outbox", "rate_limits", "users", "audit_log"} <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(select(messages.c.id)).scalar_one() == r.id
    migrate.upgrade(engine)  # again: nothing to do, no error
    engine.dispose()


# -- message records ---------------------------------------------------------------------------


def test_pending_then_outcome(store: Store):
    r = received()
    with store.engine.begin() as connection:
        ref = records.record_pending(
            connection,
            r,
            Inspection(unscanned=(Unscanned.TIMEOUT,)),
            key="a" * 64,
            instance="test-1",
            slot="mx",
        )
    assert ref == records.RecordRef(r.id, 1)
    (row,) = rows(store)
    assert (row.state, row.attempts, row.unscanned, row.mail_from) == (
        "pending",
        1,
        ["timeout"],
        "borger@example.net",
    )
    assert row.received_at.tzinfo is not None
    with store.engine.begin() as connection:
        records.record_outcome(connection, ref, Reply(250, "2.0.0 Ok: queued as X"))
    (row,) = rows(store)
    assert (row.state, row.upstream_reply) == ("delivered", "250 2.0.0 Ok: queued as X")


@pytest.mark.parametrize(
    ("reply", "state"),
    [
        (Reply(250, "ok"), "delivered"),
        (Reply(550, "no"), "rejected"),
        (Reply(451, "later"), "failed"),
    ],
)
def test_state_follows_the_next_hops_reply(store: Store, reply, state):
    r = received()
    with store.engine.begin() as connection:
        ref = records.record_pending(connection, r, FACTS, key="b" * 64, instance="i", slot="mx")
        records.record_outcome(connection, ref, reply)
    assert rows(store)[0].state == state


async def test_a_retry_reopens_the_first_record(store: Store):
    first = received()
    retry = received(raw=first.raw)  # a new SMTP session, a new id, the same message
    one = await store.record_pending(first, FACTS)
    assert one.id == first.id
    await store.record_outcome(one, Reply(451, "4.3.0 try later"))
    two = await store.record_pending(retry, FACTS)
    assert (two.id, two.attempt) == (first.id, 2)
    (row,) = rows(store)
    assert (row.id, row.state, row.attempts) == (first.id, "pending", 2)
    # A late update for the first attempt no longer touches the second's state.
    await store.record_outcome(one, Reply(250, "2.0.0 late"))
    await store.record_outcome(two, Reply(550, "5.7.1 no"))
    await store.record_outcome(one, Reply(250, "2.0.0 later still"))
    assert rows(store)[0].state == "rejected"


@pytest.mark.parametrize(
    "change",
    [
        {"raw": b"Subject: x\r\n\r\nother body\r\n"},
        {"rcpt_tos": ("byg@kommune.example",)},
        {"mail_from": "anden@example.net"},
    ],
)
def test_idempotency_key_covers_envelope_and_body(change):
    assert records.idempotency_key(received(), "<1@x>") != records.idempotency_key(
        received(**change), "<1@x>"
    )
    assert records.idempotency_key(received(), "<1@x>") != records.idempotency_key(
        received(), "<2@x>"
    )


BELOW_TRACE = b"Message-ID: <7@example.net>\r\nSubject: x\r\n\r\nbody\r\n"


def try_through_postfix(queue_id: str, below: bytes = BELOW_TRACE) -> Received:
    """One try of a message as a Postfix in front of us passes it on: a fresh Received
    (new queue id and time) on top of the sender's own trace and message."""
    raw = (
        f"Received: from mx.borger.example (mx.borger.example [192.0.2.7])\r\n"
        f"\tby mx.kommune.example (Postfix) with ESMTPS id {queue_id}\r\n"
        f"\tfor <post@kommune.example>; Mon, 3 Mar 2025 10:0{queue_id[-1]}:00 +0100\r\n"
        "Authentication-Results: mx.kommune.example; spf=pass\r\n"
        "Received: by mail.borger.example; Mon, 3 Mar 2025 09:59:00 +0100\r\n"
    ).encode() + below
    return received(raw=raw)


def key_of(r: Received) -> str:
    parsed = parse(r.raw)
    return records.idempotency_key(r, parsed.message_id, parsed.trace_end)


def test_idempotency_key_leaves_out_the_trace_fields_on_top():
    assert key_of(try_through_postfix("4XyZ1")) == key_of(try_through_postfix("4XyZ2"))
    assert key_of(try_through_postfix("4XyZ1")) == key_of(received(raw=BELOW_TRACE))
    other = BELOW_TRACE.replace(b"body", b"other body")
    assert key_of(try_through_postfix("4XyZ1")) != key_of(try_through_postfix("4XyZ1", other))
    # A Received below the sender's own fields is part of the message, not a hop's trace.
    moved = b"Subject: x\r\nReceived: by a\r\n\r\nbody\r\n"
    assert key_of(received(raw=moved)) != key_of(received(raw=moved.replace(b"by a", b"by b")))


async def test_a_retry_through_postfix_reopens_the_first_record(store: Store):
    tries = [try_through_postfix(queue_id) for queue_id in ("4XyZ1", "4XyZ2")]
    one, two = [await store.record_pending(t, Inspection(parsed=parse(t.raw))) for t in tries]
    assert (two.id, two.attempt) == (one.id, 2)
    assert len(rows(store)) == 1


OPEN = ReviewFacts(journal_state="open")


@pytest.mark.parametrize(
    ("reply", "state"),
    [(Reply(451, "4.3.0 later"), "failed"), (Reply(554, "5.7.1 no"), "rejected")],
)
async def test_a_try_that_was_not_delivered_is_settled_and_not_open(store: Store, reply, state):
    first = received()
    one = await store.record_pending(first, FACTS, OPEN)
    assert rows(store)[0].journal_state == "open"
    await store.record_outcome(one, reply)
    (row,) = rows(store)
    assert (row.state, row.upstream_reply, row.journal_state) == (state, str(reply), None)
    with store.engine.connect() as connection:
        assert review.counts(connection)["flagged_open"] == 0
    # The sender's retry reopens the first record, flagged again, and completes it.
    two = await store.record_pending(received(raw=first.raw), FACTS, OPEN)
    assert (two.id, two.attempt) == (first.id, 2)
    (row,) = rows(store)
    assert (row.state, row.journal_state, row.upstream_reply) == ("pending", "open", None)
    await store.record_outcome(two, Reply(250, "2.0.0 Ok"))
    (row,) = rows(store)
    assert (row.state, row.journal_state, row.attempts) == ("delivered", "open", 2)


async def test_a_failed_retry_does_not_undo_a_delivery(store: Store):
    first = received()
    one = await store.record_pending(first, FACTS, OPEN)
    await store.record_outcome(one, Reply(250, "2.0.0 Ok: queued as A"))
    # Our 250 was lost on the way: the sender tries again, and this time the next hop fails.
    two = await store.record_pending(received(raw=first.raw), FACTS, OPEN)
    assert rows(store)[0].state == "delivered"
    await store.record_outcome(two, Reply(451, "4.3.0 later"))
    (row,) = rows(store)
    assert (row.state, row.upstream_reply, row.journal_state, row.attempts) == (
        "delivered",
        "250 2.0.0 Ok: queued as A",
        "open",
        2,
    )


async def test_what_staff_decided_survives_a_retry(store: Store):
    first = received()
    one = await store.record_pending(first, FACTS, OPEN)
    await store.record_outcome(one, Reply(250, "2.0.0 Ok"))
    with store.engine.begin() as connection:
        connection.execute(messages.update().values(journal_state="journaled"))
    two = await store.record_pending(received(raw=first.raw), FACTS, OPEN)
    await store.record_outcome(two, Reply(451, "4.3.0 later"))
    assert rows(store)[0].journal_state == "journaled"


def test_start_up_recovers_interrupted_records(store: Store):
    old, fresh = received(), received(raw=b"Subject: y\r\n\r\n")
    with store.engine.begin() as connection:
        for r, key in ((old, "c"), (fresh, "d")):
            records.record_pending(
                connection, r, FACTS, key=key * 64, instance="i", slot="mx", review=OPEN
            )
        connection.execute(
            messages.update()
            .where(messages.c.id == old.id)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=10))
        )
    assert store.prepare(recover_after=timedelta(minutes=2)) == 1
    states = {row.id: (row.state, row.upstream_reply, row.journal_state) for row in rows(store)}
    assert states[old.id][0] == "failed" and "interrupted" in states[old.id][1]
    assert states[old.id][2] is None  # never delivered: not open for journaling
    assert states[fresh.id][0] == "pending" and states[fresh.id][2] == "open"


@pytest.mark.parametrize("in_folder", [False, True], ids=["in-database", "in-folder"])
async def test_quarantine_keeps_message_and_record_together(db_url, tmp_path, in_folder):
    store = Store(
        db_url,
        instance="i",
        slot="mx",
        timeout=3,
        quarantine_dir=tmp_path / "q" if in_folder else None,
    )
    store.prepare(recover_after=timedelta(minutes=2))
    raw = b"Subject: held\r\n\r\n" + bytes(range(256)) * 40
    r = received(raw=raw)
    await store.record_pending(r, FACTS)
    await store.quarantine_message(r.id, raw)
    with store.engine.connect() as connection:
        assert records.read_quarantined(connection, r.id, store.quarantine) == raw
        row = connection.execute(select(quarantine)).one()
    assert (row.raw is None) == in_folder
    assert rows(store)[0].state == "quarantined"
    if in_folder:
        (path,) = (tmp_path / "q").rglob("*.eml")
        assert path.stat().st_mode & 0o077 == 0  # readable by the service only
    store.close()


# -- primitives --------------------------------------------------------------------------------


def test_claim_once_per_period(store: Store):
    with store.engine.begin() as c:
        assert primitives.claim_once(c, "reply", "a@x|post", timedelta(days=7)) is True
        assert primitives.claim_once(c, "reply", "a@x|post", timedelta(days=7)) is False
        assert primitives.claim_once(c, "reply", "b@x|post", timedelta(days=7)) is True
        assert primitives.claim_once(c, "reply", "c@x|post", timedelta(seconds=-1)) is True
        # the period of c@x has passed: the next one wins again
        assert primitives.claim_once(c, "reply", "c@x|post", timedelta(days=7)) is True


def test_outbox_claim_lease_and_finish(store: Store):
    with store.engine.begin() as c:
        ids = [
            primitives.enqueue(c, kind="reply", mail_from="", recipient=f"r{i}@x", payload=b"m")
            for i in range(3)
        ]
    with store.engine.begin() as c:
        claimed = primitives.claim_outbox(c, "w1", limit=2, lease=timedelta(minutes=5))
    assert [i.id for i in claimed] == ids[:2]
    with store.engine.begin() as c:
        assert [i.id for i in primitives.claim_outbox(c, "w2", lease=timedelta(minutes=5))] == [
            ids[2]
        ]
        assert primitives.claim_outbox(c, "w2", lease=timedelta(minutes=5)) == []
        sent = primitives.Sent("250 ok")
        assert primitives.finish_outbox(c, claimed[0], "w1", sent) is True
        assert primitives.finish_outbox(c, claimed[1], "w2", sent) is False  # not w2's
        # w1 died holding ids[1]: once its lease is over, the item is claimed again
        c.execute(
            outbox.update()
            .where(outbox.c.id == ids[1])
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        again = primitives.claim_outbox(c, "w2", lease=timedelta(minutes=5))
        reclaims = c.execute(select(outbox.c.reclaims).where(outbox.c.id == ids[1])).scalar()
    assert [(i.id, i.attempts) for i in again] == [(ids[1], 2)]
    assert reclaims == 1  # w1 may have sent it before it died: a possible duplicate, counted


def test_outbox_retry_and_give_up(store: Store):
    with store.engine.begin() as c:
        item_id = primitives.enqueue(c, kind="reply", mail_from="", recipient="r@x", payload=b"m")
        (item,) = primitives.claim_outbox(c, "w", lease=timedelta(minutes=5))
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert primitives.finish_outbox(c, item, "w", primitives.Retry("451 busy", later))
        assert primitives.claim_outbox(c, "w", lease=timedelta(minutes=5)) == []  # not yet due
        c.execute(outbox.update().values(not_before=datetime.now(UTC)))
        (item,) = primitives.claim_outbox(c, "w", lease=timedelta(minutes=5))
        assert item.attempts == 2
        assert primitives.finish_outbox(c, item, "w", primitives.Failed("550 no such user"))
        row = c.execute(select(outbox).where(outbox.c.id == item_id)).one()
        assert (row.state, row.last_error, row.reclaims) == ("failed", "550 no such user", 0)
        assert primitives.claim_outbox(c, "w", lease=timedelta(minutes=5)) == []


def test_quota_counts_across_a_window(store: Store):
    with store.engine.begin() as c:
        taken = [primitives.take_quota(c, "cap", "all", 3, timedelta(hours=1)) for _ in range(5)]
        assert taken == [True, True, True, False, False]
        c.execute(rate_limits.update().values(expires_at=datetime.now(UTC)))
        assert primitives.take_quota(c, "cap", "all", 3, timedelta(hours=1)) is True
        assert primitives.take_quota(c, "cap", "none", 0, timedelta(hours=1)) is False


# -- a locked database -------------------------------------------------------------------------


def test_locked_sqlite_is_retried_then_reported(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    store = Store(url, instance="i", slot="mx", timeout=1.0)
    store.prepare(recover_after=timedelta(minutes=2))
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            store.transaction(
                records.record_pending, received(), FACTS, key="e" * 64, instance="i", slot="mx"
            )
        # A lock released within the retry window costs a wait, not a failure.
        threading.Timer(0.5, holder.rollback).start()
        store.timeout = 5
        store.transaction(
            records.record_pending, received(), FACTS, key="f" * 64, instance="i", slot="mx"
        )
    finally:
        holder.close()
    assert len(rows(store)) == 1
    store.close()


def test_unreachable_postgresql_is_reported():
    store = Store("postgresql://127.0.0.1:1/none", instance="i", slot="mx", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.transaction(lambda c: c.execute(text("SELECT 1")))
    print(f"\nfigure: unreachable database reported after {time.monotonic() - started:.2f} s")
    store.close()


def test_no_message_content_columns():
    """The log must not become a leak: no subject, body or snippet column anywhere."""
    columns = {c.name for table in metadata.tables.values() for c in table.columns}
    assert not columns & {"subject", "body", "snippet", "text", "content"}


# -- SQLite's batching writer ------------------------------------------------------------------


async def test_group_commit_batches_and_isolates_failures(tmp_path: Path):
    import asyncio

    store = Store(f"sqlite:///{tmp_path / 'g.db'}", instance="i", slot="mx", timeout=3)
    store.prepare(recover_after=timedelta(minutes=2))

    def broken(connection, n):
        records.record_pending(
            connection, received(), FACTS, key=f"{n:064d}", instance="i", slot="mx"
        )
        raise ValueError("this write fails after doing some work")

    many = [
        store.record_pending(received(raw=f"Subject: {i}\r\n\r\n".encode()), FACTS)
        for i in range(60)
    ]
    results = await asyncio.gather(*many, store.run(broken, 7), return_exceptions=True)
    assert isinstance(results[-1], ValueError)
    assert all(isinstance(r, records.RecordRef) for r in results[:-1])
    assert len(rows(store)) == 60  # the failed write's row was rolled back alone
    writer = store._writer
    assert writer is not None and writer.writes == 61
    print(f"\nfigure: 61 concurrent writes committed in {writer.batches} batches")
    assert writer.batches < 61
    store.close()


async def test_group_commit_reports_a_locked_database(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'l.db'}", instance="i", slot="mx", timeout=0.5)
    store.prepare(recover_after=timedelta(minutes=2))
    holder = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            await store.record_pending(received(), FACTS)
    finally:
        holder.close()
    assert await store.record_pending(received(), FACTS)
    store.close()


async def test_quarantining_a_retried_message_works(tmp_path):
    from gateway.store import Store

    store = Store(
        f"sqlite:///{tmp_path / 'q.db'}",
        instance="i",
        slot="mx",
        timeout=3,
        quarantine_dir=tmp_path / "q",
    )
    store.prepare(recover_after=timedelta(minutes=2))
    first = received()
    retry = received(raw=first.raw)
    for attempt in (first, retry):
        ref = await store.record_pending(attempt, FACTS)
        await store.quarantine_message(ref.id, attempt.raw)
    paths = sorted((tmp_path / "q").rglob("*.eml"))
    assert len(paths) == 1, paths
    path = paths[0]
    assert path.stat().st_mode & 0o777 == 0o600
    store.close()


def test_an_instance_claims_only_the_kinds_it_can_send_and_wipes_what_it_must(store: Store):
    with store.engine.begin() as c:
        for kind in ("digital-post", "reply"):
            primitives.enqueue(c, kind=kind, mail_from="", recipient="r@x", payload=b"secret")
        (item,) = primitives.claim_outbox(c, "w", lease=timedelta(minutes=5), kinds=["reply"])
        assert item.kind == "reply"  # the Digital Post answer waits for an instance with it
        assert primitives.claim_outbox(c, "w", lease=timedelta(minutes=5), kinds=["reply"]) == []
        (answer,) = primitives.claim_outbox(c, "w", lease=timedelta(minutes=5))
        assert primitives.finish_outbox(c, answer, "w", primitives.Sent("250 ok"), wipe=True)
        assert primitives.finish_outbox(c, item, "w", primitives.Sent("250 ok"))
        payloads = dict(c.execute(select(outbox.c.kind, outbox.c.payload)).all())
    assert payloads == {"digital-post": b"", "reply": b"secret"}
