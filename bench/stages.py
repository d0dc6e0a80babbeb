"""CPU per message, stage by stage, in one process: where a message's cost goes.

bench/relay.py measures the whole gateway under load (messages per second, CPU of the
gateway process and of its reader processes); this takes the same three kinds of mail (a
Danish letter of 5 KB and of ~100 KB as Outlook writes it, and a school's ~100 KB list of
300 people with CPR numbers as CSV and PDF) through each step the gateway runs, with the
gateway's own functions, and prints the CPU time of each (time.process_time, so the store's
writer thread counts): header parse and robot checks, the reader's steps (MIME parse,
protection layers, text extraction, detection), sender checks against a DNS server on
loopback (answers cached, as a running gateway has them), the policy, the reply plan, our
header fields, the two store commits (SQLite with synchronous=FULL, the default) and the
log line.

    .venv/bin/python bench/stages.py [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.relay import as_received, danish_mail, dense_list_mail, free_port  # noqa: E402
from gateway.act.headers import outgoing_bytes  # noqa: E402
from gateway.act.journal import review_facts  # noqa: E402
from gateway.act.reply import ReplyIdentity, planned_reply  # noqa: E402
from gateway.authentication import DnsResolver, check_session  # noqa: E402
from gateway.decide.holder import PolicyHolder  # noqa: E402
from gateway.decide.robots import robot_signal  # noqa: E402
from gateway.decide.walk import decide  # noqa: E402
from gateway.detect.engine import EngineConfig, build_detector  # noqa: E402
from gateway.facts import decision_facts, unscanned_of  # noqa: E402
from gateway.messagelog import log_message  # noqa: E402
from gateway.metrics import Metrics  # noqa: E402
from gateway.model import Inspection, Outcome, Received, Reply  # noqa: E402
from gateway.parse import parse  # noqa: E402
from gateway.reading import message_chunks, parsed_once  # noqa: E402
from gateway.security import classify  # noqa: E402
from gateway.store import Store  # noqa: E402


def cpu_us(step: Callable[[], Any], count: int) -> tuple[float, Any]:
    """CPU microseconds per call of ``step`` (after one warm-up call), and its last value."""
    value = step()
    started = time.process_time()
    for _ in range(count):
        value = step()
    return (time.process_time() - started) / count * 1e6, value


def received_of(raw: bytes) -> Received:
    return Received(
        id=str(uuid.uuid4()),
        received_at=datetime.now(UTC),
        peer="192.0.2.10",
        helo="mail.example.net",
        mail_from="bench@example.net",
        rcpt_tos=("post@kommune.example",),
        group="default",
        raw=raw,
    )


def stages(raw: bytes, count: int, resolver: DnsResolver, store: Store) -> dict[str, float]:
    detector = stages.detector  # type: ignore[attr-defined]
    policy = PolicyHolder(None, "mx").current
    received = received_of(raw)
    out: dict[str, float] = {}
    out["header parse (on the loop)"], parsed = cpu_us(lambda: parse(raw), count)
    out["robot checks (when a reply is planned)"], _ = cpu_us(
        lambda: robot_signal(raw, received.mail_from), count
    )
    out["reader: MIME parse"], message = cpu_us(lambda: parsed_once(raw), count)
    out["reader: protection layers"], protection = cpu_us(
        lambda: classify(raw, parsed=message), count
    )
    out["reader: text extraction"], (chunks, gaps) = cpu_us(
        lambda: message_chunks(raw, protection, parsed=message), count
    )
    out["reader: detection"], (findings, _below, incomplete) = cpu_us(
        lambda: detector.detect(chunks, time.monotonic() + 30), count
    )
    out["sender checks (DNS cached)"], sender = cpu_us(
        lambda: check_session(
            raw,
            resolver=resolver,
            authserv_id="mx.kommune.example",
            ip=received.peer,
            helo=received.helo or "",
            mail_from=received.mail_from,
            tls=None,
        ),
        count,
    )
    reasons = [*(g.reason for g in gaps), *incomplete]
    facts = Inspection(
        parsed=parsed,
        findings=tuple(findings),
        protection=protection,
        sender=sender,
        unscanned=unscanned_of(reasons, protection),
    )
    out["policy"], verdict = cpu_us(
        lambda: decide(
            policy,
            "default",
            decision_facts(facts, mail_from=received.mail_from, size=len(raw)),
        ),
        count,
    )
    facts = Inspection(**{**facts.__dict__, "verdict": verdict})
    identity = ReplyIdentity(from_address="digitalpost-svar@kommune.example")
    out["reply plan"], plan = cpu_us(
        lambda: planned_reply(received, facts, policy, identity), count
    )
    out["our header fields"], _ = cpu_us(
        lambda: outgoing_bytes(received, facts, "mx.kommune.example"), count
    )

    async def commits() -> None:
        received_i = received_of(raw)
        ref = await store.record_pending(received_i, facts, review_facts(policy, facts))
        await store.record_outcome(ref, Reply(250, "2.0.0 Ok"), plan, None)

    loop = asyncio.new_event_loop()
    out["store: both commits (SQLite FULL)"], _ = cpu_us(
        lambda: loop.run_until_complete(commits()), count
    )
    loop.close()
    outcome = Outcome(reply=Reply(250, "2.0.0 Ok"), delivered=True, inspection=facts)
    metrics = Metrics()
    out["log line and metrics"], _ = cpu_us(
        lambda: log_message(received, outcome, 0.01, metrics, plan, "queued"), count
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("postvagt").setLevel(logging.INFO)
    logging.getLogger("postvagt.messages").addHandler(logging.NullHandler())
    logging.getLogger("postvagt.messages").propagate = False
    folder = Path(tempfile.mkdtemp(prefix="postvagt-bench-stages-"))
    mails = {
        "5 KB": danish_mail(5 * 1024, folder),
        "100 KB": danish_mail(100 * 1024, folder),
        "list": dense_list_mail(folder),
    }
    dns_port = free_port()
    dns = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "dns_server.py"), str(dns_port), "example.net"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(1.0)
    store = Store(f"sqlite:///{folder / 'bench.db'}", instance="bench", slot="mx")
    store.prepare(recover_after=timedelta(minutes=2))
    stages.detector = build_detector(EngineConfig())  # type: ignore[attr-defined]
    try:
        results = {
            name: stages(
                as_received(path),
                args.messages,
                DnsResolver(servers=[f"127.0.0.1:{dns_port}"]),
                store,
            )
            for name, path in mails.items()
        }
    finally:
        store.close()
        dns.terminate()
    sizes = {name: mails[name].stat().st_size for name in mails}
    print(f"\nCPU per message, stage by stage ({args.messages} messages each, microseconds)")
    print(f"  {'stage':40}" + "".join(f"{n} ({sizes[n] // 1024} KB)".rjust(16) for n in results))
    for stage in next(iter(results.values())):
        print(f"  {stage:40}" + "".join(f"{r[stage]:16.0f}" for r in results.values()))
    print(f"  {'total':40}" + "".join(f"{sum(r.values()):16.0f}" for r in results.values()))
    print(
        "\nNot in this table: SMTP in and out (bench/relay.py's plain relay: the same for any"
        " relay) and the hand-offs between the event loop, the store's writer thread and the"
        " reader processes (bench/relay.py's gateway and workers CPU, less this total)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
