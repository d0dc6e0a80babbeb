"""`postvagt run` as a newcomer and an admin meet it: a real process, real swaks."""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import (
    POSTVAGT,
    clean_env,
    message,
    start_gateway,
    stop,
    swaks,
    users_add,
    wait_for,
    wait_listening,
)
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_quick_start_shows_flag_reply_and_staff_page(tmp_path: Path):
    """The README's journey with its own commands (`make run`'s command line, in a fresh
    folder, on free ports instead of 2525/8025): a mail with a fictional CPR number is
    delivered with the journal header, the Digital Post reply lands in var/replies/, and the
    mail is on the staff page."""
    import httpx

    from tests import fictional
    from tests.test_web import csrf

    port, web_port = free_port(), free_port()
    ports = ["--listen", f"127.0.0.1:{port}", "--web-listen", f"127.0.0.1:{web_port}"]
    proc = subprocess.Popen(
        [*POSTVAGT, "run", "--policy", str(REPO / "policies" / "trial.yaml"), *ports],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    number = fictional.cpr(random.Random(0))  # the README's own (test_docs)
    var = tmp_path / "var"
    try:
        wait_listening(port, proc)
        result = swaks(
            port,
            *("--from", "borger@example.net", "--to", "post@kommune.example"),
            *("--header", "Subject: Min sag", "--body", f"Mit CPR-nr. er {number}"),
        )
        assert result.returncode == 0, result.stdout
        assert "<-  250 2.0.0 Ok: delivered to Maildir" in result.stdout
        assert wait_for(lambda: list((var / "replies").rglob("new/*")), timeout=30)
        made = subprocess.run(
            [*POSTVAGT, "users", "add", "anne", "--role", "admin", "--password-stdin"],
            input="en-lang-adgangskode\n",
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as web:
            token = csrf(web.get("/login").text)
            credentials = {"user": "anne", "password": "en-lang-adgangskode", "csrf": token}
            web.post("/login", data=credentials)
            listing = web.get("/").text
    finally:
        log = stop(proc)
    (delivered,) = (var / "mail" / "post@kommune.example" / "new").iterdir()
    content = delivered.read_bytes()
    assert content.startswith(b"Return-Path: <borger@example.net>\r\nDelivered-To: ")
    assert b"X-Postvagt-Verdict: deliver; rule=personal-data-by-ordinary-mail" in content
    assert b"X-Postvagt-Journal: required; id=" in content and b"reasons=DK_CPR" in content
    (reply,) = (var / "replies").glob("*/new/*")  # the README's `cat var/replies/*/new/*`
    text = reply.read_text(encoding="utf-8", errors="replace")
    assert "Auto-Submitted: auto-replied" in text and "borger.dk" in text
    postvagt_id = re.search(rb"X-Postvagt-Id: (\S+)", content)
    assert postvagt_id and postvagt_id.group(1).decode() in listing
    assert "listening on 127.0.0.1" in log
    assert "verdict=deliver" in log and "journal=True" in log and "reply=queued" in log
    assert "for trials only" in log  # the trial policy says what it is
    assert number not in log and number.replace("-", "") not in log


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--upstream", "smtp://127.0.0.1:10026"], {}, "name the local domains with --domain"),
        ([], {"POSTVAGT_MAX_MESSAGE_SIZE": "big"}, "POSTVAGT_MAX_MESSAGE_SIZE"),
        (["--listen", "0.0.0.0:0"], {}, "may only listen on loopback"),
    ],
)
def test_bad_settings_stop_start_up_with_a_clear_message(tmp_path, args, env, message):
    # Free ports unless the case names its own: never the defaults 2525/8025, whatever
    # start-up checks first.
    ports = [] if "--listen" in args else ["--listen", "127.0.0.1:0"]
    result = subprocess.run(
        [*POSTVAGT, "run", *ports, "--web-listen", "127.0.0.1:0", *args],
        cwd=tmp_path,
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*POSTVAGT, "run", "--listen", f"127.0.0.1:{port}", "--web-listen", "127.0.0.1:0"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "with the setting listen (--listen, POSTVAGT_LISTEN)" in result.stderr
    assert "Traceback" not in result.stderr


def test_web_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*POSTVAGT, "run", "--listen", "127.0.0.1:0", "--web-listen", f"127.0.0.1:{port}"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on staff page 127.0.0.1:{port}" in result.stderr
    assert "with the setting web_listen (--web-listen, POSTVAGT_WEB_LISTEN)" in result.stderr
    assert "Traceback" not in result.stderr


def test_users_add_refuses_a_mailbox_the_policy_does_not_name(tmp_path):
    policy = REPO / "policies" / "examples" / "several-mailboxes.yaml"
    made = users_add(
        "bo", "en-lang-adgangskode", "--role", "staff", "--mailbox", "borgerservise",
        "--policy", str(policy), "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert made.returncode == 2
    assert "unknown mailbox 'borgerservise' — did you mean 'borgerservice'?" in made.stderr
    assert not (tmp_path / "postvagt.db").exists()


def test_help_lists_every_setting():
    result = subprocess.run([*POSTVAGT, "run", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for key in ("listen", "upstream", "domains", "max_recipients", "reply_budget", "slot"):
        assert key in result.stdout


def test_sigterm_lets_the_message_in_flight_finish_and_the_json_log_keeps_no_details(
    upstream, tmp_path: Path
):
    """One process for both: SIGTERM while the upstream holds a message still gives the
    client its 250, and the JSON log has one line for it without personal details."""
    import smtplib

    upstream.handler.stall["DATA"] = 1.5
    port = free_port()
    proc = start_gateway(
        port,
        *("--upstream", f"smtp://127.0.0.1:{upstream.port}", "--domain", "kommune.example"),
        *("--log-format", "json", "--data-dir", str(tmp_path / "data")),
    )
    sender, rcpt = "hemmelig.person@example.net", "sagsbehandler@kommune.example"
    data = message("fortroligt indhold\r\n", From=sender, To=rcpt, Subject="Min diagnose")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail(sender)
        client.rcpt(rcpt)
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(data + b".\r\n")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # while the upstream still holds the message
        code, _ = client.getreply()
    assert code == 250
    log = stop(proc)
    assert len(upstream.messages) == 1
    entries = [json.loads(line) for line in log.splitlines()]
    messages = [e for e in entries if e["logger"] == "postvagt.messages"]
    assert len(messages) == 1
    entry = messages[0]
    assert {"id", "size", "rcpts", "upstream", "ms", "delivered", "verdict", "reply"} <= set(entry)
    assert entry["upstream"] == 250 and entry["rcpts"] == 1
    for secret in ("hemmelig.person", "sagsbehandler", "diagnose", "fortroligt"):
        assert secret not in log


def test_doctor_names_what_is_missing_and_how_to_fix_it(tmp_path, upstream):
    from gateway.store import migrate
    from gateway.store.engine import make_engine

    database = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(database)
    migrate.upgrade(engine, "0003")  # an older schema than this version's
    engine.dispose()
    args = ["doctor", "--database-url", database, "--data-dir", str(tmp_path)]
    bad = subprocess.run(
        [*POSTVAGT, *args, "--upstream", f"smtp://127.0.0.1:{free_port()}", "--domain", "k.dk"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL upstream" in bad.stdout and "Connection refused" in bad.stdout
    assert "FAIL database" in bad.stdout and "fix: postvagt db upgrade" in bad.stdout
    assert "Traceback" not in bad.stderr
    engine = make_engine(database)
    migrate.upgrade(engine)
    engine.dispose()
    good = subprocess.run(
        [*POSTVAGT, *args, "--upstream", f"smtp://127.0.0.1:{upstream.port}", "--domain", "k.dk"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert good.returncode == 0, good.stdout
    assert "ok   upstream" in good.stdout and "answers EHLO with 250" in good.stdout
