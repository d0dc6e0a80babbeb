"""Reliability and load figures in one table (RELIABILITY.md section e), on this machine:

  1. the under-fire suite with longer loops (CRASH_ROUNDS, FUZZ_EXAMPLES) — its figures table;
  2. load through the full inspecting gateway: 20 sessions of mixed mail (5 KB text with a
     fictional CPR number, 100 KB with a PDF attachment) for a bounded time, against a plain
     aiosmtpd relay (bench/plain_relay.py) in the same run: messages/s and the ratio, reply
     latency p50/p99, idle-gateway p50 for 5 KB, peak RSS and open descriptors at the end;
  3. ten concurrent 30 MB messages plus a small canary session: peak RSS, canary latency.

    .venv/bin/python bench/reliability.py [--quick] [--crash-rounds 300] [--fuzz 5000]

Needs smtp-sink (Debian package postfix). Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.relay import SINK, free_port, start, stop  # noqa: E402
from tests import fictional  # noqa: E402

MAILBOX = "post@kommune.example"


def text_mail(rng: random.Random, size: int) -> bytes:
    body = f"Hej\r\nMit CPR-nummer er {fictional.cpr(rng)}.\r\n" + (
        "Tekst i brevet. " * 60 + "\r\n"
    ) * (size // 1000)
    return f"From: b@borger.example\r\nTo: {MAILBOX}\r\nSubject: Brev\r\n\r\n{body}".encode()


def pdf_mail(rng: random.Random, size: int) -> bytes:
    import base64

    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, f"CPR-nummer {fictional.cpr(rng)}")
    data = bytes(pdf.output()) + os.urandom(max(0, size - 3000))  # padding past %%EOF
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        (
            f"From: b@borger.example\r\nTo: {MAILBOX}\r\nSubject: Bilag\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\n"
            "Se bilag.\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + encoded
        + b"\r\n--b--\r\n"
    )


async def load(port: int, mails: list[bytes], sessions: int, seconds: float) -> dict[str, float]:
    """``sessions`` clients send from ``mails`` round-robin for ``seconds``; per-message
    latency from the end of DATA to the reply (aiosmtplib's data() call)."""
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def session(n: int) -> None:
        nonlocal failures
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
        await client.connect()
        i = n
        while time.monotonic() < deadline:
            data = mails[i % len(mails)]
            i += sessions
            try:
                await client.mail("b@borger.example")
                await client.rcpt(MAILBOX)
                started = time.perf_counter()
                await client.data(data)
                latencies.append(time.perf_counter() - started)
            except aiosmtplib.SMTPException:
                failures += 1
        await client.quit()

    started = time.monotonic()
    await asyncio.gather(*(session(n) for n in range(sessions)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "msgs/s": len(latencies) / elapsed,
        "p50 ms": 1000 * latencies[len(latencies) // 2],
        "p99 ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "failed": failures,
        "sent": len(latencies),
    }


def rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak RSS of a process and its children, MB."""
    pids = [pid] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]
    now = peak = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    now += int(line.split()[1])
                if line.startswith("VmHWM:"):
                    peak += int(line.split()[1])
        except OSError:
            pass
    return now / 1024, peak / 1024


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def big_and_canary(port: int) -> dict[str, float]:
    big = b"Subject: stor\r\n\r\n" + (b"A" * 998 + b"\r\n") * (30 * 1024)
    small = b"Subject: lille\r\n\r\nHej\r\n"

    async def send(data: bytes) -> float:
        started = time.perf_counter()
        await aiosmtplib.send(
            data,
            sender="b@borger.example",
            recipients=[MAILBOX],
            hostname="127.0.0.1",
            port=port,
            timeout=300,
        )
        return time.perf_counter() - started

    bigs = [asyncio.ensure_future(send(big)) for _ in range(10)]
    await asyncio.sleep(1.0)  # the big ones are streaming now
    canary = [await send(small) for _ in range(5)]
    done = await asyncio.gather(*bigs)
    return {"30 MB max s": max(done), "canary max ms": 1000 * max(canary)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--crash-rounds", type=int, default=300)
    parser.add_argument("--fuzz", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if args.quick:
        args.crash_rounds, args.fuzz, args.seconds = 30, 300, 10
    env = {
        **os.environ,
        "CRASH_ROUNDS": str(args.crash_rounds),
        "FUZZ_EXAMPLES": str(args.fuzz),
        "TINY_PARTS": "100000" if args.quick else "1000000",  # a million parts: ~13 MB
    }
    print("== 1. under fire (longer loops)", flush=True)
    suite = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_under_fire.py",
            "tests/test_fuzz.py",
            "tests/test_no_leaks.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    out = suite.stdout
    print(out[out.find("= figures =") : out.find("= time per suite")] or out[-3000:])
    print(out.strip().splitlines()[-1], flush=True)

    print("== 2. load: 20 sessions, mixed 5 KB text / 100 KB PDF, full inspection", flush=True)
    rng = random.Random(10)
    mixed = [text_mail(rng, 5000) for _ in range(20)] + [pdf_mail(rng, 100_000) for _ in range(20)]
    texts = [text_mail(rng, 5000) for _ in range(40)]
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink_port, relay_port, gw_port = free_port(), free_port(), free_port()
    sink = start([SINK, *user, "-R", "/tmp", f"127.0.0.1:{sink_port}", "256"], sink_port)
    relay = start(
        [sys.executable, str(ROOT / "bench" / "plain_relay.py"), str(relay_port), str(sink_port)],
        relay_port,
    )
    data_dir = tempfile.mkdtemp(prefix="postvagt-rel-")
    gw_env = {k: v for k, v in os.environ.items() if not k.startswith("POSTVAGT_")}
    gw_env["POSTVAGT_SENDER_CHECKS"] = "false"
    gateway = start(
        [
            sys.executable,
            "-m",
            "gateway",
            "run",
            "--listen",
            f"127.0.0.1:{gw_port}",
            "--web-listen",
            "127.0.0.1:0",
            "--upstream",
            f"smtp://127.0.0.1:{sink_port}",
            "--domain",
            "kommune.example",
            "--data-dir",
            data_dir,
        ],
        gw_port,
        cwd=ROOT,
        env=gw_env,
    )
    try:
        idle = asyncio.run(load(gw_port, texts, 1, min(args.seconds, 10)))
        print(
            f"idle gateway, 5 KB, 1 session: p50 {idle['p50 ms']:.1f} ms "
            f"(target <= 10 ms), p99 {idle['p99 ms']:.1f} ms",
            flush=True,
        )
        rows = []
        for name, mails in (("5 KB text", texts), ("mixed 5 KB / 100 KB PDF", mixed)):
            base = asyncio.run(load(relay_port, mails, 20, args.seconds))
            ours = asyncio.run(load(gw_port, mails, 20, args.seconds))
            rows.append((name, base, ours))
        print(
            f"{'load':26} {'relay msg/s':>11} {'postvagt':>9} {'ratio':>6} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'failed':>6}"
        )
        for name, base, ours in rows:
            print(
                f"{name:26} {base['msgs/s']:>11.0f} {ours['msgs/s']:>9.0f} "
                f"{ours['msgs/s'] / base['msgs/s']:>6.2f} {ours['p50 ms']:>7.1f} "
                f"{ours['p99 ms']:>7.1f} {ours['failed']:>6.0f}"
            )
        now, peak = rss_mb(gateway.pid)
        print(
            f"gateway RSS now {now:.0f} MB, peak {peak:.0f} MB (with detection workers); "
            f"open fds {open_fds(gateway.pid)}",
            flush=True,
        )
        print("== 3. ten concurrent 30 MB messages + a canary session", flush=True)
        big = asyncio.run(big_and_canary(gw_port))
        now, peak = rss_mb(gateway.pid)
        print(
            f"30 MB x10: slowest {big['30 MB max s']:.1f} s; canary reply max "
            f"{big['canary max ms']:.0f} ms; peak RSS {peak:.0f} MB; open fds "
            f"{open_fds(gateway.pid)}"
        )
    finally:
        for proc in (gateway, relay, sink):
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
