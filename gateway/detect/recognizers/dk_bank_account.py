"""DK_BANK_ACCOUNT: a registration number (4 digits) and an account number (up to 10).

Bank details are confidential data (DOMAIN.md 2.1). The digits alone look like anything, so
the pattern requires the labels people write: "reg.nr. 1234 kontonr. 1234567890" and the
like; without them only the "1234-1234567890" form counts, and only near a bank word.
"""

from __future__ import annotations

from presidio_analyzer import Pattern

from gateway.detect.recognizers.base import DanishPatternRecognizer, digits_of

# Whitespace runs are bounded and never adjacent: two neighbouring \s* would backtrack
# quadratically over a long run of spaces.
_REG = r"reg(?:istrerings)?\.?\s?(?:nr|nummer)\.?:?\s{0,5}"
_ACCOUNT = r"(?:konto(?:nr|nummer)?|kto)\.?(?:\s?nr\.?)?:?\s{0,5}"


class DkBankAccountRecognizer(DanishPatternRecognizer):
    ENTITY = "DK_BANK_ACCOUNT"
    PATTERNS = [
        Pattern(
            "labelled",
            r"(?i)" + _REG + r"\d{4}\s{0,5}(?:(?:,|og|and)\s{0,5})?" + _ACCOUNT + r"\d{6,10}(?!\d)",
            0.7,
        ),
        Pattern("joined", r"(?<![\d\-+/.])\d{4}[ -]\d{6,10}(?![\d]|-\d)", 0.2),
    ]
    CONTEXT = [
        "bank",
        "bankkonto",
        "konto",
        "kontonr",
        "kontonummer",
        "reg.nr",
        "regnr",
        "udbetaling",
        "udbetales",
        "account",
        "nemkonto",
    ]
    CONTEXT_BOOST = 0.35


def value_digits(value: str) -> str:
    """Registration and account number, without the labels."""
    return digits_of(value)


def mask(value: str) -> str:
    digits = digits_of(value)
    return digits[:4] + " " + "*" * max(0, len(digits) - 4)
