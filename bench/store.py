"""Write latency the store adds per message, on SQLite and PostgreSQL, in one run.

Per message the gateway commits twice: the pending record (before the message goes
upstream) and the outcome (after the next hop's answer). This measures both, through the
same Store.run path the pipeline uses (off the event loop, one writer thread on SQLite),
with ``concurrency`` messages in flight at a time, and prints p50/p99 per commit and per
message. SQLite is measured with synchronous=FULL (the default: a record survives a power
cut) and NORMAL.

    .venv/bin/python bench/store.py [--messages 2000] [--concurrency 20]
        [--postgres postgresql://127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.model import Inspection, ParsedMail, Received, Reply
from gateway.store import Store


def message(i: int) -> Received:
    return Received(
        id=str(uuid.uuid4()),
        received_at=datetime.now(UTC),
        peer="127.0.0.1",
        helo="bench.example",
        mail_from=f"sender{i}@example.net",
        rcpt_tos=("post@kommune.example",),
        group="default",
        raw=b"Subject: bench\r\n\r\n" + f"{i}".encode() * 500,
    )


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def measure(store: Store, count: int, concurrency: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"pending": [], "outcome": [], "message": []}
    gate = asyncio.Semaphore(concurrency)
    facts = Inspection(parsed=ParsedMail(message_id=None, header_count=1))

    async def one(i: int) -> None:
        async with gate:
            received = message(i)
            t0 = time.perf_counter()
            ref = await store.record_pending(received, facts)
            t1 = time.perf_counter()
            await store.record_outcome(ref, Reply(250, "2.0.0 Ok"))
            t2 = time.perf_counter()
            timings["pending"].append((t1 - t0) * 1000)
            timings["outcome"].append((t2 - t1) * 1000)
            timings["message"].append((t2 - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    timings["rate"] = [count / (time.perf_counter() - started)]
    return timings


def run(label: str, store: Store, count: int, concurrency: int) -> None:
    store.prepare(recover_after=timedelta(minutes=5))
    try:
        t = asyncio.run(measure(store, count, concurrency))
    finally:
        store.close()
    cells = " | ".join(
        f"{pct(t[k], 50):7.2f} {pct(t[k], 99):7.2f}" for k in ("pending", "outcome", "message")
    )
    print(f"{label:28} | {cells} | {t['rate'][0]:8.0f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()
    print(
        f"{'back end':28} | {'pending p50 p99 (ms)':>15} | {'outcome p50 p99':>15} | "
        f"{'message p50 p99':>15} | {'msgs/s':>8}"
    )
    for concurrency in args.concurrency:
        bench_all(args, concurrency)
    print(f"{args.messages} messages per row; two commits per message")
    return 0


def bench_all(args: argparse.Namespace, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for sync in ("FULL", "NORMAL"):
            url = f"sqlite:///{Path(folder) / f'bench-{sync}.db'}"
            store = Store(url, instance="bench", slot="mx", sqlite_synchronous=sync)
            run(f"SQLite {sync}, {concurrency} in flight", store, args.messages, concurrency)
    admin_url = make_url(args.postgres).set(drivername="postgresql+psycopg")
    name = f"postvagt_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        store = Store(url, instance="bench", slot="mx", workers=4)
        run(f"PostgreSQL, {concurrency} in flight", store, args.messages, concurrency)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
