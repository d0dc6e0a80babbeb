"""The staff page's words as data (gateway/web/words/<language>.yaml, gateway.web.i18n): every
language has every key, the placeholders a page fills in, and the entity table's names; a
file an admin broke is refused with the file and the key to fix, never half used."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gateway.detect import entities
from gateway.web.i18n import LANGUAGES, WORDS, WORDS_FOLDER, WordsFileError, load_words

PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def test_every_language_has_the_same_keys_and_placeholders():
    danish = WORDS["da"]
    for lang in LANGUAGES:
        assert WORDS[lang].keys() == danish.keys(), lang
        for key, text in WORDS[lang].items():
            wanted = sorted(PLACEHOLDER.findall(danish[key]))
            assert sorted(PLACEHOLDER.findall(text)) == wanted, (lang, key)


def test_the_names_of_kinds_of_data_come_from_the_entity_table():
    for entity in entities.TABLE:
        assert WORDS["da"].code("entity", entity.name) == entity.da
        assert WORDS["en"].code("entity", entity.name) == entity.en


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("title: one\ntitle: two\n", "the key 'title' is there twice"),
        ("'no': nej\nyes: ja\n", "the key True is not text"),
        ("decimal: no\n", "decimal: False is not text"),
        ("entity.DK_CPR: CPR\n", "gateway/detect/entities.py"),
        ("- a list\n", "not a table"),
        ("title: 'unclosed\n", "da.yaml"),
    ],
)
def test_a_broken_file_is_refused_with_what_to_fix(tmp_path: Path, line: str, says: str):
    for lang in LANGUAGES:
        shutil.copy(WORDS_FOLDER / f"{lang}.yaml", tmp_path / f"{lang}.yaml")
    (tmp_path / "da.yaml").write_text(line, encoding="utf-8")
    with pytest.raises(WordsFileError, match=re.escape(says)):
        load_words(tmp_path)


def test_a_key_in_one_language_only_is_refused(tmp_path: Path):
    for lang in LANGUAGES:
        shutil.copy(WORDS_FOLDER / f"{lang}.yaml", tmp_path / f"{lang}.yaml")
    with (tmp_path / "en.yaml").open("a", encoding="utf-8") as f:
        f.write("new.label: New\n")
    with pytest.raises(WordsFileError, match=r"da\.yaml: lacks new\.label"):
        load_words(tmp_path)
