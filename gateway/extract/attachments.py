"""An attachment's text, by its real type: the dispatcher over the format modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.extract import archive, office, pdf, sniff
from gateway.extract.charset import decode_text, wide_encoding
from gateway.extract.html import html_to_text
from gateway.extract.limits import Limits, Unreadable
from gateway.extract.ocr import OcrBudget, ocr_image
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


@dataclass
class Extracted:
    chunks: list[TextChunk] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)


CSV_TYPES = ("text/csv", "text/x-csv", "application/csv", "text/tab-separated-values")
CSV_NAMES = (".csv", ".tsv", ".tab")


def _is_csv(name: str, declared: str, kind: str) -> bool:
    return kind in CSV_TYPES or declared.lower() in CSV_TYPES or name.lower().endswith(CSV_NAMES)


DEFAULT_LIMITS = Limits()


def extract_attachment(
    name: str,
    declared: str,
    data: bytes,
    limits: Limits = DEFAULT_LIMITS,
    depth: int = 0,
    ocr: OcrBudget | None = None,
) -> Extracted:
    """``ocr``: the message's OCR budget; None reads no images (reported "ocr-needed")."""
    out = Extracted()
    location = f"attachment:{name}"
    kind = sniff.real_type(data)
    if kind == "application/octet-stream" and wide_encoding(data):
        kind = "text/plain"  # UTF-16/32 without a byte order mark: libmagic gives up
    if sniff.mismatch(declared, kind):
        out.signals.append(f"{location}: declared {declared}, really {kind}")
    try:
        if kind in TEXT_TYPES or (kind.startswith("text/") and kind != "text/html"):
            if kind == "text/rtf":
                out.chunks.append(TextChunk(location, office.rtf_text(data)))
            elif _is_csv(name, declared, kind):
                out.chunks.append(TextChunk(location, office.csv_text(decode_text(data))))
            else:
                out.chunks.append(TextChunk(location, decode_text(data)))
        elif kind == "text/html":
            out.chunks.append(TextChunk(location, html_to_text(decode_text(data))))
        elif kind == "application/pdf":
            text, gaps = pdf.pdf_text(data, limits, ocr)
            out.chunks.append(TextChunk(location, text))
            out.gaps.extend(gaps)
        elif kind.startswith(OFFICE_TYPES) or (kind == "application/zip" and _is_office(data)):
            out.chunks.append(TextChunk(location, office.office_text(data, limits)))
        elif kind in (
            "application/zip",
            "application/x-tar",
            "application/gzip",
            "application/x-gzip",
        ):
            _archive(out, name, kind, data, limits, depth, ocr)
        elif kind.startswith(LEGACY_OFFICE):
            out.gaps.append("legacy-office")
        elif kind.startswith(IMAGES):
            if ocr is None:
                out.gaps.append("ocr-needed")
            else:
                out.chunks.append(TextChunk(location, ocr_image(data, ocr)))
        elif kind in ("application/pkcs7-signature", "application/pgp-signature"):
            pass
        else:
            out.gaps.append("unsupported-attachment")
    except Unreadable as e:
        out.gaps.append(e.reason)
    return out


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
) -> None:
    if depth >= limits.max_depth:
        raise Unreadable("limit")
    if kind == "application/zip":
        members = archive.zip_members(data, limits)
    elif kind == "application/x-tar":
        members = archive.tar_members(data, limits)
    else:
        inner = archive.gzip_member(data, limits)
        if sniff.real_type(inner) == "application/x-tar":
            members = archive.tar_members(inner, limits)
        else:
            members = iter([(name.removesuffix(".gz"), inner)])
    for member, content in members:
        inner_result = extract_attachment(
            f"{name}/{member}", "application/octet-stream", content, limits, depth + 1, ocr
        )
        out.chunks.extend(inner_result.chunks)
        out.gaps.extend(inner_result.gaps)
        out.signals.extend(inner_result.signals)
