"""One normalisation step before detection: the typography real mail puts between digits.

Word and Outlook turn a typed hyphen into an en dash, HTML mail puts non-breaking spaces
between words, text pasted from PDFs and chats carries soft hyphens and zero-width
characters, phones and East Asian input methods write full-width digits, and HTML writes any
of them as entities (DOMAIN.md 1.5). Recognizers and context words are written for ASCII, so
every one of these is mapped to its plain form first: dashes to ``-``, spaces to `` ``,
invisible characters removed, every Unicode decimal digit to its ASCII digit, full-width
ASCII to ASCII, entities decoded. Offsets map back to the original text, so an --explain
listing points at the characters the sender wrote.

The common case costs one regex search: plain ASCII or text with none of these characters
comes back as it is.
"""

from __future__ import annotations

import html
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field

import regex

DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
SPACES = "\u00a0\u2007\u2009\u202f\u2002\u2003\u2004\u2005\u2006\u2008\u200a\u205f\u3000"
INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"

# One pass finds everything that may change: the listed characters, any non-ASCII decimal
# digit, the full-width ASCII block, and HTML entities (they survive in plain-text parts
# written by tools that converted HTML badly, and in subjects).
_SPECIAL = regex.compile(
    rf"[{DASHES}{SPACES}{INVISIBLE}]|(?=\d)[^0-9]|[\uff01-\uff5e]|{ENTITY}", regex.V1
)


def _plain(piece: str) -> str:
    if piece.startswith("&"):
        decoded = html.unescape(piece)
        if decoded == piece:
            return piece
        return "".join(_plain(ch) for ch in decoded)
    if piece in DASHES:
        return "-"
    if piece in SPACES:
        return " "
    if piece in INVISIBLE:
        return ""
    if "\uff01" <= piece <= "\uff5e":
        return chr(ord(piece) - 0xFEE0)
    value = unicodedata.decimal(piece, None)
    return str(value) if value is not None else piece


@dataclass(frozen=True)
class Normalised:
    """Normalised text and how to find an offset of it in the original."""

    text: str
    # Sorted break points: from normalised offset ``starts[i]`` on, add ``shifts[i]``.
    starts: list[int] = field(default_factory=list)
    shifts: list[int] = field(default_factory=list)

    def original(self, offset: int) -> int:
        i = bisect_right(self.starts, offset) - 1
        return offset + (self.shifts[i] if i >= 0 else 0)


def normalise(text: str) -> Normalised:
    """``text`` with typographic variants made plain; offsets map back with ``original``."""
    if text.isascii() and "&" not in text:
        return Normalised(text)
    first = _SPECIAL.search(text)
    if first is None:
        return Normalised(text)
    pieces: list[str] = []
    starts: list[int] = []
    shifts: list[int] = []
    done = 0  # original offset copied so far
    length = 0  # normalised length so far
    for match in _SPECIAL.finditer(text, first.start()):
        plain = _plain(match.group())
        if plain == match.group():
            continue
        pieces.append(text[done : match.start()])
        length += match.start() - done
        pieces.append(plain)
        # The replacement's characters map to the start of what they replace; what follows
        # maps past the end of it.
        starts.append(length)
        shifts.append(match.start() - length)
        length += len(plain)
        done = match.end()
        starts.append(length)
        shifts.append(done - length)
    if not pieces:
        return Normalised(text)
    pieces.append(text[done:])
    return Normalised("".join(pieces), starts, shifts)
