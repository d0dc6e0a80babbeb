"""SQLite's single writer, with group commit.

SQLite has one write lock per file and every commit with synchronous=FULL costs an fsync.
With twenty SMTP sessions each committing twice per message, one transaction per write would
queue them all behind the disk. The writer thread instead takes every write waiting in its
queue and runs them in one transaction, each inside its own SAVEPOINT (a failing write is
rolled back alone), so one fsync covers the whole batch. A caller's future is completed only
after the batch is committed: nobody hears "done" for a write that might still roll back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger("postvagt.store")

MAX_BATCH = 64


class WriterUnavailable(Exception):
    """A batch could not be committed within the time allowed."""


@dataclass
class _Job:
    work: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any] = field(default_factory=Future)


class BatchingWriter:
    def __init__(self, engine: Engine, timeout: float) -> None:
        self._engine = engine
        self._timeout = timeout
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._connection: Connection | None = None
        self._thread = threading.Thread(target=self._run, name="postvagt-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        self.writes = 0

    def submit(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        job = _Job(work, args, kwargs)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(self._timeout + 5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._commit(batch)
            if stop:
                break
        if self._connection is not None:
            self._connection.close()

    def _commit(self, batch: list[_Job]) -> None:
        deadline = time.monotonic() + self._timeout
        delay = 0.02
        while True:
            try:
                outcomes = self._attempt(batch)
                break
            except (OperationalError, DBAPIError) as e:
                transient = isinstance(e, OperationalError) or e.connection_invalidated
                if not transient or time.monotonic() + delay > deadline:
                    failure = WriterUnavailable(f"batch of {len(batch)}: {type(e.orig).__name__}")
                    for job in batch:
                        job.future.set_exception(failure)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        self.batches += 1
        self.writes += len(batch)
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _connected(self) -> Connection:
        """The writer's one connection, kept between batches (a checkout from the pool and
        its return cost every batch as much as a statement)."""
        if self._connection is None or self._connection.closed:
            self._connection = self._engine.connect()
        return self._connection

    def _drop_connection(self) -> None:
        """After a failed batch: the next one starts on a fresh connection."""
        if self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None

    def _attempt(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        connection = self._connected()
        try:
            if len(batch) == 1:
                return [self._alone(connection, batch[0])]
            outcomes: list[tuple[bool, Any]] = []
            with connection.begin():
                for job in batch:
                    outcomes.append(self._one(connection, job))
            return outcomes
        except BaseException:
            self._drop_connection()
            raise

    @staticmethod
    def _alone(connection: Connection, job: _Job) -> tuple[bool, Any]:
        """A batch of one needs no SAVEPOINT: its own transaction isolates it (two statements
        fewer per write on a quiet gateway, where latency is what counts)."""
        try:
            with connection.begin():
                value = job.work(connection, *job.args, **job.kwargs)
        except (OperationalError, DBAPIError) as e:
            if isinstance(e, OperationalError) or e.connection_invalidated:
                raise  # the database itself is in trouble: retried by _commit
            return False, e
        except Exception as e:
            return False, e
        return True, value

    @staticmethod
    def _one(connection: Connection, job: _Job) -> tuple[bool, Any]:
        savepoint = connection.begin_nested()
        try:
            value = job.work(connection, *job.args, **job.kwargs)
        except OperationalError:
            raise  # the database itself is in trouble: the whole batch rolls back and retries
        except Exception as e:
            savepoint.rollback()
            return False, e
        savepoint.commit()
        return True, value
