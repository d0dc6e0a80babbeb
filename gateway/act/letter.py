"""A plain A4 letter as PDF, for physical mail through Digital Post's print service
(fjernprint): the recipient's address where a Danish window envelope shows it, the
municipality's sender lines at the top right, the title in bold and the text under it.

Written by hand (PDF 1.4, the standard Helvetica fonts in WinAnsiEncoding, which covers
æ, ø and å): no PDF library is needed at run time for one page of text. The print service
reads the address through the envelope window, as python-serviceplatformen's
``create_physical_mail`` expects of the file it is given.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

A4 = (595, 842)  # points
LEFT = 57  # 20 mm: the window's left edge on a C5 window envelope
ADDRESS_TOP = 842 - 130  # about 46 mm from the top: inside the window
TEXT_TOP = 842 - 290
BOTTOM = 60
LINE = 14
WIDTH = 88  # characters of 10.5 pt Helvetica in the text column


def _text(value: str) -> str:
    raw = value.encode("cp1252", "replace").decode("latin-1")
    return raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _line(font: str, size: float, x: float, y: float, value: str) -> str:
    return f"BT /{font} {size} Tf {x} {y} Td ({_text(value)}) Tj ET"


def _wrap(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        lines.extend(textwrap.wrap(paragraph, WIDTH) or [""])
    return lines


def _pages(address: Sequence[str], sender: Sequence[str], title: str, text: str) -> list[str]:
    first = [_line("F1", 10.5, LEFT, ADDRESS_TOP - LINE * n, a) for n, a in enumerate(address)]
    first += [_line("F1", 9, 380, 842 - 60 - 12 * n, s) for n, s in enumerate(sender)]
    first.append(_line("F2", 13, LEFT, TEXT_TOP, title))
    pages, current, y = [], first, TEXT_TOP - 2 * LINE
    for row in _wrap(text):
        if y < BOTTOM:
            pages.append("\n".join(current))
            current, y = [], 842 - 70
        current.append(_line("F1", 10.5, LEFT, y, row))
        y -= LINE
    pages.append("\n".join(current))
    return pages


def letter_pdf(address: Sequence[str], sender: Sequence[str], title: str, text: str) -> bytes:
    """The letter as PDF bytes."""
    contents = _pages(address, sender, title, text)
    fonts = "<< /F1 3 0 R /F2 4 0 R >>"
    first_page = 5
    kids = " ".join(f"{first_page + 2 * n} 0 R" for n in range(len(contents)))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(contents)} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for n, content in enumerate(contents):
        stream = content.encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4[0]} {A4[1]}] "
            f"/Resources << /Font {fonts} >> /Contents {first_page + 2 * n + 1} 0 R >>"
        )
        objects.append(
            f"<< /Length {len(stream)} >>\nstream\n" + stream.decode("latin-1") + "\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n%\xe6\xf8\xe5\xc6\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
