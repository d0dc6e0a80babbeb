"""Run the recognizers over text: chunks, deadline, context, threshold, masking.

Presidio's AnalyzerEngine tokenises every text with spaCy (about 0.5 MB/s) and, on a blank
pipeline, its lemma-based context enhancer sees no lemmas. So the detector calls the
registry's pattern recognizers on the raw text itself, scores context over character
windows (boost words within ``BOOST_BEFORE`` characters before or ``BOOST_AFTER`` after,
suppress words in the label position just before the number), and uses the NLP engine only
when the admin installed a pipeline with named-entity recognition.

Long text is analysed in chunks that overlap by more than a context window plus the longest
match, so a number on a chunk border is still found with its context. A regex timeout or a
text longer than ``max_chars`` makes the result "incomplete" — never "clean".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import regex
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

from gateway.detect import about, entities
from gateway.detect.context import TextIndex, first_match, heads
from gateway.detect.keyed import NUMBER_ENTITIES, digits_of, keyed_number
from gateway.detect.normalise import normalise
from gateway.detect.numbers import NumberPatterns
from gateway.detect.recognizers.base import LANGUAGE, ScanIncomplete
from gateway.detect.recognizers.categories import CategoryRecognizer
from gateway.model import Finding, TextChunk

BOOST_BEFORE = 300  # Purview's window
BOOST_AFTER = 60
SUPPRESS_BEFORE = 40
CHUNK = 50_000
OVERLAP = BOOST_BEFORE + 200
THRESHOLD = 0.5
NER_ENTITIES = entities.NER

WARM_UP_TEXT = (
    "Kære kommune. Min søn er indlagt med depression; CPR-nr. 150289-3041, tlf. 22 34 56 78, "
    "reg.nr. 1234 kontonr. 0012345678, CVR 12345678. Mvh. jens@example.dk"
)
"""Touches every stage of the detector once: numbers, context words, category terms. Its
CPR number is tests/fictional.py's with seed 0, as in the README (tests/test_docs.py)."""

IDENTIFIERS = frozenset(entities.IDENTIFIERS)
MASKS: dict[str, Callable[[str], str]] = entities.masks()


@dataclass(frozen=True)
class Candidate:
    """A match with its score after context. ``value`` stays inside the detector process."""

    entity: str
    start: int
    end: int
    score: float
    recognizer: str
    value: str
    context_word: str | None = None
    suppress_word: str | None = None
    reason: str = ""
    about: str = ""
    """Categories: whom the fact concerns (writer, relative, named, identifier, third
    person, nobody; gateway.detect.about)."""

    def masked(self) -> str | None:
        if self.entity not in MASKS:
            return None  # categories: the type says it all, the words stay out
        return MASKS[self.entity](self.value)


@dataclass
class Analysis:
    candidates: list[Candidate] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)

    def findings(self, threshold: float = THRESHOLD) -> list[Candidate]:
        return [c for c in self.candidates if c.score >= threshold]


def _words_regex(words: Iterable[str], patterns: Iterable[str] = ()) -> regex.Pattern[str] | None:
    """One pattern for context words (whole words, any spacing) and label patterns."""
    words = sorted({w.lower() for w in words}, key=len, reverse=True)
    alternatives = [f"(?:{p})" for p in patterns]
    if words:
        alternation = "|".join(regex.escape(w).replace(r"\ ", r"\s+") for w in words)
        alternatives.insert(0, rf"(?<!\w)(?:{alternation})(?!\w)")
    if not alternatives:
        return None
    return regex.compile(rf"(?i){'|'.join(alternatives)}")


@dataclass(frozen=True)
class _Scoring:
    boost: regex.Pattern[str] | None
    suppress: regex.Pattern[str] | None
    boost_by: float
    penalty: float
    boost_heads: tuple[str, ...] | None
    """The boost words' first stretches (gateway.detect.context); None: search windows."""
    labels: dict[str, str | None] = field(default_factory=dict, compare=False)
    """Each label position's text read so far and its suppress word (or None)."""


def _suppress_word(label: str, scoring: _Scoring) -> str | None:
    """The suppress label that names the number after ``label``, if any."""
    if scoring.suppress is None:
        return None
    # The last label before the number is the one that names it.
    found = next(reversed(list(scoring.suppress.finditer(label))), None)
    # "Vedr. faktura, CPR 150385-…": a context word after the suppress label wins.
    boost = scoring.boost
    if found is not None and boost is not None and boost.search(label[found.end() :]):
        found = None
    return found.group().rstrip(":") if found else None


WINDOW_SEARCH = 20_000
"""What searching one candidate's context windows costs, in characters read by str.find for
one word's first stretch: above this many candidates per character and word, the words are
looked up once in the whole text (gateway.detect.context; bench/detect.py)."""

LABELS_KEPT = 20_000
"""Label positions whose suppress answer a detector remembers, per recognizer."""

_LABEL_END = regex.compile(r"(?r)[\n\d]")  # searched from the end: the last one


class Detector:
    """One per worker process; built from the Presidio engine of gateway.detect.engine."""

    def __init__(
        self,
        engine: AnalyzerEngine,
        *,
        threshold: float = THRESHOLD,
        max_chars: int = 5_000_000,
        use_ner: bool = False,
        number_key: bytes | None = None,
    ) -> None:
        self.engine = engine
        self._number_key = number_key
        self.threshold = threshold
        self.max_chars = max_chars
        self.use_ner = use_ner
        recognizers = engine.registry.get_recognizers(language=LANGUAGE, all_fields=True)
        self.categories = [r for r in recognizers if isinstance(r, CategoryRecognizer)]
        self.patterns = [
            r
            for r in recognizers
            if hasattr(r, "patterns") and not isinstance(r, CategoryRecognizer)
        ]
        self.numbers = NumberPatterns(self.patterns)
        self._scoring = {
            r.name: _Scoring(
                _words_regex(r.context or []),
                _words_regex(getattr(r, "suppress", []), getattr(r, "suppress_patterns", [])),
                getattr(r, "context_boost", 0.35),
                getattr(r, "suppress_penalty", 0.7),
                heads(r.context or []),
            )
            for r in self.patterns
        }

    # -- text -------------------------------------------------------------------------------

    def analyze(self, text: str, deadline: float | None = None) -> Analysis:
        """Candidates in ``text``, found in its normalised form (gateway.detect.normalise);
        their offsets point into ``text``, their values are the normalised ones."""
        analysis = Analysis()
        if len(text) > self.max_chars:
            analysis.incomplete.append("text-too-long")
            text = text[: self.max_chars]
        plain = normalise(text)
        text = plain.text
        best: dict[tuple[str, int, int], Candidate] = {}
        try:
            for offset in range(0, max(len(text), 1), CHUNK):
                start = max(0, offset - OVERLAP)
                for c in self._analyze_chunk(text[start : offset + CHUNK], deadline):
                    key = (c.entity, c.start + start, c.end + start)
                    moved = replace(c, start=key[1], end=key[2]) if start else c
                    if key not in best or best[key].score < moved.score:
                        best[key] = moved
            if self.use_ner:
                for c in self._ner(text):
                    best[(c.entity, c.start, c.end)] = c
        except ScanIncomplete:
            analysis.incomplete.append("timeout")
        if plain.starts:
            best = {
                key: replace(c, start=plain.original(c.start), end=plain.original(c.end))
                for key, c in best.items()
            }
        analysis.candidates = sorted(best.values(), key=lambda c: (c.start, c.entity))
        return analysis

    def _analyze_chunk(self, text: str, deadline: float | None) -> list[Candidate]:
        candidates: list[Candidate] = []
        index = TextIndex(text)
        found = self.numbers.find(text, deadline)
        for recognizer, results in zip(self.patterns, found, strict=True):
            scoring = self._scoring[recognizer.name]
            boosts = self._boost_positions(index, scoring, len(results))
            candidates.extend(
                self._in_context(text, r, recognizer.name, scoring, boosts) for r in results
            )
        candidates = _without_overlaps(candidates, self.threshold)
        identifiers = [
            (c.start, c.end)
            for c in candidates
            if c.entity in IDENTIFIERS and c.score >= self.threshold
        ]
        terms = self.categories[0].index.scan(text, deadline) if self.categories else {}
        genre = functools.cache(lambda: about.genre(text))  # asked only when it matters
        for category in self.categories:
            matches = terms.get(category.category, [])
            for r in category.analyze(
                text,
                [],
                identifiers=identifiers,
                deadline=deadline,
                terms=matches,
                genre=genre,
            ):
                reason = (
                    r.analysis_explanation.textual_explanation if r.analysis_explanation else ""
                )
                candidates.append(
                    Candidate(
                        r.entity_type,
                        r.start,
                        r.end,
                        r.score,
                        category.name,
                        text[r.start : r.end],
                        reason=reason or "",
                        about=str(r.recognition_metadata.get("about", "")),
                    )
                )
        return candidates

    @staticmethod
    def _boost_positions(index: TextIndex, scoring: _Scoring, candidates: int) -> list[int] | None:
        """Where the boost words may start, when looking them up in the whole text costs
        less than searching each candidate's windows; None: search the windows."""
        starts = scoring.boost_heads
        if scoring.boost is None or not starts or candidates == 0:
            return None
        if candidates * WINDOW_SEARCH < len(index.text) * len(starts):
            return None
        return index.positions(starts)

    @staticmethod
    def _in_context(
        text: str,
        result: RecognizerResult,
        recognizer: str,
        scoring: _Scoring,
        boosts: list[int] | None = None,
    ) -> Candidate:
        score = result.score
        boost_word = suppress_word = None
        if scoring.boost is not None:
            before, after = max(0, result.start - BOOST_BEFORE), result.end + BOOST_AFTER
            if boosts is not None:
                end = min(len(text), after)
                boost_word = first_match(
                    scoring.boost, text, boosts, before, result.start
                ) or first_match(scoring.boost, text, boosts, result.end, end)
            else:
                found = scoring.boost.search(text[before : result.start]) or scoring.boost.search(
                    text[result.end : after]
                )
                boost_word = found.group() if found else None
            if boost_word is not None:
                score += scoring.boost_by
        if scoring.suppress is not None:
            label = text[max(0, result.start - SUPPRESS_BEFORE) : result.start]
            # The label position: after the last line break or number before this one.
            last = _LABEL_END.search(label)
            label = label[last.end() :] if last else label
            if label not in scoring.labels:  # a list repeats its labels: each read once
                if len(scoring.labels) >= LABELS_KEPT:
                    scoring.labels.clear()
                scoring.labels[label] = _suppress_word(label, scoring)
            suppress_word = scoring.labels[label]
            if suppress_word is not None:
                score -= scoring.penalty
        score = max(EntityRecognizer.MIN_SCORE, min(EntityRecognizer.MAX_SCORE, score))
        explanation = result.analysis_explanation
        return Candidate(
            result.entity_type,
            result.start,
            result.end,
            round(score, 3),
            recognizer,
            text[result.start : result.end],
            boost_word,
            suppress_word,
            "; ".join(explanation.textual_explanation.split("\n"))
            if explanation and explanation.textual_explanation
            else "",
        )

    def _ner(self, text: str) -> list[Candidate]:
        results = self.engine.analyze(
            text=text[: self.engine.nlp_engine.nlp[LANGUAGE].max_length - 1],
            language=LANGUAGE,
            entities=list(NER_ENTITIES),
            score_threshold=self.threshold,
        )
        return [
            Candidate(
                r.entity_type, r.start, r.end, r.score, "SpacyRecognizer", text[r.start : r.end]
            )
            for r in results
        ]

    def warm_up(self) -> None:
        """Build what the detector makes on first need (the context words' case table,
        stems of common words: about 0.1 s), so that a worker's first mail does not wait."""
        self.analyze(WARM_UP_TEXT)

    # -- a message ----------------------------------------------------------------------------

    def _keyed(self, c: Candidate) -> str | None:
        """The keyed hash of a CPR or CVR number, made here, where the value is known."""
        if self._number_key is None or c.entity not in NUMBER_ENTITIES:
            return None
        return keyed_number(self._number_key, digits_of(c.value))

    def detect(
        self, chunks: Iterable[TextChunk], deadline: float | None = None
    ) -> tuple[list[Finding], list[Candidate], list[str]]:
        """Findings for a message's text chunks, the candidates below the threshold (for
        --explain), and why the scan is incomplete (empty when it is complete)."""
        findings: list[Finding] = []
        below: list[Candidate] = []
        incomplete: list[str] = []
        for chunk in chunks:
            analysis = self.analyze(chunk.text, deadline)
            incomplete.extend(r for r in analysis.incomplete if r not in incomplete)
            for c in analysis.candidates:
                if c.score >= self.threshold:
                    findings.append(
                        Finding(
                            c.entity,
                            chunk.location,
                            c.score,
                            c.recognizer,
                            c.masked(),
                            about=c.about,
                            keyed=self._keyed(c),
                        )
                    )
                else:
                    below.append(c)
        return findings, below, incomplete


def _without_overlaps(candidates: list[Candidate], threshold: float) -> list[Candidate]:
    """One entity per stretch of text: where reported spans overlap, the higher score wins.
    Candidates below the threshold are kept as they are (for --explain)."""
    below = [c for c in candidates if c.score < threshold]
    above = sorted((c for c in candidates if c.score >= threshold), key=lambda c: c.start)
    kept: list[Candidate] = []
    cluster: list[Candidate] = []
    cluster_end = -1
    for c in [*above, None]:
        if c is not None and c.start < cluster_end:
            cluster.append(c)
            cluster_end = max(cluster_end, c.end)
            continue
        chosen: list[Candidate] = []
        for k in sorted(cluster, key=lambda k: (-k.score, k.start)):
            if not any(k.start < o.end and o.start < k.end for o in chosen):
                chosen.append(k)
        kept.extend(chosen)
        if c is not None:
            cluster, cluster_end = [c], c.end
    return kept + below
