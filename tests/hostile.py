"""Hostile header text (issue 23 point 6, issue 24 points 10–11): subjects, display names and
file names carrying NUL, other C0 controls, DEL, C1 controls and the bidi controls, raw where
a header can carry them raw and as RFC 2047 encoded words (``=00``, base64) and RFC 2231
parameters where it cannot, generated from a fixed seed.

Each case carries how records, pages and the CSV export must show its text. That expectation
is written out here, character by character (``SHOWN``), independently of gateway.cleantext:
the tests compare the gateway's cleaning with this table, not with itself.
"""

from __future__ import annotations

import base64
import random
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

# Each hostile character, and what a page shows for it.
SHOWN = {
    "\x00": "␀",
    "\x01": "␁",
    "\x07": "␇",
    "\x08": "␈",
    "\x0b": "␋",
    "\x0c": "␌",
    "\x1b": "␛",
    "\x1f": "␟",
    "\x7f": "␡",
    "\x85": "⟨U+0085⟩",
    "\x9b": "⟨U+009B⟩",
    "\u061c": "⟨ALM⟩",
    "\u200e": "⟨LRM⟩",
    "\u200f": "⟨RLM⟩",
    "\u202a": "⟨LRE⟩",
    "\u202b": "⟨RLE⟩",
    "\u202c": "⟨PDF⟩",
    "\u202d": "⟨LRO⟩",
    "\u202e": "⟨RLO⟩",
    "\u2066": "⟨LRI⟩",
    "\u2067": "⟨RLI⟩",
    "\u2068": "⟨FSI⟩",
    "\u2069": "⟨PDI⟩",
}
# Tab and line breaks: shown in file names; a header cannot carry them raw.
LAYOUT = {"\t": "␉", "\n": "␊", "\r": "␍"}
# The controls Python counts as whitespace: a subject's whitespace runs become one space
# (gateway.parse), so in a subject these are gone, not shown.
FOLDED_IN_SUBJECTS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85")
# What a header may carry raw: the ASCII controls other than CR and LF.
RAW_SAFE = [c for c in SHOWN if ord(c) < 0x80]
# Words without digits: a masked subject hides digits, and these should come back whole.
WORDS = ["faktura", "ansøgning", "bilag", "sag", "aktindsigt", "Mette", "Holm", "pdf", "exe"]
BIDI = "\u202e"


@dataclass(frozen=True)
class HostileText:
    """One hostile text: its name, the text itself, the header value that carries it, and
    how a record or a page must show it."""

    name: str
    text: str
    header: bytes
    shown: str


def encoded_word(text: str, encoding: str) -> str:
    data = text.encode("utf-8")
    if encoding == "b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    quoted = "".join(
        chr(b) if chr(b).isalnum() and b < 0x80 else f"={b:02X}" for b in data
    ).replace("=20", "_")
    return f"=?utf-8?q?{quoted}?="


class HostileHeaderText:
    """Generates subjects, display names and file names with control and bidi characters,
    each encoded every way a header allows; ``seed`` fixes them."""

    def __init__(self, seed: int = 20261206) -> None:
        self.rng = random.Random(seed)

    def _text(self, hostile: list[str], subject: bool, raw: bool = False) -> tuple[str, str]:
        """Words with the hostile characters between them: the text, and how it shows.
        ``raw``: ASCII words only (8-bit header bytes are no charset's text)."""
        words = [w for w in WORDS if w.isascii()] if raw else WORDS
        text = shown = ""
        for char in hostile:
            word = self.rng.choice(words)
            text += word + char
            folded = subject and char in FOLDED_IN_SUBJECTS
            shown += word + (" " if folded else SHOWN.get(char) or LAYOUT[char])
        word = self.rng.choice(words)
        return text + word, shown + word

    def subjects(self, count: int = 12) -> Iterator[HostileText]:
        """The named shapes of the issue first, then ``count`` generated ones."""
        yield HostileText("nul-raw", "a\x00b", b"a\x00b", "a␀b")
        yield HostileText("nul-q", "a\x00b", b"=?utf-8?q?a=00b?=", "a␀b")
        yield HostileText("nul-b", "a\x00b", b"=?utf-8?b?YQBi?=", "a␀b")
        yield HostileText(
            "rlo-q",
            "faktura\u202efdp.exe",
            b"=?utf-8?q?faktura=E2=80=AEfdp.exe?=",
            "faktura⟨RLO⟩fdp.exe",
        )
        for n in range(count):
            if n % 3 == 0:  # raw: ASCII controls only
                hostile = self.rng.sample(RAW_SAFE, 2)
                text, shown = self._text(hostile, subject=True, raw=True)
                yield HostileText(f"raw-{n}", text, text.encode("ascii"), shown)
            else:
                hostile = self.rng.sample(sorted(SHOWN), 3)
                text, shown = self._text(hostile, subject=True)
                header = encoded_word(text, "q" if n % 3 == 1 else "b").encode()
                yield HostileText(f"encoded-{n}", text, header, shown)

    def file_names(self, count: int = 6) -> Iterator[HostileText]:
        """File names as RFC 2231 parameters (``filename*=utf-8''…``), the form Outlook and
        Thunderbird write for anything beyond ASCII; line breaks and tabs included."""
        yield HostileText(
            "rlo",
            "faktura\u202efdp.exe",
            b"filename*=utf-8''faktura%E2%80%AEfdp.exe",
            "faktura⟨RLO⟩fdp.exe",
        )
        for n in range(count):
            hostile = self.rng.sample([*sorted(SHOWN), *LAYOUT], 3)
            text, shown = self._text(hostile, subject=False)
            text, shown = text + ".pdf", shown + ".pdf"
            quoted = urllib.parse.quote(text, safe="")
            yield HostileText(f"file-{n}", text, f"filename*=utf-8''{quoted}".encode(), shown)

    def display_names(self, count: int = 4) -> Iterator[HostileText]:
        """``From:`` display names, as encoded words before the address."""
        for n, subject in zip(range(count), self.subjects(count), strict=False):
            yield HostileText(
                f"from-{n}", subject.text, subject.header + b" <anna@borger.example>", subject.shown
            )

    def mails(self) -> Iterator[tuple[str, bytes]]:
        """Whole messages: each subject, each file name and each display name in a mail of
        its own (an attachment for each file name). Named for the hostile-input corpus."""
        for case in self.subjects():
            yield f"subject-{case.name}", mail(subject=case.header)
        for case in self.file_names():
            yield f"filename-{case.name}", mail(file_name=case.header)
        for case in self.display_names():
            yield f"display-name-{case.name}", mail(sender=case.header)


def mail(
    *,
    subject: bytes = b"Bilag",
    file_name: bytes | None = None,
    sender: bytes = b"anna@borger.example",
    attachment: bytes = b"Se vedlagte.\r\n",
    body: bytes = b"Hej\r\n",
    to: bytes = b"byggesag@kommune.example",
) -> bytes:
    """A message with these header bytes as they are, and an attachment when named."""
    head = b"From: " + sender + b"\r\nTo: " + to + b"\r\nSubject: " + subject + b"\r\n"
    head += b"MIME-Version: 1.0\r\n"
    if file_name is None:
        return head + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    encoded = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (
        head
        + b"Content-Type: multipart/mixed; boundary=hostile\r\n\r\n"
        + b"--hostile\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body
        + b"\r\n--hostile\r\nContent-Type: application/octet-stream\r\n"
        + b"Content-Disposition: attachment; "
        + file_name
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"\r\n--hostile--\r\n"
    )
