"""`postvagt run` as a newcomer and an admin meet it: a real process, real swaks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import free_port

POSTVAGT = [sys.executable, "-m", "gateway"]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTVAGT_")}
    # SPF/DKIM/DMARC checks would ask the machine's DNS; tests keep to loopback.
    env["POSTVAGT_SENDER_CHECKS"] = "false"
    return env


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"postvagt exited early: {output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("postvagt did not start listening")


def start_gateway(
    port: int, *args: str, env: dict[str, str] | None = None, quiet: bool = False
) -> subprocess.Popen:
    """``postvagt run --listen 127.0.0.1:PORT ARGS…`` as a process, once it listens.
    ``quiet``: its output is dropped (a process killed in a loop is never read)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    proc = subprocess.Popen(
        [*POSTVAGT, "run", "--listen", f"127.0.0.1:{port}", *args],
        env={**clean_env(), **(env or {})},
        stdout=output,
        stderr=output,
        text=True,
    )
    wait_listening(port, proc)
    return proc


def users_add(name: str, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``postvagt users add NAME --password-stdin ARGS…`` with the password on stdin."""
    return subprocess.run(
        [*POSTVAGT, "users", "add", name, "--password-stdin", *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def swaks(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{port}", "--timeout", "20", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_with_no_configuration_delivers_into_var_maildir(tmp_path: Path):
    proc = subprocess.Popen(
        [*POSTVAGT, "run"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(2525, proc)
        result = swaks(
            2525,
            "--from",
            "borger@example.net",
            "--to",
            "post@kommune.example",
            "--header",
            "Subject: Første mail",
            "--body",
            "Hej kommune",
        )
        assert result.returncode == 0, result.stdout
        assert "<-  250 2.0.0 Ok: delivered to Maildir" in result.stdout
    finally:
        log = stop(proc)
    files = list((tmp_path / "var" / "mail" / "post@kommune.example" / "new").iterdir())
    assert len(files) == 1
    content = files[0].read_bytes()
    assert content.startswith(b"Return-Path: <borger@example.net>\r\nDelivered-To: ")
    assert b"X-Postvagt-Id: " in content and b"Hej kommune" in content
    assert "listening on 127.0.0.1:2525" in log


def test_json_log_has_one_line_per_message_and_no_personal_details(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen(
        [
            *POSTVAGT,
            "run",
            "--listen",
            f"127.0.0.1:{port}",
            "--log-format",
            "json",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, proc)
        result = swaks(
            port,
            "--from",
            "hemmelig.person@example.net",
            "--to",
            "sagsbehandler@kommune.example",
            "--header",
            "Subject: Min diagnose",
            "--body",
            "fortroligt indhold",
        )
        assert result.returncode == 0, result.stdout
    finally:
        log = stop(proc)
    entries = [json.loads(line) for line in log.splitlines()]
    messages = [e for e in entries if e["logger"] == "postvagt.messages"]
    assert len(messages) == 1
    entry = messages[0]
    assert {"id", "size", "rcpts", "upstream", "ms", "delivered"} <= entry.keys()
    assert entry["upstream"] == 250 and entry["rcpts"] == 1
    for secret in ("hemmelig.person", "sagsbehandler", "diagnose", "fortroligt"):
        assert secret not in log


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--upstream", "smtp://127.0.0.1:10026"], {}, "name the local domains with --domain"),
        ([], {"POSTVAGT_MAX_MESSAGE_SIZE": "big"}, "POSTVAGT_MAX_MESSAGE_SIZE"),
        (["--listen", "0.0.0.0:2525"], {}, "may only listen on loopback"),
    ],
)
def test_bad_settings_stop_start_up_with_a_clear_message(tmp_path, args, env, message):
    result = subprocess.run(
        [*POSTVAGT, "run", *args],
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
            [*POSTVAGT, "run", "--listen", f"127.0.0.1:{port}"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
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
    assert "Traceback" not in result.stderr


def test_help_lists_every_setting():
    result = subprocess.run([*POSTVAGT, "run", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for key in ("listen", "upstream", "domains", "max_recipients", "reply_budget", "slot"):
        assert key in result.stdout


def test_sigterm_lets_the_message_in_flight_finish(upstream):
    from tests.test_smtp import MAILBOX, SENDER, message

    upstream.handler.stall["DATA"] = 1.5
    port = free_port()
    proc = subprocess.Popen(
        [
            *POSTVAGT,
            "run",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            f"smtp://127.0.0.1:{upstream.port}",
            "--domain",
            "kommune.example",
        ],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_listening(port, proc)
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail(SENDER)
        client.rcpt(MAILBOX)
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(message() + b".\r\n")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # while the upstream still holds the message
        code, _ = client.getreply()
    assert code == 250
    stop(proc)
    assert len(upstream.messages) == 1


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
