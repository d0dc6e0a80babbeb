"""Certificates for TLS tests, made by the real ``openssl`` command line: a CA, server and
client certificates it signs, and an unrelated second CA, all short-lived EC P-256 keys with
the extensions a strict verifier asks for (key identifiers, key usage, SAN)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certs:
    ca: Path
    """The PEM of "Testby Kommune CA", which signs ``server``, ``client`` and ``wrong_name``."""
    server: Pair
    """For the next hop: CN and SAN DNS:localhost."""
    client: Pair
    """For Postvagt: CN postvagt.kommune.example, clientAuth."""
    wrong_name: Pair
    """Signed by the right CA, but for DNS:wrong.example."""
    other_ca: Path
    """The PEM of "Other CA", unrelated to ``ca``."""
    other_server: Pair
    """DNS:localhost, signed by "Other CA"."""


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {result.stderr}")


def _key(folder: Path, name: str) -> Path:
    key = folder / f"{name}.key"
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(key),
        cwd=folder,
    )
    return key


def _ca(folder: Path, name: str, subject: str) -> Pair:
    key = _key(folder, name)
    cert = folder / f"{name}.pem"
    _openssl(
        "req", "-x509", "-new", "-key", str(key), "-days", "2", "-subj", f"/CN={subject}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        "-out", str(cert),
        cwd=folder,
    )  # fmt: skip
    return Pair(cert, key)


def _leaf(folder: Path, name: str, ca: Pair, common_name: str, dns: str, usage: str) -> Pair:
    key = _key(folder, name)
    request = folder / f"{name}.csr"
    cert = folder / f"{name}.pem"
    extensions = folder / f"{name}.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        f"extendedKeyUsage = {usage}\n"
        f"subjectAltName = DNS:{dns}\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    _openssl(
        "req",
        "-new",
        "-key",
        str(key),
        "-subj",
        f"/CN={common_name}",
        "-out",
        str(request),
        cwd=folder,
    )
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-set_serial", str(int.from_bytes(name.encode(), "big") % 2**63),
        "-days", "2", "-extfile", str(extensions), "-out", str(cert),
        cwd=folder,
    )  # fmt: skip
    return Pair(cert, key)


def make_certs(folder: Path) -> Certs:
    """Make every certificate and key in ``folder``, readable by every user (the postfix
    user among them): throwaway test keys only."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "ca", "Testby Kommune CA")
    other = _ca(folder, "other-ca", "Other CA")
    certs = Certs(
        ca=ca.cert,
        server=_leaf(folder, "server", ca, "localhost", "localhost", "serverAuth"),
        client=_leaf(
            folder,
            "client",
            ca,
            "postvagt.kommune.example",
            "postvagt.kommune.example",
            "clientAuth",
        ),
        wrong_name=_leaf(folder, "wrong", ca, "wrong.example", "wrong.example", "serverAuth"),
        other_ca=other.cert,
        other_server=_leaf(folder, "other-server", other, "localhost", "localhost", "serverAuth"),
    )
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return certs
