"""The pictures inside a document, listed with their names and sizes, never decoded here.

A photo of a health card pasted into a Word letter is part of the letter: OOXML keeps such
pictures under ``word/media/``, ``xl/media/`` and ``ppt/media/``, ODF under ``Pictures/``,
RTF as hex in ``\\pict`` groups and PDF as image XObjects. This module only finds them and
reads their dimensions from their headers (bounded by ``Limits``); the OCR lane reads them
(gateway.extract.attachments), largest first, within the message's OCR budget.
"""

from __future__ import annotations

import bisect
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from gateway.extract.limits import Limits, Unreadable

# The smallest picture that can carry a readable 10-digit number. Measured with this OCR lane
# (tesseract 5.3, dan+eng, no upscaling) on "DDMMYY-SSSS" in DejaVu Sans with a 4 px margin:
# 10 px type in a 75x15 picture is read, 8 px type in 62x14 is not. A picture shorter than
# MIN_SIDE or whose longer side is under MIN_LENGTH cannot hold such a line: icons (16-48 px),
# bullets, rules and spacer pixels. They are skipped, with a note, without spending OCR time.
MIN_SIDE = 12
MIN_LENGTH = 64
OVERSIZED = "oversized"  # the format of a picture whose size Pillow would not even read

# Where office containers keep pictures: OOXML in its media folders, ODF in Pictures/ by
# convention, but any member an xlink:href points at counts, so picture names are matched
# anywhere. Thumbnails (docProps/thumbnail.*, Thumbnails/) are renderings of the document's
# own first page, whose text is read from the XML: not pictures of their own.
_MEDIA = re.compile(
    r"^(word|xl|ppt)/media/[^/]+$|^Pictures/[^/]+$"
    r"|\.(png|jpe?g|gif|bmp|tiff?|webp|emf|wmf|svg)$",
    re.IGNORECASE,
)
_THUMBNAILS = re.compile(r"^(Thumbnails/|docProps/thumbnail\.)", re.IGNORECASE)


@dataclass(frozen=True)
class Picture:
    """One embedded picture: where it sits, its size in pixels (None when its format is
    not one we can decode, e.g. EMF/WMF/SVG) and how to get its bytes for OCR."""

    name: str
    width: int | None
    height: int | None
    format: str
    load: Callable[[], bytes]

    @property
    def area(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def readable(self) -> bool:
        """A raster format OCR can decode, with its size known."""
        return self.width is not None and self.height is not None

    @property
    def too_small(self) -> bool:
        """Too small to hold one readable line of a 10-digit number (see MIN_SIDE)."""
        if self.width is None or self.height is None:
            return False
        short, long = sorted((self.width, self.height))
        return short < MIN_SIDE or long < MIN_LENGTH


def _header(data: bytes) -> tuple[int | None, int | None, str]:
    """Width, height and format from the image header alone (Pillow opens lazily)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or "unknown").lower()
            if fmt in ("wmf", "emf"):  # vector: Pillow cannot render these without Windows
                return None, None, fmt
            return image.width, image.height, fmt
    except Image.DecompressionBombError:
        return None, None, OVERSIZED  # Pillow refuses to open it: a pixel bomb
    except (UnidentifiedImageError, OSError, ValueError):
        head = data[:512].lstrip()
        return None, None, "svg" if head.startswith((b"<?xml", b"<svg")) else "unknown"


def _picture(name: str, data: bytes) -> Picture:
    width, height, fmt = _header(data)
    return Picture(name, width, height, fmt, lambda: data)


def office_pictures(data: bytes, limits: Limits) -> list[Picture]:
    """The media of an OOXML or ODF container, within the container limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise Unreadable("malformed") from e
    with archive:
        infos = [
            i
            for i in archive.infolist()
            if _MEDIA.search(i.filename) and not _THUMBNAILS.match(i.filename)
        ]
        if len(infos) > limits.max_files:
            raise Unreadable("limit")
        if sum(i.file_size for i in infos) > limits.max_expanded:
            raise Unreadable("limit")
        pictures = []
        budget = limits.max_expanded
        for info in infos:
            try:
                with archive.open(info) as member:
                    content = member.read(min(budget, info.file_size) + 1)
            except (zipfile.BadZipFile, NotImplementedError, OSError) as e:
                raise Unreadable("malformed") from e
            if len(content) > min(budget, info.file_size):
                raise Unreadable("limit")  # the member is larger than its header says
            budget -= len(content)
            pictures.append(_picture(info.filename, content))
        return pictures


# A picture group: the \pict destination is the group's first word ({\pict …}, {\*\pict …}).
_PICT = re.compile(rb"\{\s*(?:\\\*\s*)?\\pict(?![a-z])")
_NONSHP = re.compile(rb"\{\s*\\nonshppict(?![a-z])")
# One token at a time: a control word, an escaped character, a brace, a run of hex digits,
# a run of anything else (runs, so that a long picture costs few steps).
_TOKENS = re.compile(
    rb"\\([a-zA-Z]+)(-?\d+)? ?|\\.|[{}]+|[0-9a-fA-F\s]+|[^\\{}0-9a-fA-F]+", re.DOTALL
)
_HEX = re.compile(rb"[0-9a-fA-F\s]+")
_SPACE = re.compile(rb"\s+")
_BLIPS = {b"pngblip": "png", b"jpegblip": "jpeg"}
_OTHER_BLIPS = {
    b"emfblip": "emf",
    b"wmetafile": "wmf",
    b"macpict": "pict",
    b"dibitmap": "dib",
    b"wbitmap": "bmp",
    b"pmmetafile": "os2-metafile",
}


_BRACES = re.compile(rb"\\.|[{}]+", re.DOTALL)


def _group_end(data: bytes, opening: int) -> int:
    """The index just past the ``}`` that closes the ``{`` at ``opening`` (escaped braces
    skipped); the end of the data when the group never closes."""
    depth = 0
    for token in _BRACES.finditer(data, opening):
        run = token.group()
        if run[0] == 0x5C:
            continue
        if depth - run.count(b"}") > 0:  # a run of braces that cannot close the group
            depth += len(run) - 2 * run.count(b"}")
            continue
        for offset, c in enumerate(run):
            depth += 1 if c == 0x7B else -1
            if depth == 0:
                return token.start() + offset + 1
    return len(data)


def rtf_pictures(data: bytes, limits: Limits) -> tuple[list[Picture], bytes]:
    """The ``\\pict`` pictures of an RTF document, and the document without them (their hex
    is no text to scan: it is full of digit runs). ``{\\nonshppict …}`` groups repeat the
    picture before them as a metafile for old readers and are dropped unread. A picture in
    another format than PNG or JPEG (EMF, WMF, DIB …) is listed with no size."""
    # Every scan below starts past the end of the last group found: linear in the document
    # however its groups nest or fail to close.
    dropped: list[tuple[int, int]] = []
    for match in _NONSHP.finditer(data):
        if not dropped or match.start() >= dropped[-1][1]:
            dropped.append((match.start(), _group_end(data, match.start())))
    spans = list(dropped)
    starts = [start for start, _ in dropped]
    pictures: list[Picture] = []
    expanded = 0
    last = 0
    for match in _PICT.finditer(data):
        opening = match.start()
        inside = bisect.bisect_right(starts, opening) - 1
        if opening < last or (inside >= 0 and opening < dropped[inside][1]):
            continue
        end = _group_end(data, opening)
        last = end
        spans.append((opening, end))
        fmt, hexdigits, depth = "unknown", [], 0
        for token in _TOKENS.finditer(data, match.end(), end - 1):
            text, word = token.group(), token.group(1)
            if text[0] in b"{}":
                depth += len(text) - 2 * text.count(b"}")
            elif depth:
                continue  # the picture's nested groups: properties, ids, not its data
            elif word is not None:
                name = word.lower()
                if name in _BLIPS:
                    fmt = _BLIPS[name]
                elif name in _OTHER_BLIPS and fmt == "unknown":
                    fmt = _OTHER_BLIPS[name]
                elif name == b"bin":
                    fmt = "binary"  # raw bytes follow: not the hex form we read
            elif _HEX.fullmatch(text):
                hexdigits.append(_SPACE.sub(b"", text))
        if len(pictures) >= limits.max_files:
            raise Unreadable("limit")
        number = len(pictures) + 1
        if fmt in _BLIPS.values():
            raw = b"".join(hexdigits)
            expanded += len(raw) // 2
            if expanded > limits.max_expanded:
                raise Unreadable("limit")
            try:
                content = bytes.fromhex(raw[: len(raw) // 2 * 2].decode("ascii"))
            except ValueError:
                content = b""
            width, height, sniffed = _header(content)
            pictures.append(
                Picture(f"pict-{number}.{fmt}", width, height, sniffed, partial(bytes, content))
            )
        else:
            pictures.append(Picture(f"pict-{number}.{fmt}", None, None, fmt, bytes))
    rest = bytearray()
    last = 0
    for start, end in sorted(spans):
        if start >= last:
            rest += data[last:start]
            last = end
    rest += data[last:]
    return pictures, bytes(rest)


def _data(image: Any) -> bytes:
    """An inline image's bytes (pypdf decoded them already); read when OCR gets to it."""
    return bytes(image.data)


def _xobject_data(images: Any, index: Any) -> bytes:
    """An image XObject's bytes, decoded by pypdf only when OCR gets to it (largest first,
    within the budget: most pictures of a long PDF are never decoded)."""
    return bytes(images[index].data)


def _pdf_size(page: Any, key: str | list[str]) -> tuple[int | None, int | None]:
    """Width and height from an image XObject's dictionary, before anything is decoded."""
    holder = page
    path = [key] if isinstance(key, str) else list(key)
    try:
        for step in path:
            xobject = holder["/Resources"].get_object()["/XObject"].get_object()[step]
            holder = xobject.get_object()
        return int(holder["/Width"]), int(holder["/Height"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, None


_INLINE_IMAGE = re.compile(rb"(?<![^\s\x00\]>)}])BI(?=[\s\x00/])")
"""The operator that starts an inline image, after PDF white space (NUL included) or a
delimiter. Inside a string of the page's text ("(Se BI 12)") it may match too: then
pypdf's own walk decides."""


def _may_hold_pictures(page: Any) -> bool:
    """Whether the page has any XObject (an image, or a form that may hold one) or an
    inline image: pypdf's ``page.images`` parses the whole content stream again (after the
    text extraction did), which a page of text alone does not need. When in doubt, True."""
    try:
        resources = page["/Resources"].get_object()
        if "/XObject" in resources:
            return True
        contents = page.get_contents()
        return contents is not None and _INLINE_IMAGE.search(contents.get_data()) is not None
    except Exception:  # pypdf raises many kinds for odd pages: the full walk decides
        return True


def pdf_page_pictures(page: Any, number: int, text_layer: bool = False) -> list[Picture]:
    """The image XObjects of one pypdf page (in forms too) and its inline images. A page
    with a text layer (``text_layer``) and no sign of a picture is not walked again; a page
    without one always is, so that a content stream pypdf cannot walk is a gap there."""
    if text_layer and not _may_hold_pictures(page):
        return []
    pictures = []
    images = page.images
    for key in images.keys():  # names only: XObjects are decoded when loaded
        label = key if isinstance(key, str) else "".join(key)
        if isinstance(key, str) and key.startswith("~"):  # inline: pypdf decoded it already
            inline = images[key]
            width, height = inline.image.size if inline.image is not None else (None, None)
            pictures.append(
                Picture(f"page-{number}{label}", width, height, "inline", partial(_data, inline))
            )
            continue
        width, height = _pdf_size(page, key)
        index = key if isinstance(key, str) else tuple(key)
        pictures.append(
            Picture(
                f"page-{number}{label}",
                width,
                height,
                "xobject",
                partial(_xobject_data, images, index),
            )
        )
    return pictures
