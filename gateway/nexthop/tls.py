"""TLS towards a next hop, named as Postfix names it (``smtp_tls_security_level``) so a mail
admin recognises the levels:

- ``none``: never STARTTLS (a next hop on loopback, where there is no network to protect);
- ``may``: STARTTLS when offered, cleartext when not offered or when the handshake fails;
- ``encrypt``: STARTTLS required, the certificate not checked;
- ``verify``: STARTTLS required, the certificate chain checked against ``ca`` (else the
  system's store) and the name against the next hop's host name.

TLS 1.2 is the floor for every level (shared/DOMAIN.md section 3). Where TLS is required and
cannot be had, ``TlsRequired`` is raised and the caller sends nothing: mail with personal
data never leaves in cleartext for want of a handshake. A client certificate (Exchange
Online's certificate-based connector, Postfix's ``smtpd_tls_req_ccert``) is offered with
every level but ``none``.
"""

from __future__ import annotations

import enum
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsLevel(enum.StrEnum):
    NONE = "none"
    MAY = "may"
    ENCRYPT = "encrypt"
    VERIFY = "verify"

    @property
    def required(self) -> bool:
        return self in (TlsLevel.ENCRYPT, TlsLevel.VERIFY)


class TlsRequired(Exception):
    """TLS is required towards this next hop and could not be had; the text says why."""


def default_level(host: str) -> TlsLevel:
    """``verify`` for a next hop on the network, ``none`` for one on loopback."""
    if host == "localhost":
        return TlsLevel.NONE
    try:
        return TlsLevel.NONE if ipaddress.ip_address(host).is_loopback else TlsLevel.VERIFY
    except ValueError:
        return TlsLevel.VERIFY


@dataclass(frozen=True)
class ClientTls:
    """How to talk TLS to one next hop: its level and the context (None for ``none``)."""

    level: TlsLevel
    context: ssl.SSLContext | None = None

    @property
    def required(self) -> bool:
        return self.level.required


def client_tls(
    level: TlsLevel,
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> ClientTls:
    """Build the context once, at start: a missing or unreadable CA, certificate or key
    stops the gateway there (OSError / ssl.SSLError), not at the first message."""
    if level is TlsLevel.NONE:
        return ClientTls(level)
    if level is TlsLevel.VERIFY:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    else:
        # Encryption without authentication, as Postfix's "may" and "encrypt": the
        # certificate is not checked, so a self-signed next hop still gets ciphertext.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(cert, key)
    return ClientTls(level, context)
