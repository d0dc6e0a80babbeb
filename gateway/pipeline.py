"""run(Received) → Outcome: the one place that orders the stages and catches their failures.

Inspection stages run off the SMTP event loop, within the inspection budget, side by side:
each reads the message as received and adds its own facts (detection its findings, sender
checks the sender's). A stage that waits on another process (detection) awaits it without
holding a thread; the others run in a thread pool sized for waiting (DNS). Only stages whose
cost is small and bounded by construction (``offload = False``) run on the loop, because a
hand-off costs more than they do (see bench/relay.py). A stage that raises or overruns
makes the message "unscanned" with a reason; it is still delivered (a message that always
crashes the parser must still reach the municipality). Only the next hop's refusal or a
transient failure of ours changes the reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, fields, replace
from email.utils import format_datetime
from typing import Protocol

from gateway.act.journal import review_facts
from gateway.act.nexthop import Transaction
from gateway.act.reply import ReplyIdentity, ReplyPlan, plan_reply
from gateway.authentication import Resolver, check_session, from_trusted_headers
from gateway.decide.holder import PolicyHolder
from gateway.decide.policy import Policy
from gateway.decide.walk import Facts, Verdict, decide
from gateway.detect.worker import DetectorPool
from gateway.metrics import Metrics
from gateway.model import (
    TEMPFAIL,
    Finding,
    Inspection,
    Outcome,
    Received,
    Reply,
    Slot,
    Unscanned,
)
from gateway.parse import parse
from gateway.rawmail import normalise_line_ends, prepend_fields, strip_fields
from gateway.security import Protection
from gateway.store import Store, StoreUnavailable
from gateway.store.records import RecordRef

log = logging.getLogger("postvagt.pipeline")
LARGE_MESSAGE = 1024 * 1024
messages_log = logging.getLogger("postvagt.messages")


class Stage(Protocol):
    """One inspection step; returns the facts it adds."""

    name: str
    offload: bool
    """True: runs in the worker pool, under the inspection budget. False only for work that
    is cheap and bounded whatever the input (it runs on the event loop)."""

    def __call__(self, received: Received, facts: Inspection) -> Inspection: ...


class AsyncStage(Stage, Protocol):
    """A stage whose work runs elsewhere (a worker process) and is awaited, not waited for
    in a thread; ``__call__`` stays for callers without an event loop."""

    async def arun(self, received: Received, facts: Inspection) -> Inspection: ...


def journal_reasons(verdict: Verdict, facts: Inspection) -> tuple[str, ...]:
    """Entity types for X-Postvagt-Journal; what made a rule journal when no entity did."""
    if verdict.journal_entities:
        return verdict.journal_entities
    if facts.protection is not None and facts.protection.encrypted:
        return ("ENCRYPTED",)
    return ("REVIEW",)


@dataclass(frozen=True)
class ParseStage:
    """Header parse: linear in the header block, which parse() caps at MAX_HEADER_BYTES."""

    name: str = "parse"
    offload: bool = False

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        return replace(facts, parsed=parse(received.raw))


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


@dataclass(frozen=True)
class DetectStage:
    """Text of subject and bodies → findings, in a detection worker process."""

    pool: DetectorPool
    budget: float
    name: str = "detect"
    offload: bool = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        try:
            found = self.pool.detect(received.raw, self.budget)
        except FutureTimeout:
            return facts.with_unscanned(Unscanned.TIMEOUT)
        return self._with(facts, *found)

    async def arun(self, received: Received, facts: Inspection) -> Inspection:
        try:
            found = await self.pool.detect_async(received.raw, self.budget)
        except FutureTimeout:
            return facts.with_unscanned(Unscanned.TIMEOUT)
        return self._with(facts, *found)

    @staticmethod
    def _with(
        facts: Inspection, findings: list[Finding], incomplete: list[str], protection: Protection
    ) -> Inspection:
        facts = replace(facts, findings=tuple(findings), protection=protection)
        for reason in unscanned_of(incomplete, protection):
            facts = facts.with_unscanned(reason)
        return facts


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


@dataclass(frozen=True)
class AuthStage:
    """Sender authentication from the right hop (gateway.authentication)."""

    slot: Slot
    resolver: Resolver
    authserv_id: str
    trusted: tuple[str, ...]
    name: str = "authenticate"
    offload: bool = True  # DNS look-ups: never on the event loop

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        if self.slot is Slot.MX:
            sender = check_session(
                received.raw,
                resolver=self.resolver,
                authserv_id=self.authserv_id,
                ip=received.peer,
                helo=received.helo or "",
                mail_from=received.mail_from,
                tls=received.tls,
            )
        else:
            sender = from_trusted_headers(received.raw, list(self.trusted))
        return replace(facts, sender=sender)


DEFAULT_STAGES: tuple[Stage, ...] = (ParseStage(),)


def _run_stages(stages: Sequence[Stage], received: Received, facts: Inspection) -> Inspection:
    for stage in stages:
        try:
            facts = stage(received, facts)
        except Exception as e:
            facts = _failed(stage, received, facts, e)
    return facts


def _failed(stage: Stage, received: Received, facts: Inspection, error: Exception) -> Inspection:
    # The exception text may quote the message: log its type and place only.
    log.error("id=%s stage=%s failed: %s", received.id, stage.name, type(error).__name__)
    log.debug("stage failure detail", exc_info=True)
    return facts.with_unscanned(Unscanned.INTERNAL_ERROR)


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


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        policy: PolicyHolder,
        hostname: str,
        stages: Sequence[Stage] = DEFAULT_STAGES,
        workers: int = 2,
        inspect_budget: float = 30.0,
        reply_budget: float = 60.0,
        reply_identity: ReplyIdentity | None = None,
        on_reply_queued: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
        large_lanes: int = 1,
    ) -> None:
        self._store = store
        self._policy = policy
        self._hostname = hostname
        self._followups: set[asyncio.Task[None]] = set()
        self._inline = tuple(s for s in stages if not s.offload)
        self._offloaded = tuple(s for s in stages if s.offload)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="postvagt-inspect")
        self._large = asyncio.Semaphore(max(1, large_lanes))
        self._inspect_budget = inspect_budget
        self._reply_budget = reply_budget
        self._identity = reply_identity or ReplyIdentity(from_address=f"postvagt@{hostname}")
        self._on_reply_queued = on_reply_queued
        self._metrics = metrics or Metrics()

    async def inspect(self, received: Received) -> Inspection:
        facts = Inspection()
        if not received.inspect:
            return facts
        facts = _run_stages(self._inline, received, facts)
        if not self._offloaded:
            return facts
        try:
            return await asyncio.wait_for(self._offload(received, facts), self._inspect_budget)
        except TimeoutError:
            # The worker thread cannot be killed; it finishes in the background.
            log.warning("id=%s inspection over its %ss budget", received.id, self._inspect_budget)
            return facts.with_unscanned(Unscanned.TIMEOUT)

    async def _offload(self, received: Received, facts: Inspection) -> Inspection:
        """The offloaded stages side by side. Large messages take at most ``large_lanes`` at a
        time, so ordinary mail never waits behind ten 30 MB messages (head-of-line blocking;
        bench/reliability.py's canary)."""
        large = len(received.raw) >= LARGE_MESSAGE
        if large:
            await self._large.acquire()
        try:
            results = await asyncio.gather(
                *(self._run_offloaded(stage, received, facts) for stage in self._offloaded)
            )
        finally:
            if large:
                self._large.release()
        return merge(facts, results)

    async def _run_offloaded(
        self, stage: Stage, received: Received, facts: Inspection
    ) -> Inspection:
        arun = getattr(stage, "arun", None)
        if arun is None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, _run_stages, (stage,), received, facts
            )
        try:
            result: Inspection = await arun(received, facts)
            return result
        except Exception as e:
            return _failed(stage, received, facts, e)

    def outgoing_bytes(self, received: Received, facts: Inspection) -> bytes:
        """The bytes we send on: our headers in front of the message as received."""
        if not received.inspect:
            return received.raw  # outbound mail in the after-queue slot passes untouched
        scan = "complete" if facts.complete else "incomplete; reasons=" + ",".join(facts.unscanned)
        fields = [
            ("Received", self._trace_header(received)),
            ("X-Postvagt-Id", received.id),
            ("X-Postvagt-Scan", scan),
        ]
        verdict = facts.verdict
        if verdict is not None and verdict.mode == "enforce":
            fields.append(("X-Postvagt-Verdict", f"{verdict.action}; rule={verdict.rule}"))
            if verdict.journal:
                reasons = ",".join(journal_reasons(verdict, facts))
                fields.append(
                    ("X-Postvagt-Journal", f"required; id={received.id}; reasons={reasons}")
                )
            fields.extend((f"X-Postvagt-Tag-{name}", value) for name, value in verdict.tags)
        # A bare CR would hide a forged header inside another line here, and become a line
        # end on the way out; every hop normalises, so normalise first, then strip.
        return prepend_fields(strip_fields(normalise_line_ends(received.raw)), fields)

    async def run(self, received: Received, transaction: Transaction) -> Outcome:
        """Inspect, record, deliver, record. Called once per message after the final '.'.

        The commit order of shared/DESIGN.md: the pending record is committed before the
        message goes upstream (no record, no delivery: 451); after the next hop's answer the
        record is completed, and nothing that fails then can change that answer.
        """
        started = time.monotonic()
        facts = await self.inspect(received)
        self._metrics.seconds.labels("inspect").observe(time.monotonic() - started)
        policy = self._policy.current  # one policy for the whole message, even mid-reload
        if received.inspect:
            facts = replace(facts, verdict=self.decide(policy, received, facts))
        ref: RecordRef | None = None
        plan: ReplyPlan | None = None
        if received.inspect:
            try:
                ref = await self._store.record_pending(received, facts, review_facts(policy, facts))
                received = replace(received, id=ref.id)
            except StoreUnavailable as e:
                log.error("id=%s not recorded, answering 451: %s", received.id, e)
                outcome = Outcome(reply=TEMPFAIL, delivered=False, inspection=facts)
                self._log(received, outcome, started)
                return outcome
            plan = self._plan_reply(policy, received, facts)
        verdict = facts.verdict
        if ref is not None and verdict is not None and verdict.action == "quarantine":
            return await self._quarantine(received, facts, ref, plan, started)
        if verdict is not None and verdict.action == "reject":
            # Refused in the SMTP dialogue: the upstream never sees the data (the transaction
            # is reset when it is released) and nobody gets a bounce.
            reply = Reply(550, verdict.reject_text)
        else:
            if len(received.raw) < LARGE_MESSAGE:
                message = self.outgoing_bytes(received, facts)
            else:  # copying and scanning tens of MB: off the event loop
                message = await asyncio.to_thread(self.outgoing_bytes, received, facts)
            remaining = max(1.0, self._reply_budget - (time.monotonic() - started))
            reply = await transaction.data(message, timeout=remaining)
        delivered = reply.positive and (verdict is None or verdict.action == "deliver")
        outcome = Outcome(reply=reply, delivered=delivered, inspection=facts)
        copy = (verdict.copy_to, message) if delivered and verdict and verdict.copy_to else None
        try:
            state = await self._record_outcome(ref, reply, plan, copy) if ref is not None else None
            self._log(received, outcome, started, plan, state)
        except Exception:
            # Once the next hop has the message, nothing of ours may turn its 250 into a 451.
            log.exception("id=%s bookkeeping after delivery failed", received.id)
        return outcome

    def _plan_reply(
        self, policy: Policy, received: Received, facts: Inspection
    ) -> ReplyPlan | None:
        if facts.verdict is None:
            return None
        try:
            return plan_reply(received, facts, facts.verdict, policy, self._identity)
        except Exception as e:
            # A broken template must not cost the citizen's mail: it is delivered, unanswered.
            log.error("id=%s reply not built: %s", received.id, type(e).__name__)
            log.debug("reply failure detail", exc_info=True)
            return ReplyPlan(
                recipient=received.mail_from,
                mailbox=facts.verdict.mailbox,
                suppressed=f"internal error building the reply: {type(e).__name__}",
            )

    def _reply_settled(self, state: str | None) -> str | None:
        if state is None:
            return None
        self._metrics.replies.labels(state).inc()
        if state == "queued":
            self._on_reply_queued()
        return state

    def decide(self, policy: Policy, received: Received, facts: Inspection) -> Verdict:
        return decide(
            policy,
            received.group,
            decision_facts(
                facts,
                mail_from=received.mail_from,
                size=len(received.raw),
                tls_version=received.tls.version if received.tls else None,
            ),
        )

    async def _quarantine(
        self,
        received: Received,
        facts: Inspection,
        ref: RecordRef,
        plan: ReplyPlan | None,
        started: float,
    ) -> Outcome:
        """Held for staff: 250 only once the raw mail and its record are committed."""
        state = None
        try:
            state = self._reply_settled(
                await self._store.quarantine_message(ref.id, received.raw, plan)
            )
        except StoreUnavailable as e:
            log.error("id=%s could not be quarantined, answering 451: %s", received.id, e)
            reply = TEMPFAIL
        else:
            reply = Reply(250, f"2.0.0 Ok: held for review as {ref.id}")
        outcome = Outcome(reply=reply, delivered=False, inspection=facts)
        self._log(received, outcome, started, plan, state)
        return outcome

    async def _record_outcome(
        self,
        ref: RecordRef,
        reply: Reply,
        plan: ReplyPlan | None,
        copy: tuple[str, bytes] | None = None,
    ) -> str | None:
        """Records the outcome; returns the reply state (None: none asked, or not yet known)."""
        try:
            state = self._reply_settled(await self._store.record_outcome(ref, reply, plan, copy))
            if copy is not None:
                self._on_reply_queued()
            return state
        except StoreUnavailable as e:
            # The reply stands; keep trying in the background. Should this process die
            # first, the record is found pending at start-up and the sender's retry (it
            # got no answer) completes it.
            log.error("id=%s outcome not recorded yet (%s); retrying", ref.id, e)
            task = asyncio.ensure_future(self._retry_outcome(ref, reply, plan, copy))
            self._followups.add(task)
            task.add_done_callback(self._followups.discard)
            return "pending" if plan is not None else None

    async def _retry_outcome(
        self,
        ref: RecordRef,
        reply: Reply,
        plan: ReplyPlan | None,
        copy: tuple[str, bytes] | None,
    ) -> None:
        for delay in (1, 5, 15, 30, 60):
            await asyncio.sleep(delay)
            try:
                self._reply_settled(await self._store.record_outcome(ref, reply, plan, copy))
                log.info("id=%s outcome recorded after retry", ref.id)
                return
            except StoreUnavailable:
                continue
        log.error("id=%s outcome could not be recorded; left for start-up recovery", ref.id)

    def _trace_header(self, received: Received) -> str:
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
            f"\tby {self._hostname} (Postvagt) with {protocol} id {received.id};\n"
            f"\t{format_datetime(received.received_at)}"
        )

    def _log(
        self,
        received: Received,
        outcome: Outcome,
        started: float,
        plan: ReplyPlan | None = None,
        reply_state: str | None = None,
    ) -> None:
        ms = round((time.monotonic() - started) * 1000, 1)
        verdict = outcome.inspection.verdict
        fields = {
            "id": received.id,
            "size": len(received.raw),
            "rcpts": len(received.rcpt_tos),
            "group": received.group,
            "sender_domain": received.mail_from.rpartition("@")[2].lower() or "<>",
            "scan": "complete" if outcome.inspection.complete else "incomplete",
            "unscanned": ",".join(outcome.inspection.unscanned),
            "upstream": outcome.reply.code,
            "delivered": outcome.delivered,
            "verdict": verdict.action if verdict else "-",
            "rule": verdict.rule if verdict else "-",
            "journal": bool(verdict and verdict.journal),
            "reply": reply_state or "none",
            "ms": ms,
        }
        if plan is not None and plan.suppressed:
            # The kind of reason only: "Auto-Submitted: <value>" would echo a header.
            fields["reply_reason"] = plan.suppressed.split(":")[0]
        text = " ".join(f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in fields.items())
        messages_log.info(text, extra={"fields": fields})
        self._metrics.message(outcome, ms / 1000)

    async def aclose(self) -> None:
        for task in list(self._followups):
            task.cancel()
        await asyncio.gather(*self._followups, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
