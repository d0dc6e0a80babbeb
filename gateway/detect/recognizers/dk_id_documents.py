"""DK_PASSPORT (9 digits) and DK_DRIVING_LICENCE (8 digits): only with their words nearby.

Nine and eight digits are common in any mail; these numbers count only next to "pas",
"pasnummer", "kørekort" and the like (Purview's keywords), never on their own.
"""

from __future__ import annotations

from presidio_analyzer import Pattern

from gateway.detect.recognizers.base import DanishPatternRecognizer, digits_of


class DkPassportRecognizer(DanishPatternRecognizer):
    ENTITY = "DK_PASSPORT"
    PATTERNS = [Pattern("nine digits", r"(?<![\d+\-/.])\d{9}(?![\d]|-\d)", 0.05)]
    CONTEXT = ["pas", "pasnummer", "pasnr", "pasnr.", "passport", "passport number", "pasnumre"]
    CONTEXT_BOOST = 0.55


class DkDrivingLicenceRecognizer(DanishPatternRecognizer):
    ENTITY = "DK_DRIVING_LICENCE"
    PATTERNS = [Pattern("eight digits", r"(?<![\d+\-/.])\d{8}(?![\d]|-\d)", 0.05)]
    CONTEXT = [
        "kørekort",
        "kørekortnummer",
        "kørekortnr",
        "kørekortnr.",
        "driving licence",
        "driving license",
        "driver's license",
        "licence number",
    ]
    CONTEXT_BOOST = 0.55


def mask(value: str) -> str:
    digits = digits_of(value)
    return digits[:2] + "*" * (len(digits) - 2)
