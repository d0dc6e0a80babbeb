"""Keyed hashes of the CPR and CVR numbers found in a mail (issue 24): what lets the staff
page tell whether a typed number is one of the mail's without keeping the numbers.

HMAC-SHA256 under a key of the installation, derived from the web secret (which every
instance behind one address shares, so a record written by one instance is matched on
another). A plain SHA-256 of ten digits would not do: there are too few CPR numbers, and
a table of all their hashes is an afternoon's work. Without the key the hashes say nothing;
a new web secret makes the old ones match nothing (then every number needs the
caseworker's acknowledgement, never a wrong match).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

NUMBER_ENTITIES = frozenset({"DK_CPR", "DK_CPR_REPLACEMENT", "DK_CVR"})


def number_key(secret: str) -> bytes:
    """The hashing key, derived from the web secret (never the secret itself)."""
    return hashlib.sha256(b"postvagt keyed numbers\0" + secret.encode()).digest()


def digits_of(value: str) -> str:
    """The number's digits as ASCII, separators dropped (a full-width or other decimal
    digit in the mail is the same digit)."""
    return "".join(str(unicodedata.decimal(ch)) for ch in value if ch.isdecimal())


def keyed_number(key: bytes, digits: str) -> str:
    return hmac.new(key, digits.encode("ascii"), hashlib.sha256).hexdigest()
