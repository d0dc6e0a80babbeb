"""The inspection stages: each reads the message as received and returns the facts it adds.

Header parse on the event loop (cheap and bounded by construction); protection, text and
findings in a reader process (gateway.reader_pool); sender authentication in a thread sized
for waiting on DNS. A stage that raises leaves the message "unscanned" with a reason: it is
still delivered. gateway.pipeline decides where and in which order they run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Protocol

from gateway.authentication import Resolver, check_session, from_trusted_headers
from gateway.detect.analyzer import Detector
from gateway.facts import merge, unscanned_of
from gateway.model import Finding, Inspection, Protection, Received, Slot, Unscanned
from gateway.parse import parse
from gateway.reader_pool import ReaderPool
from gateway.reading import Reading, read_message
from gateway.security import TrustConfig

log = logging.getLogger("postvagt.pipeline")


class Stage(Protocol):
    """One inspection step; returns the facts it adds."""

    # Read-only (properties), so that frozen dataclasses are stages.
    @property
    def name(self) -> str: ...

    @property
    def offload(self) -> bool:
        """True: runs off the loop, under the inspection budget. False only for work that is
        cheap and bounded whatever the input (it runs on the event loop)."""
        ...

    def __call__(self, received: Received, facts: Inspection) -> Inspection: ...


class AsyncStage(Stage, Protocol):
    """A stage whose work runs elsewhere (a worker process) and is awaited, not waited for
    in a thread; ``__call__`` stays for callers without an event loop."""

    async def arun(self, received: Received, facts: Inspection) -> Inspection: ...


@dataclass(frozen=True)
class ParseStage:
    """Header parse: linear in the header block, which parse() caps at MAX_HEADER_BYTES.
    Whether a program wrote the message is read only where a reply is planned
    (gateway.act.reply.should_reply): most mail never asks."""

    name: str = "parse"
    offload: bool = False

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        return replace(facts, parsed=parse(received.raw))


@dataclass(frozen=True)
class DetectStage:
    """Text of subject and bodies → findings, in a detection worker process."""

    pool: ReaderPool
    budget: float
    name: str = "detect"
    offload: bool = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        try:
            found = self.pool.detect(received.raw, self.budget)
        except FutureTimeout:
            return facts.with_unscanned(Unscanned.TIMEOUT)
        return self.handed_on(facts, *found)

    async def arun(self, received: Received, facts: Inspection) -> Inspection:
        try:
            found = await self.pool.detect_async(received.raw, self.budget)
        except FutureTimeout:
            return facts.with_unscanned(Unscanned.TIMEOUT)
        return self.handed_on(facts, *found)

    @staticmethod
    def handed_on(
        facts: Inspection, findings: list[Finding], incomplete: list[str], protection: Protection
    ) -> Inspection:
        facts = replace(facts, findings=tuple(findings), protection=protection)
        for reason in unscanned_of(incomplete, protection):
            facts = facts.with_unscanned(reason)
        return facts


@dataclass(frozen=True)
class ReadStage:
    """What DetectStage's worker does, in this process (``postvagt scan``): the same
    gateway.reading function, its facts handed on by the same function. The whole reading
    (gaps with their places, candidates below the threshold, notes) is kept by message id
    for ``--explain``; take it with ``reading_of``."""

    detector: Detector
    trust: TrustConfig
    budget: float
    readings: dict[str, Reading] = field(default_factory=dict)
    name: str = "detect"
    offload: bool = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        reading = read_message(
            self.detector, received.raw, self.trust, time.monotonic() + self.budget
        )
        self.readings[received.id] = reading
        return DetectStage.handed_on(facts, reading.findings, reading.reasons, reading.protection)

    def reading_of(self, received: Received) -> Reading | None:
        return self.readings.pop(received.id, None)


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


def inspect_in_turn(stages: Sequence[Stage], received: Received) -> Inspection:
    """The facts of ``stages`` as Pipeline.inspect gathers them, without an event loop: the
    inline stages in order, then each offloaded stage from their facts, merged as the
    pipeline merges stages that ran side by side (``postvagt scan``)."""
    facts = run_stages([s for s in stages if not s.offload], received, Inspection())
    offloaded = [s for s in stages if s.offload]
    return merge(facts, [run_stages((s,), received, facts) for s in offloaded])


def run_stages(stages: Sequence[Stage], received: Received, facts: Inspection) -> Inspection:
    for stage in stages:
        try:
            facts = stage(received, facts)
        except Exception as e:
            facts = failed(stage, received, facts, e)
    return facts


def failed(stage: Stage, received: Received, facts: Inspection, error: Exception) -> Inspection:
    # The exception text may quote the message: log its type and place only.
    log.error("id=%s stage=%s failed: %s", received.id, stage.name, type(error).__name__)
    log.debug("stage failure detail", exc_info=True)
    return facts.with_unscanned(Unscanned.INTERNAL_ERROR)
