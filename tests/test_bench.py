"""The benches' mail arrives as it was made: bench/relay.py measures what Postfix's
smtp-source sends, so its message files must survive smtp-source intact (a file with CRLF
line ends arrived with a stray CR on every line, and the bench measured a message whose MIME
structure no longer parsed)."""

from __future__ import annotations

import os
import subprocess
from email import message_from_bytes
from email.policy import SMTP

import pytest
from aiosmtpd.controller import Controller

from bench.relay import SOURCE, as_received, danish_mail, dense_list_mail, free_port

pytestmark = pytest.mark.skipif(
    not os.access(SOURCE, os.X_OK), reason="smtp-source (Debian package postfix) is missing"
)


class Capture:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope.original_content)
        return "250 2.0.0 Ok"


@pytest.mark.parametrize("make", ["5 KB", "100 KB", "dense list"])
def test_smtp_source_delivers_the_bench_mail_as_made(tmp_path, make):
    path = {
        "5 KB": lambda: danish_mail(5 * 1024, tmp_path),
        "100 KB": lambda: danish_mail(100 * 1024, tmp_path),
        "dense list": lambda: dense_list_mail(tmp_path),
    }[make]()
    capture = Capture()
    port = free_port()
    server = Controller(capture, hostname="127.0.0.1", port=port)
    server.start()
    try:
        subprocess.run(
            [SOURCE, "-d", "-s", "1", "-m", "1", "-F", str(path), "-f", "bench@example.net",
             "-t", "post@kommune.example", f"127.0.0.1:{port}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    finally:
        server.stop()
    (raw,) = capture.received
    assert b"\r\r\n" not in raw
    # smtp-source ends the data with an empty line of its own
    assert raw.rstrip(b"\r\n") == as_received(path).rstrip(b"\r\n")
    parsed = message_from_bytes(raw, policy=SMTP)
    assert parsed["Subject"] and parsed.is_multipart()
    assert not parsed.defects
    parts = [p.get_content_type() for p in parsed.walk()]
    assert "text/plain" in parts and "text/html" in parts
