"""Outlook's TNEF (``winmail.dat``, application/ms-tnef): its plain, HTML and RTF bodies and
its attachments, read with tnefparse (LGPL-3.0) and handed back to the dispatcher like the
members of an archive, so each goes through the same extraction as any other part.

TNEF is not compressed (only its RTF body is, and compressed RTF states its size), so the
data is already bounded by the message; the limits on files and on bytes still apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import tnefparse

from gateway.extract.limits import Limits, Unreadable

# tnefparse logs every property it does not know at WARNING: nothing we can act on.
logging.getLogger("tnefparse").setLevel(logging.ERROR)


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return b""


def tnef_members(data: bytes, limits: Limits) -> Iterator[tuple[str, str, bytes]]:
    """(name, declared type, bytes) for the bodies (``body.txt``, ``body.html``,
    ``body.rtf``) and each attachment under its long file name."""
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
        members = [
            ("body.txt", "text/plain", _bytes(tnef.body)),
            ("body.html", "text/html", _bytes(tnef.htmlbody)),
            ("body.rtf", "text/rtf", _bytes(tnef.rtfbody)),
        ]
        for number, attachment in enumerate(tnef.attachments, 1):
            name = attachment.long_filename() or f"attachment-{number}"
            members.append((name, "application/octet-stream", _bytes(attachment.data)))
    except Exception as e:  # a hostile or truncated file: any of struct, index, decode errors
        raise Unreadable("malformed") from e
    members = [m for m in members if m[2]]
    if len(members) > limits.max_files:
        raise Unreadable("limit")
    if sum(len(m[2]) for m in members) > limits.max_expanded:
        raise Unreadable("limit")
    yield from members
