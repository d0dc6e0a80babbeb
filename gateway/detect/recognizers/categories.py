"""GDPR art. 9/10 categories and Danish *fortrolige oplysninger* as keyword recognizers over
the lexicons in ../lexicons/, with Danish morphology under them (gateway.detect.morphology)
and a person they are about (gateway.detect.about).

A single word never makes a finding on its own: municipal mail says "behandlingstid",
"journalnummer", "a-kasse" and "anmeldt flytning" every day, and newsletters, job ads and
invitations use every word of the lexicons about nobody. A category is found when a strong
term concerns an identifiable person:

- 0.85: a strong term about the writer, a relative, a named person or near a personal
  identifier, and a second distinct strong term of the category;
- 0.75: a strong term about the writer, a relative, a named person or near an identifier;
- 0.7: a strong term about a person the text points at (``medarbejderen``, ``hun``, ``vi``)
  in a text that is not a newsletter, job ad, invitation, policy, statistic or advert;
- 0.6: two distinct strong terms about nobody in particular in such an ordinary text
  ("Diagnose og medicin er beskrevet i brevet"), 0.55 a strong and a weak one.

Below the threshold (shown by ``postvagt scan --explain``): a term about nobody, or in a
text of a genre that names no person.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, islice
from operator import itemgetter
from typing import cast

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from gateway.detect import about as about_
from gateway.detect import entities
from gateway.detect.morphology import WORD, Hit, Lexicon
from gateway.detect.recognizers.base import LANGUAGE, ScanIncomplete

CATEGORIES = entities.CATEGORIES
"""The category entity types, one lexicon file each (gateway.detect.entities)."""
SHARED_LISTS = ("abbreviations.txt", "medicines.txt")
"""Lists with ``[CATEGORY]`` sections, read besides each category's own file."""

IDENTIFIER_DISTANCE = 200
"""Characters between a strong term and a personal identifier that tie them together."""
CACHE_SIZE = 200_000
"""Words whose stem and term are remembered (a worker's vocabulary, not its mail)."""


@dataclass(frozen=True)
class TermMatch:
    start: int
    end: int
    base: str
    strong: bool


def load_lexicon() -> Lexicon:
    lexicon = Lexicon()
    for name, path in entities.lexicon_files().items():
        lexicon.add_file(path, name)
    for shared in SHARED_LISTS:
        lexicon.add_file(entities.LEXICONS / shared)
    unknown = lexicon.categories - set(CATEGORIES)
    if unknown:
        raise ValueError(f"lexicon sections name unknown categories: {sorted(unknown)}")
    return lexicon


class LexiconIndex:
    """Every category's terms found in one pass of a word tokenizer and dictionary look-ups;
    each distinct word is stemmed and matched once per worker (a bounded cache)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.first = {words[0] for words in lexicon.phrases}
        self.pairs = {words[:2] for words in lexicon.phrases}
        self.longest = max((len(words) for words in lexicon.phrases), default=1)
        self.capitals_lower = {form.lower() for form in lexicon.capitals}
        self._cache: dict[str, tuple[str, Hit | None, bool]] = {}

    def _learn(self, word: str) -> tuple[str, Hit | None, bool]:
        """A word's stem, its term on its own, and whether it may start a phrase or be an
        abbreviation written in capitals (then its position is kept)."""
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        stemmed, hit = self.lexicon.word(word)
        mark = hit is not None or stemmed in self.first or word in self.capitals_lower
        info = self._cache[word] = (stemmed, hit, mark)
        return info

    def scan(self, text: str, deadline: float | None = None) -> dict[str, list[TermMatch]]:
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two: keep offsets true
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        # Every word at C speed (findall, map over the cache); positions only for the words
        # that are a term or start a phrase, and the words after them (islice skips the
        # rest inside C): a span for each of 30 000 words of a long letter would cost more
        # than the rest of the scan.
        cache, longest = self._cache, self.longest
        words = WORD.findall(lower)
        cached = list(map(cache.get, words))
        if None in cached:
            cached = [info or self._learn(word) for word, info in zip(words, cached, strict=True)]
        infos = cast(list[tuple[str, Hit | None, bool]], cached)
        pairs, last = self.pairs, len(infos) - 1
        # A phrase's first word is often common ("ikke", "ved"): marked only when the next
        # word goes with it. compress() picks the flagged words inside C.
        marks = [
            i
            for i in compress(range(len(infos)), map(itemgetter(2), infos))
            if infos[i][1] is not None
            or infos[i][0] not in self.first
            or (i < last and (infos[i][0], infos[i + 1][0]) in pairs)
        ]
        if deadline is not None and time.monotonic() > deadline:
            raise ScanIncomplete("category lexicons: out of time")
        # Which words make a term, by index: a phrase (longest first) or the word alone.
        phrases, first = self.lexicon.phrases, self.first
        hits: list[tuple[int, int, Hit | None]] = []  # first and last word, the term
        next_free = 0
        for i in marks:
            if i < next_free:
                continue  # a phrase's words are not matched again on their own
            stemmed, hit, _ = infos[i]
            if stemmed in first:
                for length in range(min(longest, len(infos) - i), 1, -1):
                    phrase = phrases.get(tuple(w[0] for w in infos[i : i + length]))
                    if phrase is not None:
                        hits.append((i, i + length - 1, phrase))
                        next_free = i + length
                        break
                if next_free > i:
                    continue
            hits.append((i, i, hit))  # hit None: perhaps an abbreviation in capitals
        # Their positions: one walk over the words that skips, inside C, all but these.
        spans: dict[int, tuple[int, int]] = {}
        matches = WORD.finditer(lower)
        at = 0
        for j in sorted({j for i, k, _ in hits for j in (i, k)}):
            spans[j] = next(islice(matches, j - at, None)).span()
            at = j + 1
        found: dict[str, list[TermMatch]] = {}

        def add(hit: Hit, start: int, end: int) -> None:
            found.setdefault(hit.category, []).append(TermMatch(start, end, hit.base, hit.strong))

        capitals = self.lexicon.capitals
        for i, k, maybe in hits:
            start, end = spans[i][0], spans[k][1]
            if i == k:
                maybe = capitals.get(text[start:end]) or maybe
            if maybe is not None:
                add(maybe, start, end)
        for pattern, hit in self.lexicon.patterns:
            for m in pattern.finditer(lower):
                add(hit, m.start(), m.end())
        for terms in found.values():
            terms.sort(key=lambda m: m.start)
        return found


class CategoryRecognizer(LocalRecognizer):
    """One category (HEALTH, CRIMINAL, …); the scores of the module's docstring."""

    def __init__(self, category: str, index: LexiconIndex) -> None:
        self.category = category
        self.index = index
        super().__init__(
            supported_entities=[category],
            supported_language=LANGUAGE,
            name=f"{category.title().replace('_', '')}Lexicon",
        )

    def load(self) -> None:
        return None

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        identifiers: list[tuple[int, int]] | None = None,
        deadline: float | None = None,
        terms: list[TermMatch] | None = None,
        genre: Callable[[], str | None] | None = None,
    ) -> list[RecognizerResult]:
        """``terms``: this category's matches, and ``genre``: the text's no-person genre
        word or None, asked only when it matters (the caller remembers it for all)."""
        if terms is None:
            terms = self.index.scan(text, deadline).get(self.category, [])
        strong = [t for t in terms if t.strong]
        if not strong:
            return []
        genre_of = genre or functools.cache(lambda: about_.genre(text))
        distinct = len({t.base for t in strong})
        best, best_term = about_.NOBODY, strong[0]
        for term in strong:
            if self._near_identifier(term, identifiers or []):
                best, best_term = about_.About("identifier", "a personal identifier"), term
                break
            sentence = about_.sentence_of(text, term.start, term.end)
            who = about_.about(sentence, lambda: genre_of() is not None)
            if who.strong or (who.who and not best.who):
                best, best_term = who, term
                if who.strong:
                    break
        kind = None if best.strong else genre_of()
        if best.strong:
            score = 0.85 if distinct >= 2 else 0.75
            why = f"about {best.who} ({best.cue})"
        elif best.who == "general":
            score, why = 0.3, f"about nobody in general ({best.cue})"
        elif best.who:
            score, why = 0.7, f"about a {best.who} ({best.cue})"
        elif kind is None and distinct >= 2:
            score, why = 0.6, "two strong terms, about nobody named"
        elif kind is None and len({t.base for t in terms}) >= 2:
            score, why = 0.55, "a strong and a weak term, about nobody named"
        else:
            score, why = 0.3, "about nobody"
        if kind and not best.strong:
            why += f"; the text reads as one naming no person ({kind!r})"
        explanation = AnalysisExplanation(
            recognizer=self.name, original_score=score, textual_explanation=why
        )
        return [
            RecognizerResult(
                entity_type=self.category,
                start=best_term.start,
                end=best_term.end,
                score=score,
                analysis_explanation=explanation,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    "terms": len(terms),
                    "about": best.who or "nobody",
                },
            )
        ]

    @staticmethod
    def _near_identifier(term: TermMatch, identifiers: list[tuple[int, int]]) -> bool:
        return any(
            abs(term.start - start) <= IDENTIFIER_DISTANCE
            or abs(term.start - end) <= IDENTIFIER_DISTANCE
            for start, end in identifiers
        )


def category_recognizers() -> list[CategoryRecognizer]:
    index = LexiconIndex(load_lexicon())
    return [CategoryRecognizer(category, index) for category in CATEGORIES]
