"""``postvagt scan``: inspect .eml files offline, exactly as the gateway would.

Output follows shared/DESIGN.md's contract: with ``--json`` one JSON object per message on
stdout (progress on stderr); without it, one readable line per message; ``--explain`` adds
which recognizer fired, on which context or suppress word, with masked values, including the
candidates that stayed below the threshold.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from gateway.act.reply import reply_check
from gateway.authentication import from_trusted_headers
from gateway.decide.holder import PolicyHolder
from gateway.decide.policy import Replies
from gateway.decide.robots import Head, read_head, robot_signal
from gateway.decide.walk import Facts, decide
from gateway.detect.analyzer import Candidate, Detector
from gateway.extract.text import Gap
from gateway.facts import decision_facts
from gateway.model import (
    Finding,
    Inspection,
    ParsedMail,
    Protection,
    Received,
    SenderAuth,
    Unscanned,
    Verdict,
)
from gateway.rawmail import address, addresses, normalise_line_ends
from gateway.security import TrustConfig
from gateway.stages import ParseStage, ReadStage, Stage, inspect_in_turn

ASSUMED = SenderAuth(source="assumed", spf="pass", dkim="pass", dmarc="pass", aligned_pass=True)

SCAN_BUDGET = 30.0


def eml_files(paths: Sequence[str]) -> Iterator[tuple[str, Path]]:
    """(name as given, path) for every file, and every .eml under every folder."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for found in sorted(path.rglob("*.eml")):
                yield str(found), found
        else:
            yield given, path


@dataclass(frozen=True)
class ScanAuthStage:
    """The gateway's AuthStage for a file: there is no SMTP session, so the trusted servers'
    headers when present, else counted as passed (what the gateway would do for an
    authenticated sender) unless told not to."""

    trusted: tuple[str, ...]
    authenticated: bool
    name: str = "authenticate"
    offload: bool = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        return replace(
            facts, sender=sender_of(received.raw, list(self.trusted), self.authenticated)
        )


def sender_of(raw: bytes, trusted: list[str], authenticated: bool) -> SenderAuth:
    found = from_trusted_headers(raw, trusted)
    if found.source != "none" or not authenticated:
        return found
    return ASSUMED


def recipients_of(raw: bytes, given: Sequence[str], head: Head | None = None) -> list[str]:
    """The envelope as DESIGN.md says: --rcpt, else To and Cc."""
    if given:
        return list(given)
    head = head or read_head(raw)
    return addresses(head.all("To") + head.all("Cc"))


def sender_address(raw: bytes, given: str | None, head: Head | None = None) -> str:
    """--mail-from, else Return-Path (<> is the null sender), else From."""
    if given is not None:
        return given
    head = head or read_head(raw)
    return_path = head.get("Return-Path")
    if return_path is not None:
        return address(return_path)
    return address(head.get("From") or "")


def _decision(verdict: Verdict, reply: tuple[bool, str | None]) -> dict[str, Any]:
    return {
        "action": verdict.action,
        "reply": reply[0],
        "reply_suppressed": reply[1],
        "portal": verdict.portal,
        "journal": verdict.journal,
        "rule": verdict.rule,
        "reasons": list(verdict.reasons),
    }


@dataclass(frozen=True)
class ScanOptions:
    """How files are scanned: everything besides the detector and the file itself."""

    policy: PolicyHolder
    trust: TrustConfig = field(default_factory=TrustConfig)
    trusted_servers: tuple[str, ...] = ()
    authenticated: bool = True
    mail_from: str | None = None
    rcpts: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileInspection:
    protection: Protection
    gaps: list[Gap]
    findings: list[Finding]
    below: list[Candidate]
    incomplete: list[str]
    unscanned: tuple[Unscanned, ...] = ()
    """The gateway's reasons (X-Postvagt-Scan), mapped by the gateway's own function."""
    parsed: ParsedMail | None = None
    notes: tuple[str, ...] = ()
    """What extraction passed over on purpose (images too small to hold text)."""
    facts: Inspection = field(default_factory=Inspection)
    """Everything the gateway's stages found, as its pipeline hands it on."""


def received_of(raw: bytes, mail_from: str, rcpts: Sequence[str], group: str) -> Received:
    """A file as the gateway would receive it: CRLF line ends (SMTP's), its envelope."""
    return Received(
        id="scan",
        received_at=datetime.now(UTC),
        peer="",
        helo=None,
        mail_from=mail_from,
        rcpt_tos=tuple(rcpts),
        group=group,
        raw=normalise_line_ends(raw),
    )


def inspect_received(
    detector: Detector,
    received: Received,
    trust: TrustConfig,
    auth: Stage | None = None,
) -> FileInspection:
    """The gateway's own stages (gateway.stages: parse, read, authenticate), run in turn by
    the same runner and merged as its pipeline merges them; the reader runs here instead of
    in a worker process, and keeps what ``--explain`` shows."""
    reader = ReadStage(detector, trust, SCAN_BUDGET)
    stages: list[Stage] = [ParseStage(), reader]
    if auth is not None:
        stages.append(auth)
    facts = inspect_in_turn(stages, received)
    reading = reader.reading_of(received)
    protection = facts.protection or Protection()
    if reading is None:  # the reader failed: the stage made it unscanned, internal error
        return FileInspection(protection, [], [], [], [], facts.unscanned, facts.parsed, (), facts)
    return FileInspection(
        protection,
        reading.gaps,
        reading.findings,
        reading.below,
        reading.incomplete,
        facts.unscanned,
        facts.parsed,
        reading.notes,
        facts,
    )


def inspect_file(detector: Detector, raw: bytes, trust: TrustConfig) -> FileInspection:
    """``inspect_received`` for a file with no envelope."""
    return inspect_received(detector, received_of(raw, "", (), "default"), trust)


def inspection_of(seen: FileInspection, sender: SenderAuth | None) -> Inspection:
    """The facts as the gateway's stages hand them on."""
    return replace(seen.facts, sender=sender) if sender is not None else seen.facts


def facts_for(
    seen: FileInspection, raw: bytes, mail_from: str | None, sender: SenderAuth | None
) -> Facts:
    """The facts the policy decides on, by the gateway's own function."""
    inspection = inspection_of(seen, sender)
    return decision_facts(inspection, mail_from=sender_address(raw, mail_from), size=len(raw))


def reply_of(
    verdict: Verdict, raw: bytes, envelope_sender: str, inspection: Inspection, replies: Replies
) -> tuple[bool, str | None]:
    """Whether the gateway would queue a reply, and if not although the rule asks for one,
    why: the gateway's own planner (gateway.act.reply.reply_check). What a file cannot show
    (this sender answered within the period, the hourly cap) is left to the live gateway."""
    if not verdict.reply:
        return False, None
    if verdict.action == "reject":
        return False, "original not accepted (reject)"
    check = reply_check(raw, envelope_sender, inspection, replies)
    return check.send, None if check.send else check.reason


def scan_one(
    detector: Detector, name: str, raw: bytes, options: ScanOptions
) -> tuple[dict[str, Any], list[Candidate]]:
    """One file through the gateway's stages and its decision. The header block is read
    once here for the envelope; the stages parse the message once more, as the gateway's
    do (the header parse, and the one full parse the reader shares between protection and
    text)."""
    head = read_head(raw)
    holder = options.policy
    rcpts = recipients_of(raw, options.rcpts, head)
    envelope_sender = sender_address(raw, options.mail_from, head)
    first_group = holder.group_of(rcpts[0]) if rcpts else "default"
    received = received_of(raw, envelope_sender, rcpts, first_group)
    auth = ScanAuthStage(options.trusted_servers, options.authenticated)
    seen = inspect_received(detector, received, options.trust, auth)
    protection = seen.protection
    inspection = seen.facts
    sender = inspection.sender or ASSUMED
    facts = decision_facts(inspection, mail_from=envelope_sender, size=len(received.raw))
    groups: dict[str, dict[str, Any]] = {}
    for rcpt in rcpts or [""]:
        group = holder.group_of(rcpt) if rcpt else "default"
        if group not in groups:
            verdict = decide(holder.current, group, facts)
            reply = reply_of(
                verdict, received.raw, envelope_sender, inspection, holder.current.replies
            )
            groups[group] = _decision(verdict, reply)
    first, *others = groups.items()
    result: dict[str, Any] = {
        "file": name,
        "message_id": seen.parsed.message_id if seen.parsed else None,
        "signed": protection.signed,
        "encrypted": protection.encrypted,
        "signature_valid": protection.signature_valid,
        "signer_trusted": protection.signer_trusted,
        "findings": [
            {"entity": f.entity, "location": f.location, "score": f.score, "masked": f.masked}
            | ({"about": f.about} if f.about else {})
            for f in seen.findings
        ],
        "decision": first[1],
    }
    if others:
        result["groups"] = dict(others)
    result["layers"] = [
        {
            "kind": layer.kind,
            "part": layer.part or "message",
            "signature_valid": layer.signature_valid,
            "signer_trusted": layer.signer_trusted,
            **({"note": layer.note} if layer.note else {}),
        }
        for layer in protection.layers
    ]
    unscanned = [{"location": g.location, "reason": g.reason} for g in seen.gaps]
    unscanned += [{"location": "message", "reason": r} for r in seen.incomplete]
    unscanned += [
        {"location": text.split(":", 1)[0], "reason": text.split(":", 1)[-1].strip()}
        for text in protection.uninspected
    ]
    if unscanned:
        result["unscanned"] = unscanned
    if seen.unscanned:
        result["incomplete"] = [str(reason) for reason in seen.unscanned]
    if seen.notes:
        result["notes"] = list(seen.notes)
    result["sender"] = {
        "source": sender.source,
        "spf": sender.spf,
        "dkim": sender.dkim,
        "dmarc": sender.dmarc,
        "aligned_pass": sender.aligned_pass,
    }
    return result, seen.below


def explain(result: dict[str, Any], below: list[Candidate], out: IO[str]) -> None:
    decision = result["decision"]
    out.write(f"{result['file']}\n")
    out.write(
        f"  signed={result['signed']} encrypted={result['encrypted']} "
        f"signature_valid={result['signature_valid']} signer_trusted={result['signer_trusted']}\n"
    )
    for layer in result["layers"]:
        out.write(
            f"  layer  {layer['kind']:22} at {layer['part']:8} "
            f"valid={layer['signature_valid']} trusted={layer['signer_trusted']} "
            f"{layer.get('note', '')}\n"
        )
    for gap in result.get("unscanned", []):
        out.write(f"  UNSCANNED {gap['location']}: {gap['reason']}\n")
    for note in result.get("notes", []):
        out.write(f"  NOTE   {note}\n")
    for f in result["findings"]:
        who = f"about {f['about']}" if "about" in f else f["masked"]
        out.write(f"  FOUND  {f['entity']:20} {f['score']:.2f}  {f['location']:10} {who}\n")
    for c in below:
        why = []
        if c.context_word:
            why.append(f"context {c.context_word!r}")
        if c.suppress_word:
            why.append(f"suppressed by {c.suppress_word!r}")
        out.write(
            f"  below  {c.entity:20} {c.score:.2f}  {c.recognizer}  {c.masked() or ''}  "
            f"{', '.join(why)}\n"
        )
    out.write(
        f"  → {decision['action']}, {reply_text(result)}, "
        f"journal={decision['journal']} ({decision['rule']}: {'; '.join(decision['reasons'])})\n"
    )


def reply_text(result: dict[str, Any]) -> str:
    """The reply as a reader should take it: sent, suppressed (why), or none asked; and what
    a file cannot show."""
    decision = result["decision"]
    if decision["reply_suppressed"]:
        return f"reply: suppressed ({decision['reply_suppressed']})"
    if not decision["reply"]:
        return "reply: none"
    notes = ["not known to a scan: the one reply per sender and period, the hourly cap"]
    if result.get("sender", {}).get("source") == "assumed":
        notes.insert(0, "assumes the sender passes SPF or DMARC")
    return f"reply via {decision['portal']} ({'; '.join(notes)})"


def run_scan(
    detector: Detector,
    paths: Sequence[str],
    options: ScanOptions,
    *,
    as_json: bool,
    show_explain: bool,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    files = list(eml_files(paths))
    progress = len(files) > 1 and err.isatty()
    failures = 0
    for index, (name, path) in enumerate(files, 1):
        if progress:
            err.write(f"\r[{index}/{len(files)}] {name[-60:]:60}")
            err.flush()
        try:
            raw = path.read_bytes()
        except OSError as e:
            failures += 1
            result: dict[str, Any] = {"file": name, "error": f"cannot read: {e.strerror}"}
            below: list[Candidate] = []
        else:
            try:
                result, below = scan_one(detector, name, raw, options)
            except Exception as e:  # a message that cannot be parsed still gets its line
                failures += 1
                result, below = {"file": name, "error": f"{type(e).__name__}: {e}"[:300]}, []
        if as_json:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
        elif show_explain and "error" not in result:
            explain(result, below, out)
        elif "error" in result:
            out.write(f"{name}: error: {result['error']}\n")
        else:
            entities = sorted({f["entity"] for f in result["findings"]})
            decision = result["decision"]
            verdict = [decision["action"]] + (["journal"] if decision["journal"] else [])
            if decision["reply"] or decision["reply_suppressed"]:
                verdict.append(reply_text(result))
            out.write(f"{name}: {', '.join(entities) or 'no personal data'} → ")
            out.write(", ".join(verdict) + "\n")
        if as_json and show_explain and "error" not in result:
            explain(result, below, err)
    if progress:
        err.write("\n")
    return 1 if failures else 0


def explain_policy(policy_path: Path | None, message: Path, rcpt: str | None) -> int:
    """``postvagt policy explain``: the facts of one message and the rule walk, step by step."""
    from gateway.detect.engine import build_detector

    holder = PolicyHolder(policy_path, "mx")
    raw = message.read_bytes()
    detector = build_detector()
    recipients = [rcpt] if rcpt else recipients_of(raw, ())
    group = holder.group_of(recipients[0]) if recipients else "default"
    received = received_of(raw, sender_address(raw, None), recipients, group)
    seen = inspect_received(detector, received, TrustConfig())
    findings = seen.findings
    facts = facts_for(seen, received.raw, None, None)  # the size the gateway sees (CRLF)
    verdict = decide(holder.current, group, facts)
    robot = robot_signal(raw, received.mail_from)
    print(f"policy   {holder.path}")
    print(f"message  {message}  ({len(raw)} bytes)")
    print(f"mailbox  {group}")
    print(
        f"facts    encrypted={facts.encrypted} signed={facts.signed} "
        f"unscanned={','.join(facts.unscanned) or '-'}"
    )
    print(f"robot    {f'{robot.kind}: {robot.reason}' if robot else '-'}")
    for f in findings:
        print(f"         {f.entity:20} {f.score:.2f} {f.location:12} {f.masked or ''}")
    for number, step in enumerate(verdict.steps, 1):
        print(f"rule {number:>2}  {step}")
    print(
        f"verdict  {verdict.action}"
        + (f" (monitor: would {verdict.would})" if verdict.would else "")
        + f", rule={verdict.rule}, journal={verdict.journal}, reply={verdict.reply}"
        + (f" via {verdict.portal}" if verdict.portal else "")
    )
    return 0
