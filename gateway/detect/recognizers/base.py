"""What every Postvagt pattern recognizer shares.

They are Presidio ``PatternRecognizer`` subclasses (graded ``PATTERNS``, ``CONTEXT`` words,
``validate_result`` for impossible values), plus two things Presidio does not give us:

- ``SUPPRESS`` words, which lower a candidate's score (an order number is not a CPR number);
  the detector applies them, with ``CONTEXT``, over windows of raw text, because a blank
  spaCy pipeline gives Presidio's lemma-based context enhancer nothing to work with;
- patterns run under the caller's deadline, and a timeout raises ``ScanIncomplete``:
  Presidio's own loop logs a regex timeout and carries on, which would make a message look
  clean when it was not scanned.
"""

from __future__ import annotations

import time
from typing import ClassVar

import regex
from presidio_analyzer import (
    AnalysisExplanation,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts

LANGUAGE = "da"


class ScanIncomplete(Exception):
    """A recognizer could not finish within the deadline."""


def compiled(recognizer: PatternRecognizer, pattern: Pattern) -> regex.Pattern[str]:
    """The pattern compiled with its recognizer's flags (kept on the pattern, as Presidio
    does)."""
    flags = recognizer.global_regex_flags
    if pattern.compiled_regex is None or pattern.compiled_with_flags != flags:
        pattern.compiled_with_flags = flags
        pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
    return pattern.compiled_regex


def pattern_result(
    recognizer: PatternRecognizer, pattern: Pattern, text: str, start: int, end: int
) -> RecognizerResult | None:
    """A match scored as Presidio scores it (validation, invalidation), or None when that
    leaves nothing."""
    value = text[start:end]
    validation = recognizer.validate_result(value)
    score = pattern.score
    if validation is not None:
        score = EntityRecognizer.MAX_SCORE if validation else EntityRecognizer.MIN_SCORE
    if recognizer.invalidate_result(value):
        score = EntityRecognizer.MIN_SCORE
    if score <= EntityRecognizer.MIN_SCORE:
        return None
    explanation = AnalysisExplanation(
        recognizer=recognizer.name,
        original_score=pattern.score,
        pattern_name=pattern.name,
        pattern=pattern.regex,
        validation_result=validation,
    )
    return RecognizerResult(
        entity_type=recognizer.supported_entities[0],
        start=start,
        end=end,
        score=score,
        analysis_explanation=explanation,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


def run_pattern(
    recognizer: PatternRecognizer, pattern: Pattern, text: str, deadline: float | None
) -> list[RecognizerResult]:
    """One pattern searched over ``text``, with a deadline that fails closed."""
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        raise ScanIncomplete(f"{recognizer.name}: out of time")
    try:
        matches = list(compiled(recognizer, pattern).finditer(text, timeout=remaining))
    except TimeoutError as e:
        raise ScanIncomplete(f"{recognizer.name}/{pattern.name}: regex timeout") from e
    results = []
    for match in matches:
        start, end = match.span()
        if start == end:
            continue
        result = pattern_result(recognizer, pattern, text, start, end)
        if result is not None:
            results.append(result)
    return results


def run_patterns(
    recognizer: PatternRecognizer, text: str, deadline: float | None
) -> list[RecognizerResult]:
    """Presidio's pattern loop, with a deadline that fails closed."""
    return [
        result
        for pattern in recognizer.patterns
        for result in run_pattern(recognizer, pattern, text, deadline)
    ]


class DanishPatternRecognizer(PatternRecognizer):
    """Base for Postvagt's recognizers: declare the class attributes, override ``adjust``."""

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[list[Pattern]]
    CONTEXT: ClassVar[list[str]] = []
    SUPPRESS: ClassVar[list[str]] = []
    SUPPRESS_PATTERNS: ClassVar[list[str]] = []
    """Regular expressions of suppress labels (gateway.detect.recognizers.labels)."""
    CONTEXT_BOOST: ClassVar[float] = 0.35
    SUPPRESS_PENALTY: ClassVar[float] = 0.7
    COUNTRY_CODE: ClassVar[str] = "dk"

    def __init__(self) -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            supported_language=LANGUAGE,
            name=type(self).__name__,
        )
        self.suppress = list(self.SUPPRESS)
        self.suppress_patterns = list(self.SUPPRESS_PATTERNS)
        self.context_boost = self.CONTEXT_BOOST
        self.suppress_penalty = self.SUPPRESS_PENALTY

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
        deadline: float | None = None,
    ) -> list[RecognizerResult]:
        results = run_patterns(self, text, deadline)
        for result in results:
            self.adjust(result, text[result.start : result.end])
        return results

    def adjust(self, result: RecognizerResult, value: str) -> None:
        """Change a candidate's score from what its value says (checksums and the like)."""

    @staticmethod
    def raise_score(result: RecognizerResult, by: float, why: str) -> None:
        result.score = min(EntityRecognizer.MAX_SCORE, result.score + by)
        if result.analysis_explanation is not None:
            result.analysis_explanation.append_textual_explanation_line(why)


def digits_of(value: str) -> str:
    # Most numbers are digits alone or joined by a hyphen or a space: str methods, no loop.
    if value.isdigit():
        return value
    joined = value.replace("-", "").replace(" ", "")
    if joined.isdigit():
        return joined
    return "".join(filter(str.isdigit, value))
