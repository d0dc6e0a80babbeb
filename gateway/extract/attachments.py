"""An attachment's text, by its real type: the dispatcher over the format modules.

A mail inside an attachment (a Maildir export in a zip) is read as a mail, by the reader
gateway.extract.text passes in: that module imports this one, and this one does not import
it back (tests/test_layers.py). Call gateway.extract.text.extract_attachment, which does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.cleantext import visible
from gateway.extract import archive, embedded, office, pdf, sniff, tnef
from gateway.extract.charset import decode_text, wide_encoding
from gateway.extract.embedded import Picture
from gateway.extract.html import html_to_text
from gateway.extract.limits import Limits, Unreadable
from gateway.extract.ocr import MAX_PIXELS, OcrBudget, ocr_image
from gateway.model import TextChunk

TEXT_TYPES = ("text/plain", "text/csv", "text/x-csv")
OFFICE_TYPES = (
    "application/vnd.openxmlformats-officedocument",
    "application/vnd.oasis.opendocument",
)
LEGACY_OFFICE = (
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-office",
    "application/vnd.ms-powerpoint",
    "application/x-ole-storage",
    "application/cdfv2",
)
IMAGES = ("image/",)
TNEF_TYPES = ("application/vnd.ms-tnef", "application/ms-tnef")


@dataclass
class Extracted:
    chunks: list[TextChunk] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was passed over on purpose, for ``--explain`` ("skipped 2 images under …")."""


EMBEDDED_NOT_READ = "embedded-image-not-read"


CSV_TYPES = ("text/csv", "text/x-csv", "application/csv", "text/tab-separated-values")
CSV_NAMES = (".csv", ".tsv", ".tab")


def _is_csv(name: str, declared: str, kind: str) -> bool:
    return kind in CSV_TYPES or declared.lower() in CSV_TYPES or name.lower().endswith(CSV_NAMES)


DEFAULT_LIMITS = Limits()


class MailReader(Protocol):
    """How a mail is read (gateway.extract.text.mail_text_and_located_gaps): its text, and
    what could not be read (each with a ``reason``)."""

    def __call__(
        self, raw: bytes, ocr: OcrBudget | None, depth: int, notes: list[str] | None
    ) -> tuple[list[TextChunk], list[Any]]: ...


def read_attachment(
    name: str,
    declared: str,
    data: bytes,
    limits: Limits,
    depth: int,
    ocr: OcrBudget | None,
    read_mail: MailReader,
) -> Extracted:
    """``ocr``: the message's OCR budget; None reads no images (reported "ocr-needed");
    ``read_mail``: how a mail inside it is read."""
    out = Extracted()
    location = f"attachment:{visible(name)}"  # also in notes and signals, read on a terminal
    kind = sniff.real_type(data)
    if kind == "application/octet-stream" and wide_encoding(data):
        kind = "text/plain"  # UTF-16/32 without a byte order mark: libmagic gives up
    if sniff.mismatch(declared, kind):
        out.signals.append(f"{location}: declared {declared}, really {kind}")
    try:
        if kind in TEXT_TYPES or (kind.startswith("text/") and kind != "text/html"):
            if kind == "text/rtf":
                pictures, rest = embedded.rtf_pictures(data, limits)
                out.chunks.append(TextChunk(location, office.rtf_text(rest)))
                _read_pictures(out, location, pictures, ocr)
            elif _is_csv(name, declared, kind):
                out.chunks.append(TextChunk(location, office.csv_text(decode_text(data))))
            else:
                out.chunks.append(TextChunk(location, decode_text(data)))
        elif kind == "text/html":
            out.chunks.append(TextChunk(location, html_to_text(decode_text(data))))
        elif kind == "application/pdf":
            text, gaps, pictures = pdf.pdf_text(data, limits, ocr)
            out.chunks.append(TextChunk(location, text))
            out.gaps.extend(gaps)
            _read_pictures(out, location, pictures, ocr)
        elif kind.startswith(OFFICE_TYPES) or (kind == "application/zip" and _is_office(data)):
            out.chunks.append(TextChunk(location, office.office_text(data, limits)))
            _read_pictures(out, location, embedded.office_pictures(data, limits), ocr)
        elif kind in ("application/zip", "application/x-tar") or kind in archive.COMPRESSED:
            _archive(out, name, kind, data, limits, depth, ocr, read_mail)
        elif kind in TNEF_TYPES:
            _tnef(out, name, data, limits, depth, ocr, read_mail)
        elif kind.startswith(LEGACY_OFFICE):
            out.gaps.append("legacy-office")
        elif kind.startswith(IMAGES):
            if ocr is None:
                out.gaps.append("ocr-needed")
            else:
                out.chunks.append(TextChunk(location, ocr_image(data, ocr)))
        elif kind == "message/rfc822":  # a mail inside an archive (a Maildir export)
            _mail(out, location, data, limits, depth, ocr, read_mail)
        elif kind in ("application/pkcs7-signature", "application/pgp-signature"):
            pass
        else:
            out.gaps.append("unsupported-attachment")
    except Unreadable as e:
        out.gaps.append(e.reason)
    out.gaps = list(dict.fromkeys(out.gaps))
    return out


def _read_pictures(
    out: Extracted, location: str, pictures: list[Picture], ocr: OcrBudget | None
) -> None:
    """OCR a document's pictures, largest first, within the message's OCR budget. Pictures
    too small to hold a line of text are skipped with a note; every other picture that is
    not read (no budget left, over a limit, an undecodable or vector format, a failure) makes
    the attachment incomplete: gap "embedded-image-not-read", with the details in a note."""
    small = [p for p in pictures if p.too_small]
    if small:
        out.notes.append(
            f"skipped {len(small)} image{'s' if len(small) > 1 else ''} under "
            f"{embedded.MIN_LENGTH}×{embedded.MIN_SIDE} px in {location}"
        )
    unread: dict[str, int] = {}
    for picture in sorted(
        (p for p in pictures if not p.too_small), key=lambda p: p.area, reverse=True
    ):
        try:
            if picture.format == embedded.OVERSIZED:
                raise Unreadable("limit")
            if not picture.readable:
                raise Unreadable(f"format {picture.format}")
            if ocr is None:
                raise Unreadable("ocr-needed")
            if ocr.remaining() < 1:
                raise Unreadable("ocr-budget")  # before the picture is even decoded
            if picture.area > MAX_PIXELS:
                raise Unreadable("limit")
            try:
                data = picture.load()
            except Exception as e:  # pypdf raises many kinds for odd image streams
                raise Unreadable("malformed") from e
            text = ocr_image(data, ocr)
        except Unreadable as e:
            unread[e.reason] = unread.get(e.reason, 0) + 1
            continue
        if text.strip():
            out.chunks.append(TextChunk(f"{location}/{picture.name}", text))
    if unread:
        out.gaps.append(EMBEDDED_NOT_READ)
        details = ", ".join(f"{count} {reason}" for reason, count in unread.items())
        out.notes.append(f"did not read {sum(unread.values())} images in {location}: {details}")


def _mail(
    out: Extracted,
    location: str,
    data: bytes,
    limits: Limits,
    depth: int,
    ocr: OcrBudget | None,
    read_mail: MailReader,
) -> None:
    if depth >= limits.max_depth:
        raise Unreadable("limit")
    chunks, gaps = read_mail(data, ocr, depth + 1, notes=out.notes)
    out.chunks.extend(TextChunk(f"{location}/{c.location}", c.text) for c in chunks)
    out.gaps.extend(g.reason for g in gaps)


def _is_office(data: bytes) -> bool:
    head = data[:2000]
    return b"[Content_Types].xml" in head or b"mimetypeapplication/vnd.oasis" in head


def _archive(
    out: Extracted,
    name: str,
    kind: str,
    data: bytes,
    limits: Limits,
    depth: int,
    ocr: OcrBudget | None,
    read_mail: MailReader,
) -> None:
    if depth >= limits.max_depth:
        raise Unreadable("limit")
    if kind == "application/zip":
        members = archive.zip_members(data, limits)
    elif kind == "application/x-tar":
        members = archive.tar_members(data, limits)
    else:
        inner = archive.compressed_member(data, limits, kind)
        if sniff.real_type(inner) == "application/x-tar":
            members = archive.tar_members(inner, limits)
        else:
            base = name.rsplit("/", 1)[-1]
            members = iter([(base.removesuffix(archive.COMPRESSED[kind]), inner)])
    for member, content in members:
        where = f"{name}/{member}"
        _member(out, where, "application/octet-stream", content, limits, depth, ocr, read_mail)


def _member(
    out: Extracted,
    name: str,
    declared: str,
    data: bytes,
    limits: Limits,
    depth: int,
    ocr: OcrBudget | None,
    read_mail: MailReader,
) -> None:
    inner = read_attachment(name, declared, data, limits, depth + 1, ocr, read_mail)
    out.chunks.extend(inner.chunks)
    out.gaps.extend(inner.gaps)
    out.signals.extend(inner.signals)
    out.notes.extend(inner.notes)


def _tnef(
    out: Extracted,
    name: str,
    data: bytes,
    limits: Limits,
    depth: int,
    ocr: OcrBudget | None,
    read_mail: MailReader,
) -> None:
    """Outlook's winmail.dat: its bodies and attachments, each read like any other part."""
    if depth >= limits.max_depth:
        raise Unreadable("limit")
    for member, declared, content in tnef.tnef_members(data, limits):
        _member(out, f"{name}/{member}", declared, content, limits, depth, ocr, read_mail)
