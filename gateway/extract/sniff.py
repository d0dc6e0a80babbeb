"""The real type of a part, from its bytes (libmagic), never from its name or header."""

from __future__ import annotations

import magic

SNIFF_BYTES = 8192
_MAGIC = magic.Magic(mime=True)

# What a declared type and a sniffed one may differ by without it meaning anything.
_SAME = {
    "application/octet-stream",
    "application/zip",  # OOXML and ODF files are zip containers
}


def real_type(data: bytes) -> str:
    try:
        return str(_MAGIC.from_buffer(data[:SNIFF_BYTES]))
    except magic.MagicException:
        return "application/octet-stream"


def mismatch(declared: str, sniffed: str) -> bool:
    """True when the sender's label hides what the bytes are (a PDF named bilag.dat)."""
    declared = declared.lower()
    if declared == sniffed or sniffed in _SAME or declared in ("application/octet-stream", ""):
        return declared in ("application/octet-stream", "") and sniffed not in _SAME | {
            "text/plain"
        }
    return declared.split("/")[0] != sniffed.split("/")[0]
