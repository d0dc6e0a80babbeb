"""The attachments of a message as staff see them in the preview: each one's name with its
control characters made visible, the type its bytes show (libmagic, not the name or the
header: ``faktura\\u202efdp.exe`` is an executable whatever it looks like) and its size.

The walk is iterative and bounded, as the text's is (gateway.extract.text).
"""

from __future__ import annotations

from email.message import Message

from gateway.cleantext import visible
from gateway.extract import sniff
from gateway.model import AttachmentFacts
from gateway.rawmail import decoded_header

MAX_LISTED = 200
MAX_DEPTH = 32


def attachments(message: Message) -> tuple[AttachmentFacts, ...]:
    """Every part that is not the body's own text: parts with a file name, and parts of a
    type other than text/plain and text/html; in the order they stand in the message."""
    found: list[AttachmentFacts] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack and len(found) < MAX_LISTED:
        part, depth = stack.pop()
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list) and depth < MAX_DEPTH:
                stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Message))
            continue
        filename = part.get_filename()
        declared = part.get_content_type()
        if not filename and declared in ("text/plain", "text/html"):
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        found.append(
            AttachmentFacts(
                name=visible(decoded_header(filename)) if filename else "",
                sniffed=sniff.real_type(data) if data else "",
                declared=visible(declared),
                size=len(data),
            )
        )
    return tuple(found)
