"""Byte-level edits of a message's header block, and header values read without a crash.

The body is never re-serialised (S/MIME, PGP and DKIM signatures must still verify after
us): we only remove whole header fields and prepend new ones to the bytes as received.
"""

from __future__ import annotations

import binascii
import email
import re
import urllib.parse
from collections.abc import Iterable
from email.message import Message
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses, parseaddr

OUR_PREFIX = b"x-postvagt-"

_LINE = re.compile(rb"[^\n]*\n|[^\n]+$")
_BLANK_LINE = re.compile(rb"\n\r?\n")  # an empty line after a line end, CRLF or bare LF
_FIELD_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")


_LINE_END = re.compile(rb"\r\n|\n|\r")


def normalise_line_ends(raw: bytes) -> bytes:
    """Every bare CR or LF as CRLF: what any SMTP hop (aiosmtplib too) sends on.

    Runs on every message: three counts in C (a regex with look-arounds took 1.8 ms per
    100 KB, bench/stages.py), and no copy at all for the usual all-CRLF mail: there is a bare
    CR or LF exactly when there are more of either than of CRLF pairs."""
    pairs = raw.count(b"\r\n")
    if raw.count(b"\r") == pairs and raw.count(b"\n") == pairs:
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


TRACE_FIELDS = frozenset(
    {
        b"received",
        b"return-path",
        b"delivered-to",
        b"x-original-to",
        b"authentication-results",
        b"received-spf",
        b"arc-seal",
        b"arc-message-signature",
        b"arc-authentication-results",
    }
)
"""Fields a hop puts on top of the message as it passes (RFC 5321 §4.4, RFC 8601, RFC 8617)."""


def trace_block_end(raw: bytes) -> int:
    """Offset of the first header field below the trace fields on top of the message.

    Each hop prepends its own (a Postfix in front of us adds a fresh ``Received`` with a new
    queue id and time on every try); what lies below them is the sender's message, the same
    on every try.
    """
    end = header_block_end(raw)
    for line in _LINE.finditer(raw, 0, end):
        text = line.group()
        if text[:1] in (b" ", b"\t") and line.start() > 0:
            continue  # a continuation of the trace field above
        name = _FIELD_NAME.match(text)
        if name is None or name.group(1).lower() not in TRACE_FIELDS:
            return line.start()
    return end


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


def child_parts(part: Message) -> list[Message] | None:
    """The sub-parts of a multipart part in order; None for a part that is not multipart."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return None
    return [child for child in payload if isinstance(child, Message)]


# -- reading header values that hostile mail can make odd ------------------------------------

_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_BARE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


_PARAMETER = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_RFC2231_NAME = re.compile(r"(?P<name>[^*]+)\*(?:(?P<number>\d+)(?P<encoded>\*)?)?")


def header_param(part: Message, name: str) -> str | None:
    """A Content-Type parameter as one string, RFC 2231 or not; never an exception.

    ``Message.get_param`` returns a (charset, language, value) tuple for ``name*=`` and
    ``name*0*=`` continuations, ignores the RFC 2231 forms of names with a hyphen
    (``smime-type*=``) and raises TypeError when ``name*=`` and ``name*0*=`` are mixed;
    every parameter we read goes through here instead."""
    try:
        value = part.get_param(name)
    except (TypeError, ValueError, LookupError):
        value = None
    if isinstance(value, tuple):
        return str(collapse_rfc2231_value(value))
    if value is not None:
        return str(value)
    return _rfc2231_param(part, name.lower())


def _rfc2231_param(part: Message, name: str) -> str | None:
    """RFC 2231 read by hand: ``name*=charset'lang'%xx`` or its continuations."""
    pieces: dict[int, tuple[bool, str]] = {}
    for key, raw in _PARAMETER.findall(str(part.get("content-type", ""))):
        match = _RFC2231_NAME.fullmatch(key.strip().lower())
        if match is None or match.group("name") != name:
            continue
        number = int(match.group("number") or 0)
        encoded = match.group("number") is None or bool(match.group("encoded"))
        pieces.setdefault(number, (encoded, raw.strip().strip('"')))
    if not pieces:
        return None
    charset = "utf-8"
    data = bytearray()
    for number in sorted(pieces):
        encoded, text = pieces[number]
        if number == min(pieces) and encoded and text.count("'") >= 2:
            charset, _, text = text.split("'", 2)
        data += urllib.parse.unquote_to_bytes(text) if encoded else text.encode("utf-8")
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def parse_message(raw: bytes) -> Message:
    """``email.message_from_bytes`` (compat32) whose parameter reads never raise: the
    parser reads the boundary through them, so a hostile ``boundary*=`` would otherwise
    stop the whole parse (TypeError in email.utils.decode_params)."""
    return email.message_from_bytes(raw, _class=_SafeMessage, policy=compat32)


class _SafeMessage(Message):
    def get_param(  # type: ignore[override]
        self, param: str, failobj: object = None, header: str = "content-type", unquote: bool = True
    ) -> object:
        try:
            value = super().get_param(param, failobj, header, unquote)
            # One string, always: the stdlib itself reads "charset" without collapsing.
            return collapse_rfc2231_value(value) if isinstance(value, tuple) else value
        except (TypeError, ValueError, LookupError):
            if header.lower() != "content-type":
                return failobj
            value = _rfc2231_param(self, param.lower())
            return failobj if value is None else value

    def get_params(  # type: ignore[override]
        self, failobj: object = None, header: str = "content-type", unquote: bool = True
    ) -> object:
        try:
            return super().get_params(failobj, header, unquote)
        except (TypeError, ValueError, LookupError):
            return failobj


def addresses(values: Iterable[object]) -> list[str]:
    """The addresses in address header values (To, Cc), never a crash.

    The stdlib parser recurses per "(": a line of thousands of encoded words with a "(" in
    them exhausts the stack (RecursionError). Such a line is read with a plain pattern."""
    texts = [str(v) for v in values]
    try:
        return [address for _, address in getaddresses(texts) if address]
    except RecursionError:
        return [a for text in texts for a in _fallback_addresses(text)]


def address(value: object) -> str:
    """The address of one address header value (From, Return-Path); "" if none."""
    return name_and_address(value)[1]


def name_and_address(value: object) -> tuple[str, str]:
    """Display name (still RFC 2047-encoded) and address of one address header value,
    parsed once; ("", "") if none."""
    text = str(value)
    try:
        return parseaddr(text)
    except RecursionError:
        found = _fallback_addresses(text)
        return "", found[0] if found else ""


def _fallback_addresses(text: str) -> list[str]:
    angled = _ANGLE_ADDRESS.findall(text)
    return angled or _BARE_ADDRESS.findall(text)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def decoded_header(value: object) -> str:
    """The text of a header with its RFC 2047 encoded words decoded, in one linear pass.

    ``make_header(decode_header(...))`` is quadratic in the number of encoded words (12 s
    for a 1.3 MB Subject here) and raises on unknown charsets; this never raises. Adjacent
    encoded words are joined before decoding (a UTF-8 character may be split across two);
    a word in a charset we do not know is read as UTF-8."""
    if value is None:
        return ""
    text = _FOLD.sub("", str(value))
    out: list[str] = []
    run = bytearray()
    run_charset = ""
    position = 0

    def flush() -> None:
        if run:
            out.append(_decode_run(bytes(run), run_charset))
            run.clear()

    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        adjacent = position > 0 and not between.strip(" \t")
        if not adjacent or charset != run_charset:
            flush()
        if not adjacent:
            out.append(between)
        run_charset = charset
        run += _decode_word(match.group(2), match.group(3))
        position = match.end()
    flush()
    out.append(text[position:])
    return "".join(out)


def _decode_word(encoding: str, payload: str) -> bytes:
    data = payload.encode("ascii", "replace")
    try:
        if encoding in "bB":
            return binascii.a2b_base64(data + b"==")
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return data


def _decode_run(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")
