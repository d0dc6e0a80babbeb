"""`postvagt doctor`: check what the gateway needs, say what is missing and how to fix it.

Each check returns a ``Check``; none raises. It reads and connects, it changes nothing
(the database is not migrated: that is `postvagt db upgrade`).
"""

from __future__ import annotations

import os
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_policy(settings: Settings) -> Check:
    from gateway.decide.holder import PolicyHolder
    from gateway.decide.load import PolicyError

    try:
        holder = PolicyHolder(settings.policy, settings.slot.value)
    except PolicyError as e:
        return Check("policy", False, str(e).splitlines()[0], "postvagt policy check FILE")
    policy = holder.current
    return Check(
        "policy",
        True,
        f"{holder.path}: {len(policy.rules)} rules, {len(policy.mailboxes)} mailboxes",
    )


def check_database(settings: Settings) -> Check:
    from gateway.store import migrate
    from gateway.store.engine import make_engine

    try:
        engine = make_engine(settings.database, sqlite_synchronous=settings.sqlite_synchronous)
    except Exception as e:
        # The message may quote the URL, password included: its type only.
        return Check("database", False, type(e).__name__, "check database_url")
    url = engine.url.render_as_string(hide_password=True)
    try:
        if engine.dialect.name == "sqlite" and not Path(engine.url.database or "").exists():
            return Check("database", True, f"{url}: not created yet (made at first start)")
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
    except Exception as e:
        return Check("database", False, f"{url}: {type(e).__name__}", "is it running? trust/auth?")
    finally:
        engine.dispose()
    if current != head:
        return Check(
            "database",
            False,
            f"{url}: schema {current or 'none'}, this version needs {head}",
            "postvagt db upgrade (or start the gateway: it migrates)",
        )
    return Check("database", True, f"{url}: schema {current}")


def check_smtp(name: str, address: tuple[str, int] | None, hostname: str) -> Check:
    if address is None:
        return Check(name, True, "not set (Maildir under the data dir)")
    try:
        with smtplib.SMTP(address[0], address[1], timeout=10, local_hostname=hostname) as smtp:
            code, _ = smtp.ehlo()
    except (OSError, smtplib.SMTPException) as e:
        return Check(
            name, False, f"{address[0]}:{address[1]}: {e}", "is it running, and may we connect?"
        )
    return Check(name, code == 250, f"{address[0]}:{address[1]} answers EHLO with {code}")


def check_libmagic() -> Check:
    try:
        import magic

        kind = magic.from_buffer(b"%PDF-1.4\n", mime=True)
    except Exception as e:
        return Check("libmagic", False, type(e).__name__, "apt-get install libmagic1")
    return Check("libmagic", True, f"sniffs a PDF header as {kind}")


def check_tesseract() -> Check:
    if shutil.which("tesseract") is None:
        return Check(
            "tesseract",
            False,
            "not found: images and scanned PDFs stay unscanned",
            "apt-get install tesseract-ocr tesseract-ocr-dan tesseract-ocr-eng",
        )
    langs = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    missing = [lang for lang in ("dan", "eng") if lang not in langs]
    if missing:
        return Check(
            "tesseract",
            False,
            f"languages missing: {', '.join(missing)}",
            "apt-get install " + " ".join(f"tesseract-ocr-{m}" for m in missing),
        )
    return Check("tesseract", True, "with Danish and English")


def check_tool(name: str, package: str, why: str) -> Check:
    if shutil.which(name) is None:
        return Check(name, False, f"not found: {why}", f"apt-get install {package}")
    return Check(name, True, shutil.which(name) or name)


def check_tls(settings: Settings) -> Check:
    if settings.tls_cert is None:
        return Check("tls", True, "no certificate: STARTTLS not offered")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_cert, settings.tls_key
        )
    except (OSError, ssl.SSLError) as e:
        return Check("tls", False, f"{settings.tls_cert}: {e}", "a PEM certificate and its key")
    return Check("tls", True, f"{settings.tls_cert} loads")


def check_data_dir(settings: Settings) -> Check:
    folder = settings.data_dir
    probe = folder if folder.exists() else folder.parent
    if not os.access(probe, os.W_OK):
        return Check("data_dir", False, f"{folder}: not writable", "chown it to the service user")
    return Check("data_dir", True, f"{folder}")


def check_digital_post(settings: Settings, now: datetime | None = None) -> Check:
    """The OCES3 certificate for Serviceplatformen: in its validity period, and the key in
    the file is the certificate's own. Read locally; nothing is called."""
    path = settings.digital_post_certificate
    if path is None:
        return Check("digital post", True, "not set: no answers through Digital Post")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    fix = "a PEM file with the OCES3 certificate and its unencrypted key (see README)"
    try:
        data = path.read_bytes()
    except OSError as e:
        why = e.strerror or type(e).__name__
        return Check(
            "digital post",
            False,
            f"{path}: cannot be read ({why})",
            "run doctor as the user postvagt runs as (the file is 0600), and check the path",
        )
    try:
        certificate = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        return Check("digital post", False, f"{path}: {e}", fix)
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*public) != key.public_key().public_bytes(*public):
        return Check("digital post", False, f"{path}: the key is not the certificate's", fix)
    now = now or datetime.now(UTC)
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not start <= now <= end:
        when = f"valid {start:%Y-%m-%d} to {end:%Y-%m-%d}"
        return Check("digital post", False, f"{path}: {when}", "order a new one from KOMBIT")
    left = (end - now).days
    soon = f" — renew it, {left} days left" if left < 30 else ""
    where = settings.digital_post_base_url or settings.digital_post_environment
    return Check(
        "digital post",
        True,
        f"{path}: valid until {end:%Y-%m-%d}{soon}; CVR {settings.digital_post_cvr}, {where}; "
        f"physical mail {'on' if settings.digital_post_physical_mail else 'off'}",
    )


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        lambda: check_data_dir(settings),
        lambda: check_policy(settings),
        lambda: check_database(settings),
        lambda: check_smtp("upstream", settings.upstream_address, settings.hostname),
        lambda: (
            check_smtp("reply relay", settings.reply_relay_address, settings.hostname)
            if settings.reply_relay
            else Check(
                "reply relay",
                True,
                "not set: replies go through the upstream, which must relay them to the internet"
                if settings.upstream
                else "not set: replies are written to the Maildir data_dir/replies",
            )
        ),
        lambda: check_tls(settings),
        lambda: check_digital_post(settings),
        check_libmagic,
        check_tesseract,
        lambda: check_tool("openssl", "openssl", "S/MIME signatures are not verified"),
        lambda: check_tool("gpg", "gnupg", "PGP signatures are not verified"),
    ]
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as e:  # a check that breaks is itself a finding, never a traceback
            results.append(Check("check", False, f"{type(e).__name__}: {e}"))
    return results


def report(results: list[Check]) -> str:
    lines = []
    for r in results:
        lines.append(f"{'ok  ' if r.ok else 'FAIL'} {r.name:12} {r.detail}")
        if not r.ok and r.fix:
            lines.append(f"     {'':12} fix: {r.fix}")
    return "\n".join(lines)
