"""Signed or encrypted? Every layer of S/MIME and PGP a message carries, and whether its
signature holds.

Structure is read from the MIME tree, case-insensitively (RFC 1847, 3156, 8551); ambiguous
S/MIME blobs (no ``smime-type``, or ``smime.p7m`` sent as octet-stream) are decided by the CMS
content-type OID (asn1crypto parses, nothing is executed). Signatures are checked out of
process: S/MIME with ``openssl cms -verify`` on the bytes as received (integrity with the
certificate the message carries; trust only against the admin's PEM bundle, never web PKI),
PGP with ``gpg`` against the admin's keyring or keys attached to the message. A malformed
blob is "unverified" (None), never a crash. Encrypted content is never decrypted; the signed
content of an opaque S/MIME signature is unwrapped so it can be scanned.
"""

from __future__ import annotations

import email
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from pathlib import Path

from asn1crypto import cms

MAX_PARTS = 1000
TOOL_TIMEOUT = 15.0
TOOL_MEMORY = 512 * 1024 * 1024
TOOL_CPU_SECONDS = 10

PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
PKCS7_SIGNATURE = ("application/pkcs7-signature", "application/x-pkcs7-signature")
OID_KINDS = {
    "signed_data": "smime-signed-opaque",
    "enveloped_data": "smime-encrypted",
    "authenticated_enveloped_data": "smime-encrypted",
    "compressed_data": "smime-compressed",
}
SMIME_TYPES = {
    "signed-data": "smime-signed-opaque",
    "enveloped-data": "smime-encrypted",
    "authenveloped-data": "smime-encrypted",
    "compressed-data": "smime-compressed",
    "certs-only": "smime-certs-only",
}
SIGNED = {"smime-signed-detached", "smime-signed-opaque", "pgp-signed", "pgp-inline-signed"}
ENCRYPTED = {"smime-encrypted", "pgp-encrypted", "pgp-inline-encrypted"}
_PGP_SIGNED = re.compile(
    rb"-----BEGIN PGP SIGNED MESSAGE-----.*?-----END PGP SIGNATURE-----", re.DOTALL
)
_PGP_MESSAGE = b"-----BEGIN PGP MESSAGE-----"


@dataclass(frozen=True)
class Layer:
    kind: str
    part: str  # MIME path, "" for the message itself, "1.2" for a nested part
    signature_valid: bool | None = None
    signer_trusted: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class Protection:
    signed: bool = False
    encrypted: bool = False
    signature_valid: bool | None = None
    signer_trusted: bool | None = None
    layers: tuple[Layer, ...] = ()
    uninspected: tuple[str, ...] = ()
    unwrapped: tuple[bytes, ...] = field(default=(), repr=False)
    """Signed content taken out of opaque S/MIME blobs: to be scanned like the body."""


@dataclass(frozen=True)
class TrustConfig:
    smime_trust_store: Path | None = None  # PEM bundle of the roots the admin trusts
    pgp_keyring: Path | None = None  # a GnuPG home with the keys the admin trusts


def classify(raw: bytes, trust: TrustConfig = TrustConfig()) -> Protection:
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except RecursionError:  # nested deeper than the stdlib parser recurses
        return Protection(uninspected=("message: MIME nesting too deep to inspect",))
    layers: list[Layer] = []
    uninspected: list[str] = []
    unwrapped: list[bytes] = []
    for path, part in _walk(message):
        kind = _kind(part)
        if kind is None:
            continue
        layer = Layer(kind, path)
        if kind == "smime-signed-detached":
            layer = _smime_layer(layer, raw if path == "" else None, trust, unwrapped)
        elif kind == "smime-signed-opaque":
            layer = _smime_layer(layer, _entity_bytes(part, path, raw), trust, unwrapped)
        elif kind == "pgp-signed":
            layer = _pgp_mime_layer(layer, part, raw if path == "" else None, trust)
        elif kind == "pgp-inline-signed":
            layer = _pgp_inline_layer(layer, part, trust)
        if kind in ENCRYPTED:
            uninspected.append(f"{path or 'message'}: encrypted, not scanned")
        layers.append(layer)
    signatures = [layer for layer in layers if layer.kind in SIGNED]
    return Protection(
        signed=bool(signatures),
        encrypted=any(layer.kind in ENCRYPTED for layer in layers),
        signature_valid=_all(layer.signature_valid for layer in signatures),
        signer_trusted=_all(layer.signer_trusted for layer in signatures),
        layers=tuple(layers),
        uninspected=tuple(uninspected),
        unwrapped=tuple(unwrapped),
    )


def _all(values: object) -> bool | None:
    """False if any is False, True if all are True, else None (not checked)."""
    seen = list(values)  # type: ignore[call-overload]
    if not seen or any(v is None for v in seen):
        return False if False in seen else None
    return all(seen)


def _walk(message: Message) -> list[tuple[str, Message]]:
    out: list[tuple[str, Message]] = []
    stack: list[tuple[str, Message]] = [("", message)]
    while stack and len(out) < MAX_PARTS:
        path, part = stack.pop()
        out.append((path, part))
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                for i in range(len(children) - 1, -1, -1):
                    stack.append((f"{path}.{i + 1}".lstrip("."), children[i]))
    return out


def _kind(part: Message) -> str | None:
    content_type = part.get_content_type()
    protocol = (part.get_param("protocol") or "").lower()
    if content_type == "multipart/signed":
        if protocol in PKCS7_SIGNATURE:
            return "smime-signed-detached"
        if protocol == "application/pgp-signature":
            return "pgp-signed"
        return "unknown-signed"
    if content_type == "multipart/encrypted":
        return "pgp-encrypted" if protocol == "application/pgp-encrypted" else "unknown-encrypted"
    filename = (part.get_filename() or "").lower()
    if content_type in PKCS7_MIME or (
        content_type == "application/octet-stream" and filename.endswith(".p7m")
    ):
        smime_type = str(part.get_param("smime-type") or "").lower()
        if smime_type in SMIME_TYPES:
            return SMIME_TYPES[smime_type]
        return _kind_from_oid(part)
    if content_type in ("text/plain", "text/html") and not part.is_multipart():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            if b"-----BEGIN PGP SIGNED MESSAGE-----" in payload:
                return "pgp-inline-signed"
            if _PGP_MESSAGE in payload:
                return "pgp-inline-encrypted"
    return None


def _kind_from_oid(part: Message) -> str:
    payload = part.get_payload(decode=True)
    try:
        content_type = cms.ContentInfo.load(payload)["content_type"].native
    except Exception:  # asn1crypto raises many types for garbage
        return "smime-unreadable"
    return OID_KINDS.get(content_type, "smime-unreadable")


def _entity_bytes(part: Message, path: str, raw: bytes) -> bytes:
    # The whole message as received when the blob is the message itself; a nested entity is
    # re-serialised, which is fine for an opaque blob (its signature covers its inside only).
    return raw if path == "" else part.as_bytes()


# -- S/MIME ------------------------------------------------------------------------------------


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (TOOL_MEMORY, TOOL_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (TOOL_CPU_SECONDS, TOOL_CPU_SECONDS))


def _run(args: list[str], cwd: str) -> int | None:
    """Run a verifier; its exit status, or None if it could not be run or ran too long."""
    try:
        result = subprocess.run(
            args, cwd=cwd, capture_output=True, timeout=TOOL_TIMEOUT, preexec_fn=_limits
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.returncode


def _smime_layer(
    layer: Layer, entity: bytes | None, trust: TrustConfig, unwrapped: list[bytes]
) -> Layer:
    if entity is None:
        return Layer(layer.kind, layer.part, note="nested signature: not checked")
    if shutil.which("openssl") is None:
        return Layer(layer.kind, layer.part, note="openssl missing: not checked")
    with tempfile.TemporaryDirectory(prefix="postvagt-cms-") as folder:
        Path(folder, "in.eml").write_bytes(entity)

        def cms_verify(*options: str) -> bool | None:
            # openssl cms: 0 verified, 4 verification failure, 2/3 unreadable input.
            status = _run(
                ["openssl", "cms", "-verify", "-inform", "SMIME", "-in", "in.eml", *options],
                folder,
            )
            return {0: True, 4: False}.get(status) if status is not None else None

        valid = cms_verify("-noverify", "-out", "content.eml")
        content = Path(folder, "content.eml")
        if valid is not None and layer.kind == "smime-signed-opaque" and content.exists():
            unwrapped.append(content.read_bytes())
        trusted = None
        if valid and trust.smime_trust_store is not None:
            trusted = cms_verify(
                "-CAfile",
                str(trust.smime_trust_store),
                "-purpose",
                "smimesign",
                "-out",
                "/dev/null",
            )
    note = "" if valid is not None else "signature unreadable: unverified"
    return Layer(layer.kind, layer.part, valid, trusted, note)


# -- PGP ---------------------------------------------------------------------------------------


def _boundary_parts(raw: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body exactly as received (RFC 2046 delimiters, CRLF or LF)."""
    delimiter = re.escape(b"--" + boundary.encode())
    pieces = re.split(rb"(?:\r?\n|^)" + delimiter + rb"(?:--)?[ \t]*(?:\r?\n|$)", raw)
    return pieces[1:-1]


def _gpg_verify(
    signature: bytes,
    data: bytes | None,
    keys: list[bytes],
    trust: TrustConfig,
) -> tuple[bool | None, bool | None]:
    if shutil.which("gpg") is None:
        return None, None
    with tempfile.TemporaryDirectory(prefix="postvagt-gpg-") as folder:
        home = Path(folder, "home")
        home.mkdir(mode=0o700)
        trusted_home = trust.pgp_keyring
        results = []
        for gnupghome, extra_keys in ((trusted_home, []), (home, keys)):
            if gnupghome is None:
                continue
            for i, key in enumerate(extra_keys):
                Path(folder, f"key{i}.asc").write_bytes(key)
                _run(
                    ["gpg", "--homedir", str(gnupghome), "--batch", "--import", f"key{i}.asc"],
                    folder,
                )
            Path(folder, "sig.asc").write_bytes(signature)
            args = [
                "gpg",
                "--homedir",
                str(gnupghome),
                "--batch",
                "--status-fd",
                "1",
                "--verify",
                "sig.asc",
            ]
            if data is not None:
                Path(folder, "data").write_bytes(data)
                args.append("data")
            try:
                out = subprocess.run(
                    args, cwd=folder, capture_output=True, timeout=TOOL_TIMEOUT, preexec_fn=_limits
                ).stdout
            except (OSError, subprocess.TimeoutExpired):
                results.append(None)
                continue
            if b"[GNUPG:] GOODSIG" in out:
                results.append(True)
            elif b"[GNUPG:] BADSIG" in out:
                results.append(False)
            else:
                results.append(None)  # no key, unreadable: unverified
        valid = next((r for r in results if r is not None), None)
        trusted = None
        if trusted_home is not None and valid is not None:
            trusted = results[0] is True
        return valid, trusted


def _attached_keys(part: Message) -> list[bytes]:
    keys = []
    for sub in part.walk():
        if sub.get_content_type() == "application/pgp-keys":
            payload = sub.get_payload(decode=True)
            if isinstance(payload, bytes):
                keys.append(payload)
    return keys


def _pgp_mime_layer(layer: Layer, part: Message, raw: bytes | None, trust: TrustConfig) -> Layer:
    boundary = part.get_boundary()
    if raw is None or boundary is None:
        return Layer(layer.kind, layer.part, note="nested signature: not checked")
    body = raw.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[-1]
    pieces = _boundary_parts(body, boundary)
    children = part.get_payload()
    if len(pieces) != 2 or not isinstance(children, list) or len(children) != 2:
        return Layer(layer.kind, layer.part, note="malformed multipart/signed: unverified")
    # RFC 3156: the signature covers the first part with CRLF line ends.
    signed = re.sub(rb"\r?\n", b"\r\n", pieces[0])
    signature = children[1].get_payload(decode=True) or b""
    valid, trusted = _gpg_verify(signature, signed, _attached_keys(part), trust)
    return Layer(layer.kind, layer.part, valid, trusted)


def _pgp_inline_layer(layer: Layer, part: Message, trust: TrustConfig) -> Layer:
    payload = part.get_payload(decode=True)
    block = _PGP_SIGNED.search(payload) if isinstance(payload, bytes) else None
    if block is None:
        return Layer(layer.kind, layer.part, note="malformed clear-signed text: unverified")
    valid, trusted = _gpg_verify(block.group(), None, [], trust)
    return Layer(layer.kind, layer.part, valid, trusted)


def protection_from_structure(raw: bytes) -> Protection:
    """Classification without a trust store (integrity is still checked)."""
    return classify(raw)
