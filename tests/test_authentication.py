"""SPF, DKIM and DMARC: checked by Postvagt in the mx slot, read from trusted headers behind
another server. DNS answers come from an in-memory zone (no network here)."""

from __future__ import annotations

import dkim
import pytest

from gateway.authentication import check_session, check_spf, from_trusted_headers
from gateway.model import TlsInfo
from tests import crypto_mail


class Zone:
    """A resolver answering from a dictionary: the DNS of example.net for these tests."""

    def __init__(self, records: dict[str, list[bytes]]) -> None:
        self.records = records

    def txt(self, name: str) -> list[bytes]:
        return self.records.get(name.lower(), [])

    def addresses(self, name: str, rdtype: str) -> list[str]:
        return [r.decode() for r in self.records.get(f"{rdtype}:{name.lower()}", [])]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return [(10, r.decode()) for r in self.records.get(f"MX:{name.lower()}", [])]


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dkim")
    key, record = crypto_mail.dkim_key(folder)
    zone = Zone(
        {
            "example.net": [b"v=spf1 ip4:127.0.0.1 mx -all"],
            "MX:example.net": [b"mx.example.net"],
            "A:mx.example.net": [b"127.0.0.5"],
            "test._domainkey.example.net": [record],
            "_dmarc.example.net": [b"v=DMARC1; p=reject"],
        }
    )
    return key, zone


def signed_mail(key: bytes, sender: str = "borger@example.net") -> bytes:
    message = (
        f"From: {sender}\r\nTo: post@kommune.example\r\nSubject: Hej\r\n"
        "Message-ID: <a@example.net>\r\n\r\nHej med dig\r\n"
    ).encode()
    return (
        dkim.sign(
            message, b"test", b"example.net", key, include_headers=[b"from", b"to", b"subject"]
        )
        + message
    )


@pytest.mark.parametrize(
    ("ip", "expected"),
    [("127.0.0.1", "pass"), ("127.0.0.5", "pass"), ("192.0.2.7", "fail")],
)
def test_spf(signer, ip, expected):
    _, zone = signer
    assert check_spf(zone, ip, "borger@example.net", "mx.example.net") == expected


def test_spf_without_a_record_is_none(signer):
    _, zone = signer
    assert check_spf(zone, "127.0.0.1", "x@nowhere.example", "h") == "none"


def test_all_pass_and_aligned(signer):
    key, zone = signer
    tls = TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256)
    auth = check_session(
        signed_mail(key),
        resolver=zone,
        authserv_id="gw.kommune.example",
        ip="127.0.0.1",
        helo="mx.example.net",
        mail_from="borger@example.net",
        tls=tls,
    )
    assert (auth.spf, auth.dkim, auth.dmarc, auth.aligned_pass) == ("pass", "pass", "pass", True)
    assert (auth.source, auth.tls_version, auth.client_ip) == ("session", "TLSv1.3", "127.0.0.1")


def test_forged_sender_fails_dmarc(signer):
    key, zone = signer
    tampered = signed_mail(key).replace(b"Hej med dig", b"Betal nu")
    auth = check_session(
        tampered,
        resolver=zone,
        authserv_id="gw",
        ip="192.0.2.7",
        helo="evil.example",
        mail_from="borger@example.net",
        tls=None,
    )
    assert (auth.spf, auth.dkim, auth.dmarc, auth.aligned_pass) == ("fail", "fail", "fail", False)


def test_trusted_headers_only(signer):
    raw = (
        b"Received: from mx.example.net (mx.example.net [127.0.0.5])\r\n"
        b"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n"
        b"\tby mail.kommune.example (Postfix) with ESMTPS id 4X;\r\n"
        b"\tSat, 28 Nov 2026 10:00:00 +0000\r\n"
        b"Authentication-Results: mail.kommune.example; spf=pass smtp.mailfrom=example.net;\r\n"
        b"\tdkim=pass header.d=example.net; dmarc=pass header.from=example.net\r\n"
        b"Authentication-Results: mail.kommune.example; spf=fail; dmarc=fail\r\n"
        b"Authentication-Results: attacker.example; spf=pass; dkim=pass; dmarc=pass\r\n"
        b"From: borger@example.net\r\n\r\nhej\r\n"
    )
    auth = from_trusted_headers(raw, ["mail.kommune.example"])
    assert (auth.source, auth.spf, auth.dkim, auth.dmarc) == (
        "trusted-headers",
        "pass",
        "pass",
        "pass",
    )
    assert auth.tls_version == "TLSv1.3"
    forged_only = raw.replace(b"mail.kommune.example", b"somewhere.example")
    assert from_trusted_headers(forged_only, ["mail.kommune.example"]).source == "none"


def test_garbage_does_not_crash(signer):
    _, zone = signer
    auth = check_session(
        b"\x00\xff garbage",
        resolver=zone,
        authserv_id="gw",
        ip="127.0.0.1",
        helo="h",
        mail_from="",
        tls=None,
    )
    assert auth.source == "session"
    assert from_trusted_headers(b"\x00\xff", ["x"]).source == "none"


def test_gateway_records_the_sender_facts(upstream, make_gateway, signer, tmp_path):
    from sqlalchemy import select

    from gateway.store import Store
    from gateway.store.tables import messages
    from tests.helpers import send

    key, zone = signer
    gw = make_gateway(upstream, detect=True, detect_workers=1, sender_checks=True, resolver=zone)
    send(gw.port, signed_mail(key), rcpts=["post@kommune.example"])
    store = Store(f"sqlite:///{tmp_path / 'var' / 'postvagt.db'}", instance="t", slot="mx")
    with store.engine.connect() as connection:
        (row,) = connection.execute(select(messages)).all()
    store.close()
    # smtplib's MAIL FROM is borger@example.net, sent from 127.0.0.1: SPF passes.
    assert row.protection["sender"] == {
        "source": "session",
        "spf": "pass",
        "dkim": "pass",
        "dmarc": "pass",
        "aligned_pass": True,
        "tls_version": None,
    }


# -- speed without weakening: DNS cached by TTL, the suffix list read once (issue 17) ---------


def test_unsigned_mail_is_dkim_none_not_fail(signer):
    """RFC 8601: a message without a DKIM signature has dkim=none."""
    _, zone = signer
    auth = check_session(
        b"From: borger@example.net\r\nSubject: Hej\r\n\r\nHej\r\n",
        resolver=zone,
        authserv_id="gw",
        ip="127.0.0.1",
        helo="mx.example.net",
        mail_from="borger@example.net",
        tls=None,
    )
    assert (auth.spf, auth.dkim) == ("pass", "none")


def test_the_public_suffix_list_is_read_once_and_used_by_authheaders():
    import authheaders
    import authheaders.dmarc_lookup

    from gateway import authentication

    assert authheaders.get_org_domain is authentication.org_domain
    assert authheaders.dmarc_lookup.get_org_domain is authentication.org_domain
    assert authentication.org_domain("post.borger.example.co.uk") == "example.co.uk"
    assert authentication.org_domain("a.b.kommune.dk") == "kommune.dk"
    authentication._public_suffixes.cache_clear()
    for name in ("x.gmail.com", "y.gmail.com", "z.hotmail.dk"):
        authentication.org_domain(name)
    assert authentication._public_suffixes.cache_info().misses == 1


@pytest.fixture
def dns_server():
    """A real DNS server on loopback (tests/dns_server.py) that counts the questions."""
    import asyncio
    import socket
    import threading

    from tests.dns_server import Stub, records

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loop = asyncio.new_event_loop()
    stub = Stub(records(["example.net"]))
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(
            loop.create_datagram_endpoint(lambda: stub, local_addr=("127.0.0.1", port))
        )
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(5)
    yield port, stub
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    assert stub.transport is not None
    stub.transport.close()
    loop.close()


def test_dns_answers_are_cached_for_their_ttl(dns_server):
    from gateway.authentication import DnsResolver

    port, stub = dns_server
    resolver = DnsResolver(timeout=2, servers=[f"127.0.0.1:{port}"])
    for _ in range(3):
        assert check_spf(resolver, "127.0.0.1", "borger@example.net", "h") == "pass"
        assert resolver.txt("_dmarc.example.net") == [b"v=DMARC1; p=none"]
        assert resolver.txt("nowhere.example") == []
    # SPF TXT, the DMARC TXT and the NXDOMAIN: each asked once, not three times.
    assert stub.questions == 3
