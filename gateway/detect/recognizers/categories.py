"""GDPR art. 9/10 categories as keyword recognizers over the lexicons in ../lexicons/.

A single word never makes a finding: municipal mail says "behandlingstid", "journalnummer",
"a-kasse" and "anmeldt flytning" every day. A category is found with two distinct terms of it
(at least one strong), or one strong term close to a personal identifier, or one strong term
right after words about the writer's own situation ("min diagnose", "min søn er indlagt").
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import regex
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from gateway.detect import entities
from gateway.detect.recognizers.base import LANGUAGE, ScanIncomplete

CATEGORIES = entities.CATEGORIES
"""The category entity types, one lexicon file each (gateway.detect.entities)."""

IDENTIFIER_DISTANCE = 200
"""Characters between a strong term and a personal identifier that tie them together."""

OWN_SITUATION = regex.compile(
    r"(?i)(?<!\w)(?:jeg|mig|min|mit|mine|vi|os|vores|min søn|min datter|mit barn|mine børn|"
    r"min mor|min far|min mand|min kone|min kæreste|min bror|min søster|min hustru|"
    r"i am|i'm|i have|i've|i was|me|my|we|our|my son|my daughter|my child|my mother|"
    r"my father|my husband|my wife)"
    r"(?!\w)"
)
OWN_SITUATION_WINDOW = 40
"""Characters before a strong term in which an own-situation word must stand."""


@dataclass(frozen=True)
class Lexicon:
    category: str
    strong: dict[str, str]  # surface form → base term
    weak: dict[str, str]


def load_lexicon(path: Path, category: str | None = None) -> Lexicon:
    strong: dict[str, str] = {}
    weak: dict[str, str] = {}
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        target = strong
        if line.startswith("~"):
            target, line = weak, line[1:]
        forms = [" ".join(form.lower().split()) for form in line.split(",") if form.strip()]
        for form in forms:
            if form in strong or form in weak:
                raise ValueError(f"{path.name}: {form!r} is listed twice")
            target[form] = forms[0]
    if not strong:
        raise ValueError(f"{path.name}: a category needs at least one strong term")
    return Lexicon(category or path.stem.upper(), strong, weak)


@dataclass(frozen=True)
class TermMatch:
    start: int
    end: int
    base: str
    strong: bool


_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


class LexiconIndex:
    """Every lexicon's terms in one dictionary of word sequences.

    One pass of a word tokenizer and dictionary look-ups finds the terms of all categories:
    about ten times faster than a regular-expression alternation of the same terms.
    """

    def __init__(self, lexicons: list[Lexicon]) -> None:
        self.phrases: dict[tuple[str, ...], tuple[str, str, bool]] = {}
        for lexicon in lexicons:
            for forms, strong in ((lexicon.strong, True), (lexicon.weak, False)):
                for form, base in forms.items():
                    words = tuple(_WORD.findall(form))
                    if words in self.phrases:
                        raise ValueError(f"{form!r} is in two lexicons")
                    self.phrases[words] = (lexicon.category, base, strong)
        self.first_words = {words[0] for words in self.phrases}
        self.longest = max(len(words) for words in self.phrases)

    def scan(self, text: str, deadline: float | None = None) -> dict[str, list[TermMatch]]:
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two: keep offsets true
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        first_words, phrases, longest = self.first_words, self.phrases, self.longest
        # One pass: every word, and the positions of only those a phrase can cover (a
        # lexicon's first word and the words after it): a span for each of 5 000 words of a
        # long letter cost more than the rest of the scan.
        words: list[str] = []
        hits: list[int] = []
        spans: dict[int, tuple[int, int]] = {}
        after_hit = 0
        for match in _WORD.finditer(lower):
            word = match.group()
            if word in first_words:
                hits.append(len(words))
                after_hit = longest
            if after_hit:
                spans[len(words)] = match.span()
                after_hit -= 1
            words.append(word)
        if deadline is not None and time.monotonic() > deadline:
            raise ScanIncomplete("category lexicons: out of time")
        found: dict[str, list[TermMatch]] = {}
        if not hits:
            return found
        next_free = 0
        for i in hits:
            if i < next_free:
                continue  # a phrase's words are not matched again on their own
            for length in range(min(self.longest, len(words) - i), 0, -1):
                hit = phrases.get(tuple(words[i : i + length]))
                if hit is not None:
                    category, base, strong = hit
                    start, end = spans[i][0], spans[i + length - 1][1]
                    found.setdefault(category, []).append(TermMatch(start, end, base, strong))
                    next_free = i + length
                    break
        return found


class CategoryRecognizer(LocalRecognizer):
    """One category (HEALTH, CRIMINAL, …); scores: 0.85 for two strong terms, 0.75 for a
    strong term near an identifier or the writer's own situation, 0.65 otherwise."""

    def __init__(self, lexicon: Lexicon, index: LexiconIndex) -> None:
        self.lexicon = lexicon
        self.index = index
        super().__init__(
            supported_entities=[lexicon.category],
            supported_language=LANGUAGE,
            name=f"{lexicon.category.title()}Lexicon",
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
    ) -> list[RecognizerResult]:
        """``terms``: this category's matches, when the caller scanned all lexicons at once."""
        if terms is None:
            terms = self.index.scan(text, deadline).get(self.lexicon.category, [])
        strong = [t for t in terms if t.strong]
        if not strong:
            return []
        distinct = {t.base for t in terms}
        why, score = "", 0.0
        if len({t.base for t in strong}) >= 2:
            why, score = "two or more strong terms", 0.85
        elif self._near_identifier(strong, identifiers or []):
            why, score = "strong term near a personal identifier", 0.75
        elif self._own_situation(text, strong):
            why, score = "strong term about the writer's own situation", 0.75
        elif len(distinct) >= 2:
            why, score = "a strong and a weak term", 0.65
        if not score:
            return []
        first = strong[0]
        explanation = AnalysisExplanation(
            recognizer=self.name, original_score=score, textual_explanation=why
        )
        return [
            RecognizerResult(
                entity_type=self.lexicon.category,
                start=first.start,
                end=first.end,
                score=score,
                analysis_explanation=explanation,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    "terms": len(terms),
                },
            )
        ]

    @staticmethod
    def _near_identifier(strong: list[TermMatch], identifiers: list[tuple[int, int]]) -> bool:
        return any(
            abs(term.start - start) <= IDENTIFIER_DISTANCE
            or abs(term.start - end) <= IDENTIFIER_DISTANCE
            for term in strong
            for start, end in identifiers
        )

    @staticmethod
    def _own_situation(text: str, strong: list[TermMatch]) -> bool:
        for term in strong:
            window = text[max(0, term.start - OWN_SITUATION_WINDOW) : term.start]
            window = regex.split(r"[.!?\n]", window)[-1]  # the same sentence only
            if OWN_SITUATION.search(window):
                return True
        return False


def category_recognizers() -> list[CategoryRecognizer]:
    lexicons = [load_lexicon(path, name) for name, path in entities.lexicon_files().items()]
    index = LexiconIndex(lexicons)
    return [CategoryRecognizer(lexicon, index) for lexicon in lexicons]
