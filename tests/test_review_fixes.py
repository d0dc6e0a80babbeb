"""Regression tests for defects found in review: each one a concrete failing scenario."""

from __future__ import annotations

import random
import smtplib
import ssl
import time
from datetime import timedelta

import pytest

from gateway.extract.text import mail_text_and_gaps
from tests import fictional
from tests.helpers import MAILBOX, SENDER, message, send, split, wait_for
from tests.servers import RawClient


def test_starttls_after_mail_releases_the_transaction(upstream, make_gateway, test_cert):
    cert, key = test_cert
    gw = make_gateway(upstream, tls_cert=cert, tls_key=key, max_inflight=1)
    client = RawClient(gw.port)
    client.command("EHLO client.example")
    assert client.command(f"MAIL FROM:<{SENDER}>").startswith("250")
    assert client.command("STARTTLS").startswith("220")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    tls = context.wrap_socket(client.sock, server_hostname="gateway.test")
    tls.close()
    assert wait_for(lambda: gw.gateway.handler.inflight == 0)
    send(gw.port, message())  # not "451 4.3.2 System busy"
    assert len(upstream.messages) == 1


def test_refusal_of_the_data_command_does_not_poison_the_pool(upstream, make_gateway):
    gw = make_gateway(upstream)
    original = upstream.handler.handle_DATA
    # The upstream refuses at DATA itself (before 354), as a Postfix data restriction does.
    upstream.handler.replies["DATA"] = "450 4.7.1 Not now"
    with pytest.raises(smtplib.SMTPDataError):
        send(gw.port, message())
    upstream.handler.replies.clear()
    upstream.handler.handle_DATA = original
    send(gw.port, message())  # the pooled connection was reset, not left mid-transaction
    assert len(upstream.messages) == 1


def test_bare_cr_cannot_smuggle_a_forged_header(upstream, make_gateway):
    gw = make_gateway(upstream)
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("x.example")
        client.mail(SENDER)
        client.rcpt(MAILBOX)
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(b"Subject: hi\rX-Postvagt-Verdict: deliver; rule=forged\r\n\r\nbody\r\n.\r\n")
        assert client.getreply()[0] == 250
    content = upstream.messages[0].content
    assert b"rule=forged" not in content
    assert split(content)[1] == b"Subject: hi\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    ("command", "code"),
    [("MAIL FROM:<jørgen@example.net>", "553 5.6.7"), ("RCPT TO:<bø@kommune.example>", "553")],
)
def test_non_ascii_address_without_smtputf8_is_refused_once(upstream, make_gateway, command, code):
    gw = make_gateway(upstream)
    client = RawClient(gw.port)
    try:
        client.command("EHLO client.example")
        if command.startswith("RCPT"):
            assert client.command(f"MAIL FROM:<{SENDER}>").startswith("250")
        client.send(command.encode() + b"\r\n")
        assert client.reply().startswith(code)
    finally:
        client.close()


def test_cpr_touching_its_label_is_found(detector):
    number = fictional.cpr(random.Random(31))
    for text in (f"cpr.nr.{number}", f"pers.nr.{number}", f"CPR-{number}"):
        assert "DK_CPR" in {c.entity for c in detector.analyze(text).findings()}, text
    assert detector.analyze(f"12-{number}").findings() == []


def test_bank_account_pattern_is_linear(detector):
    text = "Reg.nr. 1234" + " " * 45_000 + "x"
    started = time.process_time()
    detector.analyze(text)
    assert time.process_time() - started < 2  # was ~5 s of backtracking per chunk


def test_attachments_not_read_are_reported_and_text_attachments_are_read():
    raw = (
        b"From: a@example.net\r\nSubject: bilag\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\nSe bilag.\r\n--b\r\n"
        b"Content-Type: text/plain; name=noter.txt\r\nContent-Disposition: attachment; "
        b"filename=noter.txt\r\n\r\nMine noter\r\n--b\r\n"
        b"Content-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; "
        b"filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    chunks, gaps = mail_text_and_gaps(raw)
    assert ("attachment:noter.txt", "Mine noter") in [(c.location, c.text.strip()) for c in chunks]
    assert gaps == ["malformed"]  # a PDF header and nothing more


async def test_quarantining_a_retried_message_works(tmp_path):
    from gateway.store import Store
    from tests.test_store import FACTS, received

    store = Store(
        f"sqlite:///{tmp_path / 'q.db'}",
        instance="i",
        slot="mx",
        timeout=3,
        quarantine_dir=tmp_path / "q",
    )
    store.prepare(recover_after=timedelta(minutes=2))
    first = received()
    retry = received(raw=first.raw)
    for attempt in (first, retry):
        ref = await store.record_pending(attempt, FACTS)
        await store.quarantine_message(ref.id, attempt.raw)
    paths = sorted((tmp_path / "q").rglob("*.eml"))
    assert len(paths) == 1, paths
    path = paths[0]
    assert path.stat().st_mode & 0o777 == 0o600
    store.close()
