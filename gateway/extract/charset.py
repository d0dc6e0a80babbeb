"""Text from bytes whatever the writer's encoding: byte order marks and NUL patterns first.

Windows exports text as UTF-16, often without a byte order mark, and mail programs label it
``us-ascii``, ``utf-8`` or nothing at all. UTF-16 with ASCII content is valid UTF-8 — with a
NUL after every letter — so a declared charset is only believed once the bytes do not show
UTF-16 or UTF-32 by themselves. Then the declared charset, UTF-8 and cp1252, in that order;
decoding never fails.
"""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE = 4096


def wide_encoding(data: bytes) -> str | None:
    """UTF-16/32 (with its byte order) when the bytes say so by a BOM or their NULs."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name if name != "utf-8" else None
    sample = data[:_SAMPLE]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    # Text in the Latin range has a NUL in every high byte of a code unit.
    quads = len(sample) // 4 * 4
    for name, offset in (("utf-32-le", 1), ("utf-32-be", 0)):
        columns = [sample[i:quads:4] for i in range(4)]
        nul_columns = [col.count(0) / len(col) for col in columns]
        high = nul_columns[1:] if offset else nul_columns[:3]
        if min(high) > 0.9 and nul_columns[0 if offset else 3] < 0.5:
            return name
    pairs = len(sample) // 2 * 2
    even, odd = sample[0:pairs:2], sample[1:pairs:2]
    if odd.count(0) > 0.7 * len(odd) and even.count(0) < 0.3 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.7 * len(even) and odd.count(0) < 0.3 * len(odd):
        return "utf-16-be"
    return None


def decode_text(data: bytes, declared: str | None = None) -> str:
    """The text of ``data``: a wide encoding the bytes show, else the declared charset,
    UTF-8 or cp1252 (which maps every byte but five; those are replaced)."""
    wide = wide_encoding(data)
    if wide is not None:
        bom = next((b for b, name in _BOMS if name == wide and data.startswith(b)), b"")
        return data[len(bom) :].decode(wide, errors="replace")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        declared = "utf-8"
    for candidate in (declared, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")
