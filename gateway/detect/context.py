"""Context words found once per text instead of once per candidate.

The detector asks, for each candidate number, whether a context word of its recognizer
stands in the 300 characters before it (or the 60 after), and which one comes first: a
regex search of each window, which in a list of 300 people reads each stretch of text a
dozen times. Here each word's first stretch before a space (``cpr`` of ``cpr nummer``) is
looked up once in the lower-cased text (``str.find``, at C speed) and the positions kept in
order; a window's answer is the first of those positions inside it (bisect) where the word
regex itself matches, tried with the window's end as the end of the text and, at the
window's first character, on the window's own text: the same match as a search of the
window (tests/test_detect_fastpath.py compares them on every corpus).

A position can only start a match if the lower-cased text holds a word's first stretch
there. That holds when ``str.lower`` maps every character as the regex's case-insensitive
match does; for the few characters where it does not (the Kelvin sign, the long s), and for
text whose length lower-casing changes, there is no index and windows are searched as before.
"""

from __future__ import annotations

import functools
import sys
from bisect import bisect_left
from collections.abc import Iterable

import regex


def heads(words: Iterable[str]) -> tuple[str, ...] | None:
    """Each lower-cased word's stretch before its first space; None if one has none."""
    found = {w.lower().split(" ")[0] for w in words}
    return None if "" in found else tuple(sorted(found))


@functools.cache
def _every_character() -> str:
    return "".join(map(chr, range(sys.maxunicode + 1)))


@functools.cache
def unlike_lower(character: str) -> str:
    """The characters the regex's case-insensitive match takes for ``character`` while
    ``str.lower`` maps them to something else (``ſ`` for ``s``), once per worker."""
    same = regex.compile("(?i)" + regex.escape(character))
    return "".join(c for c in same.findall(_every_character()) if c.lower() != character)


@functools.cache
def _odd(starts: tuple[str, ...]) -> str:
    return "".join(unlike_lower(c) for c in sorted(set("".join(starts))))


class TextIndex:
    """Where the words of any recognizer may start in one text, found on first need."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._found: dict[str, list[int]] = {}
        self._merged: dict[tuple[str, ...], list[int] | None] = {}

    @functools.cached_property
    def lower(self) -> str:
        """Lower-cased on first need: most texts have too few candidates for a look-up."""
        return self.text.lower()

    def positions(self, starts: tuple[str, ...]) -> list[int] | None:
        """Sorted positions where one of ``starts`` begins, or None where the lower-cased
        text cannot stand for the text (then search the windows themselves)."""
        if starts in self._merged:
            return self._merged[starts]
        merged: list[int] | None = None
        if len(self.lower) == len(self.text) and not any(c in self.text for c in _odd(starts)):
            found = set()
            for start in starts:
                found.update(self._find(start))
            merged = sorted(found)
        self._merged[starts] = merged
        return merged

    def _find(self, start: str) -> list[int]:
        if start not in self._found:
            found, find = [], self.lower.find
            at = find(start)
            while at >= 0:
                found.append(at)
                at = find(start, at + 1)
            self._found[start] = found
        return self._found[start]


def first_match(
    words: regex.Pattern[str], text: str, positions: list[int], start: int, end: int
) -> str | None:
    """``words.search(text[start:end])``'s match, found at the ``positions`` where one of
    the words' first stretches begins."""
    i = bisect_left(positions, start)
    while i < len(positions) and positions[i] < end:
        at = positions[i]
        if at == start and start > 0:  # the window's own text: no character before it
            found = words.match(text[start:end])
        else:
            found = words.match(text, at, end)
        if found:
            return found.group()
        i += 1
    return None
