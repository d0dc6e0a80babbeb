"""Detection in worker processes: one Presidio engine per process, off the event loop.

A process of its own, because the analysis is CPU-bound Python (threads would share one
GIL with the SMTP event loop) and because a crash there must not take the gateway down.
Only findings with masked values come back; the matched text stays in the worker.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from gateway.detect.analyzer import Detector
from gateway.detect.engine import EngineConfig, build_detector
from gateway.extract.text import mail_text_and_gaps
from gateway.model import Finding, TextChunk
from gateway.security import Protection, TrustConfig, classify

_detector: Detector | None = None  # one per worker process, built by its initializer
_trust = TrustConfig()


def _init(config: EngineConfig, trust: TrustConfig) -> None:
    global _detector, _trust
    _detector = build_detector(config)
    _trust = trust


def _warm() -> bool:
    return _detector is not None


def message_chunks(raw: bytes, protection: Protection) -> tuple[list[TextChunk], list[str]]:
    """The text to scan — the message's own, plus what opaque S/MIME signatures wrap — and
    what could not be read."""
    chunks, gaps = mail_text_and_gaps(raw)
    for content in protection.unwrapped:
        inner, inner_gaps = mail_text_and_gaps(content)
        chunks.extend(c for c in inner if c.location != "subject")
        gaps.extend(g for g in inner_gaps if g not in gaps)
    return chunks, gaps


def detect_message(raw: bytes, budget: float) -> tuple[list[Finding], list[str], Protection]:
    """Runs in the worker: protection, then the text and its findings, and what was left
    unscanned. Signature checks run here too: their tools are subprocesses of the worker."""
    assert _detector is not None, "worker not initialised"
    deadline = time.monotonic() + budget
    protection = classify(raw, _trust)
    chunks, gaps = message_chunks(raw, protection)
    findings, _below, incomplete = _detector.detect(chunks, deadline)
    return findings, [*gaps, *incomplete], replace(protection, unwrapped=())


class DetectorPool:
    def __init__(self, config: EngineConfig, workers: int, trust: TrustConfig) -> None:
        self._config = config
        self._trust = trust
        self._workers = workers
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn: the gateway process has threads, and fork would copy their locks.
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(self._config, self._trust),
        )

    def warm_up(self, timeout: float = 120) -> None:
        """Start every worker and build its engine now, not on the first message."""
        futures = [self._pool.submit(_warm) for _ in range(self._workers)]
        for future in futures:
            future.result(timeout)

    def detect(self, raw: bytes, budget: float) -> tuple[list[Finding], list[str], Protection]:
        """Blocking; called from the inspection thread pool. A dead pool is restarted, and
        the message is reported unscanned rather than retried."""
        try:
            future = self._pool.submit(detect_message, raw, time.time() + budget)
        except BrokenProcessPool:
            self._pool = self._start()
            raise
        try:
            return future.result(timeout=budget + 5)
        except BaseException:
            future.cancel()  # a job still queued is dropped, not run for nobody
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
