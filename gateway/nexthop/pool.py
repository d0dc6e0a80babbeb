"""Idle connections to one next hop, kept for reuse.

A connection is pooled only in a known, clean state (no open transaction, still connected,
and, where TLS was set up, still encrypted: a pooled connection was made by the same
``connect`` and keeps its TLS layer for life). One idle longer than ``idle_seconds`` is
closed on the next take, so the next hop's own idle timeout never bites mid-transaction.
"""

from __future__ import annotations

import asyncio
import time

import aiosmtplib


class Pool:
    def __init__(self, max_idle: int, idle_seconds: float) -> None:
        self._max_idle = max_idle
        self._idle_seconds = idle_seconds
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []

    def take(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            since, client = self._idle.pop()
            if client.is_connected and now - since < self._idle_seconds:
                return client
            client.close()
        return None

    def give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and len(self._idle) < self._max_idle:
            self._idle.append((time.monotonic(), client))
        else:
            client.close()

    def __len__(self) -> int:
        return len(self._idle)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, client in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
