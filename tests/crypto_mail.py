"""Signed and encrypted mail made by the real tools (openssl, gpg) at test time, with a
throwaway CA, user certificate and PGP key. Nothing here is reused outside the test run."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


def run(args: list[str], cwd: Path, stdin: bytes | None = None, env: dict | None = None) -> bytes:
    result = subprocess.run(
        args, cwd=cwd, input=stdin, capture_output=True, check=False, env=env, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {result.stderr.decode()[:500]}")
    return result.stdout


@dataclass
class Pki:
    folder: Path
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not issue the signer's certificate


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ext.cnf").write_text(
        "[usr]\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=emailProtection\nsubjectAltName=email:borger@example.net\n"
    )
    for name in ("ca", "other"):
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN=Test {name} CA",
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            folder,
        )
    run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=Borger Test",
            "-keyout",
            "user.key",
            "-out",
            "user.csr",
        ],
        folder,
    )
    run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            "user.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "usr",
            "-out",
            "user.pem",
        ],
        folder,
    )
    return Pki(
        folder, folder / "ca.pem", folder / "user.pem", folder / "user.key", folder / "other.pem"
    )


def inner_entity(body: str) -> bytes:
    return (
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.replace("\n", "\r\n")
    ).encode()


HEADERS = (
    b"From: borger@example.net\r\nTo: borgerservice@kommune.example\r\n"
    b"Subject: Sikker mail\r\nMessage-ID: <signed-%d@example.net>\r\n"
)


def smime(pki: Pki, body: str, mode: str, tool: str = "cms") -> bytes:
    """mode: detached, opaque, encrypted, signed-then-encrypted. tool: cms or smime (legacy
    x-pkcs7 content types)."""
    folder = pki.folder
    (folder / "inner.eml").write_bytes(inner_entity(body))
    if mode in ("detached", "opaque", "signed-then-encrypted"):
        args = [
            "openssl",
            tool,
            "-sign",
            "-in",
            "inner.eml",
            "-signer",
            str(pki.cert),
            "-inkey",
            str(pki.key),
            "-out",
            "signed.eml",
        ]
        if mode == "opaque":
            args.append("-nodetach")
        run(args, folder)
        source = "signed.eml"
    else:
        source = "inner.eml"
    if mode in ("encrypted", "signed-then-encrypted"):
        run(
            [
                "openssl",
                tool,
                "-encrypt",
                "-aes256",
                "-in",
                source,
                "-out",
                "enc.eml",
                str(pki.cert),
            ],
            folder,
        )
        source = "enc.eml"
    return HEADERS % os.getpid() + (folder / source).read_bytes()


@dataclass
class Gpg:
    home: Path
    env: dict

    def run(self, args: list[str], stdin: bytes) -> bytes:
        return run(
            [
                "gpg",
                "--homedir",
                str(self.home),
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                *args,
            ],
            self.home,
            stdin=stdin,
            env=self.env,
        )


def make_gpg(folder: Path) -> Gpg:
    home = folder / "gnupg"
    home.mkdir(mode=0o700, parents=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = Gpg(home, env)
    gpg.run(
        ["--quick-gen-key", "Borger Test <borger@example.net>", "rsa2048", "sign,encr", "1d"], b""
    )
    return gpg


def pgp_mime_signed(gpg: Gpg, body: str) -> bytes:
    signed = inner_entity(body)
    signature = gpg.run(["--armor", "--detach-sign", "--digest-algo", "SHA256"], signed)
    boundary = "pvsig"
    return (
        HEADERS % os.getpid()
        + b"MIME-Version: 1.0\r\nContent-Type: multipart/signed; micalg=pgp-sha256;\r\n"
        + b'\tprotocol="application/pgp-signature"; boundary="'
        + boundary.encode()
        + b'"\r\n\r\n'
        + b"--"
        + boundary.encode()
        + b"\r\n"
        + signed
        + b"\r\n"
        + b"--"
        + boundary.encode()
        + b"\r\nContent-Type: application/pgp-signature\r\n\r\n"
        + signature.replace(b"\n", b"\r\n")
        + b"\r\n--"
        + boundary.encode()
        + b"--\r\n"
    )


def pgp_mime_encrypted(gpg: Gpg, body: str) -> bytes:
    encrypted = gpg.run(
        ["--armor", "--encrypt", "--recipient", "borger@example.net"], inner_entity(body)
    )
    return (
        HEADERS % os.getpid()
        + b"MIME-Version: 1.0\r\nContent-Type: multipart/encrypted;\r\n"
        + b'\tprotocol="application/pgp-encrypted"; boundary="pvenc"\r\n\r\n'
        + b"--pvenc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        + b"--pvenc\r\nContent-Type: application/octet-stream\r\n\r\n"
        + encrypted.replace(b"\n", b"\r\n")
        + b"\r\n--pvenc--\r\n"
    )


def pgp_inline(gpg: Gpg, body: str, mode: str) -> bytes:
    args = (
        ["--clearsign"]
        if mode == "signed"
        else ["--armor", "--encrypt", "--recipient", "borger@example.net"]
    )
    text = gpg.run(args, body.encode())
    return (
        HEADERS % os.getpid()
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + text.replace(b"\n", b"\r\n")
    )


def export_key(gpg: Gpg) -> bytes:
    return gpg.run(["--armor", "--export", "borger@example.net"], b"")


def dkim_key(folder: Path) -> tuple[bytes, bytes]:
    """A 2048-bit RSA key for DKIM and its DNS TXT record (openssl)."""
    import base64

    key = folder / "dkim.key"
    run(["openssl", "genrsa", "-out", str(key), "2048"], folder)
    public = run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], folder)
    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


# -- layers below the top: entities to nest, and the tools' own verdicts on them -------------


def crlf(data: bytes) -> bytes:
    """Every line end as CRLF, as any SMTP hop sends it (openssl writes bare LFs)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def smime_entity(pki: Pki, inner: bytes, mode: str) -> bytes:
    """A MIME entity (headers and body, no message headers) that signs (detached, opaque)
    or encrypts (encrypted) the entity ``inner``."""
    folder = pki.folder
    (folder / "entity-in.eml").write_bytes(inner)
    if mode == "encrypted":
        args = ["openssl", "cms", "-encrypt", "-aes256", "-in", "entity-in.eml"]
        args += ["-out", "entity-out.eml", str(pki.cert)]
    else:
        args = ["openssl", "cms", "-sign", "-in", "entity-in.eml", "-signer", str(pki.cert)]
        args += ["-inkey", str(pki.key), "-out", "entity-out.eml"]
        if mode == "opaque":
            args.append("-nodetach")
        else:
            args.append("-binary")  # the content is already canonical (CRLF)
    run(args, folder)
    return crlf((folder / "entity-out.eml").read_bytes())


def pgp_signed_entity(gpg: Gpg, inner: bytes, boundary: str = "pvsig") -> bytes:
    """A PGP/MIME multipart/signed entity over ``inner`` (RFC 3156 §5)."""
    signature = gpg.run(["--armor", "--detach-sign", "--digest-algo", "SHA256"], crlf(inner))
    return (
        b"Content-Type: multipart/signed; micalg=pgp-sha256;\r\n"
        + b'\tprotocol="application/pgp-signature"; boundary="'
        + boundary.encode()
        + b'"\r\n\r\n--'
        + boundary.encode()
        + b"\r\n"
        + crlf(inner)
        + b"\r\n--"
        + boundary.encode()
        + b"\r\nContent-Type: application/pgp-signature\r\n\r\n"
        + crlf(signature)
        + b"\r\n--"
        + boundary.encode()
        + b"--\r\n"
    )


def mixed(*entities: bytes, boundary: str = "pvmix") -> bytes:
    """A multipart/mixed entity of the given entities, each exactly as given."""
    out = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    for entity in entities:
        out += b"--" + boundary.encode() + b"\r\n" + entity + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


def forwarded(message: bytes) -> bytes:
    """A message/rfc822 entity carrying a whole message (a forward as attachment)."""
    return (
        b'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"'
        + b"\r\n\r\n"
        + message
    )


def text(body: str) -> bytes:
    return inner_entity(body)


def as_message(entity: bytes) -> bytes:
    """Message headers in front of an entity: a whole message."""
    return HEADERS % os.getpid() + b"MIME-Version: 1.0\r\n" + entity


def openssl_verifies(entity: bytes, folder: Path) -> bool:
    """``openssl cms -verify`` run directly on one S/MIME entity as received."""
    (folder / "direct.eml").write_bytes(entity)
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-noverify", "-in", "direct.eml", "-out", "/dev/null"],
        cwd=folder,
        capture_output=True,
        timeout=60,
    )
    return result.returncode == 0


def gpg_verifies(gpg: Gpg, signature: bytes, data: bytes) -> bool:
    """``gpg --verify`` run directly on a detached signature and the bytes it covers."""
    (gpg.home / "direct.sig").write_bytes(signature)
    (gpg.home / "direct.data").write_bytes(data)
    result = subprocess.run(
        ["gpg", "--homedir", str(gpg.home), "--batch", "--verify", "direct.sig", "direct.data"],
        cwd=gpg.home,
        capture_output=True,
        env=gpg.env,
        timeout=60,
    )
    return result.returncode == 0


def exchange_mangled(gpg: Gpg, body: str) -> bytes:
    """PGP/MIME as Exchange rewrites it: multipart/mixed, an empty text part, the version
    part and the ciphertext as encrypted.asc."""
    encrypted = gpg.run(
        ["--armor", "--encrypt", "--recipient", "borger@example.net"], inner_entity(body)
    )
    return as_message(
        mixed(
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
            b'Content-Type: application/pgp-encrypted; name="PGPMIME version identification"'
            + b"\r\nContent-Disposition: attachment\r\n\r\nVersion: 1\r\n",
            b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
            + b'Content-Disposition: attachment; filename="encrypted.asc"\r\n\r\n'
            + crlf(encrypted),
        )
    )
