"""The message's record, in the commit order of shared/DESIGN.md: the pending record before
the next hop sees the message, the outcome (with the reply the verdict asked for, and the
copy for a journal address) once it answered, the raw mail for quarantine.

Once the next hop has the message nothing of ours may turn its 250 into a 451: an outcome
that cannot be written now is retried in the background; should this process die first, the
record is found pending at start-up and the sender's retry (it got no answer) completes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.act.journal import review_facts
from gateway.decide.policy import Policy
from gateway.metrics import Metrics
from gateway.model import Inspection, Received, Reply, ReplyPlan
from gateway.store import Store, StoreUnavailable, primitives
from gateway.store.records import RecordRef

log = logging.getLogger("postvagt.pipeline")
RETRY_DELAYS = (1, 5, 15, 30, 60)
REPORT_KIND = "delivery-report"  # outbox kind of the relayed reports (RFC 3461)
INTERRUPTED = Reply(451, "4.3.0 interrupted before the next hop answered")


class Recorder:
    def __init__(self, store: Store, metrics: Metrics, on_reply_queued: Callable[[], None]) -> None:
        self._store = store
        self._metrics = metrics
        self._on_reply_queued = on_reply_queued
        self._followups: set[asyncio.Task[None]] = set()

    async def pending(self, policy: Policy, received: Received, facts: Inspection) -> RecordRef:
        """Raises StoreUnavailable: then the message must not go on (451)."""
        return await self._store.record_pending(received, facts, review_facts(policy, facts))

    async def quarantine(self, ref: RecordRef, raw: bytes, plan: ReplyPlan | None) -> str | None:
        """The raw mail and its record, committed; returns the reply state. Raises
        StoreUnavailable: then the message is not held and the client gets 451."""
        return self._settled(await self._store.quarantine_message(ref.id, raw, plan))

    async def outcome(
        self,
        ref: RecordRef,
        reply: Reply,
        plan: ReplyPlan | None,
        copy: tuple[str, bytes] | None = None,
        tls_out: str | None = None,
    ) -> str | None:
        """Records the outcome; returns the reply state (None: none asked, or not yet known)."""
        try:
            state = self._settled(await self._store.record_outcome(ref, reply, plan, copy, tls_out))
            if copy is not None:
                self._on_reply_queued()
            return state
        except StoreUnavailable as e:
            log.error("id=%s outcome not recorded yet (%s); retrying", ref.id, e)
            task = asyncio.ensure_future(self._retry(ref, reply, plan, copy, tls_out=tls_out))
            self._followups.add(task)
            task.add_done_callback(self._followups.discard)
            return "pending" if plan is not None else None

    def interrupted(self, ref: RecordRef) -> None:
        """The try broke off before the next hop answered (an error of ours, a shutdown):
        settled as failed in the background, so it is neither left pending nor open."""
        task = asyncio.ensure_future(self._retry(ref, INTERRUPTED, None, None, first=0))
        self._followups.add(task)
        task.add_done_callback(self._followups.discard)

    async def _retry(
        self,
        ref: RecordRef,
        reply: Reply,
        plan: ReplyPlan | None,
        copy: tuple[str, bytes] | None,
        first: float | None = None,
        tls_out: str | None = None,
    ) -> None:
        delays = RETRY_DELAYS if first is None else (first, *RETRY_DELAYS)
        for delay in delays:
            await asyncio.sleep(delay)
            try:
                self._settled(await self._store.record_outcome(ref, reply, plan, copy, tls_out))
                log.info("id=%s outcome recorded after retry", ref.id)
                return
            except StoreUnavailable:
                continue
        log.error("id=%s outcome could not be recorded; left for start-up recovery", ref.id)

    def _settled(self, state: str | None) -> str | None:
        if state is None:
            return None
        self._metrics.replies.labels(state).inc()
        if state == "queued":
            self._on_reply_queued()
        return state

    async def notify_sender(self, recipient: str, report: bytes) -> None:
        """Queue a delivery report to a message's sender (from the null sender)."""
        await self._store.run(
            primitives.enqueue, kind=REPORT_KIND, mail_from="", recipient=recipient, payload=report
        )
        self._on_reply_queued()

    async def aclose(self) -> None:
        for task in list(self._followups):
            task.cancel()
        await asyncio.gather(*self._followups, return_exceptions=True)
