"""Slow senders against `postvagt run`: can a client elsewhere still be served?

Ten loopback addresses (127.0.0.2-11) open twenty connections each and trickle their DATA at
one byte a second; meanwhile a client from another address (127.0.0.50) sends ordinary
mail, one message at a time. Printed side by side for two configurations in one run:

  (a) the per-address limit switched off (max_inflight_per_client = max_inflight): how
      Postvagt behaved before issue 23;
  (b) the defaults.

For each: the other client's replies (how many 250, how many 451) and its time from connect
to the final 250 (median and worst), how many transactions the tricklers got, and how many
next-hop connections were established while they trickled. The next hop is Postfix's
smtp-sink. Bounded: 200 trickling connections, `--seconds` (default 20) per configuration,
loopback only.

    .venv/bin/python bench/slow_senders.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relay import SINK, free_port, gateway, start, stop

ADDRESSES = [f"127.0.0.{n}" for n in range(2, 12)]
PER_ADDRESS = 20
ELSEWHERE = "127.0.0.50"


def command(sock: socket.socket, reader, line: bytes) -> bytes:  # type: ignore[no-untyped-def]
    sock.sendall(line + b"\r\n")
    return read_reply(reader)


def read_reply(reader) -> bytes:  # type: ignore[no-untyped-def]
    lines = []
    while True:
        line = reader.readline()
        if not line:
            return b"closed"
        lines.append(line)
        if line[3:4] != b"-":
            return b"".join(lines)


def trickle(port: int, source: str, stop_at: float, got: dict[str, int]) -> None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    except OSError:
        got["refused"] += 1
        return
    reader = sock.makefile("rb")
    try:
        read_reply(reader)
        command(sock, reader, b"EHLO slow.example")
        if not command(sock, reader, b"MAIL FROM:<slow@borger.example>").startswith(b"250"):
            got["mail refused"] += 1
            return
        command(sock, reader, b"RCPT TO:<post@kommune.example>")
        command(sock, reader, b"DATA")
        got["trickling"] += 1
        while time.monotonic() < stop_at:
            sock.sendall(b"x")
            time.sleep(1)
    except OSError:
        got["cut"] += 1
    finally:
        sock.close()


def quick(port: int) -> tuple[bytes, float]:
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(ELSEWHERE, 0))
    reader = sock.makefile("rb")
    try:
        read_reply(reader)
        command(sock, reader, b"EHLO quick.example")
        reply = command(sock, reader, b"MAIL FROM:<hurtig@borger.example>")
        if reply.startswith(b"250"):
            command(sock, reader, b"RCPT TO:<post@kommune.example>")
            command(sock, reader, b"DATA")
            reply = command(sock, reader, b"Subject: hurtig\r\n\r\nHej\r\n.")
        command(sock, reader, b"QUIT")
        return reply[:3], time.monotonic() - started
    finally:
        sock.close()


def upstream_connections(port: int) -> int:
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
    ).stdout
    return len(out.splitlines())


def run(seconds: float, **settings: str) -> dict[str, object]:
    sink_port, port = free_port(), free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = start([SINK, *user, "-R", "/tmp", f"127.0.0.1:{sink_port}", "512"], sink_port)
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, POSTVAGT_TRUSTED_CLIENTS="127.0.0.1/32")
        proc = gateway(port, sink_port, data_dir, env, **settings)
        try:
            got = {"trickling": 0, "mail refused": 0, "cut": 0, "refused": 0}
            stop_at = time.monotonic() + seconds
            threads = [
                threading.Thread(target=trickle, args=(port, a, stop_at, got), daemon=True)
                for a in ADDRESSES
                for _ in range(PER_ADDRESS)
            ]
            for t in threads:
                t.start()
            time.sleep(3)  # the tricklers are in their DATA
            replies: list[bytes] = []
            times: list[float] = []
            most_upstream = 0
            while time.monotonic() < stop_at - 1:
                reply, took = quick(port)
                replies.append(reply)
                if reply == b"250":
                    times.append(took)
                most_upstream = max(most_upstream, upstream_connections(sink_port))
                time.sleep(0.2)
            for t in threads:
                t.join(5)
        finally:
            stop(proc)
            stop(sink)
    return {
        "other client 250": replies.count(b"250"),
        "other client 451": replies.count(b"451"),
        "other client median s": round(statistics.median(times), 3) if times else None,
        "other client worst s": round(max(times), 3) if times else None,
        "tricklers in DATA": got["trickling"],
        "tricklers refused at MAIL": got["mail refused"],
        "next-hop connections (most)": most_upstream,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    before = run(args.seconds, max_inflight_per_client="200")
    after = run(args.seconds)
    print(f"{'':32} {'(a) no per-address limit':>26} {'(b) defaults':>14}")
    for key in after:
        print(f"{key:32} {before[key]!s:>26} {after[key]!s:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
