"""What the sender wrote, and what they quoted or forwarded from someone else.

Mail programs mark quoted and forwarded text in several shapes: ``>`` before each line
(RFC 3676 style), a separator line (Outlook's ``-----Original Message-----`` and
``-----Oprindelig meddelelse-----``, Gmail's ``---------- Forwarded message ---------``,
Apple Mail's ``Begin forwarded message:``), or — Outlook's default for replies and forwards —
a block of header lines (``Fra:``/``From:`` followed by ``Sendt:``/``Sent:``/``Date:``).
Everything from the first such marker on is someone else's text. It is still read and
detected; it only is not the sender's own (a CVR number there does not make the sender a
business).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FORWARD_LINE = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:forwarded message|videresendt (?:meddelelse|besked|e-?mail)"
    r"|weitergeleitete nachricht|message transféré|vidarebefordrat meddelande)[ \t]*-{2,}"
    r"|(?:begin forwarded message|start på videresendt (?:meddelelse|besked)"
    r"|videresendt (?:meddelelse|besked|e-?mail)|forwarded message):?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_ORIGINAL_LINE = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|oprindelig meddelelse|original meddelelse"
    r"|originalmeddelelse|oprindelig besked|ursprüngliche nachricht|message d'origine"
    r"|ursprungligt meddelande)[ \t]*-{2,}[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# Outlook's header block: a From line followed within two lines by a Sent/Date line.
_HEADER_BLOCK = re.compile(
    r"^[ \t]*\*?(?:fra|from|von|de|från)\*?:[ \t]*\S.*\n(?:.*\n){0,2}?"
    r"[ \t]*\*?(?:sendt|sent|date|dato|gesendt|datum|envoyé|skickat)\*?:[ \t]*\S.*$",
    re.IGNORECASE | re.MULTILINE,
)
_FORWARD_SUBJECT = re.compile(
    r"^[ \t]*\*?(?:emne|subject|betreff|objet|ämne)\*?:[ \t]*(?:fwd?|vs|wg|tr|vb)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
_WROTE = re.compile(
    r"^[ \t]*(?:on|den|am|le|den)\b.{0,200}\b(?:wrote|skrev|schrieb|a écrit)[ \t]*:[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Split:
    own: str
    quoted: str
    forwarded: str


def split_quoted(text: str) -> Split:
    """The sender's own text, the ``>``-quoted lines and marked replies, and forwarded
    text."""
    own_lines, quoted_lines = [], []
    for line in text.splitlines():
        if line.lstrip().startswith(">"):
            quoted_lines.append(line.lstrip().lstrip(">").lstrip())
        else:
            own_lines.append(line)
    own = "\n".join(own_lines)
    quoted, forwarded = "\n".join(quoted_lines), ""
    marker = _first_marker(own)
    if marker is not None:
        start, kind = marker
        own, rest = own[:start], own[start:]
        if kind == "forwarded":
            forwarded = rest
        else:
            quoted = f"{rest}\n{quoted}" if quoted else rest
    return Split(own, quoted, forwarded)


def _first_marker(text: str) -> tuple[int, str] | None:
    found: list[tuple[int, str]] = []
    if match := _FORWARD_LINE.search(text):
        found.append((match.start(), "forwarded"))
    if match := _ORIGINAL_LINE.search(text):
        found.append((match.start(), "quoted"))
    if match := _HEADER_BLOCK.search(text):
        block = text[match.start() : match.start() + 600]
        found.append((match.start(), "forwarded" if _FORWARD_SUBJECT.search(block) else "quoted"))
    if match := _WROTE.search(text):
        found.append((match.start(), "quoted"))
    return min(found) if found else None
