"""The one cleaning step for text from a message (gateway.cleantext), checked against the
hostile-text generator's own table (tests/hostile.py), and where facts are made: the parsed
subject, the located text's file names, the preview's list of attachments."""

from __future__ import annotations

import base64

import pytest

from gateway.cleantext import visible
from gateway.extract.listing import attachments
from gateway.extract.text import mail_text_and_located_gaps
from gateway.parse import parse
from gateway.rawmail import parse_message
from tests.hostile import LAYOUT, SHOWN, HostileHeaderText, mail

GENERATED = HostileHeaderText()
SUBJECTS = list(GENERATED.subjects())
FILE_NAMES = list(GENERATED.file_names())


@pytest.mark.parametrize(("char", "shown"), sorted({**SHOWN, **LAYOUT}.items()))
def test_each_control_is_shown_as_the_table_says(char, shown):
    assert visible(f"a{char}b") == f"a{shown}b"


def test_every_c0_control_and_bidi_control_is_shown():
    every = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    every += "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    shown = visible(every)
    assert shown.isprintable()
    assert not set(every) & set(shown)


def test_cleaning_twice_changes_nothing():
    for case in [*SUBJECTS, *FILE_NAMES]:
        once = visible(case.text)
        assert visible(once) == once


@pytest.mark.parametrize(
    "text",
    ["Ansøgning om aktindsigt", "Åbent brev – sag", "Familie 👨\u200d👩\u200d👧", "שלום עולם", ""],
)
def test_ordinary_text_is_left_alone(text):
    assert visible(text) == text


def test_layout_is_kept_where_text_is_shown_as_lines():
    assert visible("a\tb\r\nc\x00\u202e", keep_layout=True) == "a\tb\r\nc␀⟨RLO⟩"
    assert visible("a\tb\r\nc") == "a␉b␍␊c"


@pytest.mark.parametrize("case", SUBJECTS, ids=lambda c: c.name)
def test_the_parsed_subject_shows_its_controls(case):
    assert parse(b"Subject: " + case.header + b"\r\n\r\nHej\r\n").subject == case.shown


@pytest.mark.parametrize("case", FILE_NAMES, ids=lambda c: c.name)
def test_a_file_name_is_shown_in_the_location_of_its_text(case):
    raw = mail(file_name=case.header, attachment=b"Se vedlagte ansoegning.\r\n")
    chunks, _ = mail_text_and_located_gaps(raw)
    assert [c.location for c in chunks if c.location.startswith("attachment:")] == [
        f"attachment:{case.shown}"
    ]


# A Windows program: "MZ", and the PE header the DOS stub points to.
PROGRAM = b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0" + b"\x4c\x01" + b"\0" * 400
PROGRAM_TYPES = {"application/vnd.microsoft.portable-executable", "application/x-dosexec"}


def test_attachments_are_listed_by_visible_name_sniffed_type_and_size():
    rlo = FILE_NAMES[0]
    raw = mail(file_name=rlo.header, attachment=PROGRAM)
    (listed,) = attachments(parse_message(raw))
    assert listed.name == "faktura⟨RLO⟩fdp.exe"
    assert listed.sniffed in PROGRAM_TYPES
    assert listed.declared == "application/octet-stream"
    assert listed.size == len(PROGRAM)


def test_unnamed_parts_other_than_text_are_listed_and_bodies_are_not():
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    raw = mail(file_name=b'filename="x.png"', attachment=png).replace(
        b'Content-Disposition: attachment; filename="x.png"\r\n', b""
    )
    (listed,) = attachments(parse_message(raw))
    assert (listed.name, listed.sniffed, listed.size) == ("", "image/png", len(png))


def test_notes_and_signals_name_the_file_visibly():
    """``postvagt scan --explain`` prints them on a terminal: an ESC from a file name must
    not reach it."""
    from gateway.extract.text import extract_attachment

    found = extract_attachment("bilag\x1b[2J\u202efdp.exe", "text/plain", PROGRAM)
    assert found.signals and all("\x1b" not in s and "\u202e" not in s for s in found.signals)
    assert "attachment:bilag␛[2J⟨RLO⟩fdp.exe" in found.signals[0]
