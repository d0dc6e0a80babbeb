"""The text layer of PDFs (pypdf), and their pictures.

A page without text is a scanned page: its largest pictures go through OCR here (reported
"ocr-needed" without an OCR budget). The pictures of pages that do have text are handed back
as embedded pictures (gateway.extract.embedded), for the attachment's OCR lane to read
largest first, like the pictures of any other document.
"""

from __future__ import annotations

import io
import logging

from gateway.extract.embedded import Picture, pdf_page_pictures
from gateway.extract.limits import Limits, Unreadable
from gateway.extract.ocr import MAX_PIXELS, OcrBudget, ocr_image

MAX_IMAGES_PER_PAGE = 4  # OCR'd as the page itself; any more are read as embedded pictures


def _ocr_page(
    pictures: list[Picture], ocr: OcrBudget | None, gaps: list[str]
) -> tuple[str, list[Picture]]:
    """The text of a scanned page's largest pictures, and the pictures left over."""
    if ocr is None:
        gaps.append("ocr-needed")
        return "", []
    ordered = sorted(pictures, key=lambda p: p.area, reverse=True)
    texts = []
    for picture in ordered[:MAX_IMAGES_PER_PAGE]:
        try:
            if picture.area > MAX_PIXELS:
                raise Unreadable("limit")  # before pypdf decodes it
            texts.append(ocr_image(picture.load(), ocr))
        except Unreadable as e:
            gaps.append(e.reason)
        except Exception:  # pypdf raises many kinds for odd image streams
            gaps.append("malformed")
    return "\n".join(texts), ordered[MAX_IMAGES_PER_PAGE:]


logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd object


def pdf_text(
    data: bytes, limits: Limits, ocr: OcrBudget | None = None
) -> tuple[str, list[str], list[Picture]]:
    """The text, the reasons some could not be read, and the embedded pictures still to
    read (those on pages with a text layer)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    gaps: list[str] = []
    embedded: list[Picture] = []
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Unreadable("encrypted")
        pages = reader.pages
        count = len(pages)
        if count > limits.max_pdf_pages:
            gaps.append("limit")
        texts = []
        for number, page in enumerate(list(pages)[: limits.max_pdf_pages], start=1):
            text = page.extract_text() or ""
            try:
                pictures = pdf_page_pictures(page, number, text_layer=bool(text.strip()))
            except Unreadable:
                raise
            except Exception:  # pypdf raises many kinds for odd content streams
                gaps.append("malformed")
                pictures = []
            if not text.strip():
                text, pictures = _ocr_page(pictures, ocr, gaps)  # a scanned page
            embedded.extend(pictures)
            if len(embedded) > limits.max_files:
                raise Unreadable("limit")
            texts.append(text)
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise Unreadable("malformed") from e
    return "\n".join(texts), sorted(set(gaps)), embedded
