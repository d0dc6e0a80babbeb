"""Extraction speed per format, and where a mixed message's time goes, in one run.

Per format: ms per typical attachment and MB/s; the PDF text layer with pypdf (what Postvagt
uses) against pypdfium2 when it is installed; OCR ms per image at the default resolution;
then one mixed message (body, DOCX, XLSX, PDF, zip, photo) split into stages.

    .venv/bin/python bench/extract.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.detect.engine import build_detector  # noqa: E402
from gateway.extract.ocr import OcrBudget  # noqa: E402
from gateway.extract.text import extract_attachment, mail_text_and_gaps  # noqa: E402
from gateway.security import classify  # noqa: E402
from tests import fictional  # noqa: E402
from tests.mailcorpus import MUNICIPAL_SENTENCES  # noqa: E402
from tests.test_extract import docx_bytes, mail_with, odt_bytes, xlsx_bytes, zip_of  # noqa: E402
from tests.test_ocr import card_photo  # noqa: E402


def long_text(rng: random.Random, sentences: int) -> str:
    return "\n".join(
        rng.choice(MUNICIPAL_SENTENCES) + (f" CPR {fictional.cpr(rng)}." if i % 7 == 0 else "")
        for i in range(sentences)
    )


def pdf_pages(text: str, pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def timed(run, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(3)
    text = long_text(rng, 60)
    samples = {
        "docx": ("a.docx", "application/octet-stream", docx_bytes(text)),
        "xlsx": ("a.xlsx", "application/octet-stream", xlsx_bytes(text)),
        "odt": ("a.odt", "application/octet-stream", odt_bytes(text)),
        "pdf (5 pages)": ("a.pdf", "application/pdf", pdf_pages(text, 5)),
        "zip of 3 pdfs": (
            "a.zip",
            "application/zip",
            zip_of({f"{i}.pdf": pdf_pages(text, 2) for i in range(3)}),
        ),
        "csv": ("a.csv", "text/csv", text.encode()),
    }
    print(f"{'format':16} | {'KB':>6} | {'ms':>8} | {'MB/s':>6}")
    for label, (name, declared, data) in samples.items():
        seconds = timed(lambda n=name, d=declared, b=data: extract_attachment(n, d, b), args.rounds)
        print(
            f"{label:16} | {len(data) / 1024:6.0f} | {seconds * 1000:8.1f} | "
            f"{len(data) / seconds / 1e6:6.2f}",
            flush=True,
        )

    pdf = samples["pdf (5 pages)"][2]
    try:
        import pypdfium2

        def pdfium() -> str:
            document = pypdfium2.PdfDocument(pdf)
            return "".join(page.get_textpage().get_text_range() for page in document)

        print(
            f"PDF library: pypdf {timed(lambda: extract_attachment('a.pdf', 'application/pdf', pdf), args.rounds) * 1000:.1f} ms"  # noqa: E501
            f" vs pypdfium2 {timed(pdfium, args.rounds) * 1000:.1f} ms for 5 pages"
        )
    except ImportError:
        print("PDF library: pypdfium2 not installed; pypdf only (pip install pypdfium2 to compare)")

    photo = card_photo(fictional.cpr(rng))
    ocr_seconds = timed(
        lambda: extract_attachment("p.jpg", "image/jpeg", photo, ocr=OcrBudget(60)), 2
    )
    print(f"OCR: {ocr_seconds * 1000:.0f} ms per card photo (1400x560, dan+eng, one thread)")

    raw = mail_with("bilag.docx", "application/octet-stream", samples["docx"][2])
    raw = (
        raw.replace(b"--b--\r\n", b"")
        + mail_with("scan.jpg", "image/jpeg", photo).split(b"Se bilag.\r\n", 1)[1]
    )
    detector = build_detector()
    stages = {
        "protection": lambda: classify(raw),
        "extract + OCR": lambda: mail_text_and_gaps(raw, OcrBudget(60)),
    }
    chunks, _ = mail_text_and_gaps(raw, OcrBudget(60))
    stages["detect"] = lambda: detector.detect(chunks)
    times = {name: timed(run, 2) for name, run in stages.items()}
    total = sum(times.values())
    print(
        "mixed message (body, docx, photo): "
        + ", ".join(
            f"{name} {seconds * 1000:.0f} ms ({seconds / total:.0%})"
            for name, seconds in times.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
