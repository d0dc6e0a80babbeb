"""The text layer of PDFs (pypdf). Pages without text would need OCR: reported, not read."""

from __future__ import annotations

import io
import logging

from gateway.extract.limits import Limits, Unreadable
from gateway.extract.ocr import OcrBudget, ocr_image

MAX_IMAGES_PER_PAGE = 4


def _ocr_page(page: object, ocr: OcrBudget | None, gaps: list[str]) -> str:
    if ocr is None:
        gaps.append("ocr-needed")
        return ""
    texts = []
    try:
        images = list(page.images)[:MAX_IMAGES_PER_PAGE]  # type: ignore[attr-defined]
    except Exception:  # pypdf raises many kinds for odd image streams
        gaps.append("malformed")
        return ""
    for image in images:
        try:
            texts.append(ocr_image(image.data, ocr))
        except Unreadable as e:
            gaps.append(e.reason)
    return "\n".join(texts)


logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd object


def pdf_text(data: bytes, limits: Limits, ocr: OcrBudget | None = None) -> tuple[str, list[str]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    gaps: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Unreadable("encrypted")
        pages = reader.pages
        count = len(pages)
        if count > limits.max_pdf_pages:
            gaps.append("limit")
        texts = []
        for page in list(pages)[: limits.max_pdf_pages]:
            text = page.extract_text() or ""
            if not text.strip():
                text = _ocr_page(page, ocr, gaps)  # a scanned page: its images through OCR
            texts.append(text)
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise Unreadable("malformed") from e
    return "\n".join(texts), sorted(set(gaps))
