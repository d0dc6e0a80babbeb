"""OCR with the real Tesseract (Debian's tesseract-ocr, -dan, -eng) on images rendered with
Pillow and a real font, rotated and noisy like a phone photo of a health card."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from gateway.extract.ocr import OcrBudget, available, repair
from gateway.extract.text import extract_attachment
from tests import fictional


def test_tesseract_is_there():
    assert available(), "make test installs tesseract-ocr (scripts/bootstrap)"


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
NUMBER = fictional.cpr(random.Random(51))


def card_photo(number: str, fmt: str = "JPEG") -> bytes:
    """A yellow health card, photographed: slightly rotated, blurred, speckled."""
    image = Image.new("RGB", (1400, 560), (250, 222, 80))
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.truetype(FONT, 64), ImageFont.truetype(FONT, 44)
    draw.text((60, 50), "Sundhedskort", font=big, fill=(20, 20, 20))
    draw.text((60, 190), f"CPR-nr. {number}", font=big, fill=(20, 20, 20))
    draw.text((60, 330), "Lægens navn: Klinik Testby", font=small, fill=(40, 40, 40))
    rng = random.Random(5)
    pixels = image.load()
    for _ in range(6000):
        x, y = rng.randrange(1400), rng.randrange(560)
        pixels[x, y] = (rng.randrange(256),) * 3
    image = image.rotate(2.5, expand=True, fillcolor=(255, 255, 255))
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 70} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_photo_of_a_health_card_yields_the_number(detector, fmt):
    found = extract_attachment(
        "kort.jpg", f"image/{fmt.lower()}", card_photo(NUMBER, fmt), ocr=OcrBudget(30)
    )
    assert found.gaps == []
    findings, _, _ = detector.detect(found.chunks)
    assert "DK_CPR" in {f.entity for f in findings}, found.chunks


def test_scanned_document_pdf_goes_through_ocr(detector):
    image = Image.open(io.BytesIO(card_photo(NUMBER, "PNG")))
    pdf = io.BytesIO()
    image.convert("RGB").save(pdf, "PDF", resolution=150)
    found = extract_attachment("scan.pdf", "application/pdf", pdf.getvalue(), ocr=OcrBudget(30))
    findings, _, _ = detector.detect(found.chunks)
    assert "DK_CPR" in {f.entity for f in findings}


def test_without_budget_images_are_reported_not_read():
    found = extract_attachment("kort.jpg", "image/jpeg", card_photo(NUMBER), ocr=OcrBudget(0.5))
    assert found.gaps == ["ocr-budget"]
    assert extract_attachment("kort.jpg", "image/jpeg", card_photo(NUMBER)).gaps == ["ocr-needed"]


def test_pixel_bomb_is_refused_before_decoding():
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    found = extract_attachment("bomb.png", "image/png", bomb.getvalue(), ocr=OcrBudget(30))
    assert found.gaps == ["limit"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CPR: 15O3 85-2OO1", "CPR: 150385-2001"),
        ("CPR-nr.: l5O385-2OOl", "CPR-nr.: 150385-2001"),
        ("cpr 150385 2001", "cpr 1503852001"),
        ("Tlf 22 33 44 55", "Tlf 22 33 44 55"),
        ("Sagsbehandler Ib Olsen", "Sagsbehandler Ib Olsen"),
    ],
)
def test_ocr_look_alikes_are_repaired(text, expected):
    assert repair(text) == expected
