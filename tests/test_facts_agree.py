"""One source of facts (issue 16, part 4): the same messages through ``postvagt scan --json``
and a live ``postvagt run`` give the same signed / encrypted / signature_valid / unscanned /
rule. One gateway process for the whole corpus: crypto layers, plain and CPR mail, hostile
MIME, and a sample of the shared email-fuzz corpus."""

from __future__ import annotations

import json
import random
import smtplib
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, select

from gateway.rawmail import normalise_line_ends
from gateway.scan import sender_address
from gateway.store.tables import messages
from tests import crypto_mail, fictional
from tests.crypto_mail import as_message, forwarded, mixed, text
from tests.helpers import FUZZ_CORPUS, POSTVAGT, clean_env, start_gateway, stop
from tests.servers import free_port
from tests.test_fuzz import encoded_word_flood, rfc2231_content_type

MAILBOX = "borgerservice@kommune.example"
BODY = "Hej\nJeg sender mine oplysninger.\n"
FUZZ_SAMPLE = 30


def corpus(pki, gpg) -> dict[str, bytes]:
    number = fictional.cpr(random.Random(160))
    detached = crypto_mail.smime_entity(pki, text(BODY), "detached")
    pgp = crypto_mail.pgp_signed_entity(gpg, text(BODY))
    encrypted = crypto_mail.smime_entity(pki, text(BODY), "encrypted")
    cases = {
        "plain": as_message(text("Hvornår er der storskrald?\n")),
        "cpr": as_message(text(f"Mit CPR-nr. er {number}\n")),
        "smime-detached": crypto_mail.smime(pki, BODY, "detached"),
        "smime-opaque-cpr": crypto_mail.smime(pki, f"CPR-nr. {number}\n", "opaque"),
        "smime-encrypted": crypto_mail.smime(pki, BODY, "encrypted"),
        "signed-then-encrypted": crypto_mail.smime(pki, BODY, "signed-then-encrypted"),
        "opaque-around-encrypted": as_message(crypto_mail.smime_entity(pki, encrypted, "opaque")),
        "signed-in-mixed": as_message(mixed(text("Se vedhæftet.\n"), detached)),
        "forwarded-signed": as_message(
            mixed(
                text("Videresendt.\n"),
                forwarded(crypto_mail.crlf(crypto_mail.smime(pki, BODY, "detached"))),
            )
        ),
        "tampered-inner": as_message(
            mixed(text("Hej\n"), detached.replace(b"mine oplysninger", b"dine oplysninger"))
        ),
        "pgp-list-footer": as_message(mixed(pgp, text("-- \nListe-footer\n"))),
        "nested-signatures": as_message(crypto_mail.smime_entity(pki, pgp, "detached")),
        "pgp-encrypted": crypto_mail.pgp_mime_encrypted(gpg, BODY),
        "exchange-mangled": crypto_mail.exchange_mangled(gpg, BODY),
        "rfc2231-protocol": as_message(
            rfc2231_content_type(pgp, "protocol", "application/pgp-signature")
        ),
        "encoded-word-flood-to": encoded_word_flood("To", 3000)
        + b"From: borger@example.net\r\nSubject: Hej\r\n\r\nHej\r\n",
        "encoded-word-flood-from": encoded_word_flood("From", 3000)
        + f"To: {MAILBOX}\r\nSubject: Hej\r\n\r\nHej\r\n".encode(),
    }
    fuzz = sorted((FUZZ_CORPUS).glob("*.eml"))
    sendable = [p for p in fuzz if max(map(len, p.read_bytes().splitlines() or [b""])) < 990]
    for path in random.Random(16).sample(sendable, FUZZ_SAMPLE):
        cases[f"fuzz-{path.stem[:12]}"] = path.read_bytes()
    # Both sides see the bytes as they arrive over SMTP: CRLF line ends, a final CRLF.
    return {
        name: normalise_line_ends(raw if raw.endswith(b"\n") else raw + b"\r\n")
        for name, raw in cases.items()
    }


def test_scan_and_gateway_agree(pki, gpg, upstream, tmp_path: Path):
    cases = corpus(pki, gpg)
    folder = tmp_path / "eml"
    folder.mkdir()
    for name, raw in cases.items():
        (folder / f"{name}.eml").write_bytes(raw)
    env = {"POSTVAGT_SMIME_TRUST_STORE": str(pki.ca), "POSTVAGT_PGP_KEYRING": str(gpg.home)}
    scanned = subprocess.run(
        [*POSTVAGT, "scan", "--json", "--unauthenticated", "--rcpt", MAILBOX, str(folder)],
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in scanned.stderr
    by_scan = {}
    for line in map(json.loads, scanned.stdout.splitlines()):
        assert "error" not in line, line
        by_scan[Path(line["file"]).stem] = (
            line["signed"],
            line["encrypted"],
            line["signature_valid"],
            sorted(line.get("incomplete", [])),
            line["decision"]["rule"],
        )
    assert set(by_scan) == set(cases)

    data = tmp_path / "var"
    port = free_port()
    upstream_url = f"smtp://127.0.0.1:{upstream.port}"
    args = ["--upstream", upstream_url, "--domain", "kommune.example", "--data-dir", str(data)]
    proc = start_gateway(port, *args, env=env)
    try:
        for raw in cases.values():
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail(sender_address(raw, None), [MAILBOX], raw)
    finally:
        stop(proc)
    engine = create_engine(f"sqlite:///{data / 'postvagt.db'}")
    with engine.connect() as connection:
        rows = list(connection.execute(select(messages).order_by(messages.c.received_at)))
    engine.dispose()
    assert len(rows) == len(cases)
    by_gateway = {
        name: (
            row.protection.get("signed", False),
            row.protection.get("encrypted", False),
            row.protection.get("signature_valid"),
            sorted(row.unscanned),
            row.verdict["rule"],
        )
        for name, row in zip(cases, rows, strict=True)
    }
    differ = {n: (by_scan[n], by_gateway[n]) for n in cases if by_scan[n] != by_gateway[n]}
    assert not differ, differ
    expected = {
        "opaque-around-encrypted": (True, True, True, ["encrypted"], "encrypted"),
        "signed-in-mixed": (True, False, True, [], "ordinary-mail"),
        "tampered-inner": (True, False, False, [], "ordinary-mail"),
        # The ciphertext attachment is also an attachment the extractor cannot read.
        "exchange-mangled": (
            False,
            True,
            None,
            ["encrypted", "unsupported-attachment"],
            "encrypted",
        ),
        "rfc2231-protocol": (True, False, True, [], "ordinary-mail"),
        "encoded-word-flood-to": (False, False, None, [], "ordinary-mail"),
        "encoded-word-flood-from": (False, False, None, [], "ordinary-mail"),
    }
    assert {name: by_scan[name] for name in expected} == expected
