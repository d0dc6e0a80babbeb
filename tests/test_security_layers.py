"""Every crypto layer, all the way down (issue 16, part 2): signatures below the top level
checked against the bytes of their own part, opaque signatures around encrypted content,
damaged signatures, Exchange's rewrite of PGP/MIME, and RFC 2231 parameters. Each layer's
result is checked against ``openssl cms -verify`` and ``gpg --verify`` run directly."""

from __future__ import annotations

import email
import random
from email import policy

import pytest

from gateway.extract.text import mail_text
from gateway.security import TrustConfig, classify
from tests import crypto_mail, fictional
from tests.crypto_mail import as_message, forwarded, mixed, text

BODY = "Hej\nJeg sender mine oplysninger.\n"


def layers(protection) -> list[tuple[str, str, bool | None]]:
    return [(layer.kind, layer.part, layer.signature_valid) for layer in protection.layers]


def signature_of(entity: bytes) -> bytes:
    """The second part of a multipart/signed entity, decoded."""
    parsed = email.message_from_bytes(entity, policy=policy.compat32)
    return parsed.get_payload()[1].get_payload(decode=True)


@pytest.fixture
def keyring(gpg) -> TrustConfig:
    return TrustConfig(pgp_keyring=gpg.home)


def test_opaque_signature_around_encrypted_content(pki):
    encrypted = crypto_mail.smime_entity(pki, text(BODY), "encrypted")
    raw = as_message(crypto_mail.smime_entity(pki, encrypted, "opaque"))
    protection = classify(raw)
    assert layers(protection) == [
        ("smime-signed-opaque", "", True),
        ("smime-encrypted", "message>", None),
    ]
    assert (protection.signed, protection.encrypted, protection.signature_valid) == (
        True,
        True,
        True,
    )
    assert "message>: encrypted, not scanned" in protection.uninspected


def test_signed_part_inside_mixed_and_forwarded(pki, tmp_path):
    signed = crypto_mail.smime_entity(pki, text(BODY), "detached")
    inside = as_message(mixed(text("Se den underskrevne del.\n"), signed))
    assert crypto_mail.openssl_verifies(signed, tmp_path)
    assert layers(classify(inside)) == [("smime-signed-detached", "2", True)]
    signed_message = crypto_mail.smime(pki, BODY, "detached")
    forward = as_message(mixed(text("Videresendt.\n"), forwarded(crypto_mail.crlf(signed_message))))
    assert crypto_mail.openssl_verifies(signed_message, tmp_path)
    protection = classify(forward)
    assert layers(protection) == [("smime-signed-detached", "2.1", True)]
    assert protection.signature_valid is True


def test_tampered_inner_signature_is_false_like_openssl_says(pki, tmp_path):
    signed = crypto_mail.smime_entity(pki, text(BODY), "detached")
    tampered = signed.replace(b"mine oplysninger", b"dine oplysninger")
    assert tampered != signed and not crypto_mail.openssl_verifies(tampered, tmp_path)
    protection = classify(as_message(mixed(text("Hej\n"), tampered)))
    assert layers(protection) == [("smime-signed-detached", "2", False)]
    assert protection.signature_valid is False


def test_pgp_signature_with_a_list_footer_after_it(gpg, keyring):
    inner = text(BODY)
    signed = crypto_mail.pgp_signed_entity(gpg, inner)
    assert crypto_mail.gpg_verifies(gpg, signature_of(signed), crypto_mail.crlf(inner))
    raw = as_message(mixed(signed, text("-- \nListe: nyhedsbrev@example.net\n")))
    protection = classify(raw, keyring)
    assert layers(protection) == [("pgp-signed", "1", True)]
    assert protection.signature_valid is True
    assert classify(raw).signature_valid is None  # no key anywhere: not checked


def test_nested_signatures_each_against_its_own_part(pki, gpg, keyring, tmp_path):
    inner = text(BODY)
    pgp = crypto_mail.pgp_signed_entity(gpg, inner)  # a signs
    outer = crypto_mail.smime_entity(pki, pgp, "detached")  # b signs again
    assert crypto_mail.openssl_verifies(outer, tmp_path)
    assert crypto_mail.gpg_verifies(gpg, signature_of(pgp), crypto_mail.crlf(inner))
    protection = classify(as_message(outer), keyring)
    assert layers(protection) == [("smime-signed-detached", "", True), ("pgp-signed", "1", True)]
    assert protection.signature_valid is True
    twice = crypto_mail.smime_entity(
        pki, crypto_mail.smime_entity(pki, inner, "detached"), "detached"
    )
    assert layers(classify(as_message(twice))) == [
        ("smime-signed-detached", "", True),
        ("smime-signed-detached", "1", True),
    ]


def test_message_verdict_over_all_signatures(pki, gpg, keyring):
    good = crypto_mail.smime_entity(pki, text(BODY), "detached")
    bad = good.replace(b"mine oplysninger", b"dine oplysninger")
    pgp = crypto_mail.pgp_signed_entity(gpg, text("Hej igen\n"))
    one_fails = classify(as_message(mixed(good, bad)))
    assert [layer.signature_valid for layer in one_fails.layers] == [True, False]
    assert one_fails.signature_valid is False
    # The PGP signature cannot be checked without a key; the S/MIME one could: true.
    partly = classify(as_message(mixed(good, pgp)))
    assert [layer.signature_valid for layer in partly.layers] == [True, None]
    assert partly.signature_valid is True
    assert classify(as_message(mixed(pgp, pgp))).signature_valid is None
    assert classify(as_message(mixed(good, pgp)), keyring).signature_valid is True


def test_opaque_signature_in_a_part_is_unwrapped_and_scanned(pki, detector):
    number = fictional.cpr(random.Random(16))
    opaque = crypto_mail.smime_entity(pki, text(f"Mit CPR-nr. er {number}\n"), "opaque")
    protection = classify(as_message(mixed(text("Vedhæftet.\n"), opaque)))
    assert layers(protection) == [("smime-signed-opaque", "2", True)]
    (content,) = protection.unwrapped
    findings, _, _ = detector.detect(mail_text(content))
    assert [f.entity for f in findings] == ["DK_CPR"]


def test_damaged_signatures_are_false(gpg, keyring):
    damaged = (
        b"-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAABCAAdFiEE\r\n=AAAA\r\n"
        b"-----END PGP SIGNATURE-----\r\n"
    )
    inner = text(BODY)
    assert not crypto_mail.gpg_verifies(gpg, damaged, inner)
    entity = (
        b'Content-Type: multipart/signed; protocol="application/pgp-signature"; '
        b"micalg=pgp-sha256; boundary=s\r\n\r\n--s\r\n" + inner + b"\r\n--s\r\n"
        b"Content-Type: application/pgp-signature\r\n\r\n" + damaged + b"--s--\r\n"
    )
    for trust in (TrustConfig(), keyring):
        protection = classify(as_message(entity), trust)
        assert layers(protection) == [("pgp-signed", "", False)]
        assert protection.signature_valid is False
    nested = classify(as_message(mixed(text("Hej\n"), entity)))
    assert layers(nested) == [("pgp-signed", "2", False)]


def test_exchange_mangled_pgp_mime_is_encrypted(gpg):
    protection = classify(crypto_mail.exchange_mangled(gpg, BODY))
    assert layers(protection) == [("pgp-encrypted", "", None)]
    assert protection.encrypted is True
    assert protection.uninspected == ("message: encrypted, not scanned",)


def test_an_ordinary_asc_attachment_is_not_encrypted():
    raw = as_message(
        mixed(
            text("Min nøgle.\n"),
            b'Content-Type: application/octet-stream; name="key.asc"\r\n\r\n'
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nAAAA\r\n",
        )
    )
    assert classify(raw).encrypted is False


@pytest.mark.parametrize(
    "parameter",
    [
        "protocol*=us-ascii''application%2Fpgp-signature",
        "protocol*0*=us-ascii''application%2F; protocol*1=pgp-signature",
        'protocol*0="application/"; protocol*1="pgp-signature"',
    ],
    ids=["charset", "continuation-encoded", "continuation-quoted"],
)
def test_rfc2231_parameters_are_read(gpg, keyring, parameter):
    inner = text(BODY)
    signed = crypto_mail.pgp_signed_entity(gpg, inner)
    _, _, rest = signed.partition(b"\r\n\r\n")
    rebuilt = (
        f'Content-Type: multipart/signed; micalg=pgp-sha256; {parameter}; boundary="pvsig"'.encode()
        + b"\r\n\r\n"
        + rest
    )
    protection = classify(as_message(rebuilt), keyring)
    assert layers(protection) == [("pgp-signed", "", True)]


def test_rfc2231_forms_mixed_do_not_stop_the_parse(gpg, keyring):
    """``protocol*=`` beside ``protocol*0*=``: the stdlib's own parameter decoding raises
    TypeError (and the parser reads the boundary through it)."""
    signed = crypto_mail.pgp_signed_entity(gpg, text(BODY))
    _, _, rest = signed.partition(b"\r\n\r\n")
    head = (
        "Content-Type: multipart/signed; protocol*=us-ascii''application%2Fpgp-signature; "
        "protocol*0*=us-ascii''x; boundary*=us-ascii''pvsig; boundary*0=pvsig"
    )
    protection = classify(as_message(head.encode() + b"\r\n\r\n" + rest), keyring)
    assert layers(protection) == [("pgp-signed", "", True)]


def test_rfc2231_smime_type(pki):
    opaque = crypto_mail.smime_entity(pki, text(BODY), "opaque")
    head, _, body = opaque.partition(b"\r\n\r\n")
    head = head.replace(b"smime-type=signed-data", b"smime-type*=us-ascii''signed-data")
    assert b"smime-type*=" in head
    assert layers(classify(as_message(head + b"\r\n\r\n" + body))) == [
        ("smime-signed-opaque", "", True)
    ]


def test_a_quoted_signed_message_is_not_a_signature():
    reply = as_message(
        text(
            "Tak.\n\n> -----BEGIN PGP SIGNED MESSAGE-----\n> Hash: SHA256\n>\n> Hej\n"
            "> -----BEGIN PGP SIGNATURE-----\n> AAAA\n> -----END PGP SIGNATURE-----\n"
        )
    )
    protection = classify(reply)
    assert (protection.signed, protection.signature_valid, protection.layers) == (False, None, ())
