"""GDPR art. 9/10 categories as keyword recognizers over the lexicons in ../lexicons/.

A single word never makes a finding: municipal mail says "behandlingstid", "journalnummer",
"a-kasse" and "anmeldt flytning" every day. A category is found with two distinct terms of it
(at least one strong), or one strong term close to a personal identifier, or one strong term
right after words about the writer's own situation ("min diagnose", "min søn er indlagt").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import regex
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from gateway.detect.recognizers.base import LANGUAGE, ScanIncomplete

LEXICONS = Path(__file__).resolve().parents[1] / "lexicons"

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
    pattern: regex.Pattern[str]


def load_lexicon(path: Path) -> Lexicon:
    strong: dict[str, str] = {}
    weak: dict[str, str] = {}
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        target = strong
        if line.startswith("~"):
            target, line = weak, line[1:]
        forms = [form.strip().lower() for form in line.split(",") if form.strip()]
        for form in forms:
            if form in strong or form in weak:
                raise ValueError(f"{path.name}: {form!r} is listed twice")
            target[form] = forms[0]
    if not strong:
        raise ValueError(f"{path.name}: a category needs at least one strong term")
    forms = sorted({*strong, *weak}, key=len, reverse=True)
    alternation = "|".join(regex.escape(form).replace(r"\ ", r"\s+") for form in forms)
    pattern = regex.compile(rf"(?i)(?<!\w)(?:{alternation})(?!\w)")
    return Lexicon(path.stem.upper(), strong, weak, pattern)


class CategoryRecognizer(LocalRecognizer):
    """One category (HEALTH, CRIMINAL, …); scores: 0.85 for two strong terms, 0.75 for a
    strong term near an identifier or the writer's own situation, 0.65 otherwise."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
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
    ) -> list[RecognizerResult]:
        try:
            matches = list(self.lexicon.pattern.finditer(text, timeout=_remaining(deadline)))
        except TimeoutError as e:
            raise ScanIncomplete(f"{self.name}: regex timeout") from e
        if not matches:
            return []
        lexicon = self.lexicon
        strong, weak = [], []
        for match in matches:
            form = " ".join(match.group().lower().split())
            if form in lexicon.strong:
                strong.append((match, lexicon.strong[form]))
            else:
                weak.append((match, lexicon.weak.get(form, form)))
        if not strong:
            return []
        distinct = {base for _, base in strong} | {base for _, base in weak}
        why, score = "", 0.0
        if len({base for _, base in strong}) >= 2:
            why, score = "two or more strong terms", 0.85
        elif self._near_identifier(strong, identifiers or []):
            why, score = "strong term near a personal identifier", 0.75
        elif self._own_situation(text, strong):
            why, score = "strong term about the writer's own situation", 0.75
        elif len(distinct) >= 2:
            why, score = "a strong and a weak term", 0.65
        if not score:
            return []
        first = strong[0][0]
        explanation = AnalysisExplanation(
            recognizer=self.name, original_score=score, textual_explanation=why
        )
        return [
            RecognizerResult(
                entity_type=lexicon.category,
                start=first.start(),
                end=first.end(),
                score=score,
                analysis_explanation=explanation,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    "terms": len(matches),
                },
            )
        ]

    @staticmethod
    def _near_identifier(strong: list, identifiers: list[tuple[int, int]]) -> bool:
        return any(
            abs(match.start() - start) <= IDENTIFIER_DISTANCE
            or abs(match.start() - end) <= IDENTIFIER_DISTANCE
            for match, _ in strong
            for start, end in identifiers
        )

    @staticmethod
    def _own_situation(text: str, strong: list) -> bool:
        for match, _ in strong:
            window = text[max(0, match.start() - OWN_SITUATION_WINDOW) : match.start()]
            window = regex.split(r"[.!?\n]", window)[-1]  # the same sentence only
            if OWN_SITUATION.search(window):
                return True
        return False


def category_recognizers() -> list[CategoryRecognizer]:
    return [CategoryRecognizer(load_lexicon(p)) for p in sorted(LEXICONS.glob("*.txt"))]


def _remaining(deadline: float | None) -> float | None:
    import time

    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ScanIncomplete("category lexicons: out of time")
    return remaining
