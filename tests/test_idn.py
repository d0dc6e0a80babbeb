"""Danish domain names (IDN) and SMTPUTF8, with a real Postfix as the next hop (issue 23).

``ærø.dk`` in the settings and ``xn--r-3fa9c.dk`` on the wire are one domain, everywhere a
domain is compared. And a message that needs SMTPUTF8 is never handed to a next hop that did
not offer it: the sender is answered in line with 553/554 5.6.7 (RFC 6531, RFC 6533), so its
own server bounces with the right reason. The Postfix next hop here runs with
``smtputf8_enable = no``, as many do.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.act.reply import ReplyCheck, should_reply
from gateway.decide.policy import Mailbox
from gateway.domains import a_label, address_key
from gateway.settings import Settings
from tests.helpers import wait_for
from tests.postfix import Postfix, available, gateway_settings
from tests.servers import RunningGateway, free_port

A_LABEL = "xn--r-3fa9c.dk"
MAILBOX = f"post@{A_LABEL}"


def test_one_form_for_a_domain() -> None:
    assert a_label("Ærø.DK.") == a_label("ærø.dk") == a_label("XN--R-3FA9C.dk") == A_LABEL
    assert address_key("Post@ærø.dk") == MAILBOX
    assert a_label("kommune.dk") == "kommune.dk"
    # Mailbox patterns match whichever form the address comes in.
    box = Mailbox(name="aeroe", display_name="Ærø Kommune", addresses=["*@ærø.dk"])
    assert box.matches(MAILBOX) and box.matches("post@ÆRØ.dk")
    assert Mailbox(name="a", display_name="Ærø", addresses=[f"*@{A_LABEL}"]).matches("post@ærø.dk")
    assert Settings(domains=["ærø.dk"], upstream="smtp://127.0.0.1:1").domains == [A_LABEL]


def test_no_reply_domains_match_either_form() -> None:
    raw = b"From: a@b\r\nSubject: x\r\n\r\nHej\r\n"
    check = should_reply(
        raw,
        "borger@ærø.dk",
        encrypted=False,
        sender_authenticated=True,
        require_authentication=True,
        no_reply_domains=frozenset({A_LABEL}),
    )
    assert check == ReplyCheck(False, "sender domain is a secure channel (no_reply_domains)")


@pytest.fixture(scope="module")
def postfix() -> Iterator[tuple[Postfix, int]]:
    if (why := available()) is not None:
        pytest.skip(why)
    port = free_port()
    instance = Postfix(
        f"127.0.0.1:{port} inet n - n - - smtpd\n", mailboxes=[MAILBOX, "post@kommune.example"]
    ).start()
    yield instance, port
    instance.stop()


def gateway(tmp_path: Path, port: int, domain: str) -> RunningGateway:
    (tmp_path / "policy.yaml").write_text("version: 1\nrules:\n  - name: ordinary\n")
    return RunningGateway(gateway_settings(tmp_path, port, domains=[domain, "kommune.example"]))


@pytest.mark.parametrize("configured", ["ærø.dk", A_LABEL])
def test_either_form_in_the_settings_takes_the_a_label_on_the_wire(
    tmp_path: Path, postfix: tuple[Postfix, int], configured: str
) -> None:
    instance, port = postfix
    before = len(instance.delivered(MAILBOX))
    gw = gateway(tmp_path, port, configured)
    try:
        with smtplib.SMTP("127.0.0.1", gw.gateway.port, timeout=30) as client:
            client.ehlo("mx.borger.example")
            client.sendmail("anna@borger.example", [MAILBOX.upper()], b"Subject: x\r\n\r\nHej\r\n")
        assert wait_for(lambda: len(instance.delivered(MAILBOX)) == before + 1, timeout=30)
    finally:
        gw.close()


def test_a_u_label_recipient_is_local_but_needs_smtputf8_the_hop_lacks(
    tmp_path: Path, postfix: tuple[Postfix, int]
) -> None:
    _, port = postfix
    gw = gateway(tmp_path, port, A_LABEL)
    try:
        with smtplib.SMTP("127.0.0.1", gw.gateway.port, timeout=30) as client:
            client.ehlo("mx.borger.example")
            assert client.mail("anna@borger.example", ["SMTPUTF8"])[0] == 250
            code, text = client.rcpt("post@ærø.dk")
            # Not "550 Relaying denied": the domain is ours. But the next hop cannot take
            # the address, and says so before the sender's server sends the data.
            assert (code, text[:5]) == (553, b"5.6.7"), text
    finally:
        gw.close()


def test_a_non_ascii_sender_is_refused_in_line(
    tmp_path: Path, postfix: tuple[Postfix, int]
) -> None:
    _, port = postfix
    gw = gateway(tmp_path, port, A_LABEL)
    try:
        with smtplib.SMTP("127.0.0.1", gw.gateway.port, timeout=30) as client:
            client.ehlo("mx.borger.example")
            code, text = client.mail("søren@ærø.dk", ["SMTPUTF8"])
            assert (code, text[:5]) == (553, b"5.6.7"), text
    finally:
        gw.close()


def test_utf8_headers_under_smtputf8_are_refused_and_ascii_mail_goes_without_it(
    tmp_path: Path, postfix: tuple[Postfix, int]
) -> None:
    instance, port = postfix
    box = "post@kommune.example"
    before = len(instance.delivered(box))
    gw = gateway(tmp_path, port, A_LABEL)
    try:
        with smtplib.SMTP("127.0.0.1", gw.gateway.port, timeout=30) as client:
            client.ehlo("mx.borger.example")
            client.mail("anna@borger.example", ["SMTPUTF8"])
            client.rcpt(box)
            code, text = client.data("From: Søren <anna@borger.example>\r\n\r\nHej\r\n".encode())
            assert (code, text[:5]) == (554, b"5.6.7"), text
            # Declared, but nothing in it needs SMTPUTF8: delivered without it.
            client.mail("anna@borger.example", ["SMTPUTF8"])
            client.rcpt(box)
            assert client.data(b"Subject: plain\r\n\r\nHej\r\n")[0] == 250
        assert wait_for(lambda: len(instance.delivered(box)) == before + 1, timeout=30)
    finally:
        gw.close()
