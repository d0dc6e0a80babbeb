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

from gateway.detect.analyzer import Detector
from gateway.detect.engine import EngineConfig, build_detector
from gateway.extract.text import mail_text
from gateway.model import Finding

_detector: Detector | None = None  # one per worker process, built by its initializer


def _init(config: EngineConfig) -> None:
    global _detector
    _detector = build_detector(config)


def _warm() -> bool:
    return _detector is not None


def detect_message(raw: bytes, budget: float) -> tuple[list[Finding], list[str]]:
    """Runs in the worker: the message's text, then its findings and what was unscanned."""
    assert _detector is not None, "worker not initialised"
    deadline = time.monotonic() + budget
    findings, _below, incomplete = _detector.detect(mail_text(raw), deadline)
    return findings, incomplete


class DetectorPool:
    def __init__(self, config: EngineConfig, workers: int) -> None:
        self._config = config
        self._workers = workers
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn: the gateway process has threads, and fork would copy their locks.
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(self._config,),
        )

    def warm_up(self, timeout: float = 120) -> None:
        """Start every worker and build its engine now, not on the first message."""
        futures = [self._pool.submit(_warm) for _ in range(self._workers)]
        for future in futures:
            future.result(timeout)

    def detect(self, raw: bytes, budget: float) -> tuple[list[Finding], list[str]]:
        """Blocking; called from the inspection thread pool. A dead pool is restarted, and
        the message is reported unscanned rather than retried."""
        try:
            future = self._pool.submit(detect_message, raw, budget)
            return future.result(timeout=budget + 5)
        except BrokenProcessPool:
            self._pool = self._start()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
