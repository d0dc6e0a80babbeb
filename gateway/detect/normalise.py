"""One normalisation step before detection: the typography real mail puts between digits.

Word and Outlook turn a typed hyphen into an en dash, HTML mail puts non-breaking spaces
between words, text pasted from PDFs and chats carries soft hyphens and zero-width
characters, phones and East Asian input methods write full-width digits, and HTML writes any
of them as entities (DOMAIN.md 1.5). Recognizers and context words are written for ASCII, so
every one of these is mapped to its plain form first: dashes to ``-``, spaces to `` ``,
invisible characters removed, every Unicode decimal digit to its ASCII digit, full-width
ASCII to ASCII, entities decoded. Offsets map back to the original text, so an --explain
listing points at the characters the sender wrote.

Plain ASCII costs nothing; other text one regex scan that stops only at characters beyond
Latin-1, no-break spaces, soft hyphens and ampersands.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field

DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
SPACES = "\u00a0\u2007\u2009\u202f\u2002\u2003\u2004\u2005\u2006\u2008\u200a\u205f\u3000"
INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"


def _one_to_one() -> dict[int, str]:
    table = {ord(c): "-" for c in DASHES} | {ord(c): " " for c in SPACES}
    table |= {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
    for code in range(0x80, 0x110000):
        value = unicodedata.decimal(chr(code), None)
        if value is not None:
            table[code] = str(value)
    return table


_SAME_LENGTH = _one_to_one()
# Where a change may be: a character beyond Latin-1 (dashes, odd spaces, zero-width
# characters, other digits), the no-break space and soft hyphen, or an entity. Danish text
# is mostly Latin-1, so this one simple class skips nearly every character at C speed; a big
# class of every listed character, or str.translate, costs ten times more (bench/detect.py).
_CANDIDATE = re.compile(r"[^\x00-\x9f\xa1-\xac\xae-\xff]|&(?=[#A-Za-z])")
_ENTITY = re.compile(ENTITY)


def _plain(piece: str) -> str:
    if piece.startswith("&"):
        decoded = html.unescape(piece)
        if decoded == piece:
            return piece
        return "".join(_plain(ch) for ch in decoded)
    if piece in INVISIBLE:
        return ""
    return piece.translate(_SAME_LENGTH)


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
    first = _CANDIDATE.search(text)
    if first is None:
        return Normalised(text)
    pieces: list[str] = []
    starts: list[int] = []
    shifts: list[int] = []
    done = 0  # original offset copied so far
    length = 0  # normalised length so far
    for candidate in _CANDIDATE.finditer(text, first.start()):
        if candidate.start() < done:
            continue  # inside an entity already replaced
        match = _ENTITY.match(text, candidate.start()) if candidate.group() == "&" else candidate
        if match is None:
            continue
        found = match.group()
        plain = _SAME_LENGTH.get(ord(found), found) if len(found) == 1 else _plain(found)
        if plain == found:
            if found not in INVISIBLE:
                continue
            plain = ""
        pieces.append(text[done : match.start()])
        length += match.start() - done
        pieces.append(plain)
        done = match.end()
        if len(plain) == len(found):
            length += len(plain)
            continue  # one character for one: offsets unchanged
        # The replacement's characters map to the start of what they replace; what follows
        # maps past the end of it.
        starts.append(length)
        shifts.append(match.start() - length)
        length += len(plain)
        starts.append(length)
        shifts.append(done - length)
    if not pieces:
        return Normalised(text)
    pieces.append(text[done:])
    return Normalised("".join(pieces), starts, shifts)
