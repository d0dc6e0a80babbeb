"""The built-in decision, until YAML policies land: the shape of the verdict stays.

Personal data that needs Digital Post (a CPR number, an art. 9/10 category, bank details, an
identity document) in mail that is not encrypted: deliver, journal, and reply with a pointer
to Digital Post — virk.dk when the mail carries a CVR number (a business), else borger.dk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.model import Finding

RULE = "builtin-default"

NEEDS_DIGITAL_POST = frozenset(
    {
        "DK_CPR",
        "DK_CPR_REPLACEMENT",
        "DK_BANK_ACCOUNT",
        "DK_PASSPORT",
        "DK_DRIVING_LICENCE",
        "HEALTH",
        "CRIMINAL",
        "SOCIAL",
        "UNION",
        "RELIGION",
        "ETHNICITY",
        "SEXUALITY",
        "BIOMETRIC_GENETIC",
        "POLITICAL",
    }
)


@dataclass(frozen=True)
class Decision:
    action: str = "deliver"
    reply: bool = False
    portal: str | None = None
    journal: bool = False
    rule: str = RULE
    reasons: list[str] = field(default_factory=list)
    journal_entities: tuple[str, ...] = ()


def decide(findings: Iterable[Finding], *, encrypted: bool = False) -> Decision:
    counts = Counter(f.entity for f in findings)
    sensitive = sorted(e for e in counts if e in NEEDS_DIGITAL_POST)
    if not sensitive:
        return Decision(reasons=["no personal data that needs Digital Post"])
    reasons = [f"{entity} x{counts[entity]}" for entity in sensitive]
    if encrypted:
        return Decision(
            journal=True, reasons=[*reasons, "encrypted"], journal_entities=tuple(sensitive)
        )
    portal = "virk.dk" if counts.get("DK_CVR") else "borger.dk"
    return Decision(
        reply=True,
        portal=portal,
        journal=True,
        reasons=reasons,
        journal_entities=tuple(sensitive),
    )
