"""What /healthz answers: whether the next message would be handled, or get 451.

A load balancer takes the instance out on 503. Each check is one the next message depends
on: the folders it is written to (not writable, or below ``health_min_free_mb``), the
database (one round trip, no retries), the detection workers. The reasons name the setting
concerned and the error, never a message, an address, a mailbox or a path.
"""

from __future__ import annotations

import asyncio
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from gateway.reader_pool import ReaderPool
from gateway.store import Store, StoreUnavailable

MB = 1024 * 1024


def folder_problem(label: str, folder: Path, min_free_mb: int) -> str | None:
    """Why ``folder`` would fail the next write, or None. A real write (a read-only mount,
    an immutable folder, a file where the folder should be all fail it, for root too)."""
    probe = folder / f".healthz-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok\n")
        finally:
            os.close(fd)
        os.unlink(probe)
        stats = os.statvfs(folder)
    except OSError as e:
        return f"{label} not writable ({errno.errorcode.get(e.errno or 0, type(e).__name__)})"
    free = stats.f_bavail * stats.f_frsize // MB
    if free < min_free_mb:
        return f"{label} nearly full ({free} MB free, health_min_free_mb is {min_free_mb})"
    return None


@dataclass
class Health:
    store: Store
    folders: list[tuple[str, Path]]
    min_free_mb: int
    readers: ReaderPool | None = None
    timeout: float = 5.0

    async def problems(self) -> list[str]:
        """Every reason the next message would not be handled; empty when it would."""
        found: list[str] = []
        for label, folder in self.folders:
            try:
                problem = await asyncio.wait_for(
                    asyncio.to_thread(folder_problem, label, folder, self.min_free_mb),
                    self.timeout,
                )
            except TimeoutError:
                problem = f"{label} not answering"
            if problem:
                found.append(problem)
        try:
            await self.store.ping(self.timeout)
        except StoreUnavailable as e:
            found.append(f"database unavailable ({e})")
        if self.readers is not None and not self.readers.alive():
            found.append("detection workers gone")
        return found
