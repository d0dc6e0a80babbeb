"""Reading one message: its protection layers, its text, the personal data in that text,
and what could not be read, where. The one function that does it, for the gateway's reader
processes (gateway.reader_pool) and ``postvagt scan`` alike, so both report the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from gateway.detect.analyzer import Candidate, Detector
from gateway.extract.ocr import OcrBudget
from gateway.extract.text import Gap, mail_text_and_located_gaps
from gateway.model import Finding, Protection, TextChunk
from gateway.rawmail import parse_message
from gateway.security import TrustConfig, classify

OCR_SECONDS = 20.0
"""OCR time one message may use (Tesseract needs ~8 s for a dense A4 page here)."""


@dataclass(frozen=True)
class Reading:
    protection: Protection
    findings: list[Finding]
    below: list[Candidate]
    """Candidates under the threshold (``postvagt scan --explain`` shows them)."""
    gaps: list[Gap]
    incomplete: list[str]
    """What the detector itself did not finish (too long, out of time)."""
    notes: tuple[str, ...] = ()
    """What extraction passed over on purpose (images too small to hold text)."""

    @property
    def reasons(self) -> list[str]:
        """Every reason the message was not read whole, once each, in order found."""
        return list(dict.fromkeys([*(g.reason for g in self.gaps), *self.incomplete]))


def read_message(detector: Detector, raw: bytes, trust: TrustConfig, deadline: float) -> Reading:
    """``deadline``: time.monotonic() by which the detector stops (the rest is incomplete)."""
    parsed = parsed_once(raw)
    protection = classify(raw, trust, parsed)
    notes: list[str] = []
    chunks, gaps = message_chunks(raw, protection, notes, parsed)
    findings, below, incomplete = detector.detect(chunks, deadline)
    return Reading(protection, findings, below, gaps, incomplete, tuple(notes))


def message_chunks(
    raw: bytes,
    protection: Protection,
    notes: list[str] | None = None,
    parsed: Message | None = None,
) -> tuple[list[TextChunk], list[Gap]]:
    """The text to scan — the message's own, plus what opaque S/MIME signatures wrap — and
    what could not be read, where. ``notes`` collects what was skipped on purpose."""
    budget = OcrBudget(OCR_SECONDS)
    chunks, gaps = mail_text_and_located_gaps(raw, budget, notes=notes, parsed=parsed)
    for content in protection.unwrapped:
        inner, inner_gaps = mail_text_and_located_gaps(content, budget, notes=notes)
        chunks.extend(c for c in inner if c.location != "subject")
        gaps.extend(g for g in inner_gaps if g not in gaps)
    return chunks, gaps


def parsed_once(raw: bytes) -> Message | None:
    """The message parsed for both protection and text, or None where the stdlib parser
    gives up (each then takes its own careful path)."""
    try:
        return parse_message(raw)
    except RecursionError:
        return None
