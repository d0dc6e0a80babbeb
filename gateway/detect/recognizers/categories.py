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

import time
from dataclasses import dataclass

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
        self.longest = max((len(words) for words in lexicon.phrases), default=1)
        self.capitals_lower = {form.lower() for form in lexicon.capitals}
        self._cache: dict[str, tuple[str, Hit | None]] = {}

    def _word(self, word: str) -> tuple[str, Hit | None]:
        known = self._cache.get(word)
        if known is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            known = self._cache[word] = self.lexicon.word(word)
        return known

    def scan(self, text: str, deadline: float | None = None) -> dict[str, list[TermMatch]]:
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two: keep offsets true
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        found: dict[str, list[TermMatch]] = {}

        def add(hit: Hit, start: int, end: int) -> None:
            found.setdefault(hit.category, []).append(TermMatch(start, end, hit.base, hit.strong))

        stems: list[str] = []
        spans: list[tuple[int, int]] = []
        singles: list[tuple[int, Hit]] = []
        capitals, phrases_first = self.lexicon.capitals, self.first
        for match in WORD.finditer(lower):
            word = match.group()
            stemmed, hit = self._word(word)
            if word in self.capitals_lower:
                hit = capitals.get(text[match.start() : match.end()]) or hit
            if hit is not None or stemmed in phrases_first:
                if hit is not None:
                    singles.append((len(stems), hit))
            stems.append(stemmed)
            spans.append(match.span())
        if deadline is not None and time.monotonic() > deadline:
            raise ScanIncomplete("category lexicons: out of time")
        covered: set[int] = set()
        if phrases_first:
            phrases = self.lexicon.phrases
            for i, stemmed in enumerate(stems):
                if stemmed not in phrases_first or i in covered:
                    continue  # a phrase's words do not start another phrase
                for length in range(min(self.longest, len(stems) - i), 1, -1):
                    hit = phrases.get(tuple(stems[i : i + length]))
                    if hit is not None:
                        add(hit, spans[i][0], spans[i + length - 1][1])
                        covered.update(range(i, i + length))
                        break
        for i, hit in singles:
            if i not in covered:
                add(hit, *spans[i])
        for pattern, hit in self.lexicon.patterns:
            for m in pattern.finditer(lower):
                add(hit, m.start(), m.end())
        for matches in found.values():
            matches.sort(key=lambda m: m.start)
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
        genre: str | bool | None = False,
    ) -> list[RecognizerResult]:
        """``terms``: this category's matches, and ``genre``: the text's no-person genre
        word (None: none), when the caller worked them out once for all categories."""
        if terms is None:
            terms = self.index.scan(text, deadline).get(self.category, [])
        strong = [t for t in terms if t.strong]
        if not strong:
            return []
        if genre is False:
            genre = about_.genre(text)
        kind = None if genre is False else genre
        distinct = len({t.base for t in strong})
        best, best_term = about_.NOBODY, strong[0]
        for term in strong:
            if self._near_identifier(term, identifiers or []):
                best, best_term = about_.About("identifier", "a personal identifier"), term
                break
            sentence = about_.sentence_of(text, term.start, term.end)
            who = about_.about(sentence, genre=kind is not None)
            if who.strong or (who.who and not best.who):
                best, best_term = who, term
                if who.strong:
                    break
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
