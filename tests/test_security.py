"""Signed or encrypted: every case made by openssl and gpg, classified and verified."""

from __future__ import annotations

import random

import pytest

from gateway.extract.text import mail_text
from gateway.security import TrustConfig, classify
from tests import crypto_mail, fictional

BODY = "Hej\nJeg sender mine oplysninger.\n"


def kinds(protection) -> list[str]:
    return [layer.kind for layer in protection.layers]


@pytest.mark.parametrize("tool", ["cms", "smime"], ids=["pkcs7", "x-pkcs7"])
@pytest.mark.parametrize(
    ("mode", "expected", "signed", "encrypted", "valid"),
    [
        ("detached", ["smime-signed-detached"], True, False, True),
        ("opaque", ["smime-signed-opaque"], True, False, True),
        ("encrypted", ["smime-encrypted"], False, True, None),
        ("signed-then-encrypted", ["smime-encrypted"], False, True, None),
    ],
)
def test_smime_cases(pki, tool, mode, expected, signed, encrypted, valid):
    raw = crypto_mail.smime(pki, BODY, mode, tool)
    protection = classify(raw)  # no trust store: integrity is still checked
    assert kinds(protection) == expected
    assert (protection.signed, protection.encrypted) == (signed, encrypted)
    assert protection.signature_valid is valid
    assert protection.signer_trusted is None
    if encrypted:
        assert protection.uninspected == ("message: encrypted, not scanned",)


def test_altered_after_signing_is_invalid(pki):
    raw = crypto_mail.smime(pki, BODY, "detached")
    tampered = raw.replace(b"mine oplysninger", b"dine oplysninger")
    assert tampered != raw
    assert classify(tampered).signature_valid is False


def test_trust_store_decides_signer_trusted(pki):
    raw = crypto_mail.smime(pki, BODY, "detached")
    assert classify(raw, TrustConfig(smime_trust_store=pki.ca)).signer_trusted is True
    assert classify(raw, TrustConfig(smime_trust_store=pki.other_ca)).signer_trusted is False


def test_opaque_signed_content_is_unwrapped_and_scanned(pki, detector):
    number = fictional.cpr(random.Random(12))
    raw = crypto_mail.smime(pki, f"Mit CPR-nr. er {number}\n", "opaque")
    assert number.encode() not in raw  # base64 inside the CMS blob: naive extraction misses it
    protection = classify(raw)
    (content,) = protection.unwrapped
    findings, _, _ = detector.detect(mail_text(content))
    assert [f.entity for f in findings] == ["DK_CPR"]


@pytest.mark.parametrize(
    ("content_type", "name"),
    [("application/pkcs7-mime", None), ("application/octet-stream", "smime.p7m")],
)
def test_ambiguous_blobs_are_decided_by_their_oid(pki, content_type, name):
    raw = crypto_mail.smime(pki, BODY, "encrypted")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"content-type", b"\t", b" "))
    ]
    disposition = f"\r\nContent-Disposition: attachment; filename={name}" if name else ""
    rebuilt = b"\r\n".join(lines) + f"\r\nContent-Type: {content_type}{disposition}".encode()
    protection = classify(rebuilt + b"\r\n\r\n" + body)
    assert kinds(protection) == ["smime-encrypted"]


def test_garbage_p7m_does_not_crash(tmp_path):
    raw = (
        b"From: a@example.net\r\nContent-Type: application/pkcs7-mime; name=smime.p7m\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nTm90IGEgQ01TIGJsb2I=\r\n"
    )
    protection = classify(raw)
    assert kinds(protection) == ["smime-unreadable"]
    assert protection.signed is False and protection.signature_valid is None
    signed_garbage = (
        b"From: a@example.net\r\nContent-Type: multipart/signed; "
        b'protocol="application/pkcs7-signature"; boundary=b\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pkcs7-signature"
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\nZ2FyYmFnZQ==\r\n--b--\r\n"
    )
    protection = classify(signed_garbage)  # a signature openssl cannot parse: damaged
    assert protection.signed is True and protection.signature_valid is False


def test_pgp_mime_signed_with_attached_or_configured_key(gpg):
    raw = crypto_mail.pgp_mime_signed(gpg, BODY)
    assert kinds(classify(raw)) == ["pgp-signed"]
    assert classify(raw).signature_valid is None  # no key to check it with
    trusted = classify(raw, TrustConfig(pgp_keyring=gpg.home))
    assert (trusted.signature_valid, trusted.signer_trusted) == (True, True)
    tampered = raw.replace(b"mine oplysninger", b"dine oplysninger")
    assert classify(tampered, TrustConfig(pgp_keyring=gpg.home)).signature_valid is False


def test_pgp_encrypted_and_inline(gpg):
    assert kinds(classify(crypto_mail.pgp_mime_encrypted(gpg, BODY))) == ["pgp-encrypted"]
    inline_encrypted = classify(crypto_mail.pgp_inline(gpg, BODY, "encrypted"))
    assert (kinds(inline_encrypted), inline_encrypted.encrypted) == (["pgp-inline-encrypted"], True)
    clear = crypto_mail.pgp_inline(gpg, BODY, "signed")
    result = classify(clear, TrustConfig(pgp_keyring=gpg.home))
    assert (kinds(result), result.signature_valid) == (["pgp-inline-signed"], True)


def test_plain_mail_is_neither():
    protection = classify(b"From: a@example.net\r\nSubject: hej\r\n\r\nhej\r\n")
    assert (protection.signed, protection.encrypted, protection.layers) == (False, False, ())


def test_postvagt_scan_reports_protection(pki, gpg, tmp_path):
    import json
    import subprocess

    from tests.helpers import POSTVAGT, clean_env

    cases = {
        "detached.eml": (crypto_mail.smime(pki, BODY, "detached"), True, False, True, True),
        "opaque.eml": (crypto_mail.smime(pki, BODY, "opaque", "smime"), True, False, True, True),
        "encrypted.eml": (crypto_mail.smime(pki, BODY, "encrypted"), False, True, None, None),
        "pgp.eml": (crypto_mail.pgp_mime_signed(gpg, BODY), True, False, True, True),
        "pgp-enc.eml": (crypto_mail.pgp_mime_encrypted(gpg, BODY), False, True, None, None),
    }
    for name, (raw, *_) in cases.items():
        (tmp_path / name).write_bytes(raw)
    env = {
        **clean_env(),
        "POSTVAGT_SMIME_TRUST_STORE": str(pki.ca),
        "POSTVAGT_PGP_KEYRING": str(gpg.home),
    }
    result = subprocess.run(
        [*POSTVAGT, "scan", "--json", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for line in map(json.loads, result.stdout.splitlines()):
        expected = cases[line["file"].rsplit("/", 1)[1]][1:]
        got = (line["signed"], line["encrypted"], line["signature_valid"], line["signer_trusted"])
        assert got == expected, line
    explain = subprocess.run(
        [*POSTVAGT, "scan", "--explain", str(tmp_path / "opaque.eml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "layer  smime-signed-opaque" in explain.stdout
