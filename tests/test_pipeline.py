"""The inspection stages side by side (issue 17): detection is awaited without holding a
thread, the waiting stages share a thread pool, and their facts are merged."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from gateway.facts import merge
from gateway.model import Finding, Inspection, Received, SenderAuth, Unscanned
from gateway.pipeline import Pipeline


def received(n: int) -> Received:
    return Received(
        id=f"m{n}",
        received_at=datetime.now(UTC),
        peer="127.0.0.1",
        helo="h",
        mail_from="a@example.net",
        rcpt_tos=("b@kommune.example",),
        group="default",
        raw=b"Subject: x\r\n\r\nhej\r\n",
    )


@dataclass
class AwaitedStage:
    """Stands for detection: its work is elsewhere, awaited on the loop."""

    started: asyncio.Event
    go: asyncio.Event
    in_flight: list[int]
    name: str = "detect"
    offload: bool = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        raise AssertionError("the pipeline awaits arun; no thread runs this stage")

    async def arun(self, received: Received, facts: Inspection) -> Inspection:
        self.in_flight.append(1)
        if len(self.in_flight) == 5:
            self.started.set()
        await self.go.wait()
        finding = Finding("DK_CPR", "body", 0.9, "DkCprRecognizer", "150385-****")
        return replace(facts, findings=(finding,)).with_unscanned(Unscanned.OCR_BUDGET)


@dataclass
class ThreadStage:
    """Stands for the sender checks: blocking DNS, in the thread pool."""

    detection_started: asyncio.Event
    loop: asyncio.AbstractEventLoop
    name: str = "authenticate"
    offload: bool = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        # Waits until detection of every message is under way: side by side, or never.
        seen = threading.Event()
        self.loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(_when(self.detection_started, seen))
        )
        assert seen.wait(10), "detection did not run beside the sender checks"
        return replace(facts, sender=SenderAuth(source="session", spf="pass"))


async def _when(event: asyncio.Event, done: threading.Event) -> None:
    await event.wait()
    done.set()


async def test_detection_holds_no_thread_and_runs_beside_the_sender_checks():
    loop = asyncio.get_running_loop()
    started, go, in_flight = asyncio.Event(), asyncio.Event(), []
    stages = (AwaitedStage(started, go, in_flight), ThreadStage(started, loop))
    # One thread for five messages: the old design (each message's stages in turn in one
    # thread) would run one detection at a time and never reach five in flight.
    pipeline = Pipeline(store=None, policy=None, hostname="h", stages=stages, workers=1)  # type: ignore[arg-type]
    inspections = [asyncio.ensure_future(pipeline.inspect(received(n))) for n in range(5)]
    await asyncio.wait_for(started.wait(), 10)
    go.set()
    results = await asyncio.wait_for(asyncio.gather(*inspections), 30)
    for facts in results:
        assert facts.sender is not None and facts.sender.spf == "pass"
        assert [f.entity for f in facts.findings] == ["DK_CPR"]
        assert facts.unscanned == (Unscanned.OCR_BUDGET,)
    await pipeline.aclose()


def test_merge_keeps_what_each_stage_added_and_every_reason():
    base = Inspection().with_unscanned(Unscanned.LIMIT)
    detected = replace(base, findings=(Finding("HEALTH", "body", 0.8, "Lexicon", None),))
    detected = detected.with_unscanned(Unscanned.TIMEOUT)
    checked = replace(base, sender=SenderAuth(source="none"))
    checked = checked.with_unscanned(Unscanned.INTERNAL_ERROR)
    merged = merge(base, [detected, checked])
    assert merged.findings == detected.findings
    assert merged.sender == checked.sender
    assert merged.unscanned == (Unscanned.LIMIT, Unscanned.TIMEOUT, Unscanned.INTERNAL_ERROR)
