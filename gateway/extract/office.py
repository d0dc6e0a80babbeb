"""Text of office documents: OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp) are zip
containers of XML, read with defusedxml (no entity expansion, no external entities) and
within size limits; RTF and CSV are text. Legacy binary .doc/.xls are reported, not read.
"""

from __future__ import annotations

import io
import re
import zipfile

from defusedxml import ElementTree

from gateway.extract.limits import Limits, Unreadable

_OOXML_PARTS = re.compile(
    r"^(word/(document|header\d*|footer\d*|footnotes|endnotes|comments)\.xml"
    r"|xl/sharedStrings\.xml|xl/worksheets/sheet\d+\.xml"
    r"|ppt/slides/slide\d+\.xml|ppt/notesSlides/notesSlide\d+\.xml)$"
)
_TEXT_TAGS = {"t", "v", "p", "h", "span", "s"}
_BREAK_TAGS = {"p", "br", "tr", "row", "c", "tab", "h", "table-row", "line-break"}


def _xml_text(data: bytes) -> str:
    parts: list[str] = []
    for _event, element in ElementTree.iterparse(io.BytesIO(data), events=("end",)):
        tag = element.tag.rsplit("}", 1)[-1]
        if element.text and tag in _TEXT_TAGS:
            parts.append(element.text)
        if element.tail and tag in ("span", "s", "tab", "line-break"):
            parts.append(element.tail)
        if tag in _BREAK_TAGS:
            parts.append("\n" if tag != "c" else "\t")
        element.clear()
    return "".join(parts)


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
        if "content.xml" in names:  # ODF
            return _xml_text(archive.read("content.xml"))
        texts = [
            _xml_text(archive.read(name)) for name in sorted(names) if _OOXML_PARTS.match(name)
        ]
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
