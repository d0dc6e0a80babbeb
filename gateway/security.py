"""Signed or encrypted? For now from the MIME content types alone (RFC 1847, 3156, 8551).

The full classification (every layer, CMS content-type OIDs, inline PGP, signature
verification) comes with the security issue; the shape of the answer stays.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from email import policy

MAX_PARTS = 1000


@dataclass(frozen=True)
class Protection:
    signed: bool = False
    encrypted: bool = False
    signature_valid: bool | None = None
    signer_trusted: bool | None = None


def protection_from_structure(raw: bytes) -> Protection:
    message = email.message_from_bytes(raw, policy=policy.compat32)
    signed = encrypted = False
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        content_type = part.get_content_type()
        smime_type = (part.get_param("smime-type") or "").lower()
        if content_type == "multipart/signed":
            signed = True
        elif content_type == "multipart/encrypted":
            encrypted = True
        elif content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            if smime_type == "signed-data":
                signed = True
            else:  # enveloped-data, authEnveloped-data, or not said: treat as encrypted
                encrypted = True
    return Protection(signed=signed, encrypted=encrypted)
