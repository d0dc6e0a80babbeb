"""What the flagged-mail log keeps about a message for the staff who journal it.

Never the subject itself: it may carry a CPR number, a name or a diagnosis. A KLE/SBSYS case
number in the subject is kept as a routing hint (it names a case, not a person), and a masked
subject only for mailboxes whose admin switched it on (``show_masked_subject``).
"""

from __future__ import annotations

import re

from gateway.decide.policy import Policy
from gateway.model import Inspection, ReviewFacts, Verdict

# KLE emne (HH.GG.EE), handlingsfacet, serial, two-digit year: 27.24.00-G01-5-19 (DOMAIN.md 5).
CASE_NUMBER = re.compile(r"\b\d{2}\.\d{2}\.\d{2}-[A-Z]\d{2}-\d{1,7}-\d{2}\b")
MASKED_SUBJECT_LENGTH = 120
_DIGIT = re.compile(r"\d")


def case_hint(subject: str | None) -> str | None:
    found = CASE_NUMBER.search(subject or "")
    return found.group(0) if found else None


def hide_digits(text: str) -> str:
    """Every digit as "•": CPR, phone and account numbers are digits, in any spelling (the
    masked subject; Serviceplatformen's error texts, which may quote the recipient)."""
    return _DIGIT.sub("•", text)


def mask_subject(subject: str) -> str:
    """Digits hidden, length capped. Words stay readable: that is why it is off unless an
    admin switches it on for a mailbox."""
    masked = hide_digits(subject)
    if len(masked) > MASKED_SUBJECT_LENGTH:
        masked = masked[: MASKED_SUBJECT_LENGTH - 1] + "…"
    return masked


def flagged(verdict: Verdict | None) -> bool:
    return verdict is not None and (verdict.journal or verdict.action == "quarantine")


def review_facts(policy: Policy, facts: Inspection) -> ReviewFacts:
    verdict = facts.verdict
    if not flagged(verdict):
        return ReviewFacts()
    assert verdict is not None
    subject = facts.parsed.subject if facts.parsed else None
    mailbox = next((m for m in policy.mailboxes if m.name == verdict.mailbox), None)
    show = mailbox is not None and mailbox.show_masked_subject and subject
    return ReviewFacts(
        journal_state="open",
        case_hint=case_hint(subject),
        subject_masked=mask_subject(subject) if show and subject else None,
        sender_name=facts.parsed.from_name if facts.parsed else None,
    )
