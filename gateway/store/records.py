"""The message record: written in the order of shared/DESIGN.md's commit contract.

pending (before the final "." goes upstream) → delivered | rejected | failed (after the next
hop's answer) or quarantined (raw message and record committed together). A try that was not
delivered is no longer open for journaling; a sender's retry (same idempotency key) reopens
the record, and never undoes an earlier try's delivery. Functions here take an open
Connection inside a transaction; gateway.store.store runs them off the loop.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Update, bindparam, case, func, null, or_, select, update

from gateway.model import Inspection, Received, Reply, ReviewFacts
from gateway.privatefiles import private_folder, write_durably
from gateway.store.tables import messages, quarantine


@dataclass(frozen=True)
class RecordRef:
    """A message record and which delivery attempt of it this is."""

    id: str
    attempt: int


def idempotency_key(received: Received, message_id: str | None, trace_end: int = 0) -> str:
    """Message-ID, the envelope, and a hash of the message below its trace fields.

    A sender that retries after our 451 sends the same message to the same envelope, so its
    retry finds the record of the first attempt instead of adding a second one.
    ``trace_end`` (ParsedMail.trace_end) leaves out the trace fields on top: a Postfix in
    front of us (before-queue) adds a new ``Received`` on every try.
    """
    digest = hashlib.sha256()
    for part in (message_id or "", received.mail_from, *received.rcpt_tos):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(memoryview(received.raw)[trace_end:])
    return digest.hexdigest()


def _insert_for(dialect: str) -> Any:
    """The INSERT construct with ON CONFLICT support for this back end."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def one_of(column: Any, values: tuple[str, ...]) -> Any:
    """``column IN (values)`` written as equalities: an IN list of fixed values is expanded
    again at every execution (SQLAlchemy's "post-compile" step), on the path of every
    message; equalities are compiled once."""
    return or_(*(column == value for value in values))


HANDED_ON = ("delivered", "quarantined")
"""States in which the message is with the next hop or held: no later try undoes them."""
_handed_on = one_of(messages.c.state, HANDED_ON)


@functools.cache
def _pending_statement(dialect: str) -> Any:
    """Built once per dialect and cached compiled by SQLAlchemy: the hot path of every
    message should not rebuild an INSERT … ON CONFLICT construct."""
    statement = _insert_for(dialect)(messages)
    return statement.on_conflict_do_update(
        index_elements=[messages.c.idempotency_key],
        set_={
            # A message the next hop (or quarantine) already has stays so: this try can
            # only repeat that, and its failure would not take the message back.
            "state": case((_handed_on, messages.c.state), else_="pending"),
            "attempts": messages.c.attempts + 1,
            "updated_at": statement.excluded.updated_at,
            "instance": statement.excluded.instance,
            "unscanned": statement.excluded.unscanned,
            "findings": statement.excluded.findings,
            "entity_types": statement.excluded.entity_types,
            "number_keys": statement.excluded.number_keys,
            "verdict": statement.excluded.verdict,
            "upstream_reply": case((_handed_on, messages.c.upstream_reply), else_=None),
            # Flagged again if an earlier try that was never delivered was unflagged; what
            # staff already decided stays.
            "journal_state": func.coalesce(
                messages.c.journal_state, statement.excluded.journal_state
            ),
        },
    ).returning(messages.c.id, messages.c.attempts)


def record_pending(
    connection: Connection,
    received: Received,
    facts: Inspection,
    *,
    key: str,
    instance: str,
    slot: str,
    review: ReviewFacts | None = None,
) -> RecordRef:
    """Insert the pending record, or reopen the one of an earlier attempt (same key).

    Returns the Postvagt id to use (the earlier attempt's, so both copies carry one id) and
    which attempt this is, so that a late update of an older attempt's outcome cannot
    overwrite a newer one's.
    """
    values = {
        "id": received.id,
        "idempotency_key": key,
        "received_at": received.received_at,
        "updated_at": datetime.now(UTC),
        "instance": instance,
        "slot": slot,
        "mail_from": received.mail_from,
        "recipient_group": received.group,
        "recipients": list(received.rcpt_tos),
        "size": len(received.raw),
        "state": "pending",
        "attempts": 1,
        "protection": protection_facts(received, facts),
        "unscanned": list(facts.unscanned),
        "verdict": verdict_facts(facts),
        "findings": findings_summary(facts),
        "number_keys": number_keys(facts),
        "upstream_reply": None,
        "journal_state": review.journal_state if review else None,
        "case_hint": review.case_hint if review else None,
        "subject_masked": review.subject_masked if review else None,
        "sender_name": review.sender_name if review else None,
        "entity_types": " " + " ".join(sorted({f.entity for f in facts.findings})) + " ",
    }
    statement = _pending_statement(connection.dialect.name)
    row = connection.execute(statement, values).one()
    return RecordRef(str(row.id), int(row.attempts))


def verdict_facts(facts: Inspection) -> dict[str, Any] | None:
    """The verdict and the reasons behind it (entity types and counts, never values)."""
    v = facts.verdict
    if v is None:
        return None
    return {
        "action": v.action,
        "rule": v.rule,
        "reasons": list(v.reasons),
        "mode": v.mode,
        "would": v.would,
        "reply": v.reply,
        "portal": v.portal,
        "journal": v.journal,
        "mailbox": v.mailbox,
    }


def findings_summary(facts: Inspection) -> list[dict[str, Any]]:
    """Entity types with counts and masked values — never a value, never a snippet."""
    # Dicts as ordered sets: a list of 300 people has 300 masked numbers, and a membership
    # test in a list made the summary quadratic in them.
    summary: dict[str, tuple[list[int], dict[str, None], dict[str, None]]] = {}
    for finding in facts.findings:
        count, masked, locations = summary.setdefault(finding.entity, ([0], {}, {}))
        count[0] += 1
        if finding.masked:
            masked[finding.masked] = None
        locations[finding.location] = None
    return [
        {"entity": entity, "count": count[0], "masked": list(masked), "locations": list(places)}
        for entity, (count, masked, places) in summary.items()
    ]


def number_keys(facts: Inspection) -> list[str] | None:
    """The keyed hashes of the CPR and CVR numbers found (gateway.detect.keyed), each once;
    None where none were made."""
    keys = sorted({f.keyed for f in facts.findings if f.keyed})
    return keys or None


def protection_facts(received: Received, facts: Inspection) -> dict[str, Any]:
    tls = received.tls
    out: dict[str, Any] = {"tls": {"version": tls.version, "cipher": tls.cipher} if tls else None}
    if facts.sender is not None:
        s = facts.sender
        out["sender"] = {
            "source": s.source,
            "spf": s.spf,
            "dkim": s.dkim,
            "dmarc": s.dmarc,
            "aligned_pass": s.aligned_pass,
            "tls_version": s.tls_version,
        }
    p = facts.protection
    if p is not None:
        out.update(
            signed=p.signed,
            encrypted=p.encrypted,
            signature_valid=p.signature_valid,
            signer_trusted=p.signer_trusted,
            layers=[layer.kind for layer in p.layers],
        )
    return out


def _unflagged() -> Any:
    """journal_state for mail that was not delivered: no longer "open" (what staff decided
    stays)."""
    return case((messages.c.journal_state == "open", null()), else_=messages.c.journal_state)


def state_for(reply: Reply) -> str:
    if reply.positive:
        return "delivered"
    return "rejected" if reply.code >= 500 else "failed"


OUTCOME: Update = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"), messages.c.attempts == bindparam("attempt"))
    .values(
        state=bindparam("new_state"),
        updated_at=bindparam("now"),
        upstream_reply=bindparam("reply"),
        tls_out=bindparam("tls_out"),
    )
)

_NOT_DELIVERED: Update = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"), messages.c.attempts == bindparam("attempt"))
    .values(
        state=case((_handed_on, messages.c.state), else_=bindparam("new_state")),
        updated_at=bindparam("now"),
        upstream_reply=case((_handed_on, messages.c.upstream_reply), else_=bindparam("reply")),
        journal_state=case((_handed_on, messages.c.journal_state), else_=_unflagged()),
    )
)


def record_outcome(
    connection: Connection, ref: RecordRef, reply: Reply, tls_out: str | None = None
) -> bool:
    """False when a newer attempt of the same message has taken the record over.

    A try that was not delivered is settled as ``rejected`` or ``failed`` with the reply
    as its reason, and is no longer open for journaling: nobody got the mail. A sender's
    retry reopens the record (record_pending). An earlier try's delivery (or quarantine)
    stands: this try's failure changes nothing of it.
    """
    result = connection.execute(
        OUTCOME if reply.positive else _NOT_DELIVERED,
        {
            "message_id": ref.id,
            "attempt": ref.attempt,
            "new_state": state_for(reply),
            "now": datetime.now(UTC),
            "reply": str(reply)[:512],
            "tls_out": tls_out,
        },
    )
    return result.rowcount == 1


def recover_interrupted(connection: Connection, older_than: timedelta) -> int:
    """Records left pending by a process that died mid-message become 'failed'.

    The sender never got our 250 (we reply only after marking the record), so it retries;
    the retry finds this record by its key and moves it on.
    """
    cutoff = datetime.now(UTC) - older_than
    result = connection.execute(
        update(messages)
        .where(messages.c.state == "pending", messages.c.updated_at < cutoff)
        .values(
            state="failed",
            upstream_reply="interrupted: outcome unknown, sender retries",
            journal_state=_unflagged(),
        )
    )
    return result.rowcount


@dataclass(frozen=True)
class QuarantinePlace:
    """Where raw quarantined mail lives: the database (folder None) or a shared folder."""

    folder: Path | None = None


def store_quarantined(
    connection: Connection, message_id: str, raw: bytes, place: QuarantinePlace
) -> None:
    """Keep the raw message and mark the record quarantined, in one transaction.

    With a folder, the file is written and fsync'ed first: a crash before the commit leaves
    an orphan file (harmless), never a record without its message.
    """
    now = datetime.now(UTC)
    digest = hashlib.sha256(raw).hexdigest()
    raw_value: bytes | None = raw
    path_value: str | None = None
    if place.folder is not None:
        path_value = f"{now:%Y/%m/%d}/{message_id}.eml"
        _write_durably(place.folder / path_value, raw)
        raw_value = None
    # A retried message keeps its id: its quarantine row may already be there.
    statement = _insert_for(connection.dialect.name)(quarantine).values(
        message_id=message_id,
        stored_at=now,
        size=len(raw),
        sha256=digest,
        raw=raw_value,
        path=path_value,
    )
    connection.execute(statement.on_conflict_do_nothing(index_elements=[quarantine.c.message_id]))
    connection.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(state="quarantined", updated_at=now, upstream_reply=None)
    )


def read_quarantined(connection: Connection, message_id: str, place: QuarantinePlace) -> bytes:
    row = connection.execute(
        select(quarantine.c.raw, quarantine.c.path, quarantine.c.sha256).where(
            quarantine.c.message_id == message_id
        )
    ).one()
    if row.raw is not None:
        return bytes(row.raw)
    if place.folder is None:
        raise LookupError(f"quarantined message {message_id} is in a folder, none configured")
    return (place.folder / row.path).read_bytes()


def _write_durably(path: Path, data: bytes) -> None:
    """Readable by the service only from the first byte, and still there after a power cut
    once the record that points to it is committed."""
    private_folder(path.parent)
    write_durably(path.with_suffix(".tmp"), path, data)
