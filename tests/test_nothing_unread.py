"""Nothing unread is ever "complete" (issue 16), checked from the outside: for every message
of the project's corpora that extraction reports complete, every MIME leaf with content —
found by the email package's own walk, not by the extractor's — left evidence that it was
read: its text in a chunk, or a chunk under its attachment name. A leaf that left neither,
in a message with no gap, would be a silent miss."""

from __future__ import annotations

import base64
import html
import quopri
import re
from email.message import Message

import pytest

from gateway.extract.text import HEADER_TYPES, REPORT_TYPES, mail_text_and_located_gaps
from gateway.rawmail import parse_message
from gateway.security import classify
from tests import realworld
from tests.mailcorpus import corpus
from tests.test_corpus import CORPUS

SIGNATURES = {
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-keys",
    "application/pgp-encrypted",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
}


def corpora() -> list[tuple[str, bytes]]:
    mails = [(m.name, m.raw) for m in corpus()]
    mails += [(name, raw) for name, _, raw, _ in realworld.mails()]
    mails += [(name, raw) for name, raw, _, _ in realworld.decision_cases()]
    mails += [(p.name, p.read_bytes()) for p in sorted(CORPUS.iterdir()) if p.is_file()]
    return mails


_HIDDEN = re.compile(r"(?is)<(script|style|head|title)\b.*?</\1\s*>")
_TAGS = re.compile(r"<[^>]*>")
_WORDS = re.compile(r"[^\W_]{3,}")


def _squeeze(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum()).lower()


def _leaves(message: Message) -> list[Message]:
    """Leaf parts; a message/* part sent base64 or quoted-printable (allowed for
    message/global) is decoded and walked as the message it is."""
    out: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop()
        encoding = str(part.get("Content-Transfer-Encoding", "")).lower().strip()
        inner = part.get_payload()
        if part.get_content_maintype() == "message" and encoding in ("base64", "quoted-printable"):
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                data = inner[0].as_bytes()
                decode = base64.b64decode if encoding == "base64" else quopri.decodestring
                stack.append(parse_message(decode(data)))
            continue
        if part.is_multipart() and isinstance(inner, list):
            stack.extend(p for p in reversed(inner) if isinstance(p, Message))
            continue
        out.append(part)
    return out


def unread_leaves(raw: bytes) -> list[str]:
    """The leaves of a message that left no trace in what extraction read."""
    chunks, gaps = mail_text_and_located_gaps(raw)
    if gaps or classify(raw).encrypted:
        return []  # reported incomplete: nothing is claimed
    seen = _squeeze(" ".join(c.text for c in chunks))
    locations = {c.location for c in chunks}
    missing = []
    for part in _leaves(parse_message(raw)):
        kind = part.get_content_type()
        if kind in SIGNATURES or kind in HEADER_TYPES or kind in REPORT_TYPES:
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data.strip():
            continue
        name = part.get_filename()
        if name and any(loc.startswith(f"attachment:{name}") for loc in locations):
            continue
        text = data.decode(part.get_content_charset() or "utf-8", "replace")
        if kind == "text/html":  # the visible text, by a regex of our own, not the extractor
            text = html.unescape(_TAGS.sub(" ", _HIDDEN.sub(" ", text)))
        # Its first words, each found in what was read (tables are read row by row, with
        # headers before cells, so the order may differ).
        words = list(dict.fromkeys(w.lower() for w in _WORDS.findall(text)))[:8]
        if all(_squeeze(w) in seen for w in words):
            continue
        missing.append(f"{kind} {name or ''}".strip())
    return missing


@pytest.mark.parametrize("chunk", range(4))
def test_no_complete_message_has_an_unread_part(chunk):
    mails = corpora()[chunk::4]
    silent = {name: leaves for name, raw in mails if (leaves := unread_leaves(raw))}
    assert silent == {}


def test_the_check_sees_a_part_left_unread(monkeypatch):
    """The check itself: an extractor that silently drops the HTML part is caught."""
    from email.message import EmailMessage

    import tests.test_nothing_unread as check

    message = EmailMessage()
    message["Subject"] = "Hej"
    message.set_content("Almindelig tekst om boligstøtte.")
    message.add_alternative("<p>Helt anden tekst om sygedagpenge og diagnoser.</p>", "html")
    raw = message.as_bytes()
    assert unread_leaves(raw) == []
    real = check.mail_text_and_located_gaps

    def dropping(raw: bytes):
        chunks, gaps = real(raw)
        return [c for c in chunks if c.location != "html"], gaps

    monkeypatch.setattr(check, "mail_text_and_located_gaps", dropping)
    assert unread_leaves(raw) == ["text/html"]
