"""The contract between the SMTP front and whatever receives the mail next.

The front works in lock-step with the next hop, as Postfix's before-queue proxy does: one
``Transaction`` per SMTP transaction, opened at MAIL FROM, each RCPT passed on, and the DATA
reply relayed. A hop never raises for a refusal or an outage: it returns the ``Reply`` the
client should get (its own 4xx/5xx, or our 451 when it cannot be reached).
"""

from __future__ import annotations

import abc
from typing import Protocol

from gateway.model import Reply


class Transaction(abc.ABC):
    @abc.abstractmethod
    async def mail(self, sender: str, options: list[str], smtputf8: bool) -> Reply: ...

    @abc.abstractmethod
    async def rcpt(self, recipient: str, smtputf8: bool, *, notify_never: bool = False) -> Reply:
        """``notify_never``: ask for no delivery reports (DSN), where the hop offers DSN."""

    @abc.abstractmethod
    async def data(self, message: bytes, timeout: float) -> Reply:
        """Send the message; the reply is the next hop's final answer (or our 451)."""

    @abc.abstractmethod
    async def release(self) -> None:
        """End the transaction (RSET if it is still open) and give the connection back."""


class NextHop(Protocol):
    async def begin(self) -> Transaction: ...

    async def close(self) -> None: ...
