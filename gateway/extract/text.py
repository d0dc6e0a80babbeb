"""The text of every part of a message: subject, text/plain and text/html bodies, forwarded
messages (``message/rfc822`` and ``message/global``, their subjects included), the headers and
reports of bounces (``text/rfc822-headers``, ``message/rfc822-headers``,
``message/delivery-status``), and attachments by their real type (gateway.extract.attachments).

Quoted and forwarded text inside a body is kept apart as location "quoted" or "forwarded"
(gateway.extract.quoting). Every decode falls back rather than fails, UTF-16/32 included
(gateway.extract.charset). The walk is iterative and bounded in parts and depth.
"""

from __future__ import annotations

import base64
import binascii
import email
import quopri
from dataclasses import dataclass
from email import policy
from email.message import Message

from gateway.cleantext import visible
from gateway.extract.attachments import DEFAULT_LIMITS, Extracted, read_attachment
from gateway.extract.charset import decode_text
from gateway.extract.html import html_parts, html_to_text
from gateway.extract.limits import Limits
from gateway.extract.ocr import OcrBudget
from gateway.extract.quoting import split_quoted
from gateway.model import TextChunk
from gateway.rawmail import decoded_header, header_block_end, parse_message

MAX_PARTS = 1000
MAX_DEPTH = 32
MAX_PART_BYTES = 20 * 1024 * 1024


def decode_bytes(data: bytes, charset: str | None) -> str:
    return decode_text(data, charset)


def header_text(value: object) -> str:
    return decoded_header(value)  # linear, never raises (gateway.rawmail)


def mail_text(raw: bytes) -> list[TextChunk]:
    return mail_text_and_gaps(raw)[0]


def mail_text_and_gaps(
    raw: bytes, ocr: OcrBudget | None = None
) -> tuple[list[TextChunk], list[str]]:
    """The text, and the reasons some of it could not be read (for "unscanned")."""
    chunks, gaps = mail_text_and_located_gaps(raw, ocr)
    return chunks, sorted({gap.reason for gap in gaps})


@dataclass(frozen=True)
class Gap:
    """A place in the message that could not be read, and why."""

    location: str
    reason: str


def mail_text_and_located_gaps(
    raw: bytes,
    ocr: OcrBudget | None = None,
    depth: int = 0,
    notes: list[str] | None = None,
    parsed: Message | None = None,
) -> tuple[list[TextChunk], list[Gap]]:
    """The text, and what could not be read, where. Images are read only with an OCR
    budget. ``depth``: how deep in archives this mail sits (a mail in a tarball).
    ``notes``, when given, collects what was passed over on purpose (for --explain).
    ``parsed``: the message already parsed from ``raw``, so it is parsed once."""
    try:
        message = parsed if parsed is not None else parse_message(raw)
    except RecursionError:  # the stdlib parser recurses per nesting level
        headers = parse_message(raw[: header_block_end(raw)])
        subject = TextChunk("subject", header_text(headers.get("Subject")))
        return [c for c in (subject,) if c.text.strip()], [Gap("message", "limit")]
    chunks = [TextChunk("subject", header_text(message.get("Subject")))]
    gaps: list[Gap] = []
    stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
    parts = 0
    while stack:
        if parts >= MAX_PARTS:
            gaps.append(Gap("message", "limit"))  # more parts than we read
            break
        part, depth, forwarded = stack.pop()
        parts += 1
        content_type = part.get_content_type()
        if content_type in HEADER_TYPES or content_type in REPORT_TYPES:
            chunks.extend(_header_blocks(part, content_type))
            continue
        if part.is_multipart():
            children = part.get_payload()
            if depth >= MAX_DEPTH:
                gaps.append(Gap("message", "limit"))
            elif isinstance(children, list):
                inner = forwarded or part.get_content_maintype() == "message"
                if part.get_content_maintype() == "message":
                    children = _encoded_message(part) or children
                    chunks.extend(_forwarded_headers(c) for c in children)
                stack.extend(
                    (c, depth + 1, inner) for c in reversed(children) if isinstance(c, Message)
                )
            continue
        filename = part.get_filename()
        if content_type not in ("text/plain", "text/html"):
            if content_type not in _SIGNATURE_TYPES:
                data = part.get_payload(decode=True)
                name = header_text(filename) if filename else f"part-{parts}"
                where = f"attachment:{name}"
                if part.defects or (not data and str(part.get_payload()).strip()):
                    gaps.append(Gap(where, "malformed"))  # decoded as far as it goes
                if isinstance(data, bytes) and data:
                    found = extract_attachment(
                        name, content_type, data[:MAX_PART_BYTES], depth=depth, ocr=ocr
                    )
                    chunks.extend(found.chunks)
                    gaps.extend(Gap(where, reason) for reason in found.gaps)
                    if notes is not None:
                        notes.extend(found.notes)
                    if len(data) > MAX_PART_BYTES:
                        gaps.append(Gap(where, "too-large"))
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if len(payload) > MAX_PART_BYTES:
            gaps.append(
                Gap(f"attachment:{header_text(filename)}" if filename else "body", "too-large")
            )
        text = decode_bytes(payload[:MAX_PART_BYTES], part.get_content_charset())
        if filename:
            text = html_to_text(text) if content_type == "text/html" else text
            chunks.append(TextChunk(f"attachment:{header_text(filename)}", text))
        elif forwarded:
            text = html_to_text(text) if content_type == "text/html" else text
            chunks.append(TextChunk("forwarded", text))
        else:
            chunks.extend(_body_chunks(text, content_type))
    return _named(_without_copies(chunks)), list(dict.fromkeys(_named_gaps(gaps)))


def extract_attachment(
    name: str,
    declared: str,
    data: bytes,
    limits: Limits = DEFAULT_LIMITS,
    depth: int = 0,
    ocr: OcrBudget | None = None,
) -> Extracted:
    """An attachment's text by its real type (gateway.extract.attachments), a mail inside it
    read as a mail, here. ``ocr``: the message's OCR budget; None reads no images
    (reported "ocr-needed")."""
    return read_attachment(name, declared, data, limits, depth, ocr, mail_text_and_located_gaps)


def _named(chunks: list[TextChunk]) -> list[TextChunk]:
    """The locations name the sender's file and archive member names: with their control
    characters made visible (gateway.cleantext), as findings, records and the staff page
    show them. The text itself is left as read, for the detector."""
    return [TextChunk(visible(c.location), c.text) for c in chunks]


def _named_gaps(gaps: list[Gap]) -> list[Gap]:
    return [Gap(visible(g.location), g.reason) for g in gaps]


def _without_copies(chunks: list[TextChunk]) -> list[TextChunk]:
    """Chunks with text, less an HTML body that says word for word what a plain body says
    (multipart/alternative as Outlook writes it): detecting it again finds the same things
    and costs as much again. An HTML body with anything more is kept whole."""
    plain = {" ".join(c.text.split()) for c in chunks if c.location == "body"}
    return [
        c
        for c in chunks
        if c.text.strip() and not (c.location == "html" and " ".join(c.text.split()) in plain)
    ]


def _body_chunks(text: str, content_type: str) -> list[TextChunk]:
    """A body's own text, and what it quotes or forwards, each under its own location."""
    blockquoted = ""
    if content_type == "text/html":
        text, blockquoted = html_parts(text)
    split = split_quoted(text)
    quoted = "\n".join(q for q in (split.quoted, blockquoted) if q.strip())
    return [
        TextChunk("html" if content_type == "text/html" else "body", split.own),
        TextChunk("quoted", quoted),
        TextChunk("forwarded", split.forwarded),
    ]


def _encoded_message(part: Message) -> list[Message] | None:
    """A message/global (RFC 6532 allows base64 and quoted-printable for it, and senders
    use them for message/rfc822 too) decoded and parsed: the parser took the encoded text
    for the message itself."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return None
    children = part.get_payload()
    if not isinstance(children, list) or len(children) != 1:
        return None
    encoded = children[0].as_bytes() if isinstance(children[0], Message) else b""
    try:
        data = (
            base64.b64decode(encoded, validate=False)
            if encoding == "base64"
            else quopri.decodestring(encoded)
        )
        return [parse_message(data)]
    except (ValueError, binascii.Error, RecursionError):
        return None


# Headers a person writes, read in forwarded messages and bounced headers. The others carry
# machine identifiers (Message-ID, Received, DKIM signatures) that only look like numbers.
HUMAN_HEADERS = ("Subject", "Comments", "Keywords", "Thread-Topic")
# Parts that are header blocks: the bounced original's headers, and delivery reports.
HEADER_TYPES = frozenset(
    {"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"}
)
REPORT_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})


def _forwarded_headers(message: object) -> TextChunk:
    if not isinstance(message, Message):
        return TextChunk("forwarded", "")
    lines = [
        f"{name}: {header_text(value)}"
        for name in HUMAN_HEADERS
        for value in message.get_all(name, [])
    ]
    return TextChunk("forwarded", "\n".join(lines))


def _header_blocks(part: Message, content_type: str) -> list[TextChunk]:
    """A bounce's header blocks, whatever shape the parser gave them: a text payload (the
    text/* types), or parsed header blocks (the message/* types)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [m for m in payload if isinstance(m, Message)]
        if content_type in HEADER_TYPES:
            return [_forwarded_headers(m) for m in blocks]
        fields = [f"{k}: {header_text(v)}" for m in blocks for k, v in m.items()]
        return [TextChunk("body", "\n".join(fields))]
    data = part.get_payload(decode=True)
    text = decode_bytes(data, part.get_content_charset()) if isinstance(data, bytes) else ""
    headers = email.message_from_string(text.lstrip() + "\n\n", policy=policy.compat32)
    if content_type in HEADER_TYPES:
        return [_forwarded_headers(headers)]
    return [TextChunk("body", "\n".join(f"{k}: {header_text(v)}" for k, v in headers.items()))]


# Signatures and keys are protection facts (gateway.security), not unread content.
_SIGNATURE_TYPES = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-keys",
        "application/pgp-encrypted",
        "application/pkcs7-mime",
        "application/x-pkcs7-mime",
    }
)
