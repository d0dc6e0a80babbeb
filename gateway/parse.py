"""bytes → ParsedMail.

For now the header block only (Message-ID, header count, defects); the MIME walk and the
text of every part come with the extraction stage. Bounded: header blocks larger than
``MAX_HEADER_BYTES`` are parsed up to that size and the rest is recorded as a defect.
"""

from __future__ import annotations

from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from gateway.cleantext import visible
from gateway.model import ParsedMail
from gateway.rawmail import (
    decoded_header,
    header_block_end,
    name_and_address,
    trace_block_end,
)

MAX_HEADER_BYTES = 128 * 1024
"""Postfix's header_size_limit is 100 KiB. Parsing this much takes about 2.5 ms here, which
keeps the parse cheap enough to run on the event loop."""

MAX_SUBJECT = 2000

_PARSER = BytesHeaderParser(policy=policy.compat32)


def parse(raw: bytes) -> ParsedMail:
    end = header_block_end(raw)
    defects: list[str] = []
    head = raw[:end]
    if len(head) > MAX_HEADER_BYTES:
        head = head[:MAX_HEADER_BYTES]
        defects.append("HeaderBlockTooLarge")
    # compat32 keeps header parsing linear and lazy-free: the structured parsers of the
    # default policy have known quadratic cases (python/cpython#136063).
    message = _PARSER.parsebytes(head)
    defects.extend(type(d).__name__ for d in message.defects)
    message_id = message.get("Message-ID")
    sender = str(message.get("From", ""))
    encoded_name, from_address = name_and_address(sender)
    raw_sender = _raw(message, "From")
    if raw_sender is not None and raw_sender != sender:  # raw UTF-8: the name read as such
        encoded_name = name_and_address(raw_sender[:MAX_SUBJECT])[0]
    return ParsedMail(
        message_id=str(message_id).strip() if message_id is not None else None,
        header_count=len(message.keys()),
        defects=tuple(defects),
        subject=_subject(message.get("Subject")),
        from_address=from_address or None,
        from_name=_name(encoded_name, from_address),
        trace_end=trace_block_end(head),
    )


MAX_NAME = 200


def _raw(message: Message, name: str) -> str | None:
    """A header's value with raw UTF-8 read as UTF-8 (SMTPUTF8 mail), not as "\ufffd"."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    return None


def _name(encoded: str, sender: str) -> str | None:
    """The From display name, decoded, one line, its controls made visible; None when there
    is none or it only repeats the address."""
    if not encoded:
        return None
    name = _subject(encoded)
    if not name or name.strip("'\"<> ").lower() == sender.lower():
        return None
    return name[: MAX_NAME - 1] + "…" if len(name) > MAX_NAME else name


def _subject(value: object) -> str | None:
    """Decoded, its whitespace runs one space, its control characters made visible (a NUL,
    raw or as ``=00``, would make the record fail on PostgreSQL: gateway.cleantext)."""
    if value is None:
        return None
    return visible(" ".join(decoded_header(str(value)[:MAX_SUBJECT]).split()))
