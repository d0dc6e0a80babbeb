"""The outbox sender: a background task that sends what the database's outbox holds.

Items are queued in the transaction that recorded the original as accepted, so a reply
exists exactly when its original was accepted. Every instance runs a sender; an item is
claimed atomically with a lease (gateway.store.primitives.claim_outbox), so two instances
never send the same item, and an item whose sender died mid-send is sent again after the
lease: at least once, with such possible duplicates counted in ``outbox.reclaims``.

The sender never touches the SMTP conversation: it runs on its own schedule, and a relay
that is down only delays replies (4xx and connection failures are retried on the
``reply_retry`` schedule; a 5xx is final, its text recorded for staff).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from gateway.metrics import Metrics
from gateway.model import NextHop, Reply
from gateway.nexthop.send import send_message
from gateway.store import Store, StoreUnavailable, answers
from gateway.store.primitives import (
    Failed,
    OutboxItem,
    Retry,
    SendResult,
    Sent,
    claim_outbox,
    finish_outbox,
)

if TYPE_CHECKING:  # the Digital Post client's imports are only needed where it is set up
    from gateway.act.digital_post import DigitalPostSender

log = logging.getLogger("postvagt.outbox")
_CODE = re.compile(r"\b[2-5]\d\d\b")


def outcome_of(reply: Reply, attempts: int, retry: Sequence[float]) -> SendResult:
    """What one try's final answer means for the item, on its ``attempts``-th try."""
    if reply.positive:
        return Sent(str(reply))
    if reply.code >= 500:
        return Failed(f"refused: {reply}")
    if attempts > len(retry):
        return Failed(f"gave up after {attempts} tries; last: {reply}")
    return Retry(str(reply), datetime.now(UTC) + timedelta(seconds=retry[attempts - 1]))


class OutboxSender:
    def __init__(
        self,
        store: Store,
        hop: NextHop,
        *,
        instance: str,
        retry: Sequence[float],
        poll: float,
        lease: float,
        timeout: float,
        metrics: Metrics | None = None,
        digital_post: DigitalPostSender | None = None,
    ) -> None:
        self._store = store
        self.digital_post = digital_post
        self._hop = hop
        # Unique per run: a restarted process must not finish its predecessor's claims.
        self.worker = f"{instance}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._retry = tuple(retry)
        self._poll = poll
        self._lease = timedelta(seconds=lease)
        self._timeout = timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._metrics = metrics or Metrics()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Something was queued here: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop between items; an item being sent finishes first (up to ``timeout``)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._timeout + 5)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._hop.close()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.send_due()
            except StoreUnavailable as e:
                log.warning("outbox not readable now: %s", e)
                handled = 0
            except Exception:  # never let one bad item end the sender for good
                log.exception("outbox sender failed; continuing")
                handled = 0
            if handled or self._stopping:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass

    async def send_due(self) -> int:
        """Claim and send due items, one claim per item (a lease covers one send, never a
        batch sent one after another); returns how many were handled."""
        handled = 0
        while not self._stopping:
            # An instance without Digital Post set up leaves the answers to one that has it
            # (several instances share the outbox; an older one would mistake them for mail).
            skip = () if self.digital_post is not None else (answers.KIND,)
            items = await self._store.run(
                claim_outbox, self.worker, limit=1, lease=self._lease, skip_kinds=skip
            )
            if not items:
                break
            await self._handle(items[0])
            handled += 1
        return handled

    async def _handle(self, item: OutboxItem) -> None:
        try:
            result = await self._send(item)
        except Exception as e:  # a bug or a local failure: retried on schedule, then given up
            log.exception("outbox id=%d %s: send failed", item.id, item.kind)
            result = outcome_of(
                Reply(451, f"4.3.0 internal error: {type(e).__name__}"),
                item.attempts,
                self._retry,
            )
        # The relay's text can name the recipient: logs get its reply code only.
        found = _CODE.search(result.reply if isinstance(result, Sent) else result.error)
        code = found.group(0) if found else "no reply"
        if isinstance(result, Sent):
            log.info("outbox id=%d %s sent (message %s)", item.id, item.kind, item.message_id)
        elif isinstance(result, Retry):
            log.warning(
                "outbox id=%d %s try %d: %s; again at %s UTC",
                item.id,
                item.kind,
                item.attempts,
                code,
                f"{result.not_before:%H:%M:%S}",
            )
        else:
            log.error("outbox id=%d %s given up (%s)", item.id, item.kind, code)
        if item.kind == "reply" and not isinstance(result, Retry):
            self._metrics.replies.labels("sent" if isinstance(result, Sent) else "failed").inc()
        settle = answers.settle if item.kind == answers.KIND else None
        kept = await self._store.run(finish_outbox, item, self.worker, result, settle)
        if not kept:
            log.warning("outbox id=%d: lease lost while sending (sent twice?)", item.id)

    async def _send(self, item: OutboxItem) -> SendResult:
        if item.kind == "digital-post":
            if self.digital_post is None:
                return Failed("Digital Post is not set up on this instance")
            # A blocking HTTPS call (requests): off the loop that serves SMTP.
            return await asyncio.to_thread(self.digital_post.send, item)
        reply = await send_message(
            self._hop,
            item.mail_from,
            [item.recipient],
            item.payload,
            timeout=self._timeout,
            notify_never=True,
        )
        return outcome_of(reply, item.attempts, self._retry)
