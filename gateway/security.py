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

import base64
import binascii
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from email.message import Message
from pathlib import Path

from asn1crypto import cms

from gateway.model import Layer, Protection
from gateway.rawmail import child_parts, header_block_end, header_param, parse_message

MAX_PARTS = 1000
MAX_CHECKS = 20
"""Signatures checked per message (each is a subprocess); more are listed, not checked."""
MAX_UNWRAP = 4
"""Opaque S/MIME blobs unwrapped inside one another."""
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
# At the start of a line: quoted in a reply ("> -----BEGIN …") it is neither.
_PGP_SIGNED = re.compile(
    rb"^-----BEGIN PGP SIGNED MESSAGE-----.*?^-----END PGP SIGNATURE-----",
    re.DOTALL | re.MULTILINE,
)
_PGP_SIGNED_START = re.compile(rb"^-----BEGIN PGP SIGNED MESSAGE-----", re.MULTILINE)
_PGP_MESSAGE = re.compile(rb"^-----BEGIN PGP MESSAGE-----", re.MULTILINE)


@dataclass(frozen=True)
class TrustConfig:
    smime_trust_store: Path | None = None  # PEM bundle of the roots the admin trusts
    pgp_keyring: Path | None = None  # a GnuPG home with the keys the admin trusts


def classify(
    raw: bytes, trust: TrustConfig = TrustConfig(), parsed: Message | None = None
) -> Protection:
    """Every protection layer of the message, at any depth, each signature checked against
    the bytes of its own part; signed content inside opaque S/MIME blobs is unwrapped and
    classified in turn (so signed-then-encrypted reads as encrypted). ``parsed``: the
    message already parsed from ``raw`` (rawmail.parse_message), so it is parsed once."""
    state = _State(trust)
    if not _classify_into(raw, "", state, 0, parsed):
        return Protection(uninspected=("message: MIME nesting too deep to inspect",))
    signatures = [layer for layer in state.layers if layer.kind in SIGNED]
    return Protection(
        signed=bool(signatures),
        encrypted=any(layer.kind in ENCRYPTED for layer in state.layers),
        signature_valid=_all(layer.signature_valid for layer in signatures),
        signer_trusted=_all(layer.signer_trusted for layer in signatures),
        layers=tuple(state.layers),
        uninspected=tuple(state.uninspected),
        unwrapped=tuple(state.unwrapped),
    )


@dataclass
class _State:
    trust: TrustConfig
    layers: list[Layer] = field(default_factory=list)
    uninspected: list[str] = field(default_factory=list)
    unwrapped: list[bytes] = field(default_factory=list)
    checks: int = 0

    def may_check(self) -> bool:
        """Each check is a subprocess: at most MAX_CHECKS per message."""
        self.checks += 1
        return self.checks <= MAX_CHECKS


def _classify_into(
    raw: bytes, prefix: str, state: _State, depth: int, parsed: Message | None = None
) -> bool:
    try:
        message = parsed if parsed is not None else parse_message(raw)
    except RecursionError:  # nested deeper than the stdlib parser recurses
        if depth == 0:
            return False
        state.uninspected.append(f"{prefix}: MIME nesting too deep to inspect")
        return True
    tree = _Tree(message, raw)
    for path, part in tree.parts:
        where = _join(prefix, path)
        try:
            kind = _kind(part)
        except Exception:  # the stdlib's readers of odd MIME raise many types
            state.uninspected.append(f"{where or 'message'}: MIME part unreadable")
            continue
        if kind is None:
            continue
        layer = Layer(kind, where)
        content: bytes | None = None
        if kind not in SIGNED:
            pass
        elif not state.may_check():
            layer = replace(layer, note=f"more than {MAX_CHECKS} signatures: not checked")
        elif kind == "smime-signed-detached":
            layer = _smime_detached_layer(layer, part, tree, path, state.trust)
        elif kind == "smime-signed-opaque":
            layer, content = _smime_opaque_layer(layer, part, state.trust)
        elif kind == "pgp-signed":
            layer = _pgp_mime_layer(layer, part, tree, path, state.trust)
        elif kind == "pgp-inline-signed":
            layer = _pgp_inline_layer(layer, part, tree.root, state.trust)
        if kind in ENCRYPTED:
            state.uninspected.append(f"{where or 'message'}: encrypted, not scanned")
        state.layers.append(layer)
        if content is not None:
            state.unwrapped.append(content)
            if depth + 1 >= MAX_UNWRAP:
                state.uninspected.append(f"{where or 'message'}: signed content nested too deep")
            else:
                _classify_into(content, f"{where or 'message'}>", state, depth + 1)
    return True


def _join(prefix: str, path: str) -> str:
    """Where a part is: "1.2" in the message, "message>1" inside the opaque blob that is
    the message, "2>1.1" inside the blob at part 2."""
    return prefix + path


def _all(values: object) -> bool | None:
    """False if any is False; else True if any was checked (every checked one holds); None
    only when none could be checked."""
    seen = list(values)  # type: ignore[call-overload]
    if False in seen:
        return False
    return True if True in seen else None


class _Tree:
    """The parts of a message and, on demand, each part's bytes exactly as received.

    The stdlib parser keeps no offsets, so a part's bytes are cut from its parent's body
    along the boundary delimiters (RFC 2046), the way the signer's tool saw them. Where the
    cut does not give the parser's number of parts, the bytes are unknown (None)."""

    def __init__(self, message: Message, raw: bytes) -> None:
        self.root = message
        self.parts: list[tuple[str, Message]] = []
        self._by_path: dict[str, Message] = {}
        self._raw: dict[str, bytes | None] = {"": raw}
        stack: list[tuple[str, Message]] = [("", message)]
        while stack and len(self.parts) < MAX_PARTS:
            path, part = stack.pop()
            self.parts.append((path, part))
            self._by_path[path] = part
            if part.is_multipart():
                children = child_parts(part)
                if children is not None:
                    for i in range(len(children) - 1, -1, -1):
                        stack.append((f"{path}.{i + 1}".lstrip("."), children[i]))

    def entity(self, path: str) -> bytes | None:
        """The bytes of the part at ``path`` (headers and body) as received, or None."""
        steps = path.split(".") if path else []
        for depth in range(1, len(steps) + 1):  # each ancestor's parts, top down
            parent = ".".join(steps[: depth - 1])
            if ".".join(steps[:depth]) not in self._raw:
                self._cut(parent)
        return self._raw.get(path)

    def _cut(self, parent: str) -> None:
        part = self._by_path.get(parent)
        parent_raw = self._raw.get(parent)
        children = child_parts(part) if part is not None else None
        if part is None or children is None:
            return
        pieces = _child_entities(part, parent_raw) if parent_raw is not None else None
        fits = pieces is not None and len(pieces) == len(children)
        for i in range(len(children)):
            child = f"{parent}.{i + 1}".lstrip(".")
            self._raw[child] = pieces[i] if fits and pieces is not None else None


def _child_entities(part: Message, raw: bytes) -> list[bytes] | None:
    body = raw[header_block_end(raw) :]
    body = body[2:] if body.startswith(b"\r\n") else body[1:] if body.startswith(b"\n") else body
    if part.get_content_maintype() == "message":
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding in ("base64", "quoted-printable"):
            decoded = part.get_payload(decode=True)  # the inner message is re-read from this
            return None if not isinstance(decoded, bytes) else [decoded]
        return [body]
    boundary = part.get_boundary()
    return _boundary_parts(body, boundary) if boundary else None


def _kind(part: Message) -> str | None:
    content_type = part.get_content_type()
    protocol = (header_param(part, "protocol") or "").strip().lower()
    if content_type == "multipart/signed":
        if protocol in PKCS7_SIGNATURE:
            return "smime-signed-detached"
        if protocol == "application/pgp-signature":
            return "pgp-signed"
        return "unknown-signed"
    if content_type == "multipart/encrypted":
        return "pgp-encrypted" if protocol == "application/pgp-encrypted" else "unknown-encrypted"
    if content_type == "multipart/mixed" and _exchange_mangled_pgp(part):
        return "pgp-encrypted"
    filename = (part.get_filename() or "").lower()
    if content_type in PKCS7_MIME or (
        content_type == "application/octet-stream" and filename.endswith(".p7m")
    ):
        smime_type = (header_param(part, "smime-type") or "").strip().lower()
        if smime_type in SMIME_TYPES:
            return SMIME_TYPES[smime_type]
        return _kind_from_oid(part)
    if content_type in ("text/plain", "text/html") and not part.is_multipart():
        payload = part.get_payload(decode=True)
        # The armour line first, at C speed: a line-anchored search tries every position
        # (0.9 ms per 100 KB of ordinary text, bench/stages.py).
        if isinstance(payload, bytes) and b"-----BEGIN PGP " in payload:
            if _PGP_SIGNED_START.search(payload):
                return "pgp-inline-signed"
            if _PGP_MESSAGE.search(payload):
                return "pgp-inline-encrypted"
    return None


def _exchange_mangled_pgp(part: Message) -> bool:
    """Exchange rewrites PGP/MIME's multipart/encrypted as multipart/mixed: an optional empty
    text part, the application/pgp-encrypted version part, then the ciphertext as an
    attachment (encrypted.asc). Thunderbird and Enigmail repair it; we read it as encrypted."""
    children = child_parts(part)
    if children is None or not 2 <= len(children) <= 3:
        return False
    types = [child.get_content_type() for child in children]
    if "application/pgp-encrypted" not in types:
        return False
    after = types.index("application/pgp-encrypted") + 1
    if after >= len(types) or types[after] != "application/octet-stream":
        return False
    ciphertext = children[after].get_payload(decode=True)
    return isinstance(ciphertext, bytes) and bool(_PGP_MESSAGE.search(ciphertext[:4096]))


def _kind_from_oid(part: Message) -> str:
    payload = part.get_payload(decode=True)
    try:
        content_type = cms.ContentInfo.load(payload)["content_type"].native
    except Exception:  # asn1crypto raises many types for garbage
        return "smime-unreadable"
    return OID_KINDS.get(content_type, "smime-unreadable")


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


def _tool_verdict(status: int | None) -> bool | None:
    """openssl cms -verify: 0 verified, 4 verification failure, 2 or 3 input it cannot parse
    (a damaged signature: False, like a tampered one); anything else is "not checked"."""
    return {0: True, 4: False, 2: False, 3: False}.get(status) if status is not None else None


def _der(blob: bytes) -> bytes:
    """A CMS blob as DER; a signature part sent without its base64 transfer encoding is
    decoded here."""
    if blob[:1] == b"\x30":
        return blob
    try:
        return base64.b64decode(blob, validate=False)
    except (binascii.Error, ValueError):
        return blob


def _cms_verify(folder: str, trust: TrustConfig, *inputs: str) -> tuple[bool | None, bool | None]:
    """(signature holds, signer trusted) for one CMS signature, by ``openssl cms -verify``:
    integrity with the certificate the message carries; trust against the admin's bundle."""
    base = ["openssl", "cms", "-verify", "-inform", "DER", *inputs]
    valid = _tool_verdict(_run([*base, "-noverify", "-out", "/dev/null"], folder))
    trusted = None
    if valid and trust.smime_trust_store is not None:
        store = str(trust.smime_trust_store)
        options = ["-CAfile", store, "-purpose", "smimesign", "-out", "/dev/null"]
        trusted = _tool_verdict(_run([*base, *options], folder))
    return valid, trusted


def _smime_detached_layer(
    layer: Layer, part: Message, tree: _Tree, path: str, trust: TrustConfig
) -> Layer:
    """multipart/signed (RFC 8551 §3.5.3): the signature (part 2) over part 1's bytes."""
    children = child_parts(part)
    if children is None or len(children) != 2:
        return replace(layer, signature_valid=False, note="malformed multipart/signed")
    content = tree.entity(f"{path}.1".lstrip("."))
    if content is None:
        return replace(layer, note="signed part not found as received: unverified")
    signature = children[1].get_payload(decode=True)
    if not isinstance(signature, bytes) or not signature.strip():
        return replace(layer, signature_valid=False, note="empty signature part")
    if shutil.which("openssl") is None:
        return replace(layer, note="openssl missing: not checked")
    with tempfile.TemporaryDirectory(prefix="postvagt-cms-") as folder:
        Path(folder, "sig.der").write_bytes(_der(signature))
        Path(folder, "content").write_bytes(content)
        valid, trusted = _cms_verify(folder, trust, "-in", "sig.der", "-content", "content")
    return Layer(layer.kind, layer.part, valid, trusted, _note(valid))


def _smime_opaque_layer(
    layer: Layer, part: Message, trust: TrustConfig
) -> tuple[Layer, bytes | None]:
    """application/pkcs7-mime signed-data (RFC 8551 §3.5.2): checked, and its content taken
    out (by asn1crypto, so that a tampered blob's content is still scanned)."""
    blob = part.get_payload(decode=True)
    if not isinstance(blob, bytes) or not blob.strip():
        return replace(layer, signature_valid=False, note="empty signed-data"), None
    blob = _der(blob)
    content = _encapsulated(blob)
    if shutil.which("openssl") is None:
        return replace(layer, note="openssl missing: not checked"), content
    with tempfile.TemporaryDirectory(prefix="postvagt-cms-") as folder:
        Path(folder, "in.der").write_bytes(blob)
        valid, trusted = _cms_verify(folder, trust, "-in", "in.der")
        if content is None and valid:
            args = ["openssl", "cms", "-verify", "-inform", "DER", "-in", "in.der", "-noverify"]
            if _run([*args, "-out", "content"], folder) == 0 and Path(folder, "content").exists():
                content = Path(folder, "content").read_bytes()
    return Layer(layer.kind, layer.part, valid, trusted, _note(valid)), content


def _encapsulated(blob: bytes) -> bytes | None:
    try:
        info = cms.ContentInfo.load(blob)
        content = info["content"]["encap_content_info"]["content"].native
    except Exception:  # asn1crypto raises many types for garbage
        return None
    return content if isinstance(content, bytes) else None


def _note(valid: bool | None) -> str:
    return "signature unreadable: unverified" if valid is None else ""


# -- PGP ---------------------------------------------------------------------------------------


def _boundary_parts(raw: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body exactly as received (RFC 2046 delimiters, CRLF or LF)."""
    delimiter = re.escape(b"--" + boundary.encode("utf-8", "replace"))
    pieces = re.split(rb"(?:\r?\n|^)" + delimiter + rb"(?:--)?[ \t]*(?:\r?\n|$)", raw)
    return pieces[1:-1]


def _gpg_status(out: bytes) -> bool | None:
    """gpg's verdict from its status lines: a good signature (an expired or revoked key
    still leaves it intact), a bad one, one it cannot parse (damaged: False, like a bad
    one), or one it cannot check for want of the key (None)."""
    if re.search(rb"^\[GNUPG:\] (GOODSIG|EXPSIG|EXPKEYSIG|REVKEYSIG) ", out, re.MULTILINE):
        return True
    if b"[GNUPG:] BADSIG " in out:
        return False
    if b"[GNUPG:] NO_PUBKEY " in out:
        return None
    if re.search(rb"^\[GNUPG:\] (NODATA|ERRSIG|BADARMOR|UNEXPECTED) ", out, re.MULTILINE):
        return False
    return None


def _gpg_verify(
    signature: bytes,
    data: bytes | None,
    keys: list[bytes],
    trust: TrustConfig,
) -> tuple[bool | None, bool | None]:
    """(signature holds, signer trusted): against the admin's keyring first, then against
    the keys the message carries (integrity only)."""
    if shutil.which("gpg") is None:
        return None, None
    with tempfile.TemporaryDirectory(prefix="postvagt-gpg-") as folder:
        home = Path(folder, "home")
        home.mkdir(mode=0o700)
        trusted_home = trust.pgp_keyring
        Path(folder, "sig.asc").write_bytes(signature)
        if data is not None:
            Path(folder, "data").write_bytes(data)
        results: list[bool | None] = []
        for gnupghome, extra_keys in ((trusted_home, []), (home, keys)):
            if gnupghome is None:
                continue
            for i, key in enumerate(extra_keys):
                Path(folder, f"key{i}.asc").write_bytes(key)
                _run(
                    ["gpg", "--homedir", str(gnupghome), "--batch", "--import", f"key{i}.asc"],
                    folder,
                )
            args = ["gpg", "--homedir", str(gnupghome), "--batch", "--status-fd", "1"]
            args += ["--verify", "sig.asc", *(["data"] if data is not None else [])]
            try:
                out = subprocess.run(
                    args, cwd=folder, capture_output=True, timeout=TOOL_TIMEOUT, preexec_fn=_limits
                ).stdout
            except (OSError, subprocess.TimeoutExpired):
                results.append(None)
                continue
            results.append(_gpg_status(out))
            if results[-1] is not None:
                break  # decided; the message's own keys add nothing
        valid = next((r for r in results if r is not None), None)
        trusted = None
        if trusted_home is not None and valid is not None:
            trusted = results[0] is True
        return valid, trusted


def _attached_keys(message: Message) -> list[bytes]:
    keys = []
    for _, sub in _Tree(message, b"").parts:
        if sub.get_content_type() == "application/pgp-keys":
            payload = sub.get_payload(decode=True)
            if isinstance(payload, bytes):
                keys.append(payload)
    return keys


def _pgp_mime_layer(
    layer: Layer, part: Message, tree: _Tree, path: str, trust: TrustConfig
) -> Layer:
    """multipart/signed (RFC 3156 §5): the signature (part 2) over part 1's bytes."""
    children = child_parts(part)
    if children is None or len(children) != 2:
        return replace(layer, signature_valid=False, note="malformed multipart/signed")
    content = tree.entity(f"{path}.1".lstrip("."))
    if content is None:
        return replace(layer, note="signed part not found as received: unverified")
    signature = children[1].get_payload(decode=True)
    if not isinstance(signature, bytes) or not signature.strip():
        return replace(layer, signature_valid=False, note="empty signature part")
    # RFC 3156: the signature covers the first part with CRLF line ends.
    signed = re.sub(rb"\r?\n", b"\r\n", content)
    valid, trusted = _gpg_verify(signature, signed, _attached_keys(tree.root), trust)
    return Layer(layer.kind, layer.part, valid, trusted, _pgp_note(valid))


def _pgp_inline_layer(layer: Layer, part: Message, root: Message, trust: TrustConfig) -> Layer:
    payload = part.get_payload(decode=True)
    block = _PGP_SIGNED.search(payload) if isinstance(payload, bytes) else None
    if block is None:
        return replace(layer, note="malformed clear-signed text: unverified")
    valid, trusted = _gpg_verify(block.group(), None, _attached_keys(root), trust)
    return Layer(layer.kind, layer.part, valid, trusted, _pgp_note(valid))


def _pgp_note(valid: bool | None) -> str:
    return "no key to check it with: unverified" if valid is None else ""


def protection_from_structure(raw: bytes) -> Protection:
    """Classification without a trust store (integrity is still checked)."""
    return classify(raw)
