"""One source of facts (issue 16, part 4; issue 20, part 5): the same messages through
``postvagt scan --json`` and a live ``postvagt run`` give the same signed / encrypted /
signature_valid / unscanned / rule, and the same auto-reply or the same reason for none. One
gateway process for the whole corpus: crypto layers, plain and CPR mail, robots, lists and
bounces (RFC 3834), hostile MIME, and a sample of the email-fuzz corpus. Most messages carry
a trusted server's Authentication-Results (spf=pass), so that the reply is decided by
everything else; a few carry none, and both sides suppress their reply."""

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
TRUSTED = "mx.kommune.example"
TRUSTED_SPF_PASS = (
    f"Authentication-Results: {TRUSTED}; spf=pass smtp.mailfrom=example.net\r\n".encode()
)
UNAUTHENTICATED = {"plain", "cpr-other-sender", "smime-opaque-cpr"}
SCAN_CANNOT_KNOW = ("already answered within", "hourly cap")


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
    robots = {
        "bounce": "Return-Path: <>\r\nContent-Type: multipart/report; report-type=x\r\n",
        "vacation": "Auto-Submitted: auto-replied\r\n",
        "x-autoreply": "X-Autoreply: yes\r\n",
        "out-of-office-subject": "Subject: Autosvar: Fraværende\r\n",
        "list": "List-Id: <nyheder.example.net>\r\n",
        "precedence-bulk": "Precedence: bulk\r\n",
        "noreply-sender": "Return-Path: <noreply@example.net>\r\n",
        "exchange-suppress": "X-Auto-Response-Suppress: OOF\r\n",
    }
    for name, head in robots.items():
        cases[name] = head.encode() + as_message(text(f"Mit CPR-nr. er {number}\n"))
    cases["cpr-other-sender"] = b"Return-Path: <anden@example.org>\r\n" + cases["cpr"]
    fuzz = sorted((FUZZ_CORPUS).glob("*.eml"))
    sendable = [p for p in fuzz if max(map(len, p.read_bytes().splitlines() or [b""])) < 990]
    for path in random.Random(16).sample(sendable, FUZZ_SAMPLE):
        cases[f"fuzz-{path.stem[:12]}"] = path.read_bytes()
    # A trusted server's verdict on top, except on a few: their senders count as unchecked.
    for name in cases:
        if name not in UNAUTHENTICATED:
            cases[name] = TRUSTED_SPF_PASS + cases[name]
    # Both sides see the bytes as they arrive over SMTP: CRLF line ends, a final CRLF.
    return {
        name: normalise_line_ends(raw if raw.endswith(b"\n") else raw + b"\r\n")
        for name, raw in cases.items()
    }


def gateway_reply(state: str | None, reason: str | None) -> tuple[bool, str | None]:
    """The record's reply as scan predicts it: once per sender and period and the hourly
    cap are the store's to know, so a reply they stopped counts as one scan would send."""
    if state in ("queued", "sent"):
        return True, None
    if state == "suppressed" and reason and reason.startswith(SCAN_CANNOT_KNOW):
        return True, None
    return False, reason if state == "suppressed" else None


def test_scan_and_gateway_agree(pki, gpg, upstream, tmp_path: Path):
    cases = corpus(pki, gpg)
    folder = tmp_path / "eml"
    folder.mkdir()
    for name, raw in cases.items():
        (folder / f"{name}.eml").write_bytes(raw)
    env = {
        "POSTVAGT_SMIME_TRUST_STORE": str(pki.ca),
        "POSTVAGT_PGP_KEYRING": str(gpg.home),
        "POSTVAGT_TRUSTED_AUTHSERV_IDS": TRUSTED,
    }
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
            (line["decision"]["reply"], line["decision"]["reply_suppressed"]),
        )
    assert set(by_scan) == set(cases)

    data = tmp_path / "var"
    port = free_port()
    upstream_url = f"smtp://127.0.0.1:{upstream.port}"
    args = ["--upstream", upstream_url, "--domain", "kommune.example", "--data-dir", str(data)]
    # Behind a trusted server (its Authentication-Results are believed), as in production.
    args += ["--slot", "before-queue"]
    proc = start_gateway(port, *args, env={**env, "POSTVAGT_SENDER_CHECKS": "true"})
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
            gateway_reply(row.reply_state, row.reply_reason),
        )
        for name, row in zip(cases, rows, strict=True)
    }
    differ = {n: (by_scan[n], by_gateway[n]) for n in cases if by_scan[n] != by_gateway[n]}
    assert not differ, differ
    none = (False, None)
    expected = {
        "opaque-around-encrypted": (True, True, True, ["encrypted"], "encrypted", none),
        "signed-in-mixed": (True, False, True, [], "ordinary-mail", none),
        "tampered-inner": (True, False, False, [], "ordinary-mail", none),
        # The ciphertext attachment is also an attachment the extractor cannot read.
        "exchange-mangled": (
            False,
            True,
            None,
            ["encrypted", "unsupported-attachment"],
            "encrypted",
            none,
        ),
        "rfc2231-protocol": (True, False, True, [], "ordinary-mail", none),
        "encoded-word-flood-to": (False, False, None, [], "ordinary-mail", none),
        "encoded-word-flood-from": (False, False, None, [], "ordinary-mail", none),
    }
    assert {name: by_scan[name] for name in expected} == expected
    unchecked = "sender authentication not checked (SPF or DMARC pass needed)"
    replies = {
        "cpr": (True, None),
        "bounce": (False, "null envelope sender"),
        "vacation": (False, "Auto-Submitted: auto-replied"),
        "x-autoreply": (False, "automatic reply (X-Autoreply)"),
        "out-of-office-subject": (False, "automatic reply (Subject)"),
        "list": (False, "mailing list"),
        "precedence-bulk": (False, "Precedence: bulk"),
        "noreply-sender": (False, "automatic sender"),
        "exchange-suppress": (False, "X-Auto-Response-Suppress"),
        "cpr-other-sender": (False, unchecked),
        "smime-opaque-cpr": (False, unchecked),
    }
    assert {name: by_scan[name][-1] for name in replies} == replies
