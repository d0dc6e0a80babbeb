"""DK_CPR and DK_CPR_REPLACEMENT: the Danish personal identification number.

The date and century rules come from python-stdnum (``stdnum.dk.cpr``): an impossible or
future date is not a CPR number (``validate_result`` False drops it). Modulus 11 is *not* a
gate: numbers without a valid check digit have been issued since 2007 (DOMAIN.md 1.3). A
passing check raises the score; a failing number on a listed 1-January exception date is as
strong as a passing one; other failing numbers keep the lower pattern score, which context
words raise. Masked forms (``150385-****``) never match: the serial must be four digits.
"""

from __future__ import annotations

from datetime import date
from functools import cache, lru_cache
from pathlib import Path

from presidio_analyzer import Pattern, RecognizerResult
from stdnum.dk import cpr as stdnum_cpr
from stdnum.exceptions import ValidationError

from gateway.detect.recognizers.base import DanishPatternRecognizer, digits_of
from gateway.detect.recognizers.labels import REFERENCE_LABEL

DATA = Path(__file__).resolve().parents[1] / "data"

# Digit boundaries on both sides: no embedded run, no sign, no longer number joined by
# "-", "/" or "." — but a label may touch the number ("cpr.nr.DDMMYY-SSSS", "CPR-DDMMYY…").
_LEFT, _RIGHT = r"(?<![\d+])(?<!\d[\-/.])", r"(?![\d]|-\d|/\d|\.\d)"

CPR_PATTERNS = [
    Pattern("cpr hyphen", _LEFT + r"\d{6}-\d{4}" + _RIGHT, 0.5),
    Pattern("cpr spaced hyphen", _LEFT + r"\d{6} - \d{4}" + _RIGHT, 0.45),
    Pattern("cpr other separator", _LEFT + r"\d{6}[ /.\t]\d{4}" + _RIGHT, 0.4),
    Pattern("cpr no separator", _LEFT + r"\d{10}" + _RIGHT, 0.3),
]

CPR_CONTEXT = [
    "cpr",
    "cpr-nr",
    "cpr-nr.",
    "cpr.nr",
    "cpr.nr.",
    "cprnr",
    "cpr nr",
    "cpr-nummer",
    "cprnummer",
    "cpr nummer",
    "personnummer",
    "personnr",
    "pers.nr",
    "pers.nr.",
    "sygesikringsnummer",
    "sygesikring",
    "sundhedskort",
    "sundhedskortnummer",
    "fødselsdato og løbenummer",
    "personal id number",
    "civil registration number",
    "cpr number",
    "social security number",
    "født",
    "personal identification number",
]

# Labels of other numbers (order, invoice, P-, account … numbers) in every spelling come from
# stems (gateway.detect.recognizers.labels); these are the words no stem generates.
CPR_SUPPRESS = [
    "kontonr",
    "konto",
    "track & trace",
    "timestamp",
    "ts=",
    "test report no",
    "protocol no",
    "serial number",
    "customer number",
    "order number",
    "invoice number",
]
CPR_SUPPRESS_PATTERNS = [REFERENCE_LABEL]


@cache
def exception_dates() -> frozenset[date]:
    lines = (DATA / "cpr_exception_dates.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(
        date.fromisoformat(line.strip()) for line in lines if line.strip() and line[0] != "#"
    )


@lru_cache(maxsize=4096)
def birth_date(number: str) -> date | None:
    """The decoded birth date of a plausible CPR number, or None if it cannot be one."""
    try:
        stdnum_cpr.validate(number)
        return stdnum_cpr.get_birth_date(number)
    except ValidationError:
        return None


def mod11_ok(number: str) -> bool:
    return stdnum_cpr.checksum(number) == 0


def mask(value: str) -> str:
    digits = digits_of(value)
    return f"{digits[:6]}-****"


class DkCprRecognizer(DanishPatternRecognizer):
    ENTITY = "DK_CPR"
    PATTERNS = CPR_PATTERNS
    CONTEXT = CPR_CONTEXT
    SUPPRESS = CPR_SUPPRESS
    SUPPRESS_PATTERNS = CPR_SUPPRESS_PATTERNS
    STRONG_BONUS = 0.3

    def validate_result(self, pattern_text: str) -> bool | None:
        # Only impossible or future dates are decided here: True would set the score to 1.0.
        return None if birth_date(digits_of(pattern_text)) else False

    def adjust(self, result: RecognizerResult, value: str) -> None:
        number = digits_of(value)
        if mod11_ok(number):
            self.raise_score(result, self.STRONG_BONUS, "modulus 11 check passes")
        elif birth_date(number) in exception_dates():
            self.raise_score(result, self.STRONG_BONUS, "listed date without modulus 11")


class DkCprReplacementRecognizer(DanishPatternRecognizer):
    """Erstatningspersonnumre: the same layout with 60 added to the day (61–91)."""

    ENTITY = "DK_CPR_REPLACEMENT"
    PATTERNS = [
        Pattern("replacement hyphen", _LEFT + r"[6-9]\d{5}-\d{4}" + _RIGHT, 0.45),
        Pattern("replacement other", _LEFT + r"[6-9]\d{5}[ /.\t]?\d{4}" + _RIGHT, 0.3),
    ]
    CONTEXT = [*CPR_CONTEXT, "erstatningspersonnummer", "erstatnings-cpr", "erstatningsnummer"]
    SUPPRESS = CPR_SUPPRESS
    SUPPRESS_PATTERNS = CPR_SUPPRESS_PATTERNS

    def validate_result(self, pattern_text: str) -> bool | None:
        number = digits_of(pattern_text)
        day = int(number[:2]) - 60
        if not 1 <= day <= 31:
            return False
        return None if birth_date(f"{day:02d}{number[2:]}") else False
