"""The text of a message's subject and its text/plain and text/html bodies.

The full extraction stage (real-type sniffing, attachments, archives, OCR) builds on this;
for now forwarded messages (message/rfc822) are followed, quoted reply lines ("> ") are kept
apart as location "quoted", and every decode falls back rather than fails: declared charset,
then UTF-8, then cp1252. The walk is iterative and bounded in parts and depth.
"""

from __future__ import annotations

import email
import html
from dataclasses import dataclass
from email import policy
from email.message import Message
from html.parser import HTMLParser

from gateway.extract.attachments import extract_attachment
from gateway.extract.ocr import OcrBudget
from gateway.model import TextChunk
from gateway.rawmail import decoded_header, header_block_end

MAX_PARTS = 1000
MAX_DEPTH = 32
MAX_PART_BYTES = 20 * 1024 * 1024


def decode_bytes(data: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


def header_text(value: object) -> str:
    return decoded_header(value)  # linear, never raises (gateway.rawmail)


class _HtmlText(HTMLParser):
    SKIP = {"script", "style", "head", "title"}
    BREAKS = {"br", "p", "div", "li", "tr", "td", "h1", "h2", "h3", "h4", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of HTML: no scripts, no styles, entities decoded, nothing fetched."""
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return html.unescape("".join(parser.parts))


def _split_quoted(text: str) -> tuple[str, str]:
    own, quoted = [], []
    for line in text.splitlines():
        (quoted if line.lstrip().startswith(">") else own).append(line)
    return "\n".join(own), "\n".join(line.lstrip().lstrip(">").lstrip() for line in quoted)


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
    raw: bytes, ocr: OcrBudget | None = None
) -> tuple[list[TextChunk], list[Gap]]:
    """The text, and what could not be read, where. Images are read only with an OCR
    budget."""
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except RecursionError:  # the stdlib parser recurses per nesting level
        headers = email.message_from_bytes(raw[: header_block_end(raw)], policy=policy.compat32)
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
        if part.is_multipart():
            children = part.get_payload()
            if depth >= MAX_DEPTH:
                gaps.append(Gap("message", "limit"))
            elif isinstance(children, list):
                inner = forwarded or part.get_content_type() == "message/rfc822"
                stack.extend((c, depth + 1, inner) for c in reversed(children))
            continue
        content_type = part.get_content_type()
        filename = part.get_filename()
        if content_type not in ("text/plain", "text/html"):
            if content_type not in _SIGNATURE_TYPES:
                data = part.get_payload(decode=True)
                name = header_text(filename) if filename else f"part-{parts}"
                where = f"attachment:{name}"
                if part.defects or (not data and str(part.get_payload()).strip()):
                    gaps.append(Gap(where, "malformed"))  # decoded as far as it goes
                if isinstance(data, bytes) and data:
                    found = extract_attachment(name, content_type, data[:MAX_PART_BYTES], ocr=ocr)
                    chunks.extend(found.chunks)
                    gaps.extend(Gap(where, reason) for reason in found.gaps)
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
        if content_type == "text/html":
            text = html_to_text(text)
        if filename:
            chunks.append(TextChunk(f"attachment:{header_text(filename)}", text))
        elif forwarded:
            chunks.append(TextChunk("forwarded", text))
        elif content_type == "text/html":
            chunks.append(TextChunk("html", text))
        else:
            own, quoted = _split_quoted(text)
            chunks.append(TextChunk("body", own))
            if quoted:
                chunks.append(TextChunk("quoted", quoted))
    return [c for c in chunks if c.text.strip()], list(dict.fromkeys(gaps))


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
