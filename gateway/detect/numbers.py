"""Every number pattern in one pass over the text.

Most of the recognizers' patterns start with a digit that no digit may precede
(``(?<![\\d+])\\d{6}-\\d{4}…``): such a match can only begin where a run of digits begins,
and the run's length is fixed by the pattern (six for ``\\d{6}-``, six or ten for
``[6-9]\\d{5}[ /.\\t]?\\d{4}(?!\\d)``). So the text is read once for its runs of digits,
and at each run only the patterns whose first run has that length are tried, anchored
(``.match`` at the run's start: a failed try costs a fraction of a microsecond). Scanning
the text once per pattern read a 200 KB letter eighteen times over.

The lengths are read from each pattern's own parse tree, not declared beside it, so a
pattern added to a recognizer cannot be skipped by a stale table. A pattern whose shape
this reading does not know (a literal prefix such as ``DK`` or ``+45``, a label, a group,
a run of unbounded length) is searched over the text as before, around its digits.
tests/test_detect_fastpath.py compares both ways on every corpus.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import regex
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

from gateway.detect.recognizers.base import (
    DanishPatternRecognizer,
    ScanIncomplete,
    compiled,
    pattern_result,
    run_pattern,
)

RUN = regex.compile(r"\d+")
"""A run of digits, as the patterns' own ``\\d`` sees digits (any decimal digit)."""

LONGEST_RUN = 32
"""First runs longer than this are not tabled: such a pattern is searched instead."""

DEADLINE_EVERY = 512
"""Runs between two looks at the clock."""

TRIES_KEPT = 4096
"""(run length, next character) pairs whose patterns a detector remembers."""


def _digit(code: int) -> bool:
    """Whether the patterns' own ``\\d`` (the regex module's, whose Unicode tables may be
    newer than Python's) takes this character for a digit."""
    return RUN.fullmatch(chr(code)) is not None


def _is_digit_class(op: object, av: object) -> bool:
    """An item that matches one digit and nothing else."""
    if op is sre.LITERAL:
        return _digit(av)  # type: ignore[arg-type]
    if op is not sre.IN:
        return False
    for kind, value in av:  # type: ignore[attr-defined]
        if kind is sre.CATEGORY and value is sre.CATEGORY_DIGIT:
            continue
        if kind is sre.LITERAL and _digit(value):
            continue
        if kind is sre.RANGE and all(map(_digit, range(value[0], value[1] + 1))):
            continue
        return False  # a negated set among them, a letter …
    return True


def _is_non_digit_class(op: object, av: object) -> bool:
    """An item that matches one character and never a digit."""
    if op is sre.LITERAL:
        return not _digit(av)  # type: ignore[arg-type]
    if op is not sre.IN:
        return False
    for kind, value in av:  # type: ignore[attr-defined]
        if kind is sre.LITERAL and not _digit(value):
            continue
        if kind is sre.CATEGORY and value is sre.CATEGORY_SPACE:
            continue
        if kind is sre.RANGE and value[1] - value[0] < 0x10000:
            if not any(map(_digit, range(value[0], value[1] + 1))):
                continue
        return False  # a negated set, \w, \D …: it might match a digit
    return True


def _excludes_digit(items: Sequence[tuple[object, object]]) -> bool:
    """A negative look-around body that fails on any digit: ``\\d``, ``[\\d+]``, or
    alternatives one of which is such a class."""
    if len(items) != 1:
        return False
    op, av = items[0]
    if op is sre.IN:
        members = list(av)  # type: ignore[call-overload]
        if any(kind is sre.NEGATE for kind, _ in members):
            return False  # [^\d…] fails on what is not a digit: the opposite
        return any(kind is sre.CATEGORY and value is sre.CATEGORY_DIGIT for kind, value in members)
    if op is sre.BRANCH:
        return any(_excludes_digit(list(branch)) for branch in av[1])  # type: ignore[index]
    return False


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))


SMALL_SET = 64
"""A class of more characters than this after the run counts as "any character"."""


def _has_case(c: str) -> bool:
    """A character that case-insensitive matching may take for another (letters, but also
    Ⓐ, the combining ypogegrammeni …)."""
    return c.lower() != c or c.upper() != c or c.casefold() != c


def _characters(op: object, av: Any) -> frozenset[str] | None:
    """The characters a non-digit item matches, or None for "too many to list" (a letter
    under IGNORECASE, \\s, a wide range): then any character may follow the run."""
    members: list[tuple[object, Any]] = [(op, av)] if op is sre.LITERAL else list(av)
    found: set[str] = set()
    for kind, value in members:
        if kind is sre.LITERAL:
            found.add(chr(value))
        elif kind is sre.RANGE and value[1] - value[0] < SMALL_SET:
            found.update(map(chr, range(value[0], value[1] + 1)))
        else:
            return None
    if any(_has_case(c) for c in found) or len(found) > SMALL_SET:
        return None  # case-insensitive matching would add forms: do not list them
    return frozenset(found)


Follows = frozenset[str] | None
"""The characters that can follow a pattern's first run of digits; None: any non-digit
(or the end of the text)."""


_FLAGS = ((regex.I, re.I), (regex.M, re.M), (regex.S, re.S), (regex.X, re.X))


def _as_re_flags(flags: int) -> int:
    """The regex module's flags that shape a parse, as the re module numbers them."""
    out = 0
    for theirs, ours in _FLAGS:
        if flags & theirs:
            out |= ours
    return out


def first_run(source: str, flags: int) -> dict[int, Follows] | None:
    """The lengths the run of digits a match of ``source`` starts with can have, each with
    the characters that can follow it; None when a match might start elsewhere than at the
    start of a run, or its first run cannot be read from the pattern."""
    try:
        return _first_run(source, flags)
    except (TypeError, IndexError, ValueError, AttributeError):
        # A parse tree of a shape this reading does not expect (the parser is CPython's
        # own, re._parser): the pattern is searched, as any unknown one.
        return None


def _first_run(source: str, flags: int) -> dict[int, Follows] | None:
    if flags & regex.ASCII:
        return None  # its \d would not be the run finder's
    try:
        tree = sre_parse.parse(source, _as_re_flags(flags))
    except (re.error, OverflowError, ValueError):
        return None  # syntax of the regex module only: searched instead
    if tree.state.flags & re.ASCII:
        return None  # an inline (?a): its \d would not be the run finder's
    items = list(tree)
    i = 0
    guarded = False
    while i < len(items) and items[i][0] in (sre.ASSERT, sre.ASSERT_NOT):
        op, (direction, body) = items[i]
        if op is sre.ASSERT_NOT and direction < 0 and _excludes_digit(list(body)):
            guarded = True  # no digit before: a match starts where a run starts
        i += 1
    if not guarded:
        return None
    lengths: set[int] = {0}
    ended: dict[int, Follows] = {}

    def end_here(follows: Follows) -> None:
        for n in lengths:
            known = ended.get(n, frozenset())
            ended[n] = None if known is None or follows is None else known | follows

    for op, av in items[i:]:
        if _is_digit_class(op, av):
            lengths = {n + 1 for n in lengths}
        elif op in _REPEATS and len(av[2]) > 0:  # type: ignore[arg-type]
            low, high, body = av  # type: ignore[misc]
            body = list(body)
            if len(body) == 1 and _is_digit_class(*body[0]) and high <= LONGEST_RUN:
                lengths = {n + k for n in lengths for k in range(low, high + 1)}
            elif _is_non_digit_class(*body[0]):
                end_here(_characters(*body[0]))  # each pass starts with a non-digit
                if low > 0:
                    break
            else:
                return None
        elif _is_non_digit_class(op, av):
            end_here(_characters(op, av))
            break
        elif op is sre.ASSERT_NOT and av[0] > 0 and _excludes_digit(list(av[1])):  # type: ignore[index]
            end_here(None)  # no digit may follow: the run ends here, before anything else
            break
        else:
            return None
    else:
        return None  # the pattern ends after digits: the run may go on
    if not ended or 0 in ended or max(ended) > LONGEST_RUN:
        return None
    return ended


def first_run_lengths(source: str, flags: int) -> frozenset[int] | None:
    """first_run's lengths alone."""
    found = first_run(source, flags)
    return None if found is None else frozenset(found)


@dataclass(frozen=True)
class _Anchored:
    recognizer: int
    pattern: int
    regex: regex.Pattern[str]
    slot: int
    """Its place in the list of where each anchored pattern's last match ended."""


class NumberPatterns:
    """The number recognizers' patterns, sorted once per detector into those tried at runs
    of digits by the run's length and those searched over the text."""

    def __init__(self, recognizers: Sequence[PatternRecognizer]) -> None:
        self.recognizers = list(recognizers)
        self.at_runs: dict[int, list[tuple[_Anchored, Follows]]] = {}
        self._tries: dict[tuple[int, str], list[_Anchored]] = {}
        self.searched: list[list[int]] = []
        self.anchored = 0
        for r, recognizer in enumerate(self.recognizers):
            searched = []
            needs_digits = "EMAIL_ADDRESS" not in recognizer.supported_entities
            for p, pattern in enumerate(recognizer.patterns):
                runs = first_run(pattern.regex, recognizer.global_regex_flags)
                if runs is None or not needs_digits:
                    searched.append(p)
                    continue
                anchored = _Anchored(r, p, compiled(recognizer, pattern), self.anchored)
                self.anchored += 1
                for n, follows in sorted(runs.items()):
                    self.at_runs.setdefault(n, []).append((anchored, follows))
            self.searched.append(searched)

    def find(self, text: str, deadline: float | None) -> list[list[RecognizerResult]]:
        """Each recognizer's results, pattern by pattern in the recognizer's order and each
        pattern's by position, as Presidio's loop gives them."""
        found: list[list[list[RecognizerResult]]] = [
            [[] for _ in recognizer.patterns] for recognizer in self.recognizers
        ]
        self._at_runs(text, deadline, found)
        # The few searched patterns read the whole text: cutting it into windows around its
        # numbers cost more in a 100 KB letter (a call per window and pattern) than it saved.
        digits = RUN.search(text) is not None
        for r, recognizer in enumerate(self.recognizers):
            needs_digits = "EMAIL_ADDRESS" not in recognizer.supported_entities
            if not (digits if needs_digits else "@" in text):
                continue
            for p in self.searched[r]:
                pattern = recognizer.patterns[p]
                found[r][p].extend(run_pattern(recognizer, pattern, text, deadline))
        results = []
        for recognizer, per_pattern in zip(self.recognizers, found, strict=True):
            mine = [result for results_of in per_pattern for result in results_of]
            if isinstance(recognizer, DanishPatternRecognizer):
                for result in mine:
                    recognizer.adjust(result, text[result.start : result.end])
            results.append(mine)
        return results

    def _tries_for(self, length: int, follow: str) -> list[_Anchored]:
        """The patterns whose first run can have this length and be followed by ``follow``
        (the next character; empty at the end of the text)."""
        return [
            anchored
            for anchored, follows in self.at_runs.get(length, ())
            if follows is None or follow in follows
        ]

    def _at_runs(
        self, text: str, deadline: float | None, found: list[list[list[RecognizerResult]]]
    ) -> None:
        cache, recognizers = self._tries, self.recognizers
        if len(cache) > TRIES_KEPT:
            cache.clear()
        # A pattern's matches do not overlap, as in a search of the whole text: a run
        # inside the last match of a pattern is not tried for it again.
        ends = [0] * self.anchored
        for count, run in enumerate(RUN.finditer(text)):
            if deadline is not None and count % DEADLINE_EVERY == 0 and time.monotonic() > deadline:
                raise ScanIncomplete("number patterns: out of time")
            start, end = run.span()
            key = (end - start, text[end : end + 1])
            tries = cache.get(key)
            if tries is None:
                tries = cache[key] = self._tries_for(*key)
            if not tries:
                continue
            for anchored in tries:
                if start < ends[anchored.slot]:
                    continue
                match = anchored.regex.match(text, start)
                if match is None or match.end() == start:
                    continue
                ends[anchored.slot] = match.end()
                recognizer = recognizers[anchored.recognizer]
                pattern: Pattern = recognizer.patterns[anchored.pattern]
                result = pattern_result(recognizer, pattern, text, start, match.end())
                if result is not None:
                    found[anchored.recognizer][anchored.pattern].append(result)
