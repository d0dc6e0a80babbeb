"""Pictures inside documents (issue 16): a photo of a CPR number pasted into a Word letter,
an ODT, a PDF page that also has a text layer, an RTF \\pict; all made by the real tools at
test time and read by the real Tesseract. A picture that cannot carry text is skipped with a
note; one that the budget, a limit or a failure leaves unread makes the message incomplete."""

from __future__ import annotations

import functools
import io
import json
import random
import tarfile
import time
from types import SimpleNamespace

from PIL import Image, ImageDraw, ImageFont

from gateway.extract.ocr import OcrBudget
from gateway.extract.text import extract_attachment, mail_text_and_gaps
from tests import fictional
from tests.test_extract import DOCX, mail_with

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
NUMBER = fictional.cpr(random.Random(1601))
BUDGET = 30.0
NOT_READ = "embedded-image-not-read"


def cpr_picture(number: str = NUMBER, fmt: str = "PNG") -> bytes:
    """A clean scan of one line: big enough for Tesseract, small enough to read in ~1 s."""
    image = Image.new("RGB", (900, 110), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((30, 25), f"CPR-nr. {number}", font=ImageFont.truetype(FONT, 52), fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def icon(size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def docx_with(*pictures: bytes) -> bytes:
    import docx
    from docx.shared import Cm

    document = docx.Document()
    document.add_paragraph("Kære sagsbehandler, her er mit sundhedskort.")
    for picture in pictures:
        document.add_picture(io.BytesIO(picture), width=Cm(8))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def odt_with(picture: bytes) -> bytes:
    from odf.draw import Frame
    from odf.draw import Image as DrawImage
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    href = document.addPicture(filename="Pictures/kort.png", mediatype="image/png", content=picture)
    frame = Frame(width="9cm", height="1.1cm", anchortype="paragraph")
    frame.addElement(DrawImage(href=href))
    paragraph = P(text="Vedlagt mit sundhedskort")
    paragraph.addElement(frame)
    document.text.addElement(paragraph)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def pdf_with_text_and_picture(picture: bytes) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Ansogning om boligstotte, se billedet herunder.")
    pdf.image(io.BytesIO(picture), x=10, y=30, w=150)
    return bytes(pdf.output())


def rtf_with(picture: bytes) -> bytes:
    """What Word writes: the PNG in \\shppict, a WMF copy of it in \\nonshppict."""
    hexed = picture.hex()
    lines = "\n".join(hexed[i : i + 128] for i in range(0, len(hexed), 128))
    return (
        "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0\\fs24 Brev til kommunen\\par "
        "{\\*\\shppict{\\pict{\\*\\picprop}\\picw9000\\pich1100\\picwgoal5400\\pichgoal660"
        "\\pngblip\\bliptag-12345{\\*\\blipuid 0123456789abcdef0123456789abcdef}\n"
        + lines
        + "}}{\\nonshppict{\\pict\\picw9000\\pich1100\\wmetafile8 0100090000035a0000000000}}"
        "\\par Venlig hilsen\\par}"
    ).encode("ascii")


def _found(chunks) -> str:
    return "\n".join(c.text for c in chunks)


def test_docx_with_a_picture_of_a_cpr_number_is_a_finding(detector):
    started = time.monotonic()
    found = extract_attachment("brev.docx", DOCX, docx_with(cpr_picture()), ocr=OcrBudget(BUDGET))
    print(f"docx, one embedded picture: {time.monotonic() - started:.2f} s")
    assert found.gaps == []
    assert NUMBER in _found(found.chunks)
    findings, _, _ = detector.detect(found.chunks)
    assert "DK_CPR" in {f.entity for f in findings}
    assert any(f.location.startswith("attachment:brev.docx/word/media/") for f in findings)


def test_odt_with_a_picture_of_a_cpr_number_is_read():
    found = extract_attachment(
        "brev.odt",
        "application/vnd.oasis.opendocument.text",
        odt_with(cpr_picture()),
        ocr=OcrBudget(BUDGET),
    )
    assert found.gaps == []
    assert NUMBER in _found(found.chunks)
    assert "Vedlagt mit sundhedskort" in _found(found.chunks)


def test_pdf_page_with_a_text_layer_has_its_picture_read_too():
    found = extract_attachment(
        "bilag.pdf",
        "application/pdf",
        pdf_with_text_and_picture(cpr_picture()),
        ocr=OcrBudget(BUDGET),
    )
    assert found.gaps == []
    assert "Ansogning" in _found(found.chunks)
    assert NUMBER in _found(found.chunks)


def test_rtf_pict_png_is_read_and_its_hex_is_not_text():
    found = extract_attachment(
        "brev.rtf", "application/rtf", rtf_with(cpr_picture()), ocr=OcrBudget(BUDGET)
    )
    assert found.gaps == []
    text = _found(found.chunks)
    assert NUMBER in text and "Venlig hilsen" in text
    assert "89504e47" not in text.replace("\n", "")  # the PNG's hex is gone from the text


def test_rtf_picture_in_a_format_we_cannot_read_is_a_gap():
    rtf = b"{\\rtf1\\ansi Brev\\par {\\pict\\picw9000\\pich1100\\emfblip 0100000088000000}\\par}"
    found = extract_attachment("brev.rtf", "application/rtf", rtf, ocr=OcrBudget(BUDGET))
    assert found.gaps == [NOT_READ]
    assert found.notes == ["did not read 1 images in attachment:brev.rtf: 1 format emf"]


def test_gif_with_a_transparency_index_is_read_like_a_png():
    """The transparent background's palette entry is black, like the text on it."""
    rgba = Image.new("RGBA", (900, 110), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).text(
        (30, 25), f"CPR-nr. {NUMBER}", font=ImageFont.truetype(FONT, 52), fill=(0, 0, 0, 255)
    )
    gif = io.BytesIO()
    rgba.save(gif, "GIF")
    assert "transparency" in Image.open(io.BytesIO(gif.getvalue())).info
    found = extract_attachment("kort.gif", "image/gif", gif.getvalue(), ocr=OcrBudget(BUDGET))
    assert found.gaps == []
    assert NUMBER in _found(found.chunks)


def test_tiny_icon_is_skipped_with_a_note_and_the_message_stays_complete():
    from gateway.extract import embedded

    found = extract_attachment("brev.docx", DOCX, docx_with(icon(32), icon(16)), ocr=OcrBudget(0))
    assert found.gaps == []
    assert found.notes == [
        f"skipped 2 images under {embedded.MIN_LENGTH}×{embedded.MIN_SIDE} px "
        "in attachment:brev.docx"
    ]


def test_budget_spent_leaves_the_picture_unread_and_says_so():
    found = extract_attachment("brev.docx", DOCX, docx_with(cpr_picture()), ocr=OcrBudget(0))
    assert found.gaps == [NOT_READ]
    assert found.notes == ["did not read 1 images in attachment:brev.docx: 1 ocr-budget"]
    unread = extract_attachment("brev.docx", DOCX, docx_with(cpr_picture()))  # no OCR at all
    assert unread.gaps == [NOT_READ]


class OnePicture(OcrBudget):
    """A budget that lasts for exactly one OCR run, however fast this machine is."""

    def remaining(self) -> float:
        return self.seconds if self.spent == 0 else 0.0


def test_largest_picture_is_read_first_within_the_budget():
    """The budget runs out after the first picture: the big one, not the logo-sized one."""
    small = Image.new("RGB", (300, 60), (255, 255, 255))
    ImageDraw.Draw(small).text((5, 10), "Logo", font=ImageFont.truetype(FONT, 30), fill=0)
    logo = io.BytesIO()
    small.save(logo, "PNG")
    document = docx_with(logo.getvalue(), cpr_picture())
    found = extract_attachment("brev.docx", DOCX, document, ocr=OnePicture(BUDGET))
    assert NUMBER in _found(found.chunks)
    assert found.gaps == [NOT_READ]
    assert found.notes == ["did not read 1 images in attachment:brev.docx: 1 ocr-budget"]


def test_pictures_of_spreadsheets_and_slides_are_listed():
    import openpyxl
    from openpyxl.drawing.image import Image as SheetImage
    from pptx import Presentation
    from pptx.util import Inches

    from gateway.extract import embedded

    book = openpyxl.Workbook()
    book.active.add_image(SheetImage(io.BytesIO(cpr_picture())), "B3")
    xlsx = io.BytesIO()
    book.save(xlsx)
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_picture(io.BytesIO(cpr_picture()), Inches(1), Inches(1))
    pptx = io.BytesIO()
    deck.save(pptx)
    limits = embedded.Limits()
    for data, folder in ((xlsx.getvalue(), "xl/media/"), (pptx.getvalue(), "ppt/media/")):
        (picture,) = embedded.office_pictures(data, limits)
        assert picture.name.startswith(folder)
        assert (picture.width, picture.height) == (900, 110)


@functools.cache
def pixel_bomb() -> bytes:
    """400 megapixels in a 50 kB PNG."""
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    return bomb.getvalue()


def test_pixel_bomb_inside_a_docx_is_a_gap_not_a_decode():
    swapped = _replace_media(docx_with(icon(100)), pixel_bomb())
    found = extract_attachment("brev.docx", DOCX, swapped, ocr=OcrBudget(BUDGET))
    assert found.gaps == [NOT_READ]
    assert found.notes == ["did not read 1 images in attachment:brev.docx: 1 limit"]


def _replace_media(docx: bytes, picture: bytes) -> bytes:
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(docx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info.filename, picture if "/media/" in info.filename else data)
    return out.getvalue()


def maildir_tgz() -> bytes:
    mail = (
        "From: borger@example.net\nTo: post@kommune.example\nSubject: Flytning\n"
        f"Date: Mon, 1 Jun 2026 10:00:00 +0200\nMessage-ID: <1@example.net>\n\n"
        f"Mit CPR-nr. er {NUMBER}\n"
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in (("export/cur/1717230000.1.host:2,S", mail),):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_maildir_export_in_a_tgz_is_read(detector):
    raw = mail_with("export.tgz", "application/x-gtar-compressed", maildir_tgz())
    chunks, gaps = mail_text_and_gaps(raw)
    assert gaps == []
    findings, _, _ = detector.detect(chunks)
    assert "DK_CPR" in {f.entity for f in findings}


def test_scan_reports_the_unread_picture(detector, monkeypatch):
    """`postvagt scan`'s own path (inspect_file → facts) when the OCR budget is spent."""
    from gateway import reading
    from gateway.scan import facts_for, inspect_file
    from gateway.security import TrustConfig

    monkeypatch.setattr(reading, "OCR_SECONDS", 0.0)
    raw = mail_with("brev.docx", DOCX, docx_with(cpr_picture()))
    seen = inspect_file(detector, raw, TrustConfig())
    assert [(g.location, g.reason) for g in seen.gaps] == [("attachment:brev.docx", NOT_READ)]
    assert NOT_READ in facts_for(seen, raw, None, None).unscanned


def test_scan_json_lists_the_unread_picture(tmp_path):
    from tests.test_scan import scan

    docx = _replace_media(docx_with(icon(100)), pixel_bomb())
    (tmp_path / "brev.eml").write_bytes(mail_with("brev.docx", DOCX, docx))
    line = json.loads(scan("--json", str(tmp_path / "brev.eml")).stdout)
    assert line["unscanned"] == [{"location": "attachment:brev.docx", "reason": NOT_READ}]


def test_gateway_maps_the_reason_to_incomplete():
    from gateway.model import Inspection, Protection, Unscanned
    from gateway.stages import DetectStage

    class Pool:
        def detect(self, raw: bytes, budget: float):
            return [], [NOT_READ], Protection()

    received = SimpleNamespace(raw=b"")
    facts = DetectStage(pool=Pool(), budget=5.0)(received, Inspection())  # type: ignore[arg-type]
    assert facts.unscanned == (Unscanned.EMBEDDED_IMAGE_NOT_READ,)
    assert not facts.complete


def test_explain_names_the_skipped_and_the_unread_pictures(detector, monkeypatch):
    """What extraction passed over reaches `postvagt scan --explain` and its JSON."""
    from gateway import reading
    from gateway.decide.holder import PolicyHolder
    from gateway.scan import ScanOptions, explain, scan_one

    monkeypatch.setattr(reading, "OCR_SECONDS", 0.0)
    raw = mail_with("brev.docx", DOCX, docx_with(icon(16), cpr_picture()))
    options = ScanOptions(policy=PolicyHolder(None, "mx"))
    result, below = scan_one(detector, "brev.eml", raw, options)
    assert result["notes"] == [
        "skipped 1 image under 64×12 px in attachment:brev.docx",
        "did not read 1 images in attachment:brev.docx: 1 ocr-budget",
    ]
    out = io.StringIO()
    explain(result, below, out)
    assert "NOTE   skipped 1 image under" in out.getvalue()


def _pdf_page(content: bytes, xobject_image: bool = False):
    """One page with ``content`` as its content stream (and an image XObject if asked), as
    pypdf reads it back."""
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(_pdf_bytes(content, xobject_image))).pages[0]


def _pdf_bytes(content: bytes, xobject_image: bool = False) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    stream = DecodedStreamObject()
    stream.set_data(content)
    page[NameObject("/Contents")] = writer._add_object(stream)
    if xobject_image:
        image = DecodedStreamObject()
        image.set_data(bytes(range(64)) * 4)
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(16),
                NameObject("/Height"): NumberObject(16),
                NameObject("/BitsPerComponent"): NumberObject(8),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
            }
        )
        xobjects = DictionaryObject({NameObject("/Im1"): writer._add_object(image)})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/XObject"): xobjects})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_pictures_inline_and_xobject_are_listed_and_a_text_page_has_none():
    """A page of text alone skips pypdf's second walk of its content stream; an inline
    image or an image XObject is still listed, and "BI" in the text changes nothing."""
    from gateway.extract.embedded import pdf_page_pictures

    inline = b"q 100 0 0 100 10 10 cm\nBI /W 4 /H 4 /BPC 8 /CS /G ID " + bytes(16) + b"\nEI Q\n"
    (picture,) = pdf_page_pictures(_pdf_page(inline), 1)
    assert (picture.format, picture.width, picture.height) == ("inline", 4, 4)
    drawn = b"q 100 0 0 100 10 10 cm /Im1 Do Q\n"
    (picture,) = pdf_page_pictures(_pdf_page(drawn, xobject_image=True), 2)
    assert (picture.format, picture.width, picture.height) == ("xobject", 16, 16)
    text = b"BT 10 150 Td (BI 12 og BIBLIOTEK) Tj ET\n"
    assert pdf_page_pictures(_pdf_page(text), 3, text_layer=True) == []
    # NUL is PDF white space: an inline image after it still sends the page to pypdf's
    # walk (which today fails on it: a "malformed" gap in pdf_text, as before).
    from gateway.extract.embedded import _may_hold_pictures

    assert _may_hold_pictures(_pdf_page(inline.replace(b"cm\nBI", b"cm\x00BI")))
    assert not _may_hold_pictures(_pdf_page(text))


def test_a_page_without_text_whose_pictures_cannot_be_walked_is_a_gap():
    """No text layer: the picture walk always runs, so what pypdf cannot walk is said."""
    from gateway.extract.limits import Limits
    from gateway.extract.pdf import pdf_text

    broken = b"q 100 0 0 100 10 10 cm\x00BI /W 4 /H 4 /BPC 8 /CS /G ID " + bytes(16) + b"\nEI Q\n"
    text, gaps, _ = pdf_text(_pdf_bytes(broken), Limits())
    assert text.strip() == "" and "malformed" in gaps
