"""`postvagt scan`: the JSON Lines contract of shared/DESIGN.md, on real .eml files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
from typing import Any
from unittest import mock

from tests import fictional
from tests.helpers import FUZZ_CORPUS, FUZZ_CORPUS_SIZE, POSTVAGT, clean_env, message

CONTRACT_KEYS = {
    "file",
    "message_id",
    "signed",
    "encrypted",
    "signature_valid",
    "signer_trusted",
    "findings",
    "decision",
}
DECISION_KEYS = {"action", "reply", "reply_suppressed", "portal", "journal", "rule", "reasons"}


_detector: list[Any] = []


def scan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``postvagt scan ARGS`` through the command line's own main(), in this process and with
    one detector for the module (a process would build its engine again for every call;
    test_the_command_runs_as_a_process runs it as one)."""
    from gateway import cli
    from gateway.detect import engine

    if not _detector:
        _detector.append(engine.build_detector())
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, {**clean_env(), **(env or {})}, clear=True),
        mock.patch.object(engine, "build_detector", return_value=_detector[0]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli.main(["scan", *args])
    return subprocess.CompletedProcess(["scan", *args], code, out.getvalue(), err.getvalue())


def test_the_command_runs_as_a_process(tmp_path):
    (tmp_path / "m.eml").write_bytes(message())
    result = subprocess.run(
        [*POSTVAGT, "scan", "--json", str(tmp_path / "m.eml")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["decision"]["rule"] == "ordinary-mail"


def test_json_lines_for_a_folder(tmp_path):
    number = fictional.cpr(random.Random(3))
    (tmp_path / "a.eml").write_bytes(
        message(body=f"Mit CPR-nr. er {number}\r\n", From="borger@gmail.com")
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.eml").write_bytes(message(body="Hvornår er der storskrald?\r\n"))
    result = scan("--json", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [
        str(tmp_path / "a.eml"),
        str(tmp_path / "sub" / "b.eml"),
    ]
    for line in lines:
        assert (
            CONTRACT_KEYS
            <= set(line)
            <= CONTRACT_KEYS | {"layers", "unscanned", "incomplete", "sender"}
        )
        assert set(line["decision"]) == DECISION_KEYS
    flagged, plain = lines
    assert flagged["findings"] == [
        {"entity": "DK_CPR", "location": "body", "score": 0.85, "masked": number[:6] + "-****"}
    ]
    assert flagged["decision"] | {"reasons": None} == {
        "action": "deliver",
        "reply": True,
        "reply_suppressed": None,
        "portal": "borger.dk",
        "journal": True,
        "rule": "personal-data-by-ordinary-mail",
        "reasons": None,
    }
    assert plain["findings"] == [] and plain["decision"]["reply"] is False
    assert number not in result.stdout


def test_business_sender_gets_virk_dk(tmp_path):
    rng = random.Random(5)
    body = f"CVR-nr. {fictional.cvr(rng)}\r\nMit CPR-nr. er {fictional.cpr(rng)}\r\n"
    (tmp_path / "firm.eml").write_bytes(message(body=body))
    line = json.loads(scan("--json", str(tmp_path / "firm.eml")).stdout)
    assert line["decision"]["portal"] == "virk.dk"


def test_explain_shows_recognizer_context_and_suppressed_candidates(tmp_path):
    number = fictional.cpr(random.Random(9), mod11=True, separator="")
    (tmp_path / "order.eml").write_bytes(message(body=f"Ordrenummer: {number}\r\n"))
    result = scan("--explain", str(tmp_path / "order.eml"))
    assert result.returncode == 0
    assert "below  DK_CPR" in result.stdout and "suppressed by 'Ordrenummer'" in result.stdout
    assert number not in result.stdout


def test_every_fuzz_corpus_message_gets_a_line():
    result = scan("--json", str(FUZZ_CORPUS))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == FUZZ_CORPUS_SIZE
    errors = [line for line in lines if "error" in line]
    clean = FUZZ_CORPUS_SIZE - len(errors)
    print(f"\nfigure: fuzz corpus scanned: {clean} of {FUZZ_CORPUS_SIZE} without error")
    assert result.returncode == (1 if errors else 0)
    assert "Traceback" not in result.stderr


def test_unreadable_file_is_an_error_line_and_exit_1(tmp_path):
    result = scan("--json", str(tmp_path / "missing.eml"))
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"].startswith("cannot read")


def test_sender_authentication_of_a_file(tmp_path):
    trusted = (
        b"Authentication-Results: mx.kommune.example; spf=fail smtp.mailfrom=x;\r\n"
        b"\tdkim=none; dmarc=fail header.from=example.net\r\n"
    )
    (tmp_path / "plain.eml").write_bytes(message())
    (tmp_path / "trusted.eml").write_bytes(trusted + message())
    env_args = ["--json", str(tmp_path)]
    lines = {
        json.loads(x)["file"].rsplit("/", 1)[1]: json.loads(x)["sender"]
        for x in scan(*env_args).stdout.splitlines()
    }
    assert lines["plain.eml"]["source"] == "assumed" and lines["plain.eml"]["dmarc"] == "pass"
    assert lines["trusted.eml"]["source"] == "assumed"  # mx.kommune.example is not trusted
    result = scan(
        "--unauthenticated", *env_args, env={"POSTVAGT_TRUSTED_AUTHSERV_IDS": "mx.kommune.example"}
    )
    lines = {
        json.loads(x)["file"].rsplit("/", 1)[1]: json.loads(x)["sender"]
        for x in result.stdout.splitlines()
    }
    assert lines["trusted.eml"] == {
        "source": "trusted-headers",
        "spf": "fail",
        "dkim": "none",
        "dmarc": "fail",
        "aligned_pass": False,
    }
    assert lines["plain.eml"]["source"] == "none"


def test_unscanned_parts_are_listed_with_location_and_reason(tmp_path):
    from tests.test_extract import mail_with

    legacy = bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 600
    (tmp_path / "old.eml").write_bytes(mail_with("gammel.doc", "application/msword", legacy))
    line = json.loads(scan("--json", str(tmp_path / "old.eml")).stdout)
    assert line["unscanned"] == [{"location": "attachment:gammel.doc", "reason": "legacy-office"}]
    explained = scan("--explain", str(tmp_path / "old.eml")).stdout
    assert "UNSCANNED attachment:gammel.doc: legacy-office" in explained


def test_policy_and_envelope_flags_reach_the_decision(tmp_path):
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(
        "version: 1\nmailboxes:\n"
        "  - {name: held, addresses: [held@kommune.example], display_name: Held,\n"
        "     rules: [{name: hold-all, then: {action: quarantine}}]}\n"
        "rules:\n  - {name: from-partner, when: {sender_domains: [partner.example]}}\n"
        "  - {name: ordinary}\n"
    )
    (tmp_path / "m.eml").write_bytes(message())
    args = ["--json", "--policy", str(policy_file), str(tmp_path / "m.eml")]
    default = json.loads(scan(*args).stdout)["decision"]
    assert default["rule"] == "ordinary"
    held = json.loads(scan("--rcpt", "held@kommune.example", *args).stdout)["decision"]
    assert (held["rule"], held["action"]) == ("hold-all", "quarantine")
    partner = json.loads(scan("--mail-from", "x@partner.example", *args).stdout)["decision"]
    assert partner["rule"] == "from-partner"


def test_reply_suppressed_where_the_gateway_would_not_answer(tmp_path):
    """The gateway's own planner: robots, lists, bounces and (when told) unauthenticated
    senders get no reply, with the reason; a reply names what a file cannot show."""
    body = f"Mit CPR-nr. er {fictional.cpr(random.Random(11))}\r\n"
    (tmp_path / "a-citizen.eml").write_bytes(message(body=body, From="borger@gmail.com"))
    (tmp_path / "b-bounce.eml").write_bytes(b"Return-Path: <>\r\n" + message(body=body))
    (tmp_path / "c-list.eml").write_bytes(message(body=body, **{"List-Id": "<n.example.net>"}))
    (tmp_path / "d-vacation.eml").write_bytes(message(body=body, **{"X-Autoreply": "yes"}))
    result = scan(str(tmp_path))
    assert result.returncode == 0, result.stderr
    citizen, bounce, listed, vacation = result.stdout.splitlines()
    assert "reply via borger.dk (assumes the sender passes SPF or DMARC;" in citizen
    assert "the one reply per sender and period, the hourly cap" in citizen
    assert bounce.endswith("reply: suppressed (null envelope sender)")
    assert listed.endswith("reply: suppressed (mailing list)")
    assert vacation.endswith("reply: suppressed (automatic reply (X-Autoreply))")
    lines = scan("--json", "--unauthenticated", str(tmp_path / "a-citizen.eml")).stdout
    decision = json.loads(lines)["decision"]
    assert decision["reply"] is False
    assert decision["reply_suppressed"].startswith("sender authentication not checked")
