"""run(Received) → Outcome: the one place that orders the steps of a message and catches
their failures — inspect, decide, record pending, deliver (or hold, or refuse), record the
outcome, log. Each step's work lives in its own module; this one only orders them.

Inspection stages (gateway.stages) run off the SMTP event loop, within the inspection
budget, side by side: each reads the message as received and adds its own facts. A stage
that waits on another process (reading) awaits it without holding a thread; the others run
in a thread pool sized for waiting (DNS). Only stages whose cost is small and bounded by
construction (``offload = False``) run on the loop, because a hand-off costs more than they
do (see bench/relay.py). A stage that raises or overruns makes the message "unscanned" with
a reason; it is still delivered (a message that always crashes the parser must still reach
the municipality). Only the next hop's refusal or a transient failure of ours changes the
reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from gateway.act.dsn_report import relayed_report
from gateway.act.headers import outgoing_bytes
from gateway.act.record import Recorder
from gateway.act.reply import ReplyIdentity, planned_reply
from gateway.decide.holder import PolicyHolder
from gateway.decide.policy import Policy
from gateway.decide.walk import decide
from gateway.facts import decision_facts, merge
from gateway.messagelog import log_message
from gateway.metrics import Metrics
from gateway.model import (
    TEMPFAIL,
    Inspection,
    Outcome,
    Received,
    Reply,
    ReplyPlan,
    Transaction,
    Unscanned,
    Verdict,
)
from gateway.rawmail import header_block_end
from gateway.stages import DEFAULT_STAGES, Stage, failed, run_stages
from gateway.store import Store, StoreUnavailable
from gateway.store.records import RecordRef

log = logging.getLogger("postvagt.pipeline")
LARGE_MESSAGE = 1024 * 1024


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
        self._policy = policy
        self._hostname = hostname
        self._inline = tuple(s for s in stages if not s.offload)
        self._offloaded = tuple(s for s in stages if s.offload)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="postvagt-inspect")
        self._large = asyncio.Semaphore(max(1, large_lanes))
        self._inspect_budget = inspect_budget
        self._reply_budget = reply_budget
        self._identity = reply_identity or ReplyIdentity(from_address=f"postvagt@{hostname}")
        self._metrics = metrics or Metrics()
        self._recorder = Recorder(store, self._metrics, on_reply_queued)

    async def inspect(self, received: Received) -> Inspection:
        facts = Inspection()
        if not received.inspect:
            return facts
        facts = run_stages(self._inline, received, facts)
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
            return await loop.run_in_executor(self._executor, run_stages, (stage,), received, facts)
        try:
            result: Inspection = await arun(received, facts)
            return result
        except Exception as e:
            return failed(stage, received, facts, e)

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
                ref = await self._recorder.pending(policy, received, facts)
                received = replace(received, id=ref.id)
            except StoreUnavailable as e:
                log.error("id=%s not recorded, answering 451: %s", received.id, e)
                outcome = Outcome(reply=TEMPFAIL, delivered=False, inspection=facts)
                self._log(received, outcome, started)
                return outcome
            plan = planned_reply(received, facts, policy, self._identity)
        verdict = facts.verdict
        if ref is not None and verdict is not None and verdict.action == "quarantine":
            return await self._quarantine(received, facts, ref, plan, started)
        if verdict is not None and verdict.action == "reject":
            # Refused in the SMTP dialogue: the upstream never sees the data (the transaction
            # is reset when it is released) and nobody gets a bounce.
            reply = Reply(550, verdict.reject_text)
        else:
            try:
                if len(received.raw) < LARGE_MESSAGE:
                    message = outgoing_bytes(received, facts, self._hostname)
                else:  # copying and scanning tens of MB: off the event loop
                    message = await asyncio.to_thread(
                        outgoing_bytes, received, facts, self._hostname
                    )
                remaining = max(1.0, self._reply_budget - (time.monotonic() - started))
                reply = await transaction.data(message, timeout=remaining)
            except BaseException:
                # The client gets 451 (or nothing, at shutdown): the record must not stay
                # pending and open for a try that was never delivered.
                if ref is not None:
                    self._recorder.interrupted(ref)
                raise
        delivered = reply.positive and (verdict is None or verdict.action == "deliver")
        if delivered and transaction.relayed_dsn and received.mail_from:
            await self._report_relayed(received, transaction)
        outcome = Outcome(reply=reply, delivered=delivered, inspection=facts)
        copy = (verdict.copy_to, message) if delivered and verdict and verdict.copy_to else None
        try:
            tls_out = transaction.tls_version if reply.positive else None
            state = await self._recorder.outcome(ref, reply, plan, copy, tls_out) if ref else None
            self._log(received, outcome, started, plan, state)
        except Exception:
            # Once the next hop has the message, nothing of ours may turn its 250 into a 451.
            log.exception("id=%s bookkeeping after delivery failed", received.id)
        return outcome

    async def _report_relayed(self, received: Received, transaction: Transaction) -> None:
        """The sender asked to hear of delivery and the next hop will not tell: say that it
        was relayed (RFC 3461 section 5.2.2). After the 250, so it never changes the reply."""
        dsn = transaction.mail_dsn
        report = relayed_report(
            reporting_host=self._hostname,
            next_hop=transaction.hop_name,
            recipients=transaction.relayed_dsn,
            envid=dsn.envid if dsn else None,
            original_headers=received.raw[: header_block_end(received.raw)],
            arrival=received.received_at,
        )
        try:
            await self._recorder.notify_sender(received.mail_from, report)
        except Exception:
            log.exception("id=%s the relayed delivery report could not be queued", received.id)

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
            state = await self._recorder.quarantine(ref, received.raw, plan)
        except StoreUnavailable as e:
            log.error("id=%s could not be quarantined, answering 451: %s", received.id, e)
            reply = TEMPFAIL
            await self._recorder.outcome(ref, reply, plan)  # retried in the background
        else:
            reply = Reply(250, f"2.0.0 Ok: held for review as {ref.id}")
        outcome = Outcome(reply=reply, delivered=False, inspection=facts)
        self._log(received, outcome, started, plan, state)
        return outcome

    def _log(
        self,
        received: Received,
        outcome: Outcome,
        started: float,
        plan: ReplyPlan | None = None,
        reply_state: str | None = None,
    ) -> None:
        seconds = time.monotonic() - started
        log_message(received, outcome, seconds, self._metrics, plan, reply_state)

    async def aclose(self) -> None:
        await self._recorder.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)
