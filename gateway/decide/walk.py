"""The rule walk: facts in, verdict out, with the reasons that made each rule fire.

Rules are tried in order; the first that matches decides, unless its ``then`` says
``continue`` (its journal/reply/tags are kept and the walk goes on). Reasons hold entity
types and counts, never values.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

from gateway.decide.load import REPO_POLICIES
from gateway.decide.policy import TLS_ORDER, Mailbox, Policy, Rule, SenderKind
from gateway.domains import a_label, address_key, domain_of
from gateway.model import Finding, Verdict


@dataclass(frozen=True)
class Facts:
    findings: tuple[Finding, ...] = ()
    signed: bool = False
    encrypted: bool = False
    signature_valid: bool | None = None
    tls_version: str | None = None
    unscanned: tuple[str, ...] = ()
    mail_from: str = ""
    dmarc: str | None = None
    size: int = 0


def _matches(rule: Rule, facts: Facts, policy: Policy) -> tuple[bool, list[str]]:
    when = rule.when
    why: list[str] = []
    if when.sender is not None:
        kind = sender_kind(policy, facts)
        if kind != when.sender:
            return False, why
        why.append(f"sender is a {kind}")
    if when.entities is not None:
        counts = Counter(
            f.entity
            for f in facts.findings
            if f.entity in when.entities and f.score >= when.min_score
        )
        if sum(counts.values()) < when.min_count:
            return False, why
        why.extend(f"{entity} x{count}" for entity, count in sorted(counts.items()))
    for name in ("encrypted", "signed"):
        wanted = getattr(when, name)
        if wanted is not None:
            if getattr(facts, name) != wanted:
                return False, why
            why.append(name if wanted else f"not {name}")
    if when.signature_valid is not None:
        if facts.signature_valid is not when.signature_valid:
            return False, why
        why.append(f"signature valid={when.signature_valid}")
    if when.tls_below is not None:
        level = TLS_ORDER.index(facts.tls_version) if facts.tls_version in TLS_ORDER else -1
        if level >= TLS_ORDER.index(when.tls_below):
            return False, why
        why.append(f"TLS below {when.tls_below}")
    if when.unscanned is not None:
        if bool(facts.unscanned) != when.unscanned:
            return False, why
        why.append("unscanned: " + ",".join(facts.unscanned) if facts.unscanned else "scanned")
    domain = domain_of(facts.mail_from)
    if when.sender_domains is not None:
        if domain not in {a_label(d) for d in when.sender_domains}:
            return False, why
        why.append(f"sender domain {domain}")
    if when.sender_addresses is not None:
        if address_key(facts.mail_from) not in {address_key(a) for a in when.sender_addresses}:
            return False, why
        why.append("listed sender")
    if when.dmarc is not None:
        if (facts.dmarc or "none") != when.dmarc:
            return False, why
        why.append(f"dmarc={when.dmarc}")
    if when.larger_than is not None:
        if facts.size <= when.larger_than:
            return False, why
        why.append(f"larger than {when.larger_than} bytes")
    return True, why


@functools.cache
def shipped_consumer_domains() -> frozenset[str]:
    """policies/consumer-domains.txt: one domain a line, # comments."""
    lines = (REPO_POLICIES / "consumer-domains.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(
        a_label(line.split("#", 1)[0]) for line in lines if line.split("#", 1)[0].strip()
    )


OWN_TEXT = ("subject", "body", "html")
"""Where the sender writes in their own name; quoted, forwarded and attached text may be
someone else's (a citizen forwarding their employer's letter is not a business)."""


def sender_kind(policy: Policy, facts: Facts) -> SenderKind:
    """Whether the sender writes as a business or as a private person.

    A per-domain override decides first; then a CVR number in the sender's own text (subject,
    body, signature), or a sender domain that is not a consumer mail domain, makes the sender
    a business.
    """
    domain = domain_of(facts.mail_from)
    overrides = {a_label(d): portal for d, portal in policy.portal_by_domain.items()}
    if domain in overrides:
        return "business" if overrides[domain] == "virk.dk" else "citizen"
    if any(f.entity == "DK_CVR" and f.location in OWN_TEXT for f in facts.findings):
        return "business"
    consumer = (
        {a_label(d) for d in policy.consumer_domains}
        if policy.consumer_domains is not None
        else shipped_consumer_domains()
    )
    return "business" if domain and domain not in consumer else "citizen"


def portal_for(policy: Policy, facts: Facts) -> str:
    """borger.dk for private persons, virk.dk for businesses (``sender_kind``)."""
    return "virk.dk" if sender_kind(policy, facts) == "business" else "borger.dk"


def decide(policy: Policy, group: str, facts: Facts) -> Verdict:
    mailbox: Mailbox | None = next((m for m in policy.mailboxes if m.name == group), None)
    journal = reply = copy = False
    tags: list[tuple[str, str]] = []
    steps: list[str] = []
    reasons: list[str] = []
    for rule in policy.rules_for(group):
        matched, why = _matches(rule, facts, policy)
        steps.append(
            f"{rule.name}: {'match' if matched else 'no match'}"
            + (f" ({'; '.join(why)})" if matched and why else "")
        )
        if not matched:
            continue
        then = rule.then
        journal |= then.journal
        reply |= then.reply
        copy |= then.copy_to_journal
        tags.extend(then.tag.items())
        reasons.extend(why)
        if then.continue_:
            continue
        mode = rule.mode or policy.mode
        sensitive = tuple(
            sorted(
                {
                    f.entity
                    for f in facts.findings
                    if rule.when.entities and f.entity in rule.when.entities
                }
            )
        )
        verdict = Verdict(
            action=then.action if mode == "enforce" else "deliver",
            would=then.action if mode == "monitor" else None,
            reply=reply and mode == "enforce",
            portal=portal_for(policy, facts) if reply else None,
            journal=journal,
            rule=rule.name,
            reasons=tuple(reasons),
            mode=mode,
            tags=tuple(tags) if mode == "enforce" else (),
            reject_text=then.reject_text,
            copy_to=mailbox.journal_mailbox if copy and mailbox else None,
            mailbox=group,
            journal_entities=sensitive,
            steps=tuple(steps),
        )
        return verdict
    return Verdict(
        rule="none",
        reasons=("no rule matched",),
        mailbox=group,
        steps=tuple(steps),
        mode=policy.mode,
    )
