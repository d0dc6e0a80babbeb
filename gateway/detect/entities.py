"""Every entity type the detector can report, in one table: what a policy's ``entities`` may
list, what the staff page filters and names, how a finding is masked, which recognizer finds
it. Adding a type touches this table and its recognizer only.

Kept free of Presidio so that ``postvagt policy check`` and the policy models can check names
without building an engine: recognizers and masks are named by import path and resolved by
the detector (gateway.detect.engine, gateway.detect.analyzer).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.spelling import did_you_mean

LEXICONS = Path(__file__).resolve().parent / "lexicons"

IDENTIFIER = "identifier"
"""A number that identifies a person: near it, a category term is about that person."""
CONTACT = "contact"
"""Contact and business numbers: personal data, not confidential on their own."""
ART9 = "art. 9"
ART10 = "art. 10"
CONFIDENTIAL = "fortrolig"
"""Danish *fortrolige oplysninger* outside art. 9/10 (shared/DOMAIN.md 2.2)."""
NAMED = "named"
"""Only with an ``nlp_model`` that has named-entity recognition."""


@dataclass(frozen=True)
class EntityType:
    name: str
    group: str  # IDENTIFIER, CONTACT, ART9, ART10, CONFIDENTIAL or NAMED
    da: str
    en: str
    recognizer: str | None = None
    """``module:callable`` that makes its recognizer; categories: their lexicon file."""
    mask: str | None = None
    """``module:function`` that masks a value; None: the type says it all, no value kept."""
    staff_filter: bool = True
    """Offered in the staff page's filter of flagged mail."""

    @property
    def identifier(self) -> bool:
        return self.group == IDENTIFIER

    @property
    def category(self) -> bool:
        return self.group in (ART9, ART10, CONFIDENTIAL)


_R = "gateway.detect.recognizers."
TABLE: tuple[EntityType, ...] = (
    EntityType("DK_CPR", IDENTIFIER, "CPR-nummer", "CPR number",
               _R + "dk_cpr:DkCprRecognizer", _R + "dk_cpr:mask"),
    EntityType("DK_CPR_REPLACEMENT", IDENTIFIER, "Erstatnings-CPR-nummer",
               "Replacement CPR number", _R + "dk_cpr:DkCprReplacementRecognizer",
               _R + "dk_cpr:mask"),
    EntityType("DK_CVR", CONTACT, "CVR-nummer", "CVR number",
               _R + "dk_cvr:DkCvrRecognizer", _R + "dk_cvr:mask"),
    EntityType("DK_PHONE", CONTACT, "Telefonnummer", "Phone number",
               _R + "dk_phone:DkPhoneRecognizer", _R + "dk_phone:mask"),
    EntityType("DK_BANK_ACCOUNT", IDENTIFIER, "Kontonummer", "Bank account number",
               _R + "dk_bank_account:DkBankAccountRecognizer", _R + "dk_bank_account:mask"),
    EntityType("IBAN_CODE", CONTACT, "IBAN-nummer", "IBAN",
               "gateway.detect.engine:iban_recognizer", "gateway.detect.masks:iban"),
    EntityType("DK_PASSPORT", IDENTIFIER, "Pasnummer", "Passport number",
               _R + "dk_id_documents:DkPassportRecognizer", _R + "dk_id_documents:mask"),
    EntityType("DK_DRIVING_LICENCE", IDENTIFIER, "Kørekortnummer", "Driving licence number",
               _R + "dk_id_documents:DkDrivingLicenceRecognizer", _R + "dk_id_documents:mask"),
    EntityType("EMAIL_ADDRESS", CONTACT, "E-mailadresse", "Email address",
               "gateway.detect.engine:email_recognizer", "gateway.detect.masks:email",
               staff_filter=False),
    EntityType("PERSON", NAMED, "Personnavn", "Person's name", staff_filter=False),
    EntityType("LOCATION", NAMED, "Sted eller adresse", "Place or address", staff_filter=False),
    EntityType("HEALTH", ART9, "Helbredsoplysninger", "Health data", "health.txt"),
    EntityType("ADDICTION", ART9, "Misbrug", "Addiction", "addiction.txt"),
    EntityType("FAMILY", CONFIDENTIAL, "Familieforhold og børnesager",
               "Family matters and child welfare", "family.txt"),
    EntityType("SOCIAL", CONFIDENTIAL, "Sociale forhold og gæld", "Social problems and debt",
               "social.txt"),
    EntityType("SUICIDE", CONFIDENTIAL, "Selvmordsforsøg og selvskade",
               "Suicide attempts and self-harm", "suicide.txt"),
    EntityType("CRIMINAL", ART10, "Strafbare forhold", "Criminal offences", "criminal.txt"),
    EntityType("UNION", ART9, "Fagforeningsforhold", "Trade union membership", "union.txt"),
    EntityType("RELIGION", ART9, "Religiøs overbevisning", "Religious beliefs",
               "religion.txt"),
    EntityType("ETHNICITY", ART9, "Etnisk oprindelse", "Ethnic origin", "ethnicity.txt"),
    EntityType("SEXUALITY", ART9, "Seksuelle forhold", "Sex life or orientation",
               "sexuality.txt"),
    EntityType("BIOMETRIC_GENETIC", ART9, "Genetiske eller biometriske data",
               "Genetic or biometric data", "biometric_genetic.txt"),
    EntityType("POLITICAL", ART9, "Politisk overbevisning", "Political opinions",
               "political.txt"),
)  # fmt: skip

BY_NAME = {e.name: e for e in TABLE}
if len(BY_NAME) != len(TABLE):
    raise ValueError("an entity type is in the table twice")

NAMES = tuple(e.name for e in TABLE)
"""In the table's order: identifiers, contact data, named entities, categories."""
IDENTIFIERS = tuple(e.name for e in TABLE if e.identifier)
CONTACT_AND_BUSINESS = tuple(e.name for e in TABLE if e.group == CONTACT)
CATEGORIES = tuple(e.name for e in TABLE if e.category)
"""GDPR art. 9/10 categories and fortrolige oplysninger, each found by its lexicon."""
NER = tuple(e.name for e in TABLE if e.group == NAMED)

KNOWN = frozenset(NAMES)


def check_entity(name: str) -> str:
    """The name if the detector knows it; ValueError naming the closest one otherwise."""
    if name in KNOWN:
        return name
    raise ValueError(
        f"unknown entity type {name!r}{did_you_mean(name, KNOWN)} "
        f"(identifiers: {', '.join(IDENTIFIERS + CONTACT_AND_BUSINESS)}; "
        f"categories: {', '.join(CATEGORIES)}; with an nlp_model: {', '.join(NER)})"
    )


def resolve(path: str) -> Any:
    """The object an import path ``module:name`` names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def masks() -> dict[str, Callable[[str], str]]:
    return {e.name: resolve(e.mask) for e in TABLE if e.mask}


def lexicon_files() -> dict[str, Path]:
    """Each category's lexicon file."""
    return {e.name: LEXICONS / e.recognizer for e in TABLE if e.category and e.recognizer}
