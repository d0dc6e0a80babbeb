"""Reader processes: each message read (protection layers, text, findings: gateway.reading)
in a worker process with one Presidio engine of its own, off the event loop; and the staff
page's masked preview of held mail.

A process of its own, because the analysis is CPU-bound Python (threads would share one
GIL with the SMTP event loop) and because a crash there must not take the gateway down.
The pool is pebble's: each job has its own timeout, and a job that overruns or crashes
costs only its own worker, which is killed and replaced (a standard ProcessPoolExecutor
fails every pending job with BrokenProcessPool and cannot stop a hung one). Workers are
recycled every ``RECYCLE_AFTER`` jobs when a spaCy pipeline with NER runs (its vocabulary
grows in long-lived processes), and every ``RECYCLE_BLANK`` jobs otherwise: the blank pipeline
never tokenises, and a new worker costs seconds of CPU (imports, engine, compiled patterns),
which at 500 jobs was a quarter of all the CPU the gateway spent (bench/relay.py, py-spy).
Only findings with masked values come back; the matched text stays in the worker.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from email.message import Message

from pebble import ProcessExpired, ProcessPool

from gateway.detect.analyzer import Detector
from gateway.detect.engine import EngineConfig, build_detector
from gateway.extract.listing import attachments
from gateway.extract.text import mail_text_and_located_gaps
from gateway.model import Finding, Piece, Preview, Protection
from gateway.rawmail import parse_message
from gateway.reading import read_message
from gateway.security import TrustConfig

_detector: Detector | None = None  # one per worker process, built by its initializer
_trust = TrustConfig()


def _init(config: EngineConfig, trust: TrustConfig) -> None:
    global _detector, _trust
    _detector = build_detector(config)
    _detector.warm_up()
    _trust = trust
    # The engine lives as long as the worker: out of the cycle collector's way (its full
    # collections walked every recognizer, pattern and lexicon entry again).
    gc.freeze()


def _warm() -> bool:
    return _detector is not None


def read_in_worker(raw: bytes, until: float) -> tuple[list[Finding], list[str], Protection]:
    """Runs in the worker: ``read_message`` (protection, text, findings, what was left
    unread). Signature checks run here too: their tools are subprocesses of the worker.
    ``until``: the wall-clock deadline (time.time()) set when the job was queued, so the
    time it waited counts; the detector stops there and reports the scan incomplete."""
    assert _detector is not None, "worker not initialised"
    deadline = time.monotonic() + max(0.0, until - time.time())
    reading = read_message(_detector, raw, _trust, deadline)
    return reading.findings, reading.reasons, replace(reading.protection, unwrapped=())


PREVIEW_CHARS = 100_000
"""Text shown to staff at most (the rest is cut, never shown unmasked)."""


def preview_message(raw: bytes, budget: float) -> Preview:
    """Runs in the worker: the message's text for staff, with every finding at or above the
    threshold, and every identifier (CPR, account, phone …) at any score, replaced by its
    masked form, or by its type alone for categories (health, social …). Text the analyzer
    did not finish (too long, out of time) is left out, never shown unmasked. And the
    attachments: name, sniffed type and size (gateway.extract.listing)."""
    assert _detector is not None, "worker not initialised"
    deadline = time.monotonic() + budget
    try:
        message: Message | None = parse_message(raw)
    except RecursionError:  # the stdlib parser recurses per nesting level; the text
        message = None  # reader falls back to the subject alone, and lists no attachments
    chunks, _gaps = mail_text_and_located_gaps(raw, None, parsed=message)
    out: list[tuple[str, list[Piece]]] = []
    shown = 0
    for chunk in chunks:
        text = chunk.text[: min(_detector.max_chars, PREVIEW_CHARS - shown)]
        if not text.strip():
            continue
        analysis = _detector.analyze(text, deadline)
        if analysis.incomplete:
            out.append((chunk.location, []))
            continue
        pieces: list[Piece] = []
        at = 0
        for c in analysis.candidates:
            if c.score < _detector.threshold and c.masked() is None:
                continue
            if c.start < at:
                continue  # overlaps a stretch already masked
            pieces.append((text[at : c.start], None))
            pieces.append((c.masked() or "", c.entity))
            at = c.end
        pieces.append((text[at:], None))
        out.append((chunk.location, [p for p in pieces if p[0] or p[1]]))
        shown += len(text)
        if shown >= PREVIEW_CHARS:
            break
    return Preview(chunks=out, attachments=attachments(message) if message is not None else ())


RECYCLE_AFTER = 500
RECYCLE_BLANK = 50_000


class WorkerCrashed(Exception):
    """The worker died on this message (killed for memory, a native crash …)."""


class ReaderPool:
    def __init__(self, config: EngineConfig, workers: int, trust: TrustConfig) -> None:
        self._workers = workers
        # spawn: the gateway process has threads, and fork would copy their locks.
        self._pool = ProcessPool(
            max_workers=workers,
            max_tasks=RECYCLE_AFTER if config.nlp_model else RECYCLE_BLANK,
            initializer=_init,
            initargs=(config, trust),
            context=multiprocessing.get_context("spawn"),
        )

    def warm_up(self, timeout: float = 120) -> None:
        """Start every worker and build its engine now, not on the first message."""
        futures = [self._pool.schedule(_warm) for _ in range(self._workers)]
        for future in futures:
            future.result(timeout)

    def detect(self, raw: bytes, budget: float) -> tuple[list[Finding], list[str], Protection]:
        """Blocking; called from the inspection thread pool. The deadline counts from now,
        queue time included; past it (plus a grace for the worker's own cut-off) the job's
        worker is killed and replaced, and the message is reported unscanned."""
        future = self._pool.schedule(
            read_in_worker, args=(raw, time.time() + budget), timeout=budget + 5
        )
        try:
            return future.result()
        except ProcessExpired as e:
            raise WorkerCrashed(str(e)) from e
        except FutureTimeout:
            raise
        except BaseException:
            future.cancel()
            raise

    async def detect_async(
        self, raw: bytes, budget: float
    ) -> tuple[list[Finding], list[str], Protection]:
        """``detect`` awaited on the event loop: no thread waits for the worker process."""
        future = self._pool.schedule(
            read_in_worker, args=(raw, time.time() + budget), timeout=budget + 5
        )
        try:
            return await asyncio.wrap_future(future)
        except ProcessExpired as e:
            raise WorkerCrashed(str(e)) from e

    async def preview(self, raw: bytes, budget: float) -> Preview:
        """The staff page's masked text of a held message (``preview_message``), awaited."""
        future = self._pool.schedule(preview_message, args=(raw, budget), timeout=budget + 5)
        try:
            return await asyncio.wrap_future(future)
        except ProcessExpired as e:
            raise WorkerCrashed(str(e)) from e

    def alive(self) -> bool:
        """False once the pool is broken (pebble gives up on the whole pool when a worker
        dies with no job running, killed by the OOM killer say): then every message would
        go unscanned."""
        return bool(self._pool.active)

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)
