"""Robots get no Digital Post reply (issue 25, point 5; RFC 3834): every class of
tests/robots.py, and a sample of real bounces and automatic replies from about 40 kinds of
mail server (tests/corpora/sisimai, BSD-2-Clause), each with a fictional CPR number added to
its subject and body, through ``postvagt scan`` and through a running gateway: 0 replies,
and the signal that stopped each is printed per class. Ordinary mail from people and firms
(info@, post@, the generated corpora's positives) is still answered."""

from __future__ import annotations

import json
import random
import re
import smtplib
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import create_engine, select

from gateway.act.reply import should_reply
from gateway.decide.robots import read_head, robot_signal
from gateway.rawmail import address, normalise_line_ends
from gateway.scan import sender_address
from gateway.store.tables import messages
from tests import fictional, realworld
from tests.helpers import CORPORA, POSTVAGT, clean_env, start_gateway, stop
from tests.mailcorpus import corpus
from tests.robots import CLASSES, MAILBOX, PERSON, citizens, robots
from tests.servers import free_port

SISIMAI = CORPORA / "sisimai"
TRUSTED = "mx.kommune.example"
TRUSTED_SPF_PASS = f"Authentication-Results: {TRUSTED}; spf=pass smtp.mailfrom=x\r\n".encode()
_SUBJECT = re.compile(rb"^(Subject:[^\r\n]*)", re.IGNORECASE | re.MULTILINE)


def with_number(raw: bytes, number: str) -> bytes:
    """``raw`` with ``CPR-nr. number`` at the end of its subject's first line (a Subject field
    added if it has none) and, in a single-part message, at the end of its body."""
    raw = normalise_line_ends(raw)
    head, sep, body = raw.partition(b"\r\n\r\n")
    tag = f" CPR-nr. {number}".encode()
    if _SUBJECT.search(head):
        head = _SUBJECT.sub(lambda m: m.group(1) + tag, head, count=1)
    else:
        head += b"\r\nSubject:" + tag
    if b"multipart/" not in head.lower():
        body = body.rstrip(b"\r\n") + b"\r\n" + tag.strip() + b"\r\n"
    return head + sep + body


def sisimai_class(name: str) -> str:
    """rfc3834-01.eml → rfc3834; lhost-postfix-12.eml → lhost-postfix."""
    return name.rsplit("-", 1)[0]


def vendored() -> dict[str, bytes]:
    rng = random.Random(2512)
    return {
        p.stem: with_number(p.read_bytes(), fictional.cpr(rng))
        for p in sorted(SISIMAI.glob("*.eml"))
    }


def print_table(title: str, rows: dict[str, Counter[str]]) -> None:
    print(f"\nfigure: {title}")
    for name, counts in sorted(rows.items()):
        signals = ", ".join(f"{kind} {n}" for kind, n in counts.most_common())
        print(f"  {name:34} {sum(counts.values()):3}  {signals}")


def test_the_vendored_sample_is_whole():
    files = sorted(SISIMAI.glob("*.eml"))
    assert len(files) >= 200
    assert (SISIMAI / "LICENSE").read_text().startswith("THIS SOFTWARE IS DISTRIBUTED UNDER")
    assert len({sisimai_class(p.stem) for p in files}) >= 70


def test_every_generated_robot_is_known_whatever_its_return_path():
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    missed = []
    for kind, name, raw, envelope in robots():
        robot = robot_signal(raw, envelope)
        if robot is None:
            missed.append(name)
            continue
        rows[kind][robot.kind] += 1
    print_table("generated robots per class (signal that fired)", rows)
    assert missed == []


def test_every_vendored_robot_is_known_with_a_persons_envelope():
    """The bounce's own Return-Path, and a person's instead (a forwarder, a misconfigured
    relay): the message itself must show the robot."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    missed = []
    for name, raw in vendored().items():
        for envelope in (sender_address(raw, None), PERSON):
            robot = robot_signal(raw, envelope)
            if robot is None:
                missed.append((name, envelope))
                continue
            if envelope == PERSON:
                rows[sisimai_class(name).split("-")[0]][robot.kind] += 1
    print_table("sisimai sample, person's envelope (signal that fired)", rows)
    assert missed == []


def test_a_malformed_header_line_does_not_hide_later_fields():
    raw = (
        b"From: a@example.net\r\nSubject: x\r\nthis is no field\r\n\tnor this\r\n"
        b"Mailing-List: contact x-help@example.net; run by ezmlm\r\n\r\nbody\r\n"
    )
    head = read_head(raw)
    assert head.get("Mailing-List") == "contact x-help@example.net; run by ezmlm"
    assert head.names() == ["from", "subject", "mailing-list"]
    robot = robot_signal(raw, PERSON)
    assert robot is not None and robot.kind == "list"


def test_people_and_firms_are_still_answered():
    """No robot signal on ordinary mail: the role-like addresses of firms and people, the
    subjects that only look automatic, and the positives of both generated corpora."""
    over = []
    checked = 0
    for name, raw, envelope in citizens():
        checked += 1
        if robot_signal(raw, envelope) is not None:
            over.append((name, robot_signal(raw, envelope)))
    for mail in corpus():
        if mail.kind == "positive":
            checked += 1
            envelope = address(read_head(mail.raw).get("From") or "") or PERSON
            robot = robot_signal(mail.raw, envelope)
            if robot is not None:
                over.append((mail.name, robot))
    # realworld's positives, less its bounce shapes (a CPR number in a bounce: robots by
    # construction); and its decision cases (businesses' invoices, citizens' letters).
    people = [
        (name, raw, address(read_head(raw).get("From") or "") or PERSON)
        for name, _kind, raw, labels in realworld.mails()
        if labels and not raw.startswith(b"From: MAILER-DAEMON@")
    ]
    people += [(name, raw, sender) for name, raw, sender, _ in realworld.decision_cases()]
    for name, raw, envelope in people:
        checked += 1
        robot = robot_signal(raw, envelope)
        if robot is not None:
            over.append((name, robot))
    print(f"\nfigure: ordinary mail with a robot signal: {len(over)} of {checked}")
    assert over == []
    raw = next(raw for name, raw, _ in citizens() if name == "info-at-firm")
    assert should_reply(raw, "info@vvs-hansen.example", sender_authenticated=True).send


def _cases() -> dict[str, tuple[bytes, str]]:
    """name → (raw, envelope sender): the vendored sample with its own envelope and with a
    person's, and the generated robots with a person's."""
    cases: dict[str, tuple[bytes, str]] = {}
    for name, raw in vendored().items():
        cases[f"sisimai-{name}"] = (raw, sender_address(raw, None))
        cases[f"sisimai-{name}-person"] = (raw, PERSON)
    for _kind, name, raw, envelope in robots():
        cases[f"generated-{name}"] = (normalise_line_ends(raw), envelope)
    return cases


def _class(case: str) -> str:
    """generated-<class>, or sisimai-<arf|lhost|rfc3464|rfc3834|rhost> (own or person's
    envelope)."""
    if case.startswith("generated-"):
        rest = case.removeprefix("generated-")
        return "generated-" + next(k for k in CLASSES if rest.startswith(k + "-"))
    whose = "person" if case.endswith("-person") else "own"
    return f"sisimai-{case.split('-')[1]} ({whose} envelope)"


def test_no_robot_gets_a_reply_through_scan(upstream, tmp_path: Path):
    cases = _cases()
    # A trusted server's spf=pass on each: only the robot signal may stop the reply.
    cases = {name: (TRUSTED_SPF_PASS + raw, env) for name, (raw, env) in cases.items()}
    env = {"POSTVAGT_TRUSTED_AUTHSERV_IDS": TRUSTED}
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    answered, unfound = [], []
    # Two runs: each file's own envelope (Return-Path, else From), and a person's.
    for given, person in (([], False), (["--mail-from", PERSON], True)):
        folder = tmp_path / ("person" if person else "own")
        folder.mkdir()
        for name, (raw, envelope) in cases.items():
            if (envelope == PERSON) == person and (person or name.startswith("sisimai-")):
                (folder / f"{name}.eml").write_bytes(raw)
        scanned = subprocess.run(
            [*POSTVAGT, "scan", "--json", "--rcpt", MAILBOX, *given, str(folder)],
            env={**clean_env(), **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "Traceback" not in scanned.stderr
        for line in map(json.loads, scanned.stdout.splitlines()):
            assert "error" not in line, line
            name = Path(line["file"]).stem
            decision = line["decision"]
            if not any(f["entity"] == "DK_CPR" for f in line["findings"]):
                unfound.append(name)
            if decision["reply"]:
                answered.append(name)
            rows[_class(name)][str(decision["reply_suppressed"]).split(" (")[0]] += 1
    print_table("robots through postvagt scan: replies 0, suppressed by", rows)
    assert answered == []
    assert unfound == []


def test_no_robot_gets_a_reply_through_a_running_gateway(upstream, tmp_path: Path):
    cases = {name: (TRUSTED_SPF_PASS + raw, env) for name, (raw, env) in _cases().items()}
    env = {"POSTVAGT_TRUSTED_AUTHSERV_IDS": TRUSTED}
    data = tmp_path / "var"
    port = free_port()
    args = ["--upstream", f"smtp://127.0.0.1:{upstream.port}", "--domain", "kommune.example"]
    args += ["--data-dir", str(data), "--slot", "before-queue"]
    # quiet: its log goes nowhere. Piped and unread, the log fills the pipe after a few
    # hundred messages and the gateway blocks writing it (what looked like a hang).
    proc = start_gateway(port, *args, env={**env, "POSTVAGT_SENDER_CHECKS": "true"}, quiet=True)
    # SMTP carries lines of 998 bytes at most: the three GMX bounces with longer lines go
    # through scan only (a real relay would have refused or wrapped them).
    cases = {n: c for n, c in cases.items() if max(map(len, c[0].splitlines())) <= 998}
    try:
        for raw, envelope in cases.values():
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail(envelope, [MAILBOX], raw)
    finally:
        stop(proc)
    engine = create_engine(f"sqlite:///{data / 'postvagt.db'}")
    with engine.connect() as connection:
        rows_ = list(connection.execute(select(messages).order_by(messages.c.received_at)))
    engine.dispose()
    assert len(rows_) == len(cases)
    gateway_rows: dict[str, Counter[str]] = defaultdict(Counter)
    replies = [r for r in rows_ if r.reply_state in ("queued", "sent")]
    # "already answered" would hide a robot behind an earlier reply to the same sender.
    hidden = [r.reply_reason for r in rows_ if (r.reply_reason or "").startswith("already")]
    for name, row in zip(cases, rows_, strict=True):  # sent one after another, in order
        gateway_rows[_class(name)][str(row.reply_reason).split(" (")[0]] += 1
    print_table("robots through a running gateway: replies 0, suppressed by", gateway_rows)
    assert replies == []
    assert hidden == []
