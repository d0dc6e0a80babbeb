"""DK_PASSPORT (9 digits) and DK_DRIVING_LICENCE (8 digits): only with their words nearby.

Nine and eight digits are common in any mail; these numbers count only next to "pas",
"pasnummer", "kørekort" and the like (Purview's keywords), never on their own. A business's
numbers are not a person's: a "Licence Number", "Reg. No." or "VAT No." in a company footer
names its own number, so a bare "licence number" is no context, and a reference label right
before the number suppresses it (as for CPR numbers).
"""

from __future__ import annotations

from presidio_analyzer import Pattern

from gateway.detect.recognizers.base import DanishPatternRecognizer, digits_of
from gateway.detect.recognizers.labels import BUSINESS_LABEL, REFERENCE_LABEL


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
        "driver's licence",
        "driving licence number",
        "driving license number",
    ]
    CONTEXT_BOOST = 0.55
    SUPPRESS_PATTERNS = [REFERENCE_LABEL, BUSINESS_LABEL]


def mask(value: str) -> str:
    digits = digits_of(value)
    return digits[:2] + "*" * (len(digits) - 2)
