"""The entity types the detector can report, by name: what a policy's ``entities`` may list.

Kept free of Presidio so that ``postvagt policy check`` and the policy models can check names
without building an engine; tests/test_policy.py keeps it equal to what the analyzer reports.
"""

from __future__ import annotations

from pathlib import Path

from gateway.spelling import did_you_mean

LEXICONS = Path(__file__).resolve().parent / "lexicons"

IDENTIFIERS = (
    "DK_CPR",
    "DK_CPR_REPLACEMENT",
    "DK_PASSPORT",
    "DK_DRIVING_LICENCE",
    "DK_BANK_ACCOUNT",
)
CONTACT_AND_BUSINESS = ("DK_CVR", "DK_PHONE", "EMAIL_ADDRESS", "IBAN_CODE")
CATEGORIES = tuple(sorted(p.stem.upper() for p in LEXICONS.glob("*.txt")))
"""GDPR art. 9/10 categories, one per lexicon file (HEALTH, CRIMINAL, …)."""
NAMED = ("PERSON", "LOCATION")
"""Only with an ``nlp_model`` that has named-entity recognition."""

KNOWN = frozenset((*IDENTIFIERS, *CONTACT_AND_BUSINESS, *CATEGORIES, *NAMED))


def check_entity(name: str) -> str:
    """The name if the detector knows it; ValueError naming the closest one otherwise."""
    if name in KNOWN:
        return name
    raise ValueError(
        f"unknown entity type {name!r}{did_you_mean(name, KNOWN)} "
        f"(identifiers: {', '.join(IDENTIFIERS + CONTACT_AND_BUSINESS)}; "
        f"categories: {', '.join(CATEGORIES)}; with an nlp_model: {', '.join(NAMED)})"
    )
