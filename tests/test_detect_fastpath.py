"""The detector's fast paths give the same answers as straightforward references.

- Lexicon terms: one word-tokenizer pass with dictionary look-ups, against a plain regular
  expression per lexicon (whole words, case-insensitive);
- overlap resolution: a sweep over sorted spans, against the quadratic "keep the best,
  drop what overlaps it" loop.
"""

from __future__ import annotations

import random

import regex

from gateway.detect.analyzer import Candidate, _without_overlaps
from gateway.detect.recognizers.categories import LEXICONS, LexiconIndex, load_lexicon
from gateway.extract.text import mail_text
from tests.mailcorpus import MUNICIPAL_SENTENCES, corpus


def reference_terms(lexicons, text: str) -> set[tuple[str, int, int, str]]:
    found = set()
    for lexicon in lexicons:
        forms = sorted({*lexicon.strong, *lexicon.weak}, key=len, reverse=True)
        alternation = "|".join(regex.escape(f).replace(r"\ ", r"\s+") for f in forms)
        for m in regex.finditer(rf"(?i)(?<![\w-])(?:{alternation})(?![\w]|-\w)", text):
            form = " ".join(m.group().lower().split())
            base = lexicon.strong.get(form) or lexicon.weak[form]
            found.add((lexicon.category, m.start(), m.end(), base))
    return found


def test_lexicon_index_matches_the_regex_reference():
    lexicons = [load_lexicon(p) for p in sorted(LEXICONS.glob("*.txt"))]
    index = LexiconIndex(lexicons)
    texts = [chunk.text for mail in corpus() for chunk in mail_text(mail.raw)]
    texts += MUNICIPAL_SENTENCES
    total = 0
    for text in texts:
        fast = {
            (category, m.start, m.end, m.base)
            for category, matches in index.scan(text).items()
            for m in matches
        }
        assert fast == reference_terms(lexicons, text), text
        total += len(fast)
    assert total > 50  # the corpus does exercise the lexicons


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
