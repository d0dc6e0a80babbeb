"""The store as the gateway uses it: every call runs off the SMTP event loop.

SQLite gets one writer thread (one connection, BEGIN IMMEDIATE), PostgreSQL a small pool.
A locked or unreachable database is retried with backoff up to ``timeout`` seconds; then
``StoreUnavailable`` is raised, which the pipeline turns into a 451 (before the message went
upstream) — never into a lost message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.model import Inspection, Received, Reply, ReplyPlan, ReviewFacts
from gateway.store import migrate, primitives, records, replies
from gateway.store.engine import make_engine
from gateway.store.records import RecordRef
from gateway.store.writer import BatchingWriter, WriterUnavailable

log = logging.getLogger("postvagt.store")
HASH_ON_LOOP = 256 * 1024

P = ParamSpec("P")
T = TypeVar("T")


class StoreUnavailable(Exception):
    """The database could not be written within the time allowed."""


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1")).scalar_one()


class Store:
    def __init__(
        self,
        url: str,
        *,
        instance: str,
        slot: str,
        timeout: float = 10.0,
        workers: int = 4,
        sqlite_synchronous: str = "FULL",
        quarantine_dir: Path | None = None,
    ) -> None:
        self.url = url
        self.engine: Engine = make_engine(
            url,
            sqlite_synchronous=sqlite_synchronous,
            busy_timeout=min(timeout, 2.0),
            pool_size=workers,
        )
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.instance = instance
        self.slot = slot
        self.timeout = timeout
        self.quarantine = records.QuarantinePlace(quarantine_dir)
        # SQLite: exactly one writer, which commits what queued up in one go (group
        # commit). PostgreSQL: a small pool; the server does the rest.
        self._writer = BatchingWriter(self.engine, timeout) if self.is_sqlite else None
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="postvagt-store")

    # -- plumbing ----------------------------------------------------------------------------

    def prepare(self, recover_after: timedelta) -> int:
        """Create the database if needed, migrate it, and recover interrupted records."""
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                # Readable by the service only, whatever the umask: SQLite gives its WAL and
                # shared-memory files the database file's mode.
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        migrate.upgrade(self.engine)
        recovered = self.transaction(records.recover_interrupted, recover_after)
        if recovered:
            log.warning("%d message records were left pending by an interrupted run", recovered)
        return recovered

    def transaction(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work(connection, …)`` in one transaction, retrying while the database is
        locked or unreachable, for at most ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        delay = 0.02
        while True:
            try:
                with self.engine.begin() as connection:
                    return work(connection, *args, **kwargs)
            except (OperationalError, DBAPIError) as e:
                transient = isinstance(e, OperationalError) or e.connection_invalidated
                if not transient or time.monotonic() + delay > deadline:
                    raise StoreUnavailable(f"{work.__name__}: {type(e.orig).__name__}") from e
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def run(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        if self._writer is not None:
            future = asyncio.wrap_future(self._writer.submit(work, *args, **kwargs))
        else:
            future = asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: self.transaction(work, *args, **kwargs)
            )
        try:
            # A margin over the retry window: the thread itself gives up at the deadline.
            return await asyncio.wait_for(asyncio.shield(future), self.timeout + 5)
        except TimeoutError as e:
            raise StoreUnavailable(f"{work.__name__}: no answer in time") from e
        except WriterUnavailable as e:
            raise StoreUnavailable(f"{work.__name__}: {e}") from e

    async def ping(self, timeout: float) -> None:
        """One round trip to the database the way the next message's record goes, for
        /healthz: no retries. Raises StoreUnavailable."""
        try:
            if self._writer is not None:  # SQLite: through the one writer, lock included
                await asyncio.wait_for(
                    asyncio.wrap_future(self._writer.submit(_select_one)), timeout
                )
            else:
                await asyncio.wait_for(asyncio.to_thread(self._ping_once), timeout)
        except TimeoutError as e:
            raise StoreUnavailable("no answer in time") from e
        except (OperationalError, DBAPIError, WriterUnavailable) as e:
            raise StoreUnavailable(type(e).__name__) from e

    def _ping_once(self) -> None:
        with self.engine.connect() as connection:
            _select_one(connection)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    # -- what the pipeline writes ------------------------------------------------------------

    async def record_pending(
        self, received: Received, facts: Inspection, review: ReviewFacts | None = None
    ) -> RecordRef:
        message_id = facts.parsed.message_id if facts.parsed else None
        trace_end = facts.parsed.trace_end if facts.parsed else 0
        if len(received.raw) < HASH_ON_LOOP:
            key = records.idempotency_key(received, message_id, trace_end)
        else:  # hashing 30 MB takes the event loop ~60 ms: other sessions would wait
            key = await asyncio.to_thread(records.idempotency_key, received, message_id, trace_end)
        return await self.run(
            records.record_pending,
            received,
            facts,
            key=key,
            instance=self.instance,
            slot=self.slot,
            review=review,
        )

    async def record_outcome(
        self,
        ref: RecordRef,
        reply: Reply,
        plan: ReplyPlan | None = None,
        journal_copy: tuple[str, bytes] | None = None,
        tls_out: str | None = None,
    ) -> str | None:
        """The next hop's answer (and the TLS version it was sent with); with a plan, the
        auto-reply settled in the same commit, with a journal copy, its outbox item.
        Returns the reply state or None."""
        return await self.run(
            replies.record_outcome_with_reply, ref, reply, plan, journal_copy, tls_out
        )

    async def quarantine_message(
        self, message_id: str, raw: bytes, plan: ReplyPlan | None = None
    ) -> str | None:
        return await self.run(replies.quarantine_with_reply, message_id, raw, self.quarantine, plan)

    async def claim_once(self, scope: str, key: str, period: timedelta) -> bool:
        return await self.run(primitives.claim_once, scope, key, period)
