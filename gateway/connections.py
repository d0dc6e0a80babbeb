"""How many SMTP connections are open, in all and per client address.

Slow or idle clients hold a connection each (aiosmtpd spends no work on them, but sockets
and memory it does): past ``max_total``, or ``max_per_client`` for one address, a new
connection is told ``421 4.3.2`` and closed at once — every MTA retries later — so a flood
from one address cannot crowd out the others. Trusted clients (the Postfix in front) are not
limited per address.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

BUSY = b"421 4.3.2 Too many connections, try again later\r\n"


class ConnectionLimit:
    def __init__(self, max_total: int, max_per_client: int, exempt: list[str]) -> None:
        self.max_total = max_total
        self.max_per_client = max_per_client
        self._exempt = [ipaddress.ip_network(n, strict=False) for n in exempt]
        self._open: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self._open.values())

    def admit(self, peer: str) -> bool:
        """Count the connection in, or say no (then ``release`` must not be called)."""
        if self.total >= self.max_total:
            return False
        if self._open[peer] >= self.max_per_client and not self._is_exempt(peer):
            return False
        self._open[peer] += 1
        return True

    def release(self, peer: str) -> None:
        self._open[peer] -= 1
        if self._open[peer] <= 0:
            del self._open[peer]

    def _is_exempt(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._exempt)
