"""Attachments made by real tools at test time (python-docx, openpyxl, odfpy, fpdf2, zipfile),
read by their real type; bombs stay within the limits with the right "unscanned" reason."""

from __future__ import annotations

import base64
import io
import random
import zipfile

import pytest

from gateway.extract.text import extract_attachment, mail_text_and_gaps
from tests import fictional

NUMBER = fictional.cpr(random.Random(41))


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Ansøgning om boligstøtte")
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(text: str) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active["A1"] = "Navn"
    book.active["B1"] = text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def odt_bytes(text: str) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    document.text.addElement(P(text=text))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def pptx_bytes(text: str) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1)).text_frame.text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def ods_bytes(text: str) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Ark1")
    row = TableRow()
    cell = TableCell()
    cell.addElement(P(text=text))
    row.addElement(cell)
    table.addElement(row)
    document.spreadsheet.addElement(table)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def rtf_bytes(text: str) -> bytes:
    escaped = "".join(c if ord(c) < 128 else f"\\'{ord(c):02x}" for c in text)
    return (
        "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0\\fs24 Ans\\'f8gning\\par "
        + escaped
        + "\\par}"
    ).encode("ascii")


def pdf_bytes(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def mail_with(name: str, content_type: str, data: bytes) -> bytes:
    return (
        b"From: borger@example.net\r\nTo: post@kommune.example\r\nSubject: Bilag\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe bilag.\r\n"
        + f"--b\r\nContent-Type: {content_type}; name={name}\r\n".encode()
        + f"Content-Disposition: attachment; filename={name}\r\n".encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )


TEXT = f"Mit CPR-nr. er {NUMBER}"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("name", "content_type", "make"),
    [
        ("ansoegning.docx", DOCX, docx_bytes),
        (
            "skema.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx_bytes,
        ),
        ("brev.odt", "application/vnd.oasis.opendocument.text", odt_bytes),
        ("bilag.pdf", "application/pdf", pdf_bytes),
        ("noter.csv", "text/csv", lambda t: f"navn;cpr\nOle;{t}\n".encode()),
        (
            "slides.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            pptx_bytes,
        ),
        ("ark.ods", "application/vnd.oasis.opendocument.spreadsheet", ods_bytes),
        ("brev.rtf", "application/rtf", rtf_bytes),
    ],
)
def test_formats_yield_their_text_and_the_cpr_is_found(detector, name, content_type, make):
    chunks, gaps = mail_text_and_gaps(mail_with(name, content_type, make(TEXT)))
    attachment = [c for c in chunks if c.location == f"attachment:{name}"]
    assert attachment and NUMBER in attachment[0].text
    findings, _, _ = detector.detect(chunks)
    assert ("DK_CPR", f"attachment:{name}") in {(f.entity, f.location) for f in findings}
    assert gaps == []


def test_disguised_pdf_is_read_by_its_real_type():
    found = extract_attachment("bilag.dat", "application/octet-stream", pdf_bytes(TEXT))
    assert NUMBER in found.chunks[0].text
    assert found.signals == [
        "attachment:bilag.dat: declared application/octet-stream, really application/pdf"
    ]


def test_zip_holding_a_pdf():
    found = extract_attachment(
        "bilag.zip", "application/zip", zip_of({"scan/bilag.pdf": pdf_bytes(TEXT)})
    )
    assert [c.location for c in found.chunks] == ["attachment:bilag.zip/scan/bilag.pdf"]
    assert NUMBER in found.chunks[0].text


@pytest.mark.parametrize(
    ("label", "make", "reason"),
    [
        ("zip bomb", lambda: zip_of({"zeros.txt": b"\0" * 60_000_000}), "limit"),
        ("10,000 entries", lambda: zip_of({f"f{i}.txt": b"x" for i in range(10_000)}), "limit"),
        ("nested 20 deep", None, "limit"),
        ("truncated zip", lambda: zip_of({"a.txt": b"x" * 5000})[:60], "malformed"),
        ("legacy doc", lambda: bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 600, "legacy-office"),
        (
            "image",
            lambda: base64.b64decode(
                "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
                "RU5ErkJggg=="
            ),
            "ocr-needed",
        ),
    ],
)
def test_bombs_and_unreadable_parts_are_reported(label, make, reason):
    if make is None:
        data = pdf_bytes(TEXT)
        for depth in range(20):
            data = zip_of({f"level{depth}.zip": data})
    else:
        data = make()
    found = extract_attachment("x", "application/octet-stream", data)
    assert reason in found.gaps, (label, found.gaps)
    assert all(NUMBER not in c.text for c in found.chunks)


def test_malformed_base64_does_not_crash():
    raw = (
        b"From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
        b"boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n%%%not base64!!!\r\n--b--\r\n"
    )
    _, gaps = mail_text_and_gaps(raw)
    assert gaps  # reported, not silently clean


def test_attachment_through_the_gateway(upstream, make_gateway):
    from tests.helpers import send, split

    gw = make_gateway(upstream, detect=True, detect_workers=1)
    send(
        gw.port,
        mail_with("ansoegning.docx", DOCX, docx_bytes(TEXT)),
        rcpts=["borgerservice@kommune.example"],
    )
    ours, _ = split(upstream.messages[0].content)
    assert b"X-Postvagt-Journal: required" in ours and b"reasons=DK_CPR" in ours
    assert b"X-Postvagt-Scan: complete" in ours


def test_thousand_deep_mime_nesting_is_a_limit_not_a_crash():
    from gateway.security import classify

    body = b""
    for i in range(1000):
        body += f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
    body += f"Content-Type: text/plain\r\n\r\nCPR {NUMBER}\r\n".encode()
    for i in reversed(range(1000)):
        body += f"\r\n--b{i}--\r\n".encode()
    raw = b"From: a@example.net\r\nSubject: dyb\r\nMIME-Version: 1.0\r\n" + body
    chunks, gaps = mail_text_and_gaps(raw)
    assert gaps == ["limit"] and [c.location for c in chunks] == ["subject"]
    assert classify(raw).uninspected == ("message: MIME nesting too deep to inspect",)


def test_every_location_end_to_end_through_the_gateway(upstream, make_gateway):
    from PIL import Image

    from tests.helpers import send, split
    from tests.test_ocr import card_photo

    photo = card_photo(NUMBER)
    scanned = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("RGB").save(scanned, "PDF", resolution=150)
    inner = mail_with("bilag.docx", DOCX, docx_bytes(TEXT))
    forwarded = (
        b"From: kollega@example.net\r\nTo: post@kommune.example\r\nSubject: Fwd\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n"
        b"--f\r\nContent-Type: text/plain\r\n\r\nVideresendt.\r\n--f\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--f--\r\n"
    )
    cases = {
        "docx": mail_with("a.docx", DOCX, docx_bytes(TEXT)),
        "xlsx": mail_with("a.xlsx", "application/octet-stream", xlsx_bytes(TEXT)),
        "odt": mail_with("a.odt", "application/vnd.oasis.opendocument.text", odt_bytes(TEXT)),
        "pdf": mail_with("a.pdf", "application/pdf", pdf_bytes(TEXT)),
        "disguised pdf": mail_with("bilag.dat", "application/octet-stream", pdf_bytes(TEXT)),
        "zip of pdf": mail_with("a.zip", "application/zip", zip_of({"a.pdf": pdf_bytes(TEXT)})),
        "photo": mail_with("kort.jpg", "image/jpeg", photo),
        "scanned pdf": mail_with("scan.pdf", "application/pdf", scanned.getvalue()),
        "forwarded": forwarded,
    }
    gw = make_gateway(upstream, detect=True, detect_workers=1)
    for raw in cases.values():
        send(gw.port, raw, rcpts=["borgerservice@kommune.example"])
    assert len(upstream.messages) == len(cases)
    for (label, _), delivered in zip(cases.items(), upstream.messages, strict=True):
        ours, _ = split(delivered.content)
        assert b"X-Postvagt-Journal: required" in ours and b"DK_CPR" in ours, label


def test_an_html_copy_of_the_plain_body_is_read_once_and_one_that_says_more_is_read():
    """multipart/alternative as Outlook writes it: the HTML part word for word the plain one
    is not detected twice (issue 17); an HTML part with anything more is read in full."""
    from email.message import EmailMessage

    text = "Hej\n\nJeg søger om boligstøtte.\nMvh\nMette"
    same = EmailMessage()
    same["Subject"] = "Boligstøtte"
    same.set_content(text)
    same.add_alternative(
        "<html><body><p>Hej</p><p>Jeg søger om <b>boligstøtte</b>.</p><p>Mvh<br>Mette</p>"
        "</body></html>",
        subtype="html",
    )
    assert [c.location for c in mail_text_and_gaps(same.as_bytes())[0]] == ["subject", "body"]
    more = EmailMessage()
    more["Subject"] = "Boligstøtte"
    more.set_content(text)
    more.add_alternative(f"<html><body><p>{text}</p><p>CPR {NUMBER}</p></body></html>", "html")
    chunks = mail_text_and_gaps(more.as_bytes())[0]
    assert [c.location for c in chunks] == ["subject", "body", "html"]
    assert NUMBER in chunks[-1].text


def test_attachments_not_read_are_reported_and_text_attachments_are_read():
    raw = (
        b"From: a@example.net\r\nSubject: bilag\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\nSe bilag.\r\n--b\r\n"
        b"Content-Type: text/plain; name=noter.txt\r\nContent-Disposition: attachment; "
        b"filename=noter.txt\r\n\r\nMine noter\r\n--b\r\n"
        b"Content-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; "
        b"filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    chunks, gaps = mail_text_and_gaps(raw)
    assert ("attachment:noter.txt", "Mine noter") in [(c.location, c.text.strip()) for c in chunks]
    assert gaps == ["malformed"]  # a PDF header and nothing more
