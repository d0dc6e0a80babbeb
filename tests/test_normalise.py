"""The normalisation before detection: every listed typographic variant becomes its plain
form, and offsets of the normalised text map back to the characters the sender wrote."""

from __future__ import annotations

import random

import pytest

from gateway.detect.normalise import DASHES, INVISIBLE, SPACES, normalise
from tests import fictional
from tests.realworld import fullwidth

NUMBER = fictional.cpr(random.Random(3), separator="")


@pytest.mark.parametrize("dash", list(DASHES))
def test_every_dash_is_a_hyphen(dash):
    assert normalise(f"{NUMBER[:6]}{dash}{NUMBER[6:]}").text == f"{NUMBER[:6]}-{NUMBER[6:]}"


@pytest.mark.parametrize("space", list(SPACES))
def test_every_space_is_a_space(space):
    assert normalise(f"CPR{space}nr. {NUMBER}").text == f"CPR nr. {NUMBER}"


@pytest.mark.parametrize("invisible", list(INVISIBLE))
def test_invisible_characters_are_removed_and_offsets_map_back(invisible):
    written = f"Mit nr: {NUMBER[:3]}{invisible}{NUMBER[3:]} ok"
    plain = normalise(written)
    assert plain.text == f"Mit nr: {NUMBER} ok"
    start = plain.text.index(NUMBER)
    end = start + len(NUMBER)
    assert written[plain.original(start) : plain.original(end)].replace(invisible, "") == NUMBER
    assert plain.text[end:] == written[plain.original(end) :]


def test_digits_of_any_script_and_full_width_text():
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in NUMBER)
    assert normalise(arabic_indic).text == NUMBER
    assert normalise(fullwidth(NUMBER)).text == NUMBER
    assert normalise("ＣＰＲ－ｎｒ．").text == "CPR-nr."


@pytest.mark.parametrize(
    "entity", ["&ndash;", "&#8211;", "&#x2013;", "&minus;", "&nbsp;", "&#160;", "&shy;"]
)
def test_html_entities_are_decoded_then_normalised(entity):
    plain = normalise(f"a {NUMBER[:6]}{entity}{NUMBER[6:]} b")
    assert plain.text in (
        f"a {NUMBER[:6]}-{NUMBER[6:]} b",
        f"a {NUMBER[:6]} {NUMBER[6:]} b",
        f"a {NUMBER} b",
    )
    assert plain.original(len(plain.text) - 1) == len(f"a {NUMBER[:6]}{entity}{NUMBER[6:]} b") - 1


def test_unchanged_text_is_returned_as_it_is():
    for text in ("plain ascii 150385-2001", "Æbler og øl på Ærø – “citat”", "&unknown; & co"):
        plain = normalise(text)
        assert plain.starts == [] and plain.original(5) == 5
    assert normalise("Æbler og øl").text == "Æbler og øl"
