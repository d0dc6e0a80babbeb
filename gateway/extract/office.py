"""Text of office documents: OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp) are zip
containers of XML, read with defusedxml (no entity expansion, no external entities) and
within size limits; RTF and CSV are text. Tables keep their rows and headers
(gateway.extract.layout): in a spreadsheet the column header is a number's label. Legacy
binary .doc/.xls are reported, not read.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any

from defusedxml import DefusedXmlException, ElementTree

from gateway.extract.layout import TextLayout, table_lines
from gateway.extract.limits import Limits, Unreadable

_OOXML_PARTS = re.compile(
    r"^(word/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml"
    r"|ppt/slides/slide\d+\.xml|ppt/notesSlides/notesSlide\d+\.xml)$"
)
_SHEET = re.compile(r"^xl/worksheets/sheet\d+\.xml$")
_TEXT_TAGS = {"t", "p", "h", "span", "a", "s", "tab", "line-break", "br"}
_PARAGRAPHS = {"p", "h", "br", "line-break", "cr"}
_TABLES = {"tbl", "table"}
_ROWS = {"tr", "table-row"}
_CELLS = {"tc", "table-cell", "covered-table-cell"}
_REPEAT = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}number-columns-repeated"


# One XML member is parsed as a tree (document order needs it); a tree costs some ten times
# its text in memory, so a larger member is reported unread rather than risk the worker.
MAX_XML_BYTES = 24 * 1024 * 1024


def _parse(data: bytes) -> Any:
    if len(data) > MAX_XML_BYTES:
        raise Unreadable("limit")
    return ElementTree.fromstring(data)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_text(data: bytes) -> str:
    """Document order text of OOXML or ODF XML, paragraphs as lines and tables as rows
    (gateway.extract.layout). Iterative: a deeply nested document cannot exhaust the stack."""
    root = _parse(data)
    layout = TextLayout()
    # (element, entering): on entering, the element's own text; on leaving, its tail.
    stack: list[tuple[Any, bool]] = [(root, True)]
    while stack:
        element, entering = stack.pop()
        tag = _local(element.tag)
        if entering:
            if tag in _TABLES:
                layout.start_table()
            elif tag in _ROWS:
                layout.start_row()
            elif tag in _CELLS:
                repeat = int(element.get(_REPEAT, "1") or 1)
                if repeat > 1 and not "".join(element.itertext()).strip():
                    continue  # ODF writes trailing empty columns as one repeated cell
                layout.start_cell()
            elif tag in ("tab", "s"):
                layout.text("\t" if tag == "tab" else " ")
            if element.text and tag in _TEXT_TAGS:
                layout.text(element.text)
            stack.append((element, False))
            stack.extend((child, True) for child in reversed(element))
            continue
        if tag in _CELLS:
            layout.end_cell()
        elif tag in _ROWS:
            layout.end_row()
        elif tag in _TABLES:
            layout.end_table()
        elif tag in _PARAGRAPHS:
            layout.newline()
        if element.tail and tag in ("span", "s", "tab", "line-break", "a", "soft-page-break"):
            layout.text(element.tail)
    return layout.result()


def _shared_strings(archive: zipfile.ZipFile, names: set[str]) -> list[str]:
    if "xl/sharedStrings.xml" not in names:
        return []
    root = _parse(archive.read("xl/sharedStrings.xml"))
    return [
        "".join(t.text or "" for t in item.iter() if _local(t.tag) == "t")
        for item in root
        if _local(item.tag) == "si"
    ]


def _column(reference: str) -> int:
    number = 0
    for ch in reference:
        if not ch.isalpha():
            break
        number = number * 26 + (ord(ch.upper()) - 64)
    return max(number - 1, 0)


def _sheet_rows(data: bytes, strings: list[str], max_columns: int = 1000) -> list[list[str]]:
    """A worksheet's cells in their grid: shared strings resolved, columns by reference."""
    rows: list[list[str]] = []
    for row in _parse(data).iter():
        if _local(row.tag) != "row":
            continue
        cells: dict[int, str] = {}
        for position, cell in enumerate(c for c in row if _local(c.tag) == "c"):
            column = _column(cell.get("r", "")) if cell.get("r") else position
            kind = cell.get("t")
            value = next((v.text or "" for v in cell if _local(v.tag) == "v"), "")
            if kind == "s" and value.isdigit() and int(value) < len(strings):
                value = strings[int(value)]
            elif kind == "inlineStr":
                value = "".join(t.text or "" for t in cell.iter() if _local(t.tag) == "t")
            if column < max_columns:
                cells[column] = value
        rows.append([cells.get(i, "") for i in range(max(cells, default=-1) + 1)])
    return rows


def _xlsx_text(archive: zipfile.ZipFile, names: set[str]) -> list[str]:
    strings = _shared_strings(archive, names)
    sheets = sorted((n for n in names if _SHEET.match(n)), key=_natural)
    return ["\n".join(table_lines(_sheet_rows(archive.read(n), strings))) for n in sheets]


def _natural(name: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", name)
    return (int(digits) if digits else 0, name)


def csv_text(text: str) -> str:
    """A CSV or TSV file as table lines: each value after its column's header."""
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=";,\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error:
        return text
    return "\n".join(table_lines(rows))


def _members(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise Unreadable("limit")
    total = sum(info.file_size for info in infos)
    packed = max(1, sum(info.compress_size for info in infos))
    if total > limits.max_expanded or total / packed > limits.max_ratio:
        raise Unreadable("limit")
    if any(info.flag_bits & 0x1 for info in infos):
        raise Unreadable("encrypted")
    return infos


def office_text(data: bytes, limits: Limits) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise Unreadable("malformed") from e
    with archive:
        names = {info.filename for info in _members(archive, limits)}
        if "EncryptedPackage" in names:
            raise Unreadable("encrypted")
        try:
            if "content.xml" in names:  # ODF
                return _xml_text(archive.read("content.xml"))
            texts = [
                _xml_text(archive.read(name))
                for name in sorted(names, key=_natural)
                if _OOXML_PARTS.match(name)
            ]
            texts.extend(_xlsx_text(archive, names))
        except (ElementTree.ParseError, DefusedXmlException) as e:
            raise Unreadable("malformed") from e
        if not texts:
            raise Unreadable("unsupported-attachment")
        return "\n".join(texts)


_RTF_CONTROL = re.compile(r"\\(?:[a-z]+-?\d* ?|'[0-9a-f]{2}|.)|[{}]", re.IGNORECASE)


def rtf_text(data: bytes) -> str:
    text = data.decode("latin-1")
    text = re.sub(
        r"\\'([0-9a-f]{2})",
        lambda m: bytes([int(m.group(1), 16)]).decode("cp1252", "replace"),
        text,
        flags=re.IGNORECASE,
    )
    text = text.replace("\\par", "\n")
    return _RTF_CONTROL.sub("", text)
