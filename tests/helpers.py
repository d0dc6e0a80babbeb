"""Helpers the test modules share: a test message and its sender, sending it, reading our
headers back, and ``postvagt`` started as a process (always on free ports, in a temporary
folder: never the defaults 2525/8025, never the checkout)."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

SENDER = "borger@example.net"
MAILBOX = "borgerservice@kommune.example"

# Corpora vendored under tests/ (each with its licence beside it).
CORPORA = Path(__file__).resolve().parent / "corpora"
FUZZ_CORPUS = CORPORA / "email-fuzz"
FUZZ_CORPUS_SIZE = 299

POSTVAGT = [sys.executable, "-m", "gateway"]


def message(body: str = "Hej\r\nJeg har et spørgsmål om min sag.\r\n", **headers: str) -> bytes:
    fields = {
        "From": SENDER,
        "To": MAILBOX,
        "Subject": "Test",
        "Message-ID": f"<{uuid.uuid4()}@example.net>",
        **headers,
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return (head + "\r\n" + body).encode("utf-8")


def send(port: int, data: bytes, rcpts: list[str] | None = None, **kwargs: Any) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("mx.example.net")
        return client.sendmail(SENDER, rcpts or [MAILBOX], data, **kwargs)


def wait_for(predicate: Callable[[], object], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def split(content: bytes) -> tuple[bytes, bytes]:
    """Our prepended headers, and the rest (the message as the client sent it)."""
    ours = []
    rest = content
    while rest.startswith((b"Received:", b"X-Postvagt-", b"\t")):
        line, _, rest = rest.partition(b"\r\n")
        ours.append(line)
    return b"\r\n".join(ours), rest


# -- postvagt as a process ----------------------------------------------------------------

# Commands that do not name --data-dir run here, so that nothing lands in the checkout.
_SCRATCH = Path(tempfile.mkdtemp(prefix="postvagt-tests-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


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
    port: int,
    *args: str,
    env: dict[str, str] | None = None,
    quiet: bool = False,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """``postvagt run --listen 127.0.0.1:PORT ARGS…`` as a process, once it listens; the
    staff page on a free port unless ARGS name one. ``quiet``: its output is dropped (a
    process killed in a loop is never read)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    web = [] if "--web-listen" in args else ["--web-listen", "127.0.0.1:0"]
    proc = subprocess.Popen(
        [*POSTVAGT, "run", "--listen", f"127.0.0.1:{port}", *web, *args],
        env={**clean_env(), **(env or {})},
        stdout=output,
        stderr=output,
        text=True,
        cwd=cwd or _SCRATCH,
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
        cwd=_SCRATCH,
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
