"""The data handed from stage to stage, and the contracts between them.

SMTP in → ``Received`` → inspection (``ParsedMail``, ``Inspection``) → relay → ``Outcome``.
Every type here is a plain frozen dataclass (the next hop's contract an abstract class): no
stage reaches into another's objects. This module imports nothing of Postvagt's, so every
stage and the store can depend on it (tests/test_layers.py keeps it so).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol


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
    from_name: str | None = None
    """The From header's display name, decoded and cleaned (gateway.cleantext): what staff
    know a sender by. Kept only for flagged mail (gateway.act.journal)."""
    trace_end: int = 0
    """Offset of the first header field below the trace fields (``Received`` …) that the
    hops put on top: the message from there on is the same on every try of the sender."""


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


# -- facts the inspection stages hand on (security, authentication, decide) ---------------


@dataclass(frozen=True)
class Layer:
    """One protection layer (S/MIME or PGP, signed or encrypted) and, for a signature, what
    checking it against the bytes of its own part said (security.classify)."""

    kind: str
    part: str  # MIME path, "" for the message itself, "1.2" for a nested part
    signature_valid: bool | None = None
    signer_trusted: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class Protection:
    """Every protection layer of a message: signed and encrypted, and whether all signatures
    verified (``None``: none could be checked)."""

    signed: bool = False
    encrypted: bool = False
    signature_valid: bool | None = None
    signer_trusted: bool | None = None
    layers: tuple[Layer, ...] = ()
    uninspected: tuple[str, ...] = ()
    unwrapped: tuple[bytes, ...] = field(default=(), repr=False)
    """Signed content taken out of opaque S/MIME blobs: to be scanned like the body."""


@dataclass(frozen=True)
class SenderAuth:
    """SPF, DKIM and DMARC for the sender, checked by us or taken from trusted headers."""

    source: str  # "session" (our own SMTP session), "trusted-headers", "assumed" or "none"
    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None
    aligned_pass: bool | None = None
    tls_version: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What the policy decided (decide.walk), and why: reasons name entity types and counts,
    never values."""

    action: str = "deliver"
    reply: bool = False
    portal: str | None = None
    journal: bool = False
    rule: str = "none"
    reasons: tuple[str, ...] = ()
    mode: str = "enforce"
    would: str | None = None  # monitor mode: the action that would have been taken
    tags: tuple[tuple[str, str], ...] = ()
    reject_text: str = ""
    copy_to: str | None = None
    mailbox: str = "default"
    journal_entities: tuple[str, ...] = ()
    steps: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Robot:
    """The signal that shows a message was written by a program (gateway.decide.robots):
    ``kind`` is its class (a word, for tables and counts), ``reason`` the text shown in
    ``postvagt scan --explain``, the record and the log."""

    kind: str
    reason: str


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
    about: str = ""
    """A category's person: writer, relative, named, identifier, third person (about.py)."""
    keyed: str | None = field(default=None, compare=False, repr=False)
    """CPR and CVR numbers: the keyed hash of the whole number (gateway.detect.keyed), so
    a typed number can be matched against it; None where no key was given (``scan``)."""


# -- what act/ and the store hand each other --------------------------------------------


@dataclass(frozen=True)
class ReviewFacts:
    """What the flagged-mail log keeps for the staff who journal the mail (act.journal):
    never the subject itself."""

    journal_state: str | None = None  # "open" when the mail is flagged for staff
    case_hint: str | None = None
    subject_masked: str | None = None
    sender_name: str | None = None


@dataclass(frozen=True)
class ReplyPlan:
    """A wanted reply, or why none goes out; settled by the store once the original is
    accepted (gateway.store.replies)."""

    recipient: str
    mailbox: str
    suppressed: str | None
    envelope_from: str = ""
    payload: bytes = b""
    period: timedelta = timedelta(days=7)
    hourly_cap: int = 200


# -- what the staff page's preview shows of a held mail (gateway.reader_pool) -------------

Piece = tuple[str, str | None]
"""A stretch of previewed text: (text, None), or (masked form, entity type) for a finding."""


@dataclass(frozen=True)
class AttachmentFacts:
    """An attachment as staff see it before they open anything: the name the sender gave
    it, its control characters made visible (gateway.cleantext); the type its bytes show,
    whatever its name and header say; and its decoded size."""

    name: str
    sniffed: str
    declared: str
    size: int


@dataclass(frozen=True)
class Preview:
    """A held mail's text, masked, as (location, pieces) per place; and its attachments."""

    chunks: list[tuple[str, list[Piece]]]
    attachments: tuple[AttachmentFacts, ...] = ()


# -- the contract between the SMTP front and the next hop (gateway.nexthop) ----------


@dataclass(frozen=True)
class DsnRequest:
    """What the client asked of delivery reports (RFC 3461), as it wrote it: ``notify`` and
    ``orcpt`` come with a recipient, ``ret`` and ``envid`` with the sender."""

    notify: tuple[str, ...] = ()
    orcpt: str | None = None
    ret: str | None = None
    envid: str | None = None

    def mail_options(self) -> list[str]:
        return [f"{k}={v}" for k, v in (("RET", self.ret), ("ENVID", self.envid)) if v]

    def rcpt_options(self) -> list[str]:
        options = [f"NOTIFY={','.join(self.notify)}"] if self.notify else []
        return options + ([f"ORCPT={self.orcpt}"] if self.orcpt else [])


NOTIFY_NEVER = DsnRequest(notify=("NEVER",))
"""For mail Postvagt sends itself (replies, digests): no delivery reports, where offered."""


class Transaction(abc.ABC):
    """One SMTP transaction with the next hop, opened at MAIL FROM. A hop never raises for a
    refusal or an outage: it returns the ``Reply`` the client should get (its own 4xx/5xx,
    or our 451 when it cannot be reached)."""

    @abc.abstractmethod
    async def mail(
        self, sender: str, options: list[str], smtputf8: bool, *, dsn: DsnRequest | None = None
    ) -> Reply:
        """``dsn``: RET/ENVID to pass on where the hop offers DSN (RFC 3461)."""

    @abc.abstractmethod
    async def rcpt(self, recipient: str, smtputf8: bool, *, dsn: DsnRequest | None = None) -> Reply:
        """``dsn``: NOTIFY/ORCPT to pass on where the hop offers DSN (RFC 3461)."""

    @abc.abstractmethod
    async def data(self, message: bytes, timeout: float) -> Reply:
        """Send the message; the reply is the next hop's final answer (or our 451)."""

    @abc.abstractmethod
    async def release(self) -> None:
        """End the transaction (RSET if it is still open) and give the connection back."""

    async def park(self) -> None:  # noqa: B027 (optional: most hops have nothing to park)
        """The client is still sending slowly: give the next hop's connection back for now
        (``data`` takes it up again). A hop without connections has nothing to give."""

    relayed_dsn: Sequence[tuple[str, DsnRequest]] = ()
    """Recipients whose client asked NOTIFY=SUCCESS of a hop that offers no DSN: they are
    owed a "relayed" report once the hop accepted the message (RFC 3461 section 5.2.2)."""

    mail_dsn: DsnRequest | None = None
    """RET/ENVID as the client gave them at MAIL."""

    hop_name: str = "localhost"
    """The next hop, as a relayed report names it."""

    tls_version: str | None = None
    """The TLS version of the connection to the hop, None in cleartext (or no network)."""


class NextHop(Protocol):
    """Whatever receives the mail next (gateway.nexthop); the SMTP front works in
    lock-step with it, as Postfix's before-queue proxy does."""

    async def begin(self) -> Transaction: ...

    async def close(self) -> None: ...
