"""Password guessing, slowed down without locking anyone out.

Login attempts are counted before the password is checked (a right one is taken back), per
(account, client address) and per client address, in the shared rate_limits table (so every
instance sees them), for a window of a quarter of an hour:

* after ``FREE_PAIR`` failures of one account from one address, each further attempt from
  there waits longer (doubling, up to ``MAX_DELAY``), and after ``PAIR_LIMIT`` that address is
  refused for that account until the window ends: the account's owner, at another address,
  logs in as usual;
* after ``FREE_CLIENT`` failures from one address (many names tried), every attempt from
  there waits longer too — a delay, never a refusal, because an office behind one NAT shares
  its address.

The client address is the TCP peer, or, when the peer is one of ``web_trusted_proxies``, the
right-most address in ``X-Forwarded-For`` that is not a trusted proxy itself (the left part of
that header is whatever the client chose to send).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request

from gateway.store import primitives

WINDOW = timedelta(minutes=15)
FREE_PAIR = 5
PAIR_LIMIT = 10
FREE_CLIENT = 50
CLIENT_STEP = 10
MAX_DELAY = 10.0


def _networks(trusted: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in trusted]


def is_trusted(address: str, trusted: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


def client_address(request: Request, trusted: list[str]) -> str:
    """The address the login came from (see the module's note on X-Forwarded-For)."""
    peer = request.client.host if request.client else "-"
    if not trusted or not is_trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return peer  # a malformed hop: trust nothing left of it
        if not is_trusted(address, trusted):
            return address
    return peer


def pair_key(name: str, client: str) -> str:
    return f"{name.lower()}|{client}"


@dataclass(frozen=True)
class Throttle:
    delay: float = 0.0
    refused: bool = False

    @property
    def active(self) -> bool:
        return self.refused or self.delay > 0


def _grow(failures: int, free: int, step: int) -> float:
    """0.1 s at ``free`` failures, doubling every ``step`` more, up to MAX_DELAY."""
    if failures < free:
        return 0.0
    return min(MAX_DELAY, 0.1 * 2 ** ((failures - free) / step))


def attempt(connection: Any, name: str, client: str) -> Throttle:
    """Count this attempt against the pair and the address, before its password is checked,
    and say how it is to be slowed (or refused). Counted and read in one statement each, so
    many attempts at once each see their own number (no check-then-write race); an attempt
    that turns out right is taken back (``succeeded``)."""
    pair = primitives.count_hit(connection, "login-pair", pair_key(name, client), WINDOW)
    per_client = primitives.count_hit(connection, "login-client", client, WINDOW)
    if pair > PAIR_LIMIT:
        return Throttle(refused=True)
    before = pair - 1, per_client - 1  # the failures before this attempt
    delay = max(_grow(before[0], FREE_PAIR, 1), _grow(before[1], FREE_CLIENT, CLIENT_STEP))
    return Throttle(delay=delay)


def succeeded(connection: Any, name: str, client: str) -> None:
    """A right password uses nothing up: its attempt is taken back from both counts."""
    primitives.uncount_hit(connection, "login-pair", pair_key(name, client))
    primitives.uncount_hit(connection, "login-client", client)
