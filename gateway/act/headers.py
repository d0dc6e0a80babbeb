"""The header fields Postvagt puts in front of a message it hands on: trace, id, scan state,
verdict, journal flag and tags — and nothing else of the message is changed.

Fields of ours that arrive with the message are stripped first (a sender must not forge a
verdict or a journal flag); a bare CR is normalised before that, because it would hide a
forged field inside another line here and become a line end on the way out.
"""

from __future__ import annotations

from email.utils import format_datetime

from gateway.model import Inspection, Received, Verdict
from gateway.rawmail import normalise_line_ends, prepend_fields, strip_fields


def journal_reasons(verdict: Verdict, facts: Inspection) -> tuple[str, ...]:
    """Entity types for X-Postvagt-Journal; what made a rule journal when no entity did."""
    if verdict.journal_entities:
        return verdict.journal_entities
    if facts.protection is not None and facts.protection.encrypted:
        return ("ENCRYPTED",)
    return ("REVIEW",)


def trace_header(received: Received, hostname: str) -> str:
    """Our Received: field (RFC 5321 4.4), with the TLS facts and SMTPUTF8 in its protocol."""
    helo = "".join(c for c in (received.helo or "unknown") if c.isprintable() and c != " ")
    protocol = "ESMTP"
    tls = ""
    if received.tls is not None:
        protocol = "ESMTPS"
        bits = f" ({received.tls.bits} bits)" if received.tls.bits else ""
        tls = f"\n\t(using {received.tls.version} with cipher {received.tls.cipher}{bits})"
    if received.smtputf8:
        protocol = "UTF8" + protocol.removeprefix("E")
    return (
        f"from {helo[:255]} ([{received.peer}]){tls}\n"
        f"\tby {hostname} (Postvagt) with {protocol} id {received.id};\n"
        f"\t{format_datetime(received.received_at)}"
    )


def outgoing_bytes(received: Received, facts: Inspection, hostname: str) -> bytes:
    """The bytes we send on: our header fields in front of the message as received."""
    if not received.inspect:
        return received.raw  # outbound mail in the after-queue slot passes untouched
    scan = "complete" if facts.complete else "incomplete; reasons=" + ",".join(facts.unscanned)
    fields = [
        ("Received", trace_header(received, hostname)),
        ("X-Postvagt-Id", received.id),
        ("X-Postvagt-Scan", scan),
    ]
    verdict = facts.verdict
    if verdict is not None and verdict.mode == "enforce":
        fields.append(("X-Postvagt-Verdict", f"{verdict.action}; rule={verdict.rule}"))
        if verdict.journal:
            reasons = ",".join(journal_reasons(verdict, facts))
            fields.append(("X-Postvagt-Journal", f"required; id={received.id}; reasons={reasons}"))
        fields.extend((f"X-Postvagt-Tag-{name}", value) for name, value in verdict.tags)
    return prepend_fields(strip_fields(normalise_line_ends(received.raw)), fields)


def released_bytes(raw: bytes, message_id: str) -> bytes:
    """A held message as staff release it: as it arrived, with our id and the verdict."""
    return prepend_fields(
        strip_fields(normalise_line_ends(raw)),
        [
            ("X-Postvagt-Id", message_id),
            ("X-Postvagt-Verdict", "deliver; rule=released-by-staff"),
        ],
    )
