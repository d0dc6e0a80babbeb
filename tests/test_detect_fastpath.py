"""The detector's fast paths give the same answers as straightforward references.

- Lexicon terms: one word-tokenizer pass with a cache of each word's stem and term, against
  matching each word (and each phrase) on its own, without a cache;
- overlap resolution: a sweep over sorted spans, against the quadratic "keep the best,
  drop what overlaps it" loop;
- context words: looked up once per text (gateway.detect.context), against a regex search
  of each candidate's windows; suppress labels remembered, against reading each again;
- number patterns: tried at runs of digits by the run's length (gateway.detect.numbers),
  against Presidio's loop that searches the whole text once per pattern.
"""

from __future__ import annotations

import random

import pytest

from gateway.detect.analyzer import Candidate, _without_overlaps
from gateway.detect.morphology import WORD, stem
from gateway.detect.numbers import first_run, first_run_lengths
from gateway.detect.recognizers.base import DanishPatternRecognizer, run_patterns
from gateway.detect.recognizers.categories import LexiconIndex, load_lexicon
from gateway.extract.text import mail_text
from tests import fictional, sensitive
from tests.mailcorpus import MUNICIPAL_SENTENCES, corpus


def reference_terms(lexicon, text: str) -> set[tuple[str, int, int, str]]:
    """Word by word, no cache: each phrase (longest first), else the word on its own."""
    words = [(m.group(), m.span()) for m in WORD.finditer(text)]
    stems = [stem(w.lower()) for w, _ in words]
    found = set()
    i = 0
    covered = set()
    for i in range(len(words)):
        for length in range(len(words) - i, 1, -1):
            hit = lexicon.phrases.get(tuple(stems[i : i + length]))
            if hit is not None and not covered & set(range(i, i + length)):
                found.add((hit.category, words[i][1][0], words[i + length - 1][1][1], hit.base))
                covered.update(range(i, i + length))
                break
    for i, (word, (start, end)) in enumerate(words):
        if i in covered:
            continue
        hit = lexicon.capitals.get(word) or lexicon.word(word.lower())[1]
        if hit is not None:
            found.add((hit.category, start, end, hit.base))
    for pattern, hit in lexicon.patterns:
        for m in pattern.finditer(text.lower()):
            found.add((hit.category, m.start(), m.end(), hit.base))
    return found


def test_lexicon_index_matches_the_word_by_word_reference():
    lexicon = load_lexicon()
    index = LexiconIndex(lexicon)
    texts = [chunk.text for mail in corpus() for chunk in mail_text(mail.raw)]
    texts += [chunk.text for mail in sensitive.mails() for chunk in mail_text(mail.raw)]
    texts += MUNICIPAL_SENTENCES
    total = 0
    for text in texts * 2:  # the second round from the cache
        fast = {
            (category, m.start, m.end, m.base)
            for category, matches in index.scan(text).items()
            for m in matches
        }
        assert fast == reference_terms(lexicon, text), text
        total += len(fast)
    assert total > 500  # the corpora do exercise the lexicons


def reference_overlaps(candidates: list[Candidate], threshold: float) -> list[Candidate]:
    kept: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: (-c.score, c.start)):
        if c.score >= threshold and any(
            k.score >= threshold and c.start < k.end and k.start < c.end for k in kept
        ):
            continue
        kept.append(c)
    return kept


def test_overlap_sweep_matches_the_quadratic_reference():
    rng = random.Random(2)
    for _ in range(300):
        candidates = []
        for i in range(rng.randrange(1, 30)):
            start = rng.randrange(0, 200)
            candidates.append(
                Candidate(
                    f"E{i % 4}",
                    start,
                    start + rng.randrange(1, 25),
                    round(rng.random(), 2),
                    "r",
                    "v",
                )
            )
        fast = {(c.entity, c.start, c.end, c.score) for c in _without_overlaps(candidates, 0.5)}
        slow = {(c.entity, c.start, c.end, c.score) for c in reference_overlaps(candidates, 0.5)}
        assert fast == slow


def _context_texts() -> list[str]:
    from bench.relay import people_csv

    texts = [chunk.text for mail in corpus() for chunk in mail_text(mail.raw)]
    texts += [chunk.text for mail in sensitive.mails() for chunk in mail_text(mail.raw)]
    texts.append(people_csv(300))
    rng = random.Random(7)
    words = ["CPR", "cpr-nr.", "cpr nr", "cpr   nr", "tlf.", "Tlf", "ring til", "ring\ttil", "pas",
             "kørekort", "CVR", "konto", "Kontonr", "Reg.nr.", "født", "a/s", "\u212a", "\u017f",
             "\u0130", "xcpr", "cprx", "\n", " ", ": ", "-", ".", "|"]  # fmt: skip
    for _ in range(400):
        parts = []
        for _ in range(rng.randrange(1, 30)):
            kind = rng.random()
            if kind < 0.45:
                parts.append(rng.choice(words))
            elif kind < 0.65:
                parts.append(fictional.cpr(rng, separator=rng.choice(["-", "", " "])))
            elif kind < 0.8:
                parts.append(fictional.phone(rng))
            else:
                parts.append(" " * rng.randrange(1, 300))
            parts.append(rng.choice(["", " ", "\n"]))
        texts.append("".join(parts))
    return texts


def test_context_words_looked_up_once_match_the_window_search(detector, monkeypatch):
    """Every candidate, its score and its context and suppress words, with the words looked
    up once per text and labels remembered, and with each candidate's windows searched and
    labels read anew (the reference)."""
    import gateway.detect.analyzer as analyzer

    def candidates(window_search: int, labels_kept: int = 20_000) -> list[list[tuple]]:
        monkeypatch.setattr(analyzer, "WINDOW_SEARCH", window_search)
        monkeypatch.setattr(analyzer, "LABELS_KEPT", labels_kept)
        return [
            [tuple(c.__dict__.values()) for c in detector.analyze(text).candidates]
            for text in texts
        ]

    texts = _context_texts()
    looked_up, searched = candidates(10**12), candidates(0, labels_kept=0)
    assert looked_up == searched
    assert sum(c[6] is not None for found in searched for c in found) > 500  # words found


@pytest.mark.parametrize(
    ("pattern", "lengths"),
    [
        (r"(?<![\d+])(?<!\d[\-/.])\d{6}-\d{4}(?![\d]|-\d)", {6}),
        (r"(?<![\d+])\d{6} - \d{4}(?!\d)", {6}),
        (r"(?<![\d+])[6-9]\d{5}[ /.\t]?\d{4}(?![\d]|-\d)", {6, 10}),
        (r"(?<![\d+\-/.])[2-9]\d(?: \d\d){3}(?![\d]|-\d)", {2}),
        (r"(?<![\d\-+/.])\d{4}[ -]\d{6,10}(?![\d]|-\d)", {4}),
        (r"(?<![\d+\-/.])\d{8}(?![\d]|-\d)", {8}),
        (r"(?<!\d)\d{2,4}(?!\d)", {2, 3, 4}),
        # Read as "unknown", so searched: a literal or letters first, no guard before the
        # digits, a run that may go on, a class that may hold a digit, \d unbounded.
        (r"(?<![\d+])(?:\+45|0045)[ -]?[2-9]\d{7}(?!\d)", None),
        (r"(?<![\w])DK[ -]?\d{8}(?!\d)", None),
        (r"\d{6}-\d{4}(?!\d)", None),
        (r"(?<![+])\d{6}-\d{4}(?!\d)", None),
        (r"(?<!\d)\d{6}", None),
        (r"(?<!\d)\d{6}\w", None),
        (r"(?<!\d)\d{6}[^x]", None),
        (r"(?<!\d)\d+(?!\d)", None),
        (r"(?<!\d)(\d{6})-\d{4}", None),
        (r"(?<!\d)\d{6}\p{L}", None),  # the regex module's own syntax
    ],
)
def test_first_run_lengths_are_read_from_the_pattern(pattern, lengths):
    import regex

    expected = None if lengths is None else frozenset(lengths)
    assert first_run_lengths(pattern, regex.I | regex.M | regex.S) == expected


def test_the_character_after_the_first_run_is_read_from_the_pattern():
    """Which character may follow the first run: a run of six followed by ";" is not tried
    for ``\\d{6}-\\d{4}``. None: any (a look-ahead, \\s, a letter under IGNORECASE)."""
    import regex

    flags = regex.I | regex.M | regex.S
    assert first_run(r"(?<![\d+])\d{6}-\d{4}(?!\d)", flags) == {6: frozenset("-")}
    assert first_run(r"(?<![\d+])[6-9]\d{5}[ /.\t]?\d{4}(?![\d]|-\d)", flags) == {
        6: frozenset(" /.\t"),
        10: None,
    }
    assert first_run(r"(?<![\d+\-/.])[2-9]\d(?: \d\d){3}(?!\d)", flags) == {2: frozenset(" ")}
    assert first_run(r"(?<!\d)\d{2,4}(?!\d)", flags) == {2: None, 3: None, 4: None}
    assert first_run(r"(?<!\d)\d{6}[a-z]", flags) == {6: None}
    assert first_run(r"(?<!\d)\d{6}\s\d", flags) == {6: None}


def _number_texts() -> list[str]:
    """Runs of digits in every arrangement the patterns tell apart: lengths 1-12, every
    separator they allow or refuse, prefixes (+45, 0045, DK), numbers back to back, a
    decimal digit of another script, and the real corpora."""
    from bench.detect import cpu_texts

    rng = random.Random(26)
    joins = [" ", "-", "/", ".", "\t", " - ", "", "\n", ", ", "+", "DK", "DK-", "+45 ",
             "0045", "reg.nr. ", " kontonr. ", "a", "\u0663", "  "]  # fmt: skip
    texts = []
    for _ in range(600):
        parts = []
        for _ in range(rng.randrange(1, 40)):
            kind = rng.random()
            if kind < 0.55:
                parts.append("".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 13))))
            elif kind < 0.7:
                parts.append(fictional.cpr(rng, separator=rng.choice(["-", "", " ", "/", "."])))
            elif kind < 0.8:
                parts.append(fictional.phone(rng))
            else:
                parts.append(rng.choice(["2", "6", "9"]) + "".join(
                    rng.choice("0123456789 ") for _ in range(rng.randrange(1, 14))
                ))  # fmt: skip
            parts.append(rng.choice(joins))
        texts.append("".join(parts))
    return texts + _context_texts() + list(cpu_texts().values())


def test_number_patterns_in_one_pass_match_each_pattern_searched(detector):
    """Every result of every number recognizer, its span, score and pattern, with the
    patterns tried at runs of digits and with each searched over the whole text."""

    def key(results) -> list[tuple]:
        return [
            (r.entity_type, r.start, r.end, r.score, r.analysis_explanation.pattern_name)
            for r in results
        ]

    found = 0
    for text in _number_texts():
        one_pass = detector.numbers.find(text, None)
        for recognizer, fast in zip(detector.patterns, one_pass, strict=True):
            slow = run_patterns(recognizer, text, None)
            if isinstance(recognizer, DanishPatternRecognizer):
                for r in slow:
                    recognizer.adjust(r, text[r.start : r.end])
            assert key(fast) == key(slow), (recognizer.name, text)
            found += len(slow)
    assert found > 5_000
    assert len(detector.numbers.at_runs) >= 5  # most patterns are tried at runs


@pytest.mark.parametrize(
    ("pattern", "text", "flags"),
    [
        (r"(?<![^\d])\d{4}(?!\d)", "12345", 0),  # a negated guard: not "no digit before"
        (r"(?<!\d)\d{4}(?![^\d])", "12345 x", 0),  # a negated look-ahead: no run end
        (r"(?a)(?<!\d)\d{6}(?!\d)", "\u0663123456", 0),  # inline ASCII: \d is not ours
        (r"(?<!\d)\d{6}-", "123456-", "ascii"),
        (r"(?<!\d)\d{6}\u24b6", "123456\u24d0", "i"),  # Ⓐ matches ⓐ without case
        (r"(?<!\d)\d{6}\u0345", "123456\u03b9", "i"),
        (r"(?<!\d)\d{6}(?:[-x])?\d{0,2}(?!\d)", "123456 1234567x 12345678", 0),
        ("(?<!\\d)\\d{6}\U00010d40", "123456\U00010d40", 0),  # a digit newer than Python's
    ],
)
def test_patterns_of_odd_shapes_give_what_a_search_gives(pattern, text, flags):
    """Shapes no recognizer has today: the one pass must still equal the search (found by
    a review of the parse reading: each of these once differed)."""
    import regex
    from presidio_analyzer import Pattern, PatternRecognizer

    from gateway.detect.numbers import NumberPatterns

    base = regex.M | regex.S
    extra = {0: 0, "ascii": regex.ASCII, "i": regex.I}[flags]
    recognizer = PatternRecognizer(
        supported_entity="X",
        patterns=[Pattern("p", pattern, 0.5)],
        supported_language="da",
        global_regex_flags=base | extra,
    )
    fast = [(r.start, r.end) for r in NumberPatterns([recognizer]).find(text, None)[0]]
    slow = [(r.start, r.end) for r in run_patterns(recognizer, text, None)]
    assert fast == slow and slow
