"""The data handed from stage to stage.

SMTP in → ``Received`` → inspection (``ParsedMail``, ``Inspection``) → relay → ``Outcome``.
Every type here is a plain frozen dataclass: no stage reaches into another's objects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.authentication import SenderAuth
    from gateway.decide.walk import Verdict
    from gateway.security import Protection


class Slot(enum.StrEnum):
    """Where Postvagt stands in the mail flow (shared/DESIGN.md, deployment slots)."""

    MX = "mx"
    BEFORE_QUEUE = "before-queue"
    AFTER_QUEUE = "after-queue"


@dataclass(frozen=True)
class TlsInfo:
    """The TLS facts of the inbound hop, as our own SMTP session saw them."""

    version: str
    cipher: str
    bits: int | None = None


@dataclass(frozen=True)
class Received:
    """One message as it arrived: envelope, raw bytes and facts about the session."""

    id: str
    received_at: datetime
    peer: str
    helo: str | None
    mail_from: str
    rcpt_tos: tuple[str, ...]
    group: str
    raw: bytes
    tls: TlsInfo | None = None
    smtputf8: bool = False
    inspect: bool = True
    """False for mail that passes untouched (outbound mail in the after-queue slot)."""


@dataclass(frozen=True)
class ParsedMail:
    """What the parser learnt about the message's headers."""

    message_id: str | None
    header_count: int
    defects: tuple[str, ...] = ()
    subject: str | None = None
    """Decoded. Never stored or logged as such: it may carry a CPR number or a diagnosis."""
    from_address: str | None = None


class Unscanned(enum.StrEnum):
    """Why (part of) a message could not be inspected. Values appear in X-Postvagt-Scan."""

    INTERNAL_ERROR = "internal-error"
    TIMEOUT = "timeout"
    TOO_LARGE = "too-large"
    ENCRYPTED = "encrypted"
    UNSUPPORTED_ATTACHMENT = "unsupported-attachment"
    LIMIT = "limit"
    MALFORMED = "malformed"
    OCR_NEEDED = "ocr-needed"
    OCR_BUDGET = "ocr-budget"
    EMBEDDED_IMAGE_NOT_READ = "embedded-image-not-read"


@dataclass(frozen=True)
class Inspection:
    """The facts the inspection stages gathered about one message."""

    parsed: ParsedMail | None = None
    unscanned: tuple[Unscanned, ...] = ()
    findings: tuple[Finding, ...] = ()
    protection: Protection | None = None
    sender: SenderAuth | None = None
    verdict: Verdict | None = None

    @property
    def complete(self) -> bool:
        return not self.unscanned

    def with_unscanned(self, reason: Unscanned) -> Inspection:
        if reason in self.unscanned:
            return self
        return replace(self, unscanned=(*self.unscanned, reason))


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: a code and its text (text may hold several lines)."""

    code: int
    text: str

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 300

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        if self.text.isprintable() and len(self.text) <= 500:
            return f"{self.code} {self.text}".rstrip()
        lines = [_printable(line) for line in self.text.splitlines()] or [""]
        head = [f"{self.code}-{line}" for line in lines[:-1]]
        return "\r\n".join([*head, f"{self.code} {lines[-1]}".rstrip()])


def _printable(line: str) -> str:
    # Upstream text is relayed to the client: keep it to one printable line each.
    return "".join(ch if ch.isprintable() else " " for ch in line)[:500]


TEMPFAIL = Reply(451, "4.3.0 Temporary failure, please try again later")
"""Our one answer for transient failures of ours: no internal details, the sender retries."""


@dataclass(frozen=True)
class Outcome:
    """What became of a message, and the reply the client gets."""

    reply: Reply
    delivered: bool
    inspection: Inspection = field(default_factory=Inspection)


@dataclass(frozen=True)
class TextChunk:
    """Text taken from one place of a message (subject, body, html, forwarded, quoted,
    attachment:<name>)."""

    location: str
    text: str


@dataclass(frozen=True)
class Finding:
    """Personal data found: its type, where, how sure, by which recognizer, and a masked
    form only. The matched value itself never leaves the detector."""

    entity: str
    location: str
    score: float
    recognizer: str
    masked: str | None
