"""The text layer of PDFs (pypdf). Pages without text would need OCR: reported, not read."""

from __future__ import annotations

import io
import logging

from gateway.extract.limits import Limits, Unreadable

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd object


def pdf_text(data: bytes, limits: Limits) -> tuple[str, list[str]]:
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
                gaps.append("ocr-needed")  # an image-only page: the OCR lane's work
            texts.append(text)
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise Unreadable("malformed") from e
    return "\n".join(texts), sorted(set(gaps))
