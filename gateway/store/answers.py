"""Answers sent through Digital Post: queued with their outbox item in one transaction,
settled when the outbox item is, read back for the detail page.

The row holds what staff and the case need (who, when, to which masked number, the
transaction id and state) and what a DPO checks (the keyed hash of the number and whether it
was the mail's); never the number itself, the title or the text. Those travel
encrypted in the outbox item's payload and are wiped from it once the send settles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from gateway.store.primitives import Failed, OutboxItem, Retry, SendResult, Sent, enqueue
from gateway.store.review import NotFound, audit, get_flagged
from gateway.store.tables import answers

KIND = "digital-post"
KEPT = ("letter_pdf", "memo_xml")
"""The answer as it went out (gateway.act.digital_post.case_file_copy): the number masked."""


@dataclass(frozen=True)
class NewAnswer:
    message_id: str
    recipient_type: str  # CPR or CVR
    recipient_masked: str
    matched: bool
    memo_uuid: str
    actor: str
    payload: bytes  # encrypted (gateway.act.digital_post.seal)
    channel: str = "digital-post"  # or physical-mail: a letter through the print service
    recipient_key: str | None = None  # keyed hash of the number (gateway.detect.keyed)
    reason: str | None = None  # why a number not in the mail was used (the caseworker's)


def queue(connection: Connection, new: NewAnswer, mailboxes: list[str] | None) -> int:
    """The answer and its outbox item, or neither; audited. Returns the answer's id.

    Once per answer: the same ``memo_uuid`` again (a second click on "Send", Back and send
    again) queues nothing and returns the first one's id; two at the same moment meet the
    unique constraint (the caller treats that as queued)."""
    get_flagged(connection, new.message_id, mailboxes)  # the caller may see this mail
    earlier = connection.execute(
        select(answers.c.id).where(
            answers.c.memo_uuid == new.memo_uuid, answers.c.message_id == new.message_id
        )
    ).scalar()
    if earlier is not None:
        return int(earlier)
    outbox_id = enqueue(
        connection,
        message_id=new.message_id,
        kind=KIND,
        mail_from="",
        recipient=f"{new.recipient_type} {new.recipient_masked}",
        payload=new.payload,
    )
    answer_id = connection.execute(
        insert(answers)
        .values(
            message_id=new.message_id,
            outbox_id=outbox_id,
            channel=new.channel,
            recipient_type=new.recipient_type,
            recipient_masked=new.recipient_masked,
            matched=new.matched,
            recipient_key=new.recipient_key,
            memo_uuid=new.memo_uuid,
            state="queued",
            created_by=new.actor,
            created_at=datetime.now(UTC),
        )
        .returning(answers.c.id)
    ).scalar_one()
    detail: dict[str, Any] = {
        "recipient": f"{new.recipient_type} {new.recipient_masked}",
        "recipient_key": new.recipient_key,
        "matched": new.matched,
        "memo": new.memo_uuid,
        "channel": new.channel,
    }
    if new.reason is not None:
        detail["reason"] = new.reason
    audit(connection, new.actor, "digital-post-queued", new.message_id, detail)
    return int(answer_id)


def settle(connection: Connection, item: OutboxItem, result: SendResult) -> None:
    """The answer follows its outbox item (called by finish_outbox, same transaction)."""
    values: dict[str, Any]
    if isinstance(result, Sent):
        values = {"state": "sent", "sent_at": datetime.now(UTC), "last_error": None}
        values["transaction_id"] = result.reply[:64] or None
        values.update({name: data for name, data in result.kept if name in KEPT})
    elif isinstance(result, Retry):
        values = {"last_error": result.error[:512]}  # still queued: the page says why
    else:
        values = {"state": "failed", "last_error": result.error[:512]}
    row = connection.execute(
        update(answers)
        .where(answers.c.outbox_id == item.id)
        .values(**values)
        .returning(
            answers.c.message_id,
            answers.c.recipient_masked,
            answers.c.recipient_type,
            answers.c.recipient_key,
            answers.c.matched,
        )
    ).first()
    if row is None or isinstance(result, Retry):
        return
    action = "digital-post-sent" if isinstance(result, Sent) else "digital-post-failed"
    detail: dict[str, Any] = {
        "recipient": f"{row.recipient_type} {row.recipient_masked}",
        "recipient_key": row.recipient_key,
        "matched": row.matched,
    }
    if isinstance(result, Sent):
        detail["transaction"] = result.reply[:64]
    elif isinstance(result, Failed):
        detail["error"] = result.error[:200]
    audit(connection, "postvagt", action, row.message_id, detail)


def for_message(connection: Connection, message_id: str) -> list[Row[Any]]:
    """The answers to a mail, without the documents (the page says whether each has them)."""
    columns = [c for c in answers.c if c.name not in KEPT]
    return list(
        connection.execute(
            select(
                *columns,
                answers.c.letter_pdf.is_not(None).label("has_pdf"),
                answers.c.memo_xml.is_not(None).label("has_xml"),
            )
            .where(answers.c.message_id == message_id)
            .order_by(answers.c.id)
        )
    )


def document(
    connection: Connection,
    message_id: str,
    answer_id: int,
    kind: str,
    mailboxes: list[str] | None,
    actor: str,
) -> tuple[bytes, str | None]:
    """A sent answer's PDF or MeMo XML and its transaction id, for the case file; the
    download is audited. NotFound when the mail is not the staff member's, or there is none."""
    if kind not in KEPT:
        raise NotFound(message_id)
    get_flagged(connection, message_id, mailboxes)
    row = connection.execute(
        select(answers.c[kind], answers.c.transaction_id, answers.c.memo_uuid).where(
            answers.c.id == answer_id, answers.c.message_id == message_id
        )
    ).first()
    if row is None or row[0] is None:
        raise NotFound(message_id)
    audit(
        connection,
        actor,
        "answer-download",
        message_id,
        {"answer": answer_id, "document": kind, "transaction": row.transaction_id},
    )
    return bytes(row[0]), row.transaction_id
