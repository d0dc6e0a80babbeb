"""Slow senders cannot crowd out the others (issue 23, point 5), with a real Postfix next hop.

Clients that trickle their DATA a byte at a time used to fill ``max_inflight`` and hold a
next-hop connection each for as long as they liked. Now: in-flight transactions are counted
per client address, the DATA phase has a deadline and a floor on its rate, and a client
still sending after a moment gives its next-hop connection back (replayed when its data is
complete). The figure for the README (10 addresses x 20 trickling connections, a client
elsewhere served in under a second) is measured by bench/slow_senders.py.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.helpers import wait_for
from tests.postfix import Postfix, available
from tests.servers import RawClient, RunningGateway, free_port

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

MAILBOX = "post@kommune.example"


@pytest.fixture(scope="module")
def next_hop() -> Iterator[tuple[Postfix, int]]:
    port = free_port()
    postfix = Postfix(f"127.0.0.1:{port} inet n - n - - smtpd\n", mailboxes=[MAILBOX]).start()
    yield postfix, port
    postfix.stop()


def start(tmp_path: Path, port: int, **options: object) -> RunningGateway:
    (tmp_path / "policy.yaml").write_text("version: 1\nrules:\n  - name: ordinary\n")
    values: dict[str, object] = {
        "listen": f"127.0.0.1:{free_port()}",
        "web_listen": "127.0.0.1:0",
        "upstream": f"smtp://127.0.0.1:{port}",
        "domains": ["kommune.example"],
        "policy": tmp_path / "policy.yaml",
        "data_dir": tmp_path / "var",
        "hostname": "postvagt.kommune.example",
        "sender_checks": False,
        "detect_workers": 1,
        "shutdown_grace": 5,
        # Only 127.0.0.1 is the trusted front; the other loopback addresses are strangers.
        "trusted_clients": ["127.0.0.1/32"],
        **options,
    }
    return RunningGateway(Settings(**values))  # type: ignore[arg-type]


def trickler(port: int, source: str, n: int) -> RawClient:
    """A client that has begun its DATA and sends nothing more for now."""
    client = RawClient(port, source=source)
    client.command("EHLO slow.example")
    assert client.command(f"MAIL FROM:<slow{n}@borger.example>").startswith("250")
    assert client.command(f"RCPT TO:<{MAILBOX}>").startswith("250")
    assert client.command("DATA").startswith("354")
    client.send(b"Subject: langsom\r\n")
    return client


def next_hop_connections(port: int) -> int:
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(out.splitlines())


def send(port: int, source: str) -> str:
    client = RawClient(port, source=source)
    try:
        client.command("EHLO quick.example")
        reply = client.command("MAIL FROM:<hurtig@borger.example>")
        if not reply.startswith("250"):
            return reply
        client.command(f"RCPT TO:<{MAILBOX}>")
        client.command("DATA")
        return client.command("Subject: hurtig\r\n\r\nHej\r\n.")
    finally:
        client.close()


def test_one_address_cannot_take_every_slot_nor_hold_next_hop_connections(
    tmp_path: Path, next_hop: tuple[Postfix, int]
) -> None:
    postfix, hop_port = next_hop
    gw = start(
        tmp_path, hop_port, max_inflight=10, max_inflight_per_client=3, upstream_connections=1
    )
    port = gw.gateway.port
    slow = [trickler(port, "127.0.0.2", n) for n in range(3)]
    try:
        # The fourth transaction from the same address waits its turn...
        assert send(port, "127.0.0.2").startswith("451 4.3.2"), "per-address limit"
        # ...a client elsewhere does not.
        assert send(port, "127.0.0.3").startswith("250")
        # A moment into their DATA, the tricklers hold no next-hop connection: what is open
        # is the pool's one idle connection (upstream_connections), free for anyone.
        assert wait_for(lambda: next_hop_connections(hop_port) <= 1, timeout=10)
        # When they finish, each message is delivered once, on a replayed transaction.
        before = len(postfix.delivered(MAILBOX))
        for client in slow:
            client.send(b"\r\nendelig\r\n.\r\n")
            assert client.reply().startswith("250")
        assert wait_for(lambda: len(postfix.delivered(MAILBOX)) == before + 3, timeout=30)
    finally:
        for client in slow:
            client.close()
        gw.close()


def test_a_data_phase_past_its_deadline_is_cut_and_gives_its_slot_back(
    tmp_path: Path, next_hop: tuple[Postfix, int]
) -> None:
    postfix, hop_port = next_hop
    gw = start(tmp_path, hop_port, data_timeout=3, max_inflight_per_client=1)
    port = gw.gateway.port
    before = len(postfix.delivered(MAILBOX))
    client = trickler(port, "127.0.0.4", 0)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 8:
            try:
                client.send(b"x")  # one byte a second: under any rate floor
            except OSError:
                break
            time.sleep(1)
        assert client.reply().startswith("421 4.4.2")
        # The slot is free again for the same address, and nothing half-sent was delivered.
        assert wait_for(lambda: gw.gateway.handler.inflight == 0, timeout=5)
        assert send(port, "127.0.0.4").startswith("250")
        assert wait_for(lambda: len(postfix.delivered(MAILBOX)) == before + 1, timeout=30)
        assert all(b"langsom" not in m for m in postfix.delivered(MAILBOX)[before:])
    finally:
        client.close()
        gw.close()
