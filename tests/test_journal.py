"""Journaling hand-offs and storage limitation: the copy to the case system, the daily
digest, retention and `postvagt purge`, on SQLite and PostgreSQL where the store is used."""

from __future__ import annotations

import random
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.act import digest
from gateway.decide.load import load_policy
from gateway.store import Store, primitives, records, retention
from gateway.store.review import audit
from gateway.store.tables import audit_log, messages, outbox, quarantine
from tests import fictional
from tests.helpers import POSTVAGT, clean_env, wait_for
from tests.test_store import FACTS, received
from tests.test_web import send

POLICY = """\
version: 1
mailboxes:
  - name: byggesag
    addresses: [byggesag@kommune.example]
    display_name: Testby Kommune, Byggesager
    journal_mailbox: esdh-import@kommune.example
    staff_address: byg-team@kommune.example
rules:
  - name: cpr
    when: {entities: [DK_CPR], encrypted: false}
    then: {action: deliver, journal: true, copy_to_journal: true}
  - name: ordinary
"""


def test_flagged_mail_is_copied_to_the_journal_mailbox_once(make_gateway, upstream, tmp_path):
    from tests.servers import Upstream

    relay = Upstream().start()
    try:
        (tmp_path / "p.yaml").write_text(POLICY)
        gw = make_gateway(
            upstream,
            detect=True,
            detect_workers=1,
            policy=tmp_path / "p.yaml",
            reply_relay=f"smtp://127.0.0.1:{relay.port}",
            outbox_poll=0.2,
        )
        cpr = fictional.cpr(random.Random(2))
        send(gw.port, "bo@firma.example", "byggesag@kommune.example", "Tegninger", f"CPR {cpr}")
        send(gw.port, "bo@firma.example", "byggesag@kommune.example", "Hej", "Intet her.")
        assert wait_for(lambda: len(relay.messages) == 1)
        copy = relay.messages[0]
        assert copy.rcpt_tos == ["esdh-import@kommune.example"] and copy.mail_from in ("", "<>")
        assert b"X-Postvagt-Journal: required; id=" in copy.content
        assert copy.content == upstream.messages[0].content  # what the mailbox got, exactly

        # Once sent, the database keeps no copy of the message.
        def emptied() -> bool:
            rows = _outbox(gw.settings.database)
            return bool(rows) and rows[0].state == "sent" and rows[0].payload == b""

        assert wait_for(emptied)
    finally:
        relay.close()


def _outbox(database: str) -> list:
    from sqlalchemy import create_engine

    engine = create_engine(database)
    with engine.connect() as c:
        rows = c.execute(select(outbox)).all()
    engine.dispose()
    return rows


def _old_record(
    store: Store,
    days: float,
    *,
    held: bytes | None = None,
    held_days: float | None = None,
    state: str = "delivered",
) -> str:
    r = received(raw=f"Subject: x\r\n\r\n{days} {held_days} {state}\r\n".encode())
    key = r.id.replace("-", "").ljust(64, "0")
    with store.engine.begin() as c:
        ref = records.record_pending(c, r, FACTS, key=key, instance="t", slot="mx")
        if held is not None:
            records.store_quarantined(c, ref.id, held, store.quarantine)
        else:
            c.execute(messages.update().where(messages.c.id == ref.id).values(state=state))
        then = datetime.now(UTC) - timedelta(days=days)
        held_then = datetime.now(UTC) - timedelta(days=days if held_days is None else held_days)
        c.execute(messages.update().where(messages.c.id == ref.id).values(received_at=then))
        c.execute(
            quarantine.update().where(quarantine.c.message_id == ref.id).values(stored_at=held_then)
        )
        audit(c, "staff", "view", ref.id)
    return ref.id


def test_retention_deletes_what_it_should_and_nothing_else(store: Store):
    keep = _old_record(store, 1)
    keep_held = _old_record(store, 2, held=b"Subject: held\r\n\r\nx\r\n")
    drop_held_copy = _old_record(store, 40, held=b"Subject: old\r\n\r\nx\r\n")
    drop = _old_record(store, 200)
    in_flight = _old_record(store, 200, state="pending")  # a process died mid-message
    held_longer = _old_record(store, 200, held=b"Subject: h\r\n\r\nx\r\n", held_days=5)
    unsent = _old_record(store, 200)
    with store.engine.begin() as c:
        primitives.enqueue(
            c, kind="reply", mail_from="", recipient="a@b.dk", payload=b"x", message_id=unsent
        )
    total = retention.Purged()
    while True:
        batch = store.transaction(retention.purge_batch, records_days=180, quarantine_days=30)
        if retention.empty(batch):
            break
        total.records += batch.records
        total.quarantined += batch.quarantined
    assert (total.records, total.quarantined) == (1, 1)
    with store.engine.connect() as c:
        left = {r.id: r for r in c.execute(select(messages)).all()}
        held = {r.message_id for r in c.execute(select(quarantine)).all()}
        audited = {r.target for r in c.execute(select(audit_log)).all()}
    assert set(left) == {keep, keep_held, drop_held_copy, in_flight, held_longer, unsent}
    assert held == {keep_held, held_longer}
    assert left[drop_held_copy].upstream_reply == "held copy removed by retention"
    assert audited >= {keep, keep_held, drop_held_copy, drop}  # the audit log outlives them


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_purge_command_and_held_files(db_url, tmp_path):
    folder = tmp_path / "held"
    store = Store(db_url, instance="t", slot="mx", quarantine_dir=folder)
    store.prepare(timedelta(minutes=1))
    old = _old_record(store, 400, held=b"Subject: x\r\n\r\nold\r\n")
    files = list(folder.rglob("*.eml"))
    assert len(files) == 1
    store.close()
    result = subprocess.run(
        [*POSTVAGT, "purge", "--database-url", db_url, "--retention-days", "365"],
        capture_output=True,
        text=True,
        env={**clean_env(), "POSTVAGT_QUARANTINE_DIR": str(folder)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "purged 1 records, 1 quarantined copies" in result.stdout
    assert not files[0].exists()
    store = Store(db_url, instance="t", slot="mx")
    with store.engine.connect() as c:
        assert c.execute(select(messages).where(messages.c.id == old)).first() is None
    store.close()


def test_daily_digest_once_a_day_with_counts_only(store: Store, tmp_path: Path):
    (tmp_path / "p.yaml").write_text(POLICY)
    policy = load_policy(tmp_path / "p.yaml")
    for n in range(3):
        r = received(raw=f"Subject: {n}\r\n\r\nx\r\n".encode(), group="byggesag")
        with store.engine.begin() as c:
            from gateway.model import ReviewFacts

            records.record_pending(
                c,
                r,
                FACTS,
                key=f"{n:064}",
                instance="t",
                slot="mx",
                review=ReviewFacts(journal_state="open"),
            )
    kwargs = {
        "from_address": "postvagt@kommune.example",
        "base_url": "https://postvagt.kommune.example/",
    }
    day = date(2026, 11, 28)
    with store.engine.begin() as c:
        assert digest.queue_digests(c, policy, **kwargs, today=day) == ["byggesag"]
        assert digest.queue_digests(c, policy, **kwargs, today=day) == []  # once that day
        (item,) = c.execute(select(outbox)).all()
        assert digest.queue_digests(c, policy, **kwargs, today=day + timedelta(days=1)) == [
            "byggesag"
        ]  # and again the next, whatever the hour
    assert item.kind == "digest" and item.recipient == "byg-team@kommune.example"
    text = item.payload.decode()
    assert "3 mails til Testby Kommune, Byggesager" in text.replace("=\n", "")
    assert "mailbox=byggesag&status=open" in text.replace("=3D", "=").replace("=\n", "")
    assert "borger@example.net" not in text  # no sender, no subject, no finding
