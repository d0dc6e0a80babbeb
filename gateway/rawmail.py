"""Byte-level edits of a message's header block.

The body is never re-serialised (S/MIME, PGP and DKIM signatures must still verify after
us): we only remove whole header fields and prepend new ones to the bytes as received.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

OUR_PREFIX = b"x-postvagt-"

_LINE = re.compile(rb"[^\n]*\n|[^\n]+$")
_BLANK_LINE = re.compile(rb"\n\r?\n")  # an empty line after a line end, CRLF or bare LF
_FIELD_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")


_LINE_END = re.compile(rb"\r\n|\n|\r")
_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def normalise_line_ends(raw: bytes) -> bytes:
    """Every bare CR or LF as CRLF: what any SMTP hop (aiosmtplib too) sends on.

    Runs on every message: one scan, and no copy at all for the usual all-CRLF mail."""
    if _BARE_LINE_END.search(raw) is None:
        return raw
    return _LINE_END.sub(b"\r\n", raw)


def header_block_end(raw: bytes) -> int:
    """Offset of the first byte after the header block (the empty line is part of the body).

    A message with no empty line is all header (the body is empty).
    """
    if raw.startswith((b"\r\n", b"\n")):
        return 0
    # The search stops at the first blank line, so it reads the header block only.
    blank = _BLANK_LINE.search(raw)
    return blank.start() + 1 if blank else len(raw)


def strip_fields(raw: bytes, prefix: bytes = OUR_PREFIX) -> bytes:
    """Remove every header field whose name starts with ``prefix`` (case-insensitive).

    Continuation lines go with their field. Lines that are not header fields are kept as they
    are: a malformed header block is passed on, not repaired.
    """
    end = header_block_end(raw)
    head = raw[:end]
    if prefix not in head.lower():
        return raw
    kept: list[bytes] = []
    dropping = False
    for line in _LINE.findall(head):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        match = _FIELD_NAME.match(line)
        dropping = bool(match and match.group(1).lower().startswith(prefix))
        if not dropping:
            kept.append(line)
    return b"".join(kept) + raw[end:]


def prepend_fields(raw: bytes, fields: Iterable[tuple[str, str]]) -> bytes:
    """Put header fields in front of the message, each ending in CRLF.

    Values are ours, but are checked anyway: a CR or LF in a value would inject a header.
    """
    out = []
    for name, value in fields:
        if not _FIELD_NAME.match(name.encode("ascii") + b":"):
            raise ValueError(f"invalid header field name {name!r}")
        lines = value.split("\n")
        for line in lines:
            if "\r" in line or "\0" in line:
                raise ValueError(f"control character in header {name}")
        # Continuation lines we write ourselves start with a tab.
        if any(line and line[0] not in " \t" for line in lines[1:]):
            raise ValueError(f"header {name} has a line break that is not a folding")
        out.append(f"{name}: {value}".replace("\n", "\r\n").encode("utf-8") + b"\r\n")
    return b"".join(out) + raw
