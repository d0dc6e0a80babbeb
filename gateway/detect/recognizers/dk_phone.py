"""DK_PHONE: Danish phone numbers — eight digits, closed numbering plan, no area codes.

Eight digits are also CVR and licence numbers, so a bare number needs a phone word nearby
or the +45/0045 prefix; pairs (``12 34 56 78``) score a little higher.
"""

from __future__ import annotations

from presidio_analyzer import Pattern

from gateway.detect.recognizers.base import DanishPatternRecognizer, digits_of

_END = r"(?![\d]|-\d)"


class DkPhoneRecognizer(DanishPatternRecognizer):
    ENTITY = "DK_PHONE"
    PATTERNS = [
        Pattern("international", r"(?<![\d+])(?:\+45|0045)[ -]?[2-9]\d(?: ?\d\d){3}" + _END, 0.6),
        Pattern("pairs", r"(?<![\d+\-/.])[2-9]\d(?: \d\d){3}" + _END, 0.35),
        Pattern("quads", r"(?<![\d+\-/.])[2-9]\d{3} \d{4}" + _END, 0.3),
        Pattern("plain", r"(?<![\d+\-/.])[2-9]\d{7}" + _END, 0.2),
    ]
    CONTEXT = [
        "tlf",
        "tlf.",
        "tlf.nr",
        "telefon",
        "telefonnummer",
        "telefonnr",
        "mobil",
        "mobilnr",
        "mobilnummer",
        "ring",
        "ringe",
        "ring til",
        "sms",
        "phone",
        "tel",
        "tel.",
        "mobile",
        "call",
        "kontakt",
    ]
    SUPPRESS = ["cvr", "cvr-nr", "cvr-nr.", "se-nr", "kørekort", "pas", "konto", "kontonr"]


def mask(value: str) -> str:
    digits = digits_of(value)[-8:]
    return digits[:2] + " ** ** **"
