"""Formats real Outlook and server mail carries (issue 25, point 7): TNEF (``winmail.dat``)
and single-file gzip, bzip2 and xz. The TNEF files are real Outlook files from tnefparse's
own tests (tests/corpora/tnefparse, LGPL-3.0); the compressed files are made here by the
gzip, bzip2, xz and tar command-line tools. A CPR number inside a TNEF body or attachment,
or inside a compressed file, is found; a compression bomb is a limit, not a read."""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path

import pytest

from gateway.detect.analyzer import Detector
from gateway.extract.text import extract_attachment, mail_text_and_gaps
from tests import fictional
from tests.helpers import CORPORA
from tests.test_extract import mail_with

TNEF_FILES = CORPORA / "tnefparse"
NUMBER = fictional.cpr(random.Random(725))
TEXT = f"Ansøgning om boligstøtte\nMit CPR-nr. er {NUMBER}\n"
ATTBODY = 0x800C  # TNEF attribute attBody (text), message level
ATTATTACHDATA = 0x800F


def objects(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """A TNEF stream's attributes: (level, name, type, data), as Outlook wrote them."""
    out, offset = [], 6
    while offset + 11 <= len(data):
        level, name, kind, length = struct.unpack_from("<BHHI", data, offset)
        out.append((level, name, kind, data[offset + 9 : offset + 9 + length]))
        offset += 9 + length + 2
    return out


def rebuilt(data: bytes, attributes: list[tuple[int, int, int, bytes]]) -> bytes:
    """The stream again, each attribute with its length and checksum (sum of its bytes)."""
    out = bytearray(data[:6])
    for level, name, kind, value in attributes:
        out += struct.pack("<BHHI", level, name, kind, len(value)) + value
        out += struct.pack("<H", sum(value) & 0xFFFF)
    return bytes(out)


def with_body(data: bytes, text: str) -> bytes:
    """A real TNEF file with a plain-text body (attBody) after its version attribute."""
    attributes = objects(data)
    body = (1, ATTBODY, 0x0002, text.encode("cp1252") + b"\0")
    return rebuilt(data, [attributes[0], body, *attributes[1:]])


def with_attachment_text(data: bytes, text: str) -> bytes:
    """A real TNEF file whose first attachment's data is ``text``."""
    attributes = objects(data)
    index = next(i for i, a in enumerate(attributes) if a[1] == ATTATTACHDATA)
    level, name, kind, _ = attributes[index]
    attributes[index] = (level, name, kind, text.encode("utf-8"))
    return rebuilt(data, attributes)


def read(name: str, content_type: str, data: bytes):
    return mail_text_and_gaps(mail_with(name, content_type, data))


def test_the_vendored_files_are_real_tnef():
    assert (TNEF_FILES / "LICENSE").read_text().startswith(" " * 19 + "GNU LESSER GENERAL")
    for path in TNEF_FILES.glob("*.tnef"):
        assert path.read_bytes()[:4] == b"\x78\x9f\x3e\x22"  # the TNEF signature
        # the rebuilding helper is exact: a real file comes back byte for byte
        assert rebuilt(path.read_bytes(), objects(path.read_bytes())) == path.read_bytes()


def test_tnef_bodies_and_attachments_are_read():
    chunks, gaps = read(
        "winmail.dat", "application/ms-tnef", (TNEF_FILES / "body.tnef").read_bytes()
    )
    assert "THE BILL OF RIGHTS" in " ".join(c.text for c in chunks)  # its HTML body
    assert gaps == []
    rtf = extract_attachment(
        "winmail.dat", "application/ms-tnef", (TNEF_FILES / "rtf.tnef").read_bytes()
    )
    assert [c.location for c in rtf.chunks] == ["attachment:winmail.dat/body.rtf"]
    assert "{\\rtf" not in rtf.chunks[0].text  # decompressed and read as RTF, not as bytes
    files = extract_attachment(
        "winmail.dat", "application/ms-tnef", (TNEF_FILES / "two-files.tnef").read_bytes()
    )
    assert [c.location for c in files.chunks] == [
        "attachment:winmail.dat/AUTHORS",
        "attachment:winmail.dat/README",
    ]
    umlaut = extract_attachment(
        "winmail.dat", "application/ms-tnef", (TNEF_FILES / "umlaut.tnef").read_bytes()
    )
    names = [c.location for c in umlaut.chunks]
    assert "attachment:winmail.dat/UmlautAnhang-äüö.txt" in names
    assert umlaut.gaps == ["ocr-needed"]  # its two pictures, without an OCR budget


@pytest.mark.parametrize(
    ("case", "make", "location"),
    [
        ("body", lambda d: with_body(d, TEXT), "attachment:winmail.dat/body.txt"),
        ("attachment", lambda d: with_attachment_text(d, TEXT), "attachment:winmail.dat/AUTHORS"),
    ],
)
def test_a_cpr_number_inside_tnef_is_found(detector: Detector, case, make, location):
    data = make((TNEF_FILES / "two-files.tnef").read_bytes())
    chunks, gaps = read("winmail.dat", "application/ms-tnef", data)
    findings, _, _ = detector.detect(chunks)
    assert ("DK_CPR", location) in {(f.entity, f.location) for f in findings}
    assert gaps == []


def test_a_broken_tnef_file_is_malformed_not_a_crash():
    data = (TNEF_FILES / "two-files.tnef").read_bytes()
    found = extract_attachment("winmail.dat", "application/ms-tnef", data[:4] + b"\xff" * 40)
    assert found.gaps in (["malformed"], [])


def _tool(tmp_path: Path, command: list[str], name: str) -> bytes:
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
    return (tmp_path / name).read_bytes()


@pytest.mark.parametrize(("tool", "suffix"), [("gzip", ".gz"), ("bzip2", ".bz2"), ("xz", ".xz")])
def test_a_cpr_number_inside_a_compressed_file_is_found(detector, tmp_path, tool, suffix):
    (tmp_path / "ansoegning.txt").write_text(TEXT, encoding="utf-8")
    data = _tool(tmp_path, [tool, "-k", "ansoegning.txt"], f"ansoegning.txt{suffix}")
    name = f"ansoegning.txt{suffix}"
    chunks, gaps = read(name, "application/octet-stream", data)
    findings, _, _ = detector.detect(chunks)
    assert ("DK_CPR", f"attachment:{name}/ansoegning.txt") in {
        (f.entity, f.location) for f in findings
    }
    assert gaps == []


@pytest.mark.parametrize(("flag", "suffix"), [("-cJf", ".tar.xz"), ("-cjf", ".tar.bz2")])
def test_a_compressed_tar_is_read_member_by_member(detector, tmp_path, flag, suffix):
    (tmp_path / "bilag.csv").write_text(f"navn;cpr\nOle;{NUMBER}\n", encoding="utf-8")
    data = _tool(tmp_path, ["tar", flag, f"bilag{suffix}", "bilag.csv"], f"bilag{suffix}")
    chunks, gaps = read(f"bilag{suffix}", "application/octet-stream", data)
    findings, _, _ = detector.detect(chunks)
    assert ("DK_CPR", f"attachment:bilag{suffix}/bilag.csv") in {
        (f.entity, f.location) for f in findings
    }
    assert gaps == []


@pytest.mark.parametrize("tool", ["bzip2", "xz"])
def test_a_compression_bomb_is_a_limit(tmp_path, tool):
    (tmp_path / "nuller").write_bytes(bytes(20 * 1024 * 1024))
    suffix = ".bz2" if tool == "bzip2" else ".xz"
    data = _tool(tmp_path, [tool, "-k", "nuller"], f"nuller{suffix}")
    found = extract_attachment(f"nuller{suffix}", "application/octet-stream", data)
    assert found.gaps == ["limit"]
    assert found.chunks == []


def test_postvagt_scan_finds_the_number_in_winmail_dat(tmp_path):
    from tests.test_scan import scan

    data = with_body((TNEF_FILES / "two-files.tnef").read_bytes(), TEXT)
    (tmp_path / "outlook.eml").write_bytes(mail_with("winmail.dat", "application/ms-tnef", data))
    line = json.loads(scan("--json", str(tmp_path / "outlook.eml")).stdout)
    found = {(f["entity"], f["location"]) for f in line["findings"]}
    assert ("DK_CPR", "attachment:winmail.dat/body.txt") in found
    assert "unscanned" not in line
