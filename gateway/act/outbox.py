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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from gateway.act.record import REPORT_KIND
from gateway.metrics import Metrics
from gateway.model import NOTIFY_NEVER, NextHop, Reply
from gateway.nexthop.send import send_message
from gateway.store import Store, StoreUnavailable, answers, replies
from gateway.store.primitives import (
    Failed,
    OutboxItem,
    Retry,
    SendResult,
    Sent,
    Settle,
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


@dataclass(frozen=True)
class OutboxKind:
    """One kind of outbox item, in one place: how an item is sent, what its own record
    does when the item settles (in the same transaction as the item), and whether its
    payload is personal data to be wiped once sent or given up."""

    send: Callable[[OutboxItem], Awaitable[SendResult]]
    settle: Settle | None = None
    wipe: bool = False


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
        # What this instance can send. An item of a kind not registered here is left to an
        # instance that can (several share the outbox: an older one must not mistake a
        # Digital Post answer for mail).
        self.kinds: dict[str, OutboxKind] = {
            "reply": OutboxKind(self._send_reply, settle=replies.settle_sent),
            "journal-copy": OutboxKind(self._send_mail, wipe=True),  # the whole message
            "digest": OutboxKind(self._send_mail),
            REPORT_KIND: OutboxKind(self._send_mail),
        }
        if digital_post is not None:
            self.register_digital_post(digital_post)

    def register(self, name: str, kind: OutboxKind) -> None:
        self.kinds[name] = kind

    def register_digital_post(self, sender: DigitalPostSender) -> None:
        """Answers through Digital Post: sent by Serviceplatformen's client (a blocking HTTPS
        call, off the loop that serves SMTP); the payload holds the recipient's number."""

        async def send(item: OutboxItem) -> SendResult:
            return await asyncio.to_thread(sender.send, item)

        self.register(answers.KIND, OutboxKind(send, settle=answers.settle, wipe=True))

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
            items = await self._store.run(
                claim_outbox, self.worker, limit=1, lease=self._lease, kinds=list(self.kinds)
            )
            if not items:
                break
            await self._handle(items[0])
            handled += 1
        return handled

    async def _handle(self, item: OutboxItem) -> None:
        kind = self.kinds[item.kind]
        try:
            result = await kind.send(item)
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
        kept = await self._store.run(
            finish_outbox, item, self.worker, result, kind.settle, wipe=kind.wipe
        )
        if not kept:
            log.warning("outbox id=%d: lease lost while sending (sent twice?)", item.id)

    async def _send_reply(self, item: OutboxItem) -> SendResult:
        result = await self._send_mail(item)
        if not isinstance(result, Retry):
            self._metrics.replies.labels("sent" if isinstance(result, Sent) else "failed").inc()
        return result

    async def _send_mail(self, item: OutboxItem) -> SendResult:
        """Mail Postvagt writes itself, through the reply hop, asking for no reports."""
        reply = await send_message(
            self._hop,
            item.mail_from,
            [item.recipient],
            item.payload,
            timeout=self._timeout,
            dsn=NOTIFY_NEVER,
        )
        return outcome_of(reply, item.attempts, self._retry)
