"""TLS to the next hop and to the reply relay (issue 23), against a real Postfix.

One Postfix instance serves every case from its own smtpd listeners (each logs under its own
syslog name, so its lines can be told apart): ``good`` demands STARTTLS and a client
certificate from our CA; ``plain`` offers no STARTTLS; ``otherca`` presents a certificate of
an unrelated CA; ``wrongname`` one of our CA for another host name; ``oldtls`` offers
STARTTLS but speaks nothing newer than TLS 1.1, below Postvagt's floor; ``tls12`` is
``good`` capped at TLS 1.2 and ``impatient`` is ``good`` with a 3 s timeout. Certificates are
made by the openssl command line (tests/tlscerts.py); the next hop is addressed as
smtp://localhost:PORT, the name its certificate carries.

Where TLS is required and cannot be had, the sending client gets 451 at MAIL FROM, the next
hop sees no MAIL command, and the log line of postvagt.relay says why.
"""

from __future__ import annotations

import email
import logging
import random
import re
import smtplib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from gateway.settings import Settings
from gateway.stages import ParseStage
from gateway.store.tables import messages
from tests import fictional
from tests.helpers import wait_for
from tests.postfix import Postfix, available
from tests.servers import RunningGateway, free_port
from tests.tlscerts import Certs, make_certs

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

POLICY = """\
version: 1
replies: {require_authentication: false}   # no DNS in tests; Postfix adds no Authentication-Results
rules:
  - name: personal-data
    when: {entities: [DK_CPR], encrypted: false}
    then: {action: deliver, journal: true, reply: true}
  - name: ordinary
"""
MAILBOX = "post@kommune.example"
SENDER = "someone@borger.example"
CITIZEN = "anna@borger.example"  # gets the auto-reply through the TLS relay
UNANSWERED = "bent@borger.example"  # the relay without STARTTLS: no reply may reach her
LISTENERS = ("good", "tls12", "impatient", "plain", "otherca", "wrongname", "oldtls")

MAIN_CF = {
    "alias_maps": "",
    "alias_database": "",
    "smtpd_tls_loglevel": "1",
    "smtpd_tls_received_header": "yes",
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
}

# "Trusted TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher ..."
ESTABLISHED = re.compile(
    r"(\w+) TLS connection established from \S+\[127\.0\.0\.1\]: (TLSv[\d.]+) with cipher"
)
DISCONNECT = re.compile(r"disconnect from \S+\[127\.0\.0\.1\] (.*)$")
TRUSTED_CLIENT = '(Client CN "postvagt.kommune.example", Issuer "Testby Kommune CA" (verified OK))'


def services(ports: dict[str, int], certs: Certs) -> str:
    """The master.cf lines of the listeners."""

    def listener(name: str, **options: str) -> str:
        lines = [
            f"127.0.0.1:{ports[name]} inet n - n - - smtpd",
            f"  -o syslog_name=postfix/{name}",
        ]
        lines += [f"  -o {{ {key} = {value} }}" for key, value in options.items()]
        return "\n".join(lines) + "\n"

    def tls(cert: Any, **options: str) -> dict[str, str]:
        return {
            "smtpd_tls_cert_file": str(cert.cert),
            "smtpd_tls_key_file": str(cert.key),
            **options,
        }

    demands_our_client = tls(
        certs.server,
        smtpd_tls_security_level="encrypt",
        smtpd_tls_CAfile=str(certs.ca),
        smtpd_tls_ask_ccert="yes",
        smtpd_tls_req_ccert="yes",
    )
    return (
        listener("good", **demands_our_client)
        + listener(
            "tls12",
            **demands_our_client,
            smtpd_tls_protocols=">=TLSv1.2, <=TLSv1.2",
            smtpd_tls_mandatory_protocols=">=TLSv1.2, <=TLSv1.2",
        )
        + listener("impatient", **demands_our_client, smtpd_timeout="3s")
        + listener("plain", smtpd_tls_security_level="none")
        + listener("otherca", **tls(certs.other_server, smtpd_tls_security_level="encrypt"))
        + listener("wrongname", **tls(certs.wrong_name, smtpd_tls_security_level="encrypt"))
        + listener(
            "oldtls",
            **tls(
                certs.server,
                smtpd_tls_security_level="may",
                smtpd_tls_protocols="<=TLSv1.1",
                smtpd_tls_mandatory_protocols="<=TLSv1.1",
            ),
        )
    )


@dataclass
class Hop:
    postfix: Postfix
    certs: Certs
    ports: dict[str, int]

    def url(self, listener: str) -> str:
        return f"smtp://localhost:{self.ports[listener]}"

    def mark(self) -> int:
        """Where the log ends now: what a test sees starts here."""
        return len(self.postfix.log())

    def lines(self, listener: str, since: int) -> list[str]:
        """The lines that listener's smtpd logged since ``since``."""
        tag = f" postfix/{listener}/smtpd["
        return [line for line in self.postfix.log()[since:].splitlines() if tag in line]

    def disconnects(self, listener: str, since: int) -> list[str]:
        """The command counts of each finished connection ("ehlo=1 starttls=1 quit=1 ...")."""
        found = (DISCONNECT.search(line) for line in self.lines(listener, since))
        return [m.group(1) for m in found if m]

    def established(self, listener: str, since: int) -> list[tuple[str, str]]:
        """(trust, protocol) of each TLS connection, e.g. ("Trusted", "TLSv1.3")."""
        found = (ESTABLISHED.search(line) for line in self.lines(listener, since))
        return [(m.group(1), m.group(2)) for m in found if m]

    def settled(self) -> bool:
        """Every connection any listener accepted has ended and been logged."""
        log = self.postfix.log()
        return log.count("]: connect from ") == log.count("]: disconnect from ")

    def delivered(self, address: str, marker: str) -> list[bytes]:
        return [m for m in self.postfix.delivered(address) if marker.encode() in m]


@pytest.fixture(scope="module")
def hop() -> Iterator[Hop]:
    postfix = Postfix("", mailboxes=[MAILBOX, CITIZEN, UNANSWERED], **MAIN_CF)
    try:
        # Under the instance's own folder: readable by the postfix user, removed by stop().
        certs = make_certs(postfix.folder / "tls")
        ports = {name: free_port() for name in LISTENERS}
        postfix.add_services(services(ports, certs))
        postfix.start()
        found = Hop(postfix, certs, ports)
        # start() knocked on every port: let those connections be logged before any test
        # marks the log, so that none of them is taken for a test's connection.
        assert wait_for(
            lambda: all(found.disconnects(n, 0) for n in LISTENERS) and found.settled(),
            timeout=20,
        ), postfix.log()
        yield found
    finally:
        postfix.stop()


StartGateway = Callable[..., RunningGateway]


@pytest.fixture
def start_gateway(hop: Hop, tmp_path: Path) -> Iterator[StartGateway]:
    """Postvagt in front of ``hop``: by default towards the ``good`` listener with
    upstream_tls=verify, our CA and our client certificate; keywords override settings.
    ``detect=True`` runs the real detection (for the CPR rule and its reply). At the end
    the gateways stop and the hop has logged the end of each of their connections, so the
    next test's lines are its own."""
    running: list[RunningGateway] = []
    (tmp_path / "policy.yaml").write_text(POLICY)

    def start(*, detect: bool = False, **options: Any) -> RunningGateway:
        values: dict[str, Any] = {
            "listen": f"127.0.0.1:{free_port()}",
            "web_listen": "127.0.0.1:0",
            "upstream": hop.url("good"),
            "upstream_tls": "verify",
            "upstream_tls_ca": hop.certs.ca,
            "upstream_tls_cert": hop.certs.client.cert,
            "upstream_tls_key": hop.certs.client.key,
            "domains": ["kommune.example"],
            "policy": tmp_path / "policy.yaml",
            "data_dir": tmp_path / f"var{len(running)}",
            "hostname": "postvagt.kommune.example",
            "sender_checks": False,
            "detect_workers": 1,
            "outbox_poll": 0.2,
            "shutdown_grace": 5,
            **options,
        }
        extra: dict[str, Any] = {} if detect else {"stages": (ParseStage(),)}
        gateway = RunningGateway(Settings(**values), **extra)
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.close()
    assert wait_for(hop.settled, timeout=15), hop.postfix.log()


@pytest.fixture
def relay_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """What postvagt.relay and postvagt.outbox logged (the gateway runs in a thread of this
    process, so pytest's capture sees it)."""
    caplog.set_level(logging.INFO, logger="postvagt.relay")
    caplog.set_level(logging.INFO, logger="postvagt.outbox")

    def lines() -> list[str]:
        return [
            f"{r.levelname} {r.name} {r.getMessage()}"
            for r in list(caplog.records)
            if r.name in ("postvagt.relay", "postvagt.outbox")
        ]

    return lines


def message(marker: str, sender: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {MAILBOX}\r\nSubject: TLS {marker}\r\n"
        f"Message-ID: <{marker}@borger.example>\r\n\r\n{body}"
    ).encode()


def send(port: int, marker: str, *, sender: str = SENDER, body: str = "Hej\r\n") -> tuple[str, int]:
    """Send one message to Postvagt: the command and code of the first refusal, or
    ("DATA", 250)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=90) as client:
        client.ehlo("mx.borger.example")
        code, _ = client.mail(sender)
        if code != 250:
            return "MAIL", code
        code, _ = client.rcpt(MAILBOX)
        if code not in (250, 251):
            return "RCPT", code
        code, _ = client.data(message(marker, sender, body))
        return "DATA", code


def new_marker() -> str:
    return f"tls-{uuid.uuid4().hex[:12]}"


def hop_received(delivered: bytes) -> str:
    """The Received field the next hop's Postfix added, unfolded."""
    fields = email.message_from_bytes(delivered).get_all("Received") or []
    ours = [" ".join(f.split()) for f in fields if "by mx.kommune.example (Postfix)" in f]
    assert len(ours) == 1, fields
    return ours[0]


def assert_over_verified_tls(received: str) -> None:
    assert " with ESMTPS id " in received, received
    assert re.search(r"\(using TLSv1\.[23] with cipher ", received), received
    assert TRUSTED_CLIENT in received, received


# -- verify, with our client certificate ------------------------------------------------


@pytest.mark.parametrize("listener", ["good", "tls12"])
def test_verify_with_client_certificate(
    hop: Hop, start_gateway: StartGateway, listener: str
) -> None:
    """tls12: the floor is TLS 1.2, not 1.3."""
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(upstream=hop.url(listener))
    assert send(gateway.port, marker) == ("DATA", 250)
    assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), hop.postfix.log()
    (delivered,) = hop.delivered(MAILBOX, marker)
    received = hop_received(delivered)
    assert_over_verified_tls(received)
    # Postfix itself: a TLS 1.2+ session whose client certificate chained to our CA.
    assert wait_for(lambda: hop.established(listener, since), timeout=10), hop.postfix.log()
    ((trust, protocol),) = hop.established(listener, since)
    assert trust == "Trusted" and protocol in ("TLSv1.2", "TLSv1.3"), (trust, protocol)
    if listener == "tls12":
        assert protocol == "TLSv1.2" and "(using TLSv1.2 with cipher" in received, received
    # The record keeps the hop out's TLS version beside the hop in's.
    assert tls_out_recorded(gateway) == [protocol]
    gateway.close()  # the pooled connection ends with QUIT: its disconnect line is logged
    assert wait_for(lambda: hop.disconnects(listener, since), timeout=10), hop.postfix.log()
    found = hop.disconnects(listener, since)
    assert len(found) == 1, hop.lines(listener, since)
    (commands,) = found
    assert "starttls=1" in commands and "mail=1" in commands and "data=1" in commands, commands


# -- fail closed: TLS required and not to be had -----------------------------------------

FAILURES = {
    "good-by-ip": "certificate not accepted: IP address mismatch",
    "plain": "does not offer STARTTLS",
    "otherca": "certificate not accepted: unable to get local issuer certificate",
    "wrongname": "certificate not accepted: Hostname mismatch",
    "oldtls": "TLS handshake failed",
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_verify_fails_closed(
    hop: Hop,
    start_gateway: StartGateway,
    relay_log: Callable[[], list[str]],
    case: str,
) -> None:
    """good-by-ip: the good listener named by its address, which its certificate (for
    DNS:localhost) does not carry."""
    since = hop.mark()
    marker = new_marker()
    listener, by_ip = case.removesuffix("-by-ip"), case.endswith("-by-ip")
    host = "127.0.0.1" if by_ip else "localhost"
    gateway = start_gateway(upstream=f"smtp://{host}:{hop.ports[listener]}")
    assert send(gateway.port, marker) == ("MAIL", 451)
    # The hop saw the connection end without a MAIL command.
    assert wait_for(lambda: hop.disconnects(listener, since), timeout=10), hop.postfix.log()
    (commands,) = hop.disconnects(listener, since)
    assert "mail=" not in commands and "rcpt=" not in commands, commands
    if listener == "plain":
        assert "starttls" not in commands, commands  # none offered, none asked
    else:
        assert "starttls=" in commands, commands
    assert not hop.established(listener, since)
    # Why, in the gateway's log: the hop and the reason.
    said = [line for line in relay_log() if "TLS required" in line]
    assert len(said) == 1, relay_log()
    assert f"{host}:{hop.ports[listener]}" in said[0], said
    assert FAILURES[case] in said[0], said
    assert said[0].startswith("ERROR postvagt.relay"), said
    gateway.close()
    assert hop.delivered(MAILBOX, marker) == []


# -- the weaker levels -----------------------------------------------------------------


def test_may_without_starttls_is_cleartext(hop: Hop, start_gateway: StartGateway) -> None:
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(upstream=hop.url("plain"), upstream_tls="may")
    assert send(gateway.port, marker) == ("DATA", 250)
    assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), hop.postfix.log()
    (delivered,) = hop.delivered(MAILBOX, marker)
    received = hop_received(delivered)
    assert " with ESMTP id " in received and "(using TLS" not in received, received
    gateway.close()
    assert wait_for(lambda: hop.disconnects("plain", since), timeout=10), hop.postfix.log()
    (commands,) = hop.disconnects("plain", since)
    assert "starttls" not in commands and "mail=1" in commands, commands
    assert not hop.established("plain", since)
    assert tls_out_recorded(gateway) == [None]


def test_may_falls_back_to_cleartext_after_a_failed_handshake(
    hop: Hop, start_gateway: StartGateway, relay_log: Callable[[], list[str]]
) -> None:
    """STARTTLS offered, but only below TLS 1.2: the handshake fails, and "may" (like
    Postfix's smtp_tls_security_level=may) delivers on a new cleartext connection."""
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(upstream=hop.url("oldtls"), upstream_tls="may")
    assert send(gateway.port, marker) == ("DATA", 250)
    assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), hop.postfix.log()
    (delivered,) = hop.delivered(MAILBOX, marker)
    received = hop_received(delivered)
    assert " with ESMTP id " in received and "(using TLS" not in received, received
    gateway.close()
    assert wait_for(lambda: len(hop.disconnects("oldtls", since)) == 2, timeout=10)
    failed, cleartext = hop.disconnects("oldtls", since)
    assert "starttls=0/1" in failed and "mail=" not in failed, failed
    assert "starttls" not in cleartext and "mail=1" in cleartext, cleartext
    assert any("tls may: cleartext" in line for line in relay_log()), relay_log()


@pytest.mark.parametrize("listener", ["otherca", "wrongname"])
def test_encrypt_does_not_check_the_certificate(
    hop: Hop, start_gateway: StartGateway, listener: str
) -> None:
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(upstream=hop.url(listener), upstream_tls="encrypt")
    assert send(gateway.port, marker) == ("DATA", 250)
    assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), hop.postfix.log()
    (delivered,) = hop.delivered(MAILBOX, marker)
    received = hop_received(delivered)
    assert " with ESMTPS id " in received, received
    assert re.search(r"\(using TLSv1\.[23] with cipher ", received), received
    ((_, protocol),) = hop.established(listener, since)
    assert protocol in ("TLSv1.2", "TLSv1.3"), protocol


def test_encrypt_refuses_a_hop_without_starttls(
    hop: Hop, start_gateway: StartGateway, relay_log: Callable[[], list[str]]
) -> None:
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(upstream=hop.url("plain"), upstream_tls="encrypt")
    assert send(gateway.port, marker) == ("MAIL", 451)
    assert wait_for(lambda: hop.disconnects("plain", since), timeout=10), hop.postfix.log()
    (commands,) = hop.disconnects("plain", since)
    assert "mail=" not in commands, commands
    assert any("does not offer STARTTLS" in line for line in relay_log()), relay_log()
    gateway.close()
    assert hop.delivered(MAILBOX, marker) == []


# -- the next hop demands a client certificate -------------------------------------------


def test_without_client_certificate_the_hop_refuses(
    hop: Hop, start_gateway: StartGateway, relay_log: Callable[[], list[str]]
) -> None:
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(upstream_tls_cert=None, upstream_tls_key=None)
    command, code = send(gateway.port, marker)
    assert code >= 400, (command, code)  # never 250
    assert (command, code) == ("MAIL", 451)
    assert wait_for(lambda: hop.disconnects("good", since), timeout=10), hop.postfix.log()
    (commands,) = hop.disconnects("good", since)
    assert "mail=" not in commands, commands
    assert any(
        "abort: TLS from" in line and "No client certificate presented" in line
        for line in hop.lines("good", since)
    ), hop.lines("good", since)
    # The hop's 421 after the handshake, in the gateway's log.
    assert any("421" in s and "No client certificate presented" in s for s in relay_log())
    gateway.close()
    assert hop.delivered(MAILBOX, marker) == []


# -- pooled connections -----------------------------------------------------------------


def test_pooled_connections_stay_encrypted(hop: Hop, start_gateway: StartGateway) -> None:
    since = hop.mark()
    markers = [new_marker() for _ in range(5)]
    gateway = start_gateway()
    for marker in markers:
        assert send(gateway.port, marker) == ("DATA", 250)
    assert wait_for(lambda: all(hop.delivered(MAILBOX, m) for m in markers), timeout=30)
    for marker in markers:
        (delivered,) = hop.delivered(MAILBOX, marker)
        assert_over_verified_tls(hop_received(delivered))
    gateway.close()
    # Every connection the five messages took was a verified TLS session, and the pool
    # really carried more than one message on one of them.
    assert wait_for(
        lambda: sum(_count("mail", c) for c in hop.disconnects("good", since)) == 5, timeout=10
    ), hop.lines("good", since)
    connections = hop.disconnects("good", since)
    assert all("starttls=1" in c for c in connections), connections
    assert max(_count("mail", c) for c in connections) > 1, connections
    trust = hop.established("good", since)
    assert len(trust) == len(connections), (trust, connections)
    assert all(t == "Trusted" and p in ("TLSv1.2", "TLSv1.3") for t, p in trust), trust


def test_a_dropped_pooled_connection_is_replaced_by_verified_tls(
    hop: Hop, start_gateway: StartGateway
) -> None:
    """The hop times the idle pooled connection out; the next message takes a new
    connection, again with STARTTLS and the client certificate, never cleartext."""
    since = hop.mark()
    first, second = new_marker(), new_marker()
    gateway = start_gateway(upstream=hop.url("impatient"))
    assert send(gateway.port, first) == ("DATA", 250)
    assert wait_for(lambda: hop.disconnects("impatient", since), timeout=20), hop.postfix.log()
    assert any("timeout after" in line for line in hop.lines("impatient", since))
    assert send(gateway.port, second) == ("DATA", 250)
    for marker in (first, second):
        assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), marker  # noqa: B023
        (delivered,) = hop.delivered(MAILBOX, marker)
        assert_over_verified_tls(hop_received(delivered))
    gateway.close()
    assert wait_for(lambda: len(hop.disconnects("impatient", since)) == 2, timeout=10)
    connections = hop.disconnects("impatient", since)
    assert all("starttls=1" in c and "mail=1" in c for c in connections), connections
    assert [t for t, _ in hop.established("impatient", since)] == ["Trusted", "Trusted"]


def tls_out_recorded(gateway: RunningGateway) -> list[str | None]:
    engine = create_engine(gateway.gateway.settings.database)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(messages.c.tls_out)).scalars())
    finally:
        engine.dispose()


def _count(command: str, commands: str) -> int:
    found = re.search(rf"\b{command}=(\d+)", commands)
    return int(found.group(1)) if found else 0


# -- the auto-reply relay ---------------------------------------------------------------


def cpr_body(n: int) -> str:
    return f"Hej\r\n\r\nMit CPR-nummer er {fictional.cpr(random.Random(n))}.\r\n\r\nMvh\r\n"


@pytest.mark.parametrize("relay", ["reply_relay", "upstream"])
def test_reply_relay_over_verified_tls(hop: Hop, start_gateway: StartGateway, relay: str) -> None:
    """reply_relay with its own reply_tls settings; or, unset, the upstream with its own."""
    since = hop.mark()
    marker = new_marker()
    own: dict[str, Any] = {
        "reply_relay": hop.url("good"),
        "reply_tls": "verify",
        "reply_tls_ca": hop.certs.ca,
        "reply_tls_cert": hop.certs.client.cert,
        "reply_tls_key": hop.certs.client.key,
    }
    gateway = start_gateway(detect=True, **(own if relay == "reply_relay" else {}))
    assert send(gateway.port, marker, sender=CITIZEN, body=cpr_body(1)) == ("DATA", 250)
    assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), hop.postfix.log()
    assert b"reasons=DK_CPR" in hop.delivered(MAILBOX, marker)[0]
    assert wait_for(lambda: hop.delivered(CITIZEN, marker), timeout=30), hop.postfix.log()
    (reply,) = hop.delivered(CITIZEN, marker)  # In-Reply-To names the marker
    assert b"Auto-Submitted: auto-replied" in reply and b"Return-Path: <>" in reply
    assert_over_verified_tls(hop_received(reply))
    gateway.close()
    assert wait_for(lambda: len(hop.disconnects("good", since)) >= 2, timeout=10)
    assert all("starttls=1" in c for c in hop.disconnects("good", since))


def test_reply_relay_without_starttls_sends_nothing(
    hop: Hop, start_gateway: StartGateway, relay_log: Callable[[], list[str]]
) -> None:
    since = hop.mark()
    marker = new_marker()
    gateway = start_gateway(
        detect=True,
        reply_relay=hop.url("plain"),
        reply_tls="verify",
        reply_tls_ca=hop.certs.ca,
        reply_retry=[0.5] * 20,
    )
    assert send(gateway.port, marker, sender=UNANSWERED, body=cpr_body(2)) == ("DATA", 250)
    assert wait_for(lambda: hop.delivered(MAILBOX, marker), timeout=30), hop.postfix.log()
    # The outbox tries again and again; each try ends before MAIL.
    assert wait_for(lambda: len(hop.disconnects("plain", since)) >= 3, timeout=20), (
        hop.postfix.log()
    )
    time.sleep(1)
    tries = hop.disconnects("plain", since)
    assert all("mail=" not in c and "starttls" not in c for c in tries), tries
    assert hop.delivered(UNANSWERED, marker) == []
    assert hop.postfix.delivered(UNANSWERED) == []
    said = relay_log()
    assert any("TLS required" in s and "does not offer STARTTLS" in s for s in said), said
    assert any("postvagt.outbox" in s and "try 2: 451" in s for s in said), said
    assert not any("given up" in s or " sent (" in s for s in said), said
