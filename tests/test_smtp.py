"""The SMTP proxy end to end: real client → gateway → scriptable upstream, all on loopback."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import threading
import time
import uuid

import pytest

from gateway.model import Inspection, Received
from tests.helpers import MAILBOX, SENDER, message, send, split, wait_for
from tests.servers import RawClient, Upstream

# -- 250 only when the upstream said 250 -------------------------------------------------------


def test_delivers_and_relays_upstream_250(upstream: Upstream, make_gateway):
    gw = make_gateway(upstream)
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        client.mail(SENDER)
        client.rcpt(MAILBOX)
        code, text = client.data(message())
    assert code == 250
    assert b"queued as UP1" in text  # the upstream's own answer reaches the client
    assert len(upstream.messages) == 1
    assert upstream.messages[0].rcpt_tos == [MAILBOX]
    assert upstream.messages[0].mail_from == SENDER


def test_bounces_with_the_null_sender_pass(upstream: Upstream, make_gateway):
    # A delivery report to the municipality comes from MAIL FROM:<>. (aiosmtpd hands it over
    # as "<>", which the upstream client refused: every bounce got 451 until this test.)
    gw = make_gateway(upstream)
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        assert client.mail("")[0] == 250
        client.rcpt(MAILBOX)
        code, _ = client.data(message(**{"Content-Type": "text/plain"}))
    assert code == 250
    assert upstream.messages[0].mail_from in ("", "<>")  # however the upstream spells it


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize("reply", ["451 4.7.1 Try again later", "550 5.7.1 Refused by policy"])
def test_upstream_refusal_is_passed_back(upstream: Upstream, make_gateway, command, reply):
    upstream.handler.replies[command] = reply
    gw = make_gateway(upstream)
    code = int(reply[:3])
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        got = {"MAIL": client.mail(SENDER)}
        if command != "MAIL":
            got["RCPT"] = client.rcpt(MAILBOX)
        if command == "DATA":
            got["DATA"] = client.data(message())
    assert got[command][0] == code
    assert got[command][1].decode() == reply[4:]
    assert upstream.messages == []


def test_upstream_down_is_451_and_retry_delivers_once(make_gateway, tmp_path):
    upstream = Upstream().start()
    port = upstream.port
    gw = make_gateway(upstream)
    upstream.close()
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(gw.port, message())
    assert refused.value.smtp_code == 451
    assert b"4.3.0" in refused.value.smtp_error
    revived = Upstream().start(port)
    try:
        data = message()
        send(gw.port, data)
        assert len(revived.messages) == 1
        assert split(revived.messages[0].content)[1] == data
    finally:
        revived.close()


def test_upstream_outage_cuts_pooled_connections(upstream: Upstream, make_gateway):
    gw = make_gateway(upstream)
    send(gw.port, message())  # leaves an idle pooled connection
    port = upstream.port
    upstream.close()
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(gw.port, message())
    assert refused.value.smtp_code == 451
    revived = Upstream().start(port)
    try:
        send(gw.port, message())
        assert len(revived.messages) == 1
    finally:
        revived.close()


def test_stale_pooled_connection_is_replaced(upstream: Upstream, make_gateway):
    gw = make_gateway(upstream)
    send(gw.port, message())
    # The upstream forgets its idle clients (as a server does after its idle timeout).
    upstream.drop_connections()
    time.sleep(0.2)
    send(gw.port, message())
    assert len(upstream.messages) == 2


def test_upstream_drop_after_data_is_451(upstream: Upstream, make_gateway):
    upstream.handler.drop.add("DATA")
    gw = make_gateway(upstream)
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(gw.port, message())
    assert failed.value.smtp_code == 451
    upstream.handler.drop.clear()
    send(gw.port, message())  # the gateway keeps serving, on a fresh connection
    assert len(upstream.messages) == 1


def test_upstream_stall_is_451_within_the_reply_budget(upstream: Upstream, make_gateway):
    upstream.handler.stall["DATA"] = 30
    gw = make_gateway(upstream, reply_budget=2, inspect_budget=1)
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(gw.port, message())
    elapsed = time.monotonic() - started
    assert failed.value.smtp_code == 451
    print(f"\nfigure: '.' to 451 with a stalled upstream took {elapsed:.2f} s (budget 2 s)")


def test_upstream_rcpt_failure_midway(upstream: Upstream, make_gateway):
    upstream.handler.drop.add("RCPT")
    gw = make_gateway(upstream)
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(MAILBOX)[0] == 451
        assert client.rset()[0] == 250
        upstream.handler.drop.clear()
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(MAILBOX)[0] == 250
        assert client.data(message())[0] == 250
    assert len(upstream.messages) == 1


# -- inspection failures deliver, flagged ------------------------------------------------------


class ExplodingStage:
    name = "exploding"

    def __init__(self, offload: bool = True) -> None:
        self.offload = offload

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        raise RuntimeError("parser crashed on " + received.raw[:20].decode("latin-1"))


class SlowStage:
    name = "slow"
    offload = True

    def __call__(self, received: Received, facts: Inspection) -> Inspection:
        time.sleep(3)
        return facts


@pytest.mark.parametrize("offload", [True, False], ids=["in-pool", "on-loop"])
def test_a_stage_that_raises_delivers_flagged_and_keeps_serving(upstream, make_gateway, offload):
    gw = make_gateway(upstream, stages=[ExplodingStage(offload)])
    for _ in range(3):
        send(gw.port, message())
    assert len(upstream.messages) == 3
    for delivered in upstream.messages:
        ours, _ = split(delivered.content)
        assert b"X-Postvagt-Scan: incomplete; reasons=internal-error" in ours


def test_an_overrunning_stage_delivers_flagged_as_timeout(upstream, make_gateway):
    gw = make_gateway(upstream, stages=[SlowStage()], inspect_budget=0.5, reply_budget=10)
    send(gw.port, message())
    ours, _ = split(upstream.messages[0].content)
    assert b"X-Postvagt-Scan: incomplete; reasons=timeout" in ours


class BrokenNextHop:
    """A next hop with a programming error: every call raises."""

    async def begin(self):
        raise RuntimeError("secret internal detail")

    async def close(self):
        return None


def test_unexpected_error_is_transient_and_says_nothing(make_gateway):
    gw = make_gateway(next_hop=BrokenNextHop(), domains=["kommune.example"])
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        code, text = client.mail(SENDER)
        assert code == 451
        assert b"secret" not in text and b"RuntimeError" not in text
        assert client.noop()[0] == 250  # the session goes on


# -- one transaction, one recipient group ------------------------------------------------------


def by_local_part(address: str) -> str:
    return address.split("@")[0]


def test_second_group_gets_452_and_is_delivered_separately(upstream, make_gateway):
    gw = make_gateway(upstream, group_of=by_local_part)
    other = "byggesag@kommune.example"
    data = message()
    refused = send(gw.port, data, rcpts=[MAILBOX, other])
    assert refused == {
        other: (452, b"4.5.3 Recipient of another policy group; send it in a separate transaction")
    }
    send(gw.port, data, rcpts=[other])
    assert [m.rcpt_tos for m in upstream.messages] == [[MAILBOX], [other]]


def test_same_group_recipients_share_a_transaction(upstream, make_gateway):
    gw = make_gateway(upstream)
    send(gw.port, message(), rcpts=[MAILBOX, "byggesag@kommune.example"])
    assert upstream.messages[0].rcpt_tos == [MAILBOX, "byggesag@kommune.example"]


# -- limits and relay control ------------------------------------------------------------------


def test_relay_to_foreign_domain_is_refused(upstream, make_gateway):
    gw = make_gateway(upstream)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(gw.port, message(), rcpts=["someone@elsewhere.example"])
    assert refused.value.recipients["someone@elsewhere.example"][0] == 550
    assert upstream.messages == []


def test_domain_match_is_exact(upstream, make_gateway):
    gw = make_gateway(upstream)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(gw.port, message(), rcpts=["x@evilkommune.example"])
    send(gw.port, message(), rcpts=["X@KOMMUNE.EXAMPLE"])
    assert len(upstream.messages) == 1


def test_oversized_mail_is_552(upstream, make_gateway):
    gw = make_gateway(upstream, max_message_size=10_000)
    big = message(body=("y" * 76 + "\r\n") * 200)
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        assert b"SIZE 10000" in client.ehlo_resp
        # Declared too big: refused at MAIL.
        assert client.mail(SENDER, [f"SIZE={len(big)}"])[0] == 552
        # Not declared: read to the end, then refused.
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(MAILBOX)[0] == 250
        assert client.data(big)[0] == 552
    assert upstream.messages == []


def test_recipient_limit_is_452(upstream, make_gateway):
    gw = make_gateway(upstream, max_recipients=100)
    rcpts = [f"r{i}@kommune.example" for i in range(105)]
    refused = send(gw.port, message(), rcpts=rcpts)
    assert set(refused) == set(rcpts[100:])
    assert all(code == 452 for code, _ in refused.values())
    assert len(upstream.messages[0].rcpt_tos) == 100


def test_overload_watermark_refuses_before_data(upstream, make_gateway):
    gw = make_gateway(upstream, max_inflight=1)
    with smtplib.SMTP("127.0.0.1", gw.port) as first:
        first.ehlo("a.example")
        assert first.mail(SENDER)[0] == 250
        with smtplib.SMTP("127.0.0.1", gw.port) as second:
            second.ehlo("b.example")
            code, text = second.mail(SENDER)
            assert (code, text[:5]) == (451, b"4.3.2")
        first.rset()
        with smtplib.SMTP("127.0.0.1", gw.port) as third:
            third.ehlo("c.example")
            assert third.mail(SENDER)[0] == 250


@pytest.mark.parametrize(
    "command", ["MAIL FROM:<a\x01b@example.net>", "RCPT TO:<p\x7fx@kommune.example>"]
)
def test_control_characters_in_addresses_are_refused_permanently(upstream, make_gateway, command):
    gw = make_gateway(upstream)
    client = RawClient(gw.port)
    try:
        client.command("EHLO client.example")
        if command.startswith("RCPT"):
            assert client.command(f"MAIL FROM:<{SENDER}>").startswith("250")
        assert client.command(command).startswith("553 5.1.3")
    finally:
        client.close()


def test_long_lines_are_accepted_up_to_the_bound(upstream, make_gateway):
    gw = make_gateway(upstream, max_line_length=20_000)
    long_line = "<p>" + "a" * 15_000 + "</p>\r\n"
    send(gw.port, message(body=long_line))
    assert long_line.encode() in upstream.messages[0].content
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(gw.port, message(body="b" * 30_000 + "\r\n"))
    assert failed.value.smtp_code == 500
    assert len(upstream.messages) == 1


def test_smtputf8_and_8bitmime_pass_through(upstream, make_gateway):
    gw = make_gateway(upstream)
    rcpt = "søren.østergård@kommune.example"
    data = message(body="Grüße og blåbærgrød\r\n", To=rcpt, Subject="Æblegrød").replace(
        SENDER.encode(), "bøje@example.net".encode()
    )
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        assert client.has_extn("smtputf8") and client.has_extn("8bitmime")
        options = ["SMTPUTF8", "BODY=8BITMIME"]
        client.sendmail("bøje@example.net", [rcpt], data, mail_options=options)
    delivered = upstream.messages[0]
    assert delivered.mail_from == "bøje@example.net"
    assert delivered.rcpt_tos == [rcpt]
    assert "SMTPUTF8" in delivered.mail_options and "BODY=8BITMIME" in delivered.mail_options
    assert split(delivered.content)[1] == data
    assert b"with UTF8SMTP id" in split(delivered.content)[0]


# -- the message itself: byte-exact, our headers only -----------------------------------------


def test_body_is_forwarded_byte_exact(upstream, make_gateway):
    gw = make_gateway(upstream)
    body = (
        "This is a multi-part message in MIME format.\r\n"
        "--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "R\xf8dgr\xf8d med fl\xf8de   \r\n  trailing spaces and\ttabs\t\r\n"
        "..a line that starts with a dot\r\n.\tanother\r\n--b1--\r\n"
    ).encode("latin-1")
    head = (
        b"From: a@example.net\r\nTo: borgerservice@kommune.example\r\n"
        b"Subject: =?utf-8?q?S=C3=B8g?=\r\nDKIM-Signature: v=1; a=rsa-sha256; d=example.net;\r\n"
        b"\tb=abc\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    )
    original = head + body
    send(gw.port, original)
    _, forwarded = split(upstream.messages[0].content)
    assert hashlib.sha256(forwarded).hexdigest() == hashlib.sha256(original).hexdigest()


def test_forged_postvagt_headers_are_removed(upstream, make_gateway):
    gw = make_gateway(upstream)
    forged = (
        b"X-Postvagt-Verdict: deliver; rule=forged\r\n"
        b"From: a@example.net\r\n"
        b"x-postvagt-scan: complete\r\n"
        b"X-POSTVAGT-Journal: none;\r\n\tfolded=yes\r\n"
        b"Subject: hello\r\n\r\n"
        b"X-Postvagt-Id: this is body text, not a header\r\n"
    )
    send(gw.port, forged)
    content = upstream.messages[0].content
    ours, rest = split(content)
    assert rest == (
        b"From: a@example.net\r\nSubject: hello\r\n\r\n"
        b"X-Postvagt-Id: this is body text, not a header\r\n"
    )
    ids = [line for line in ours.split(b"\r\n") if line.startswith(b"X-Postvagt-Id:")]
    assert len(ids) == 1
    uuid.UUID(ids[0].split(b":", 1)[1].strip().decode())
    assert b"X-Postvagt-Scan: complete" in ours


def test_every_message_gets_its_own_id_and_a_trace_header(upstream, make_gateway):
    gw = make_gateway(upstream)
    send(gw.port, message())
    send(gw.port, message())
    ids = set()
    for delivered in upstream.messages:
        ours, _ = split(delivered.content)
        assert ours.startswith(b"Received: from ")
        assert b"by gateway.test (Postvagt) with ESMTP id " in ours
        ids.add(ours.split(b"X-Postvagt-Id: ")[1].split(b"\r\n")[0])
    assert len(ids) == 2


# -- SMTP smuggling ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fake_end", [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r.\r"], ids=repr
)
def test_smuggling_probe_yields_exactly_one_message(upstream, make_gateway, fake_end):
    gw = make_gateway(upstream)
    client = RawClient(gw.port)
    try:
        client.command("EHLO attacker.example")
        assert client.command(f"MAIL FROM:<{SENDER}>").startswith("250")
        assert client.command(f"RCPT TO:<{MAILBOX}>").startswith("250")
        assert client.command("DATA").startswith("354")
        client.send(
            b"From: a@example.net\r\nSubject: real\r\n\r\nreal body"
            + fake_end
            + b"MAIL FROM:<ceo@kommune.example>\r\nRCPT TO:<"
            + MAILBOX.encode()
            + b">\r\n"
            b"DATA\r\nFrom: ceo@kommune.example\r\nSubject: smuggled\r\n\r\nsmuggled\r\n"
            b"\r\n.\r\n"
        )
        assert client.reply().startswith("250")
        assert client.command("QUIT").startswith("221")
    finally:
        client.close()
    assert len(upstream.messages) == 1
    forwarded = upstream.messages[0].content
    assert upstream.messages[0].mail_from == SENDER
    # Bare CR and LF never leave the gateway as they came: the fake end arrives upstream as
    # an ordinary (dot-stuffed) line inside the one message.
    assert forwarded.count(b"\n") == forwarded.count(b"\r\n")
    assert b"Subject: smuggled" in forwarded


def test_swaks_without_data_fixup_cannot_smuggle(upstream, make_gateway, tmp_path):
    gw = make_gateway(upstream)
    payload = tmp_path / "payload.eml"
    payload.write_bytes(
        b"From: a@example.net\r\nSubject: real\r\n\r\nreal\n.\nMAIL FROM:<x@kommune.example>\n"
        b"RCPT TO:<" + MAILBOX.encode() + b">\nDATA\nsmuggled\n.\n\r\n.\r\n"
    )
    import subprocess

    result = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{gw.port}",
            "--from",
            SENDER,
            "--to",
            MAILBOX,
            "--no-data-fixup",
            "--data",
            str(payload),
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(upstream.messages) == 1


# -- STARTTLS ----------------------------------------------------------------------------------


def test_starttls_works_and_is_recorded(upstream, make_gateway, test_cert):
    import ssl

    cert, key = test_cert
    gw = make_gateway(upstream, tls_cert=cert, tls_key=key)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        assert client.has_extn("starttls")
        client.starttls(context=context)
        client.ehlo("client.example")
        client.sendmail(SENDER, [MAILBOX], message())
    ours, _ = split(upstream.messages[0].content)
    assert b"with ESMTPS id" in ours
    assert b"(using TLSv1." in ours


def test_plaintext_pipelined_after_starttls_is_not_executed(upstream, make_gateway, test_cert):
    import ssl

    cert, key = test_cert
    gw = make_gateway(upstream, tls_cert=cert, tls_key=key)
    client = RawClient(gw.port)
    try:
        client.command("EHLO attacker.example")
        client.send(b"STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n")
        assert client.reply().startswith("220")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        tls = context.wrap_socket(client.sock, server_hostname="gateway.test")
        tls_file = tls.makefile("rb")
        tls.sendall(b"EHLO attacker.example\r\n")
        while tls_file.readline()[3:4] == b"-":
            pass  # the EHLO reply's continuation lines
        # Had the injected MAIL run, this would be "503 nested MAIL command".
        tls.sendall(f"MAIL FROM:<{SENDER}>\r\n".encode())
        assert tls_file.readline().startswith(b"250")
        tls.sendall(b"QUIT\r\n")
        tls.close()
    finally:
        client.close()


# -- client disconnects --------------------------------------------------------------------------


def test_client_gone_after_final_dot_still_delivers_once(upstream, make_gateway):
    upstream.handler.stall["DATA"] = 1.0
    gw = make_gateway(upstream)
    client = RawClient(gw.port)
    client.command("EHLO client.example")
    client.command(f"MAIL FROM:<{SENDER}>")
    client.command(f"RCPT TO:<{MAILBOX}>")
    client.command("DATA")
    client.send(message() + b".\r\n")
    time.sleep(0.3)
    client.close()  # gone while the upstream is still thinking
    assert wait_for(lambda: gw.gateway.handler.inflight == 0)
    assert len(upstream.messages) == 1
    send(gw.port, message())  # the pool and the handler are in a clean state
    assert len(upstream.messages) == 2


def test_client_gone_midway_releases_the_upstream_transaction(upstream, make_gateway):
    gw = make_gateway(upstream)
    client = RawClient(gw.port)
    client.command("EHLO client.example")
    client.command(f"MAIL FROM:<{SENDER}>")
    client.command(f"RCPT TO:<{MAILBOX}>")
    client.close()
    assert wait_for(lambda: gw.gateway.handler.inflight == 0)
    send(gw.port, message())
    assert upstream.messages[0].rcpt_tos == [MAILBOX]


def test_many_parallel_sessions(upstream, make_gateway):
    gw = make_gateway(upstream)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                send(gw.port, message())
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(upstream.messages) == 100


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
