"""Text of images (and image-only PDF pages) through Tesseract, Danish + English.

Tesseract runs as a subprocess: single-threaded (OMP_THREAD_LIMIT=1; its default threads
are slower on two cores), with memory and CPU limits and a timeout drawn from the message's
OCR budget. Images are checked for size before they are decoded (decompression bombs) and
downscaled first. OCR output confuses 0/O, 1/l/I, 5/S, 8/B and adds or drops spaces, so
number-like runs are repaired before detection sees them.
"""

from __future__ import annotations

import io
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.extract.limits import Unreadable

if TYPE_CHECKING:
    from PIL import Image

MAX_PIXELS = 40_000_000  # a 12-megapixel phone photo passes; a pixel bomb does not
MAX_SIDE = 2500  # downscale before OCR: beyond this, more pixels mostly cost time
OCR_MEMORY = 1024 * 1024 * 1024
LANGUAGES = "dan+eng"


@dataclass
class OcrBudget:
    """Seconds of OCR a message may use, shared by all its images."""

    seconds: float = 20.0
    spent: float = field(default=0.0)

    def remaining(self) -> float:
        return self.seconds - self.spent


def available() -> bool:
    return shutil.which("tesseract") is not None


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (OCR_MEMORY, OCR_MEMORY))


def _flatten(image: Image.Image) -> Image.Image:
    """The picture as it looks on a white page. A transparent pixel's own colour is often
    black (a GIF's transparency index, a PNG's tRNS or alpha channel): converted as is, the
    text vanished into a black background and Tesseract read nothing."""
    from PIL import Image

    if image.mode in ("PA", "LA") or (
        image.mode in ("1", "L", "P", "RGB") and "transparency" in image.info
    ):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        page = Image.new("RGB", image.size, (255, 255, 255))
        page.paste(image, mask=image.getchannel("A"))
        return page
    return image


def ocr_image(data: bytes, budget: OcrBudget) -> str:
    from PIL import Image, UnidentifiedImageError

    if not available():
        raise Unreadable("ocr-needed")
    if budget.remaining() < 1:
        raise Unreadable("ocr-budget")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise Unreadable("limit")
            image.load()
            picture = _flatten(image).convert("L")
    except Image.DecompressionBombError as e:
        raise Unreadable("limit") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise Unreadable("malformed") from e
    if max(picture.size) > MAX_SIDE:
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
    with tempfile.TemporaryDirectory(prefix="postvagt-ocr-") as folder:
        path = os.path.join(folder, "page.png")
        picture.save(path)
        started = time.monotonic()
        try:
            result = subprocess.run(
                ["tesseract", path, "stdout", "-l", LANGUAGES, "--psm", "3"],
                capture_output=True,
                timeout=budget.remaining(),
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                preexec_fn=_limits,
            )
        except subprocess.TimeoutExpired as e:
            raise Unreadable("ocr-budget") from e
        finally:
            budget.spent += time.monotonic() - started
    if result.returncode != 0:
        raise Unreadable("malformed")
    return repair(result.stdout.decode("utf-8", "replace"))


_LOOKALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "l": "1",
        "I": "1",
        "|": "1",
        "i": "1",
        "S": "5",
        "s": "5",
        "B": "8",
        "Z": "2",
        "z": "2",
        "G": "6",
    }
)
# A run that is mostly digits, with look-alike letters and stray spaces in it.
_NUMBERISH = re.compile(
    r"(?<![\w])[\dOoDQlI|iSsBZzG](?:[\dOoDQlI|iSsBZzG ]{4,9})[-/. ]?"
    r"(?:[\dOoDQlI|iSsBZzG ]{3,6})(?![\w])"
)


def repair(text: str) -> str:
    """Turn OCR's readings of digit runs back into digits ("l5O3 85-2OOl" → "DDMMYY-SSSS"
    with 0 for O and 1 for l, the spaces gone)."""

    def fix(match: re.Match[str]) -> str:
        run = match.group()
        digits = sum(c.isdigit() for c in run)
        if digits < 4 or digits < len(run.replace(" ", "")) * 0.45:
            return run  # mostly letters: a word, not a misread number
        fixed = run.translate(_LOOKALIKES)
        parts = re.match(r"^([\d ]+?)\s*([-/.])\s*([\d ]+)$", fixed)
        if parts:
            return (
                re.sub(r"\s", "", parts.group(1))
                + parts.group(2)
                + re.sub(r"\s", "", parts.group(3))
            )
        compact = re.sub(r"\s", "", fixed)
        return compact if len(compact) == 10 else fixed

    return _NUMBERISH.sub(fix, text)
