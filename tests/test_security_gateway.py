"""Through the gateway: protection is classified in the worker, and S/MIME, PGP and DKIM
signatures still verify on the message the upstream received."""

from __future__ import annotations

import random

import dkim
from sqlalchemy import select

from gateway.security import TrustConfig, classify
from gateway.store import Store
from gateway.store.tables import messages
from tests import crypto_mail, fictional
from tests.helpers import send, split


def records(tmp_path) -> list:
    store = Store(f"sqlite:///{tmp_path / 'var' / 'postvagt.db'}", instance="t", slot="mx")
    with store.engine.connect() as connection:
        rows = list(connection.execute(select(messages).order_by(messages.c.received_at)))
    store.close()
    return rows


def test_signatures_survive_forwarding_and_are_recorded(upstream, make_gateway, pki, gpg, tmp_path):
    gw = make_gateway(
        upstream, detect=True, detect_workers=1, smime_trust_store=pki.ca, pgp_keyring=gpg.home
    )
    number = fictional.cpr(random.Random(21))
    sent = [
        crypto_mail.smime(pki, "Hej\nDetached.\n", "detached"),
        crypto_mail.smime(pki, f"Hej\nMit CPR-nr. er {number}\n", "opaque"),
        crypto_mail.pgp_mime_signed(gpg, "Hej\nPGP.\n"),
        crypto_mail.smime(pki, "Hej\nHemmeligt.\n", "encrypted"),
    ]
    for raw in sent:
        send(gw.port, raw, rcpts=["borgerservice@kommune.example"])
    trust = TrustConfig(smime_trust_store=pki.ca, pgp_keyring=gpg.home)
    for original, delivered in zip(sent, upstream.messages, strict=True):
        _, rest = split(delivered.content)
        # smtplib ends DATA with CRLF, and the gateway sends bare LFs on as CRLF.
        on_the_wire = original if original.endswith(b"\r\n") else original + b"\r\n"
        on_the_wire = on_the_wire.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert rest == on_the_wire  # not a byte changed below our headers
        before, after = classify(original, trust), classify(delivered.content, trust)
        assert after.signature_valid == before.signature_valid
        assert [layer.kind for layer in after.layers] == [layer.kind for layer in before.layers]
    valid = [classify(m.content, trust).signature_valid for m in upstream.messages]
    assert valid == [True, True, True, None]
    opaque_headers = split(upstream.messages[1].content)[0]
    assert b"X-Postvagt-Journal: required" in opaque_headers  # the CPR inside was found
    encrypted_headers = split(upstream.messages[3].content)[0]
    assert b"X-Postvagt-Scan: incomplete; reasons=encrypted" in encrypted_headers
    rows = records(tmp_path)
    assert [r.protection["layers"] for r in rows] == [
        ["smime-signed-detached"],
        ["smime-signed-opaque"],
        ["pgp-signed"],
        ["smime-encrypted"],
    ]
    assert [r.protection["signer_trusted"] for r in rows] == [True, True, True, None]


def test_dkim_survives_forwarding(upstream, make_gateway, tmp_path):
    key, record = crypto_mail.dkim_key(tmp_path)
    message = (
        b"From: borger@example.net\r\nTo: borgerservice@kommune.example\r\n"
        b"Subject: DKIM\r\nMessage-ID: <dkim@example.net>\r\n\r\nHej med dig\r\n"
    )
    signature = dkim.sign(
        message,
        b"test",
        b"example.net",
        key,
        include_headers=[b"from", b"to", b"subject", b"message-id"],
    )
    signed = signature + message

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"test._domainkey.example.net."
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    gw = make_gateway(upstream)
    send(gw.port, signed, rcpts=["borgerservice@kommune.example"])
    assert dkim.verify(upstream.messages[0].content, dnsfunc=dns)
