"""Messages per second through the relays, in one run, on this machine:

  (a) Postfix's smtp-source straight into smtp-sink: the ceiling;
  (b) a plain aiosmtpd relay (bench/plain_relay.py) into smtp-sink: the fair baseline;
  (c) Postvagt as a newcomer gets it: its defaults (slot mx, sender checks on, detection,
      SQLite with synchronous=FULL), into smtp-sink;
  (d) the same in the after-queue slot (sender facts from trusted headers, no DNS);
  (e) the same as (c) on PostgreSQL.

The sender checks ask a DNS server on loopback (tests/dns_server.py) that answers for the
sending domain, so they run as in production while no question leaves the machine. Each
figure is the best of --rounds runs of a bounded number of messages, the targets interleaved
so that noise hits all alike. Then reply latency: p50 on an idle gateway and p99 while 20
sessions load it. Needs smtp-source and smtp-sink (Debian package postfix) and, for (e), the
PostgreSQL of POSTVAGT_TEST_PG (default postgresql://127.0.0.1:5432/test).

    .venv/bin/python bench/relay.py [--rounds 2] [--quick] [--no-postgres]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start(cmd: list[str], port: int, **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **kwargs
    )
    wait_listening(port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class Load:
    size: int
    sessions: int
    messages: int
    message: Path | None = None
    """A message file smtp-source sends (-F); None: its own filler of ``size`` bytes."""


def for_smtp_source(message: Any, path: Path) -> Path:
    """The message written with LF line ends: smtp-source -F ends every line it sends with
    CRLF itself, so a file with CRLF arrives with a stray CR at the end of each line (the
    MIME structure then no longer parses, and the whole message is read as one text).
    tests/test_bench.py checks that a file arrives as the message was made."""
    path.write_bytes(message.as_bytes().replace(b"\r\n", b"\n"))
    return path


def as_received(path: Path) -> bytes:
    """A message file as the SMTP server receives it: lines ending in CRLF."""
    return path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def danish_mail(size: int, folder: Path) -> Path:
    """A citizen's mail as Outlook sends it, of about ``size`` bytes: Danish prose in a
    text and an HTML part, a (fictional) CPR number and a phone number in it."""
    import random
    from email.message import EmailMessage
    from email.policy import SMTP

    sys.path.insert(0, str(ROOT))
    from tests import fictional
    from tests.mailcorpus import MUNICIPAL_SENTENCES

    rng = random.Random(size)
    paragraphs = ["Hej", f"Jeg søger om boligstøtte. Mit CPR-nr. er {fictional.cpr(rng)}."]
    while sum(len(p) for p in paragraphs) * 2.9 < size:  # text, HTML, encodings
        paragraphs.append(" ".join(rng.sample(MUNICIPAL_SENTENCES, 4)))
    paragraphs += ["Venlig hilsen", f"Mette Holm, tlf. {fictional.phone(rng)}"]
    message = EmailMessage(policy=SMTP)
    message["From"] = "Mette Holm <bench@example.net>"
    message["To"] = "post@kommune.example"
    message["Subject"] = "Ansøgning om boligstøtte"
    message.set_content("\n\n".join(paragraphs), cte="quoted-printable")
    html = "".join(f"<p class=MsoNormal>{p}</p>" for p in paragraphs)
    message.add_alternative(f"<html><body>{html}</body></html>", subtype="html", cte="base64")
    return for_smtp_source(message, folder / f"danish-{size // 1024}k.eml")


SURNAMES = (
    "Hansen Nielsen Jensen Pedersen Andersen Christensen Larsen Sørensen Rasmussen Jørgensen "
    "Madsen Kristensen Olsen Thomsen"
).split()
FIRST_NAMES = (
    "Mette Lars Sofie Ahmed Karen Jonas Fatima Søren Åse Emil Ida Noah Freja Oscar Alma William "
    "Clara Malik"
).split()


def people_csv(rows: int, seed: int = 300) -> str:
    """A school's or a care home's list: ``rows`` fictional people with CPR numbers made by
    tests/fictional.py, a class or ward, an address and a relative's phone number."""
    import random

    sys.path.insert(0, str(ROOT))
    from tests import fictional

    rng = random.Random(seed)
    lines = ["Navn;CPR-nr.;Klasse;Adresse;Postnr.;By;Forælder;Tlf. forælder"]
    for _ in range(rows):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        parent = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        lines.append(
            f"{name};{fictional.cpr(rng)};{rng.randrange(0, 10)}.{'abc'[rng.randrange(3)]};"
            f"Skolevej {rng.randrange(1, 200)};{rng.randrange(1000, 9999)};Kommuneby;"
            f"{parent};{fictional.phone(rng)}"
        )
    return "\n".join(lines) + "\n"


def dense_list_mail(folder: Path, rows: int = 300) -> Path:
    """The mail a school or a care home sends, about 100 KB: a letter in text and HTML, a
    CSV of ``rows`` people with (fictional) CPR numbers, and a PDF of the letter and the
    class list (made with fpdf2). Every CPR number is a finding."""
    import random
    from email.message import EmailMessage
    from email.policy import SMTP

    from fpdf import FPDF

    sys.path.insert(0, str(ROOT))
    from tests.mailcorpus import MUNICIPAL_SENTENCES

    rng = random.Random(rows)
    paragraphs = [
        "Kære forvaltning",
        f"Hermed listen over skolens {rows} elever til skolesundhedsplejen, med CPR-numre, "
        "klasser og forældrenes telefonnumre, som aftalt. Listen er også vedlagt som PDF "
        "sammen med skolens årsplan.",
        *(" ".join(rng.sample(MUNICIPAL_SENTENCES, 4)) for _ in range(12)),
        "Venlig hilsen",
        "Skolesekretær Karen Holm, Kommuneby Skole, tlf. 86 12 34 56",
    ]
    listing = people_csv(rows)
    latin1 = lambda text: text.encode("latin-1", "replace").decode("latin-1")  # noqa: E731
    pdf = FPDF()
    pdf.set_compression(False)  # as some office tools write it
    pdf.set_font("helvetica", size=8)
    pdf.add_page()
    pdf.multi_cell(0, 4, latin1("\n\n".join(paragraphs)))
    for line in listing.splitlines():
        pdf.cell(0, 4, latin1(line.replace(";", "  ")))
        pdf.ln()
    pdf.add_page()
    plan = [" ".join(rng.sample(MUNICIPAL_SENTENCES, 5)) for _ in range(12)]
    pdf.multi_cell(0, 4, latin1("Årsplan\n\n" + "\n\n".join(plan)))
    message = EmailMessage(policy=SMTP)
    message["From"] = "Karen Holm <bench@example.net>"
    message["To"] = "post@kommune.example"
    message["Subject"] = "Elevliste til skolesundhedsplejen"
    message.set_content("\n\n".join(paragraphs), cte="quoted-printable")
    html = "".join(f"<p class=MsoNormal>{p}</p>" for p in paragraphs)
    message.add_alternative(f"<html><body>{html}</body></html>", subtype="html", cte="base64")
    message.add_attachment(
        listing.encode("utf-8"), "text", "csv", filename="elevliste.csv", cte="base64"
    )
    message.add_attachment(
        bytes(pdf.output()), "application", "pdf", filename="elevliste.pdf", cte="base64"
    )
    return for_smtp_source(message, folder / f"dense-list-{rows}.eml")


def cpu_seconds(proc: subprocess.Popen | None) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def blast(port: int, load: Load) -> float:
    """Run smtp-source; return messages per second. Fails loudly if any message failed."""
    cmd = [
        SOURCE,
        "-d",
        "-s",
        str(load.sessions),
        "-m",
        str(load.messages),
        *(["-F", str(load.message)] if load.message else ["-l", str(load.size)]),
        "-f",
        "bench@example.net",
        "-t",
        "post@kommune.example",
        f"127.0.0.1:{port}",
    ]
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stderr.strip():
        raise RuntimeError(f"smtp-source failed: {result.stderr.strip()[:500]}")
    return load.messages / elapsed


def tree_cpu(proc: subprocess.Popen | None) -> tuple[float, float]:
    """CPU seconds of a gateway process and, separately, of its child processes (the
    detection workers and the tools they run), read from /proc."""
    if proc is None:
        return 0.0, 0.0
    children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == proc.pid:
            children += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu_seconds(proc), children


def latencies(port: int, count: int, path: Path | None) -> list[float]:
    """Seconds from the final "." to the reply, for ``count`` messages one after another."""
    import smtplib

    assert path is not None
    message = as_received(path)
    times = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("bench.example.net")
        for _ in range(count):
            code, text = client.mail("bench@example.net")
            assert code == 250, (code, text)
            code, text = client.rcpt("post@kommune.example")
            assert code == 250, (code, text)
            code, text = client.docmd("DATA")
            assert code == 354, (code, text)
            client.send(message.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
            started = time.perf_counter()
            code, text = client.getreply()
            times.append(time.perf_counter() - started)
            assert code == 250, (code, text)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def postgres_url() -> str | None:
    """A fresh database on the test PostgreSQL, or None if there is none."""
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
    except ImportError:
        return None
    admin = make_url(os.environ.get("POSTVAGT_TEST_PG", "postgresql://127.0.0.1:5432/test")).set(
        drivername="postgresql+psycopg"
    )
    name = f"postvagt_bench_{os.getpid()}"
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as e:
        print(f"bench: no PostgreSQL ({type(e).__name__}); row (e) left out")
        return None
    return admin.set(database=name).render_as_string(hide_password=False)


def gateway(
    port: int, sink_port: int, data_dir: str, env: dict[str, str], **settings: str
) -> subprocess.Popen:
    env = dict(env)
    env.update({f"POSTVAGT_{k.upper()}": v for k, v in settings.items()})
    return start(
        [
            sys.executable,
            "-m",
            "gateway",
            "run",
            "--listen",
            f"127.0.0.1:{port}",
            "--web-listen",
            f"127.0.0.1:{free_port()}",
            "--upstream",
            f"smtp://127.0.0.1:{sink_port}",
            "--domain",
            "kommune.example",
            "--data-dir",
            data_dir,
        ],
        port,
        cwd=ROOT,
        env=env,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    for tool in (SINK, SOURCE):
        if not os.access(tool, os.X_OK):
            print(f"bench: {tool} is missing; install it with: apt-get install postfix")
            return 1
    scale = 5 if args.quick else 1
    mails = Path(tempfile.mkdtemp(prefix="postvagt-bench-mail-"))
    loads = [
        Load(5 * 1024, 20, 2000 // scale, danish_mail(5 * 1024, mails)),
        Load(100 * 1024, 20, 500 // scale, danish_mail(100 * 1024, mails)),
        Load(100 * 1024, 20, 500 // scale, dense_list_mail(mails)),
    ]
    sink_port, dns_port = free_port(), free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = start([SINK, *user, "-R", "/tmp", f"127.0.0.1:{sink_port}", "256"], sink_port)
    dns = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "dns_server.py"), str(dns_port), "example.net"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    relay_port = free_port()
    relay = start(
        [sys.executable, str(ROOT / "bench" / "plain_relay.py"), str(relay_port), str(sink_port)],
        relay_port,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTVAGT_")}
    env["POSTVAGT_DNS_SERVERS"] = f"127.0.0.1:{dns_port}"
    folders = [tempfile.mkdtemp(prefix="postvagt-bench-") for _ in range(3)]
    procs: dict[str, subprocess.Popen] = {}
    ports = {name: free_port() for name in ("c", "d", "e")}
    labels = {
        "a": "(a) sink",
        "b": "(b) plain relay",
        "c": "(c) postvagt defaults",
        "d": "(d) after-queue slot",
        "e": "(e) on PostgreSQL",
    }
    try:
        procs["c"] = gateway(ports["c"], sink_port, folders[0], env)
        procs["d"] = gateway(
            ports["d"],
            sink_port,
            folders[1],
            env,
            slot="after-queue",
            trusted_clients="127.0.0.1/32",
        )
        pg = None if args.no_postgres else postgres_url()
        if pg:
            procs["e"] = gateway(ports["e"], sink_port, folders[2], env, database_url=pg)
        targets: dict[str, tuple[int, subprocess.Popen | None]] = {
            "a": (sink_port, None),
            "b": (relay_port, relay),
            **{name: (ports[name], proc) for name, proc in procs.items()},
        }
        for proc_name in procs:  # warm up: the first messages build engines and caches
            blast(ports[proc_name], Load(5 * 1024, 4, 40))
        for load in loads:
            size = load.message.stat().st_size if load.message else load.size
            print(
                f"\n{size // 1024} KB Danish mail, {load.sessions} sessions, {load.messages} msgs"
            )
            print(
                f"  {'':24} {'msg/s':>7} {'x plain':>8}   {'gateway CPU':>11} {'workers CPU':>11}"
            )
            best = {name: 0.0 for name in targets}
            cpu = {name: (float("inf"), float("inf")) for name in targets}
            for _ in range(args.rounds):
                for name, (port, proc) in targets.items():
                    before = tree_cpu(proc)
                    best[name] = max(best[name], blast(port, load))
                    after = tree_cpu(proc)
                    gateway_us, workers_us = (
                        (a - b) / load.messages * 1e6 for a, b in zip(after, before, strict=True)
                    )
                    cpu[name] = min(cpu[name], (gateway_us, workers_us))
            for name in targets:
                print(
                    f"  {labels[name]:24} {best[name]:7.0f} {best[name] / best['b']:8.2f}   "
                    f"{cpu[name][0]:8.0f} us {cpu[name][1]:8.0f} us",
                    flush=True,
                )
        print("\nreply latency, 5 KB, after the final '.' (postvagt defaults, (c))")
        idle = latencies(ports["c"], 200 // scale, loads[0].message)
        print(
            f"  idle:      p50 {percentile(idle, 0.5) * 1000:6.1f} ms   "
            f"p99 {percentile(idle, 0.99) * 1000:6.1f} ms"
        )
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            busy_load = Load(5 * 1024, 20, 2000 // scale, loads[0].message)
            load = pool.submit(blast, ports["c"], busy_load)
            busy = latencies(ports["c"], 100 // scale, loads[0].message)
            load.result()
        print(
            f"  20 sessions: p50 {percentile(busy, 0.5) * 1000:6.1f} ms   "
            f"p99 {percentile(busy, 0.99) * 1000:6.1f} ms"
        )
        print(
            "\nmsg/s: best of the rounds; x plain: against (b). CPU per message: the gateway "
            "process, and its detection worker processes, best round. Targets (issue 17): "
            "(c) >= 0.4x plain at 5 KB and >= 0.3x at 100 KB; idle p50 <= 10 ms."
        )
    finally:
        for proc in (*procs.values(), relay, sink):
            stop(proc)
        dns.terminate()
        for folder in (*folders, mails):
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
