"""The facts of one message, computed in one place for the gateway, ``postvagt scan`` and
the staff page: why it is incomplete (the reasons of X-Postvagt-Scan), what the policy decides
on, and how the facts of stages that ran side by side come together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields, replace

from gateway.decide.walk import Facts
from gateway.model import Inspection, Protection, Unscanned

_UNSCANNED = {
    "timeout": Unscanned.TIMEOUT,
    "text-too-long": Unscanned.TOO_LARGE,
    "too-large": Unscanned.TOO_LARGE,
    "unsupported-attachment": Unscanned.UNSUPPORTED_ATTACHMENT,
    "limit": Unscanned.LIMIT,
    "encrypted": Unscanned.ENCRYPTED,
    "malformed": Unscanned.MALFORMED,
    "ocr-needed": Unscanned.OCR_NEEDED,
    "ocr-budget": Unscanned.OCR_BUDGET,
    "legacy-office": Unscanned.UNSUPPORTED_ATTACHMENT,
    "embedded-image-not-read": Unscanned.EMBEDDED_IMAGE_NOT_READ,
}


def unscanned_of(reasons: Iterable[str], protection: Protection | None) -> tuple[Unscanned, ...]:
    """Why a message is incomplete, from what the detection left unread and its protection:
    the reasons of X-Postvagt-Scan, for the gateway and ``postvagt scan`` alike."""
    found = [Unscanned.ENCRYPTED] if protection is not None and protection.encrypted else []
    found += [_UNSCANNED.get(reason, Unscanned.INTERNAL_ERROR) for reason in reasons]
    return tuple(dict.fromkeys(found))


def decision_facts(
    facts: Inspection, *, mail_from: str, size: int, tls_version: str | None = None
) -> Facts:
    """The facts the policy decides on: the one place that computes them, for the gateway
    (Pipeline.decide) and for ``postvagt scan``."""
    protection, sender = facts.protection, facts.sender
    return Facts(
        findings=facts.findings,
        signed=bool(protection and protection.signed),
        encrypted=bool(protection and protection.encrypted),
        signature_valid=protection.signature_valid if protection else None,
        tls_version=tls_version,
        unscanned=tuple(facts.unscanned),
        mail_from=mail_from,
        dmarc=sender.dmarc if sender else None,
        size=size,
    )


def merge(base: Inspection, results: Sequence[Inspection]) -> Inspection:
    """The facts of stages that ran side by side from ``base``: each field a stage changed,
    and every reason any of them left unscanned."""
    merged = base
    for result in results:
        changed = {
            f.name: getattr(result, f.name)
            for f in fields(result)
            if f.name != "unscanned" and getattr(result, f.name) is not getattr(base, f.name)
        }
        merged = replace(merged, **changed)
    reasons = dict.fromkeys(r for result in (base, *results) for r in result.unscanned)
    return replace(merged, unscanned=tuple(reasons))
