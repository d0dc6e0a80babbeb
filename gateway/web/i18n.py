"""The staff page's words, Danish first, English available (a link on every page).

Everything a page shows — labels, states, verdict and reply reasons, protection facts,
history actions — is data: one file per language, ``words/<language>.yaml`` next to this
module, ``key: text``, so a municipality can adjust wording without touching code or
templates. The names of the kinds of personal data come from the entity table
(gateway.detect.entities), as the detector's. The files are read once, when the staff page
is imported; a file that is not a flat table of texts, has a key twice, names an entity or
lacks a key another language has stops the start with the file and the key to fix.

A key that is missing at run time shows as its code and is remembered in ``MISSING``; the
tests fail when any page needed one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gateway.detect import entities

LANGUAGES = ("da", "en")
MISSING: set[str] = set()
WORDS_FOLDER = Path(__file__).resolve().parent / "words"


class Words(dict[str, str]):
    """One language's words; ``t[key]`` never fails, ``t.code(kind, code)`` translates codes."""

    def __missing__(self, key: str) -> str:
        MISSING.add(key)
        return key.split(".", 1)[-1]

    def code(self, kind: str, code: object) -> str:
        return self[f"{kind}.{code}"]

    def reason(self, text: str) -> str:
        """A verdict reason as the rule walk writes it (gateway.decide.walk), in words."""
        entity = re.fullmatch(r"([A-Z][A-Z_]+) x(\d+)", text)
        if entity:
            return f"{self.code('entity', entity.group(1))} ×{entity.group(2)}"
        for pattern, key in REASON_PATTERNS:
            found = re.fullmatch(pattern, text)
            if found:
                groups = [g or "" for g in found.groups()]
                return self[key.format(*groups)].format(*groups)
        return self.code("reason", text)

    def reply_reason(self, text: str | None) -> str:
        """Why an auto-reply was (not) sent (gateway.act.reply), in words."""
        if not text:
            return ""
        for pattern, key in REPLY_PATTERNS:
            found = re.fullmatch(pattern, text)
            if found:
                return self[key]
        MISSING.add(f"reply-reason:{text}")
        return text


REASON_PATTERNS = [
    (r"sender is a (business|citizen)", "reason.sender-{0}"),
    (r"(not )?(encrypted|signed)", "reason.{0}{1}"),
    (r"signature valid=(True|False)", "reason.signature-{0}"),
    (r"TLS below (.+)", "reason.tls-below"),
    (r"unscanned: (.+)", "reason.unscanned"),
    (r"sender domain (.+)", "reason.sender-domain"),
    (r"dmarc=(.+)", "reason.dmarc"),
    (r"larger than (\d+) bytes", "reason.larger"),
]
REPLY_PATTERNS = [
    (r"reply|queued", "replywhy.queued"),
    (r"2\d\d.*", "replywhy.accepted"),
    (r"[45]\d\d.*", "replywhy.refused"),
    (r"null envelope sender", "replywhy.null-sender"),
    (r"sender address without a domain", "replywhy.no-domain"),
    (r"Auto-Submitted: .*", "replywhy.auto-submitted"),
    (r"delivery or disposition report", "replywhy.report"),
    (r"mailing list", "replywhy.list"),
    (r"Precedence: .*", "replywhy.precedence"),
    (r"automatic sender|automatic reply.*|X-Auto-Response-Suppress", "replywhy.robot"),
    (r"encrypted mail", "replywhy.encrypted"),
    (r"sender domain is a secure channel.*", "replywhy.secure-channel"),
    (r"sender authentication (failed|not checked).*", "replywhy.unauthenticated"),
    (r".*(rate|limit|already|week|hour).*", "replywhy.limited"),
    (r".*(error|could not).*", "replywhy.error"),
]


class WordsFileError(ValueError):
    """A words file Postvagt cannot use, named with what to change."""


class _UniqueKeys(yaml.SafeLoader):
    """YAML that refuses a key written twice (PyYAML would keep the last quietly)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise WordsFileError(f"line {line}: the key {key!r} is there twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


BOOLS = " (YAML reads yes, no, on and off as true and false)"


def _read(path: Path) -> dict[str, str]:
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)  # a SafeLoader
    except (WordsFileError, yaml.YAMLError, OSError) as e:
        raise WordsFileError(f"{path}: {e}") from e
    if not isinstance(loaded, dict):
        raise WordsFileError(f"{path}: not a table of `key: text` lines")
    for key, text in loaded.items():
        if not isinstance(key, str):
            raise WordsFileError(f"{path}: the key {key!r} is not text; put it in quotes{BOOLS}")
        if not isinstance(text, str):
            raise WordsFileError(
                f'{path}: {key}: {text!r} is not text; put it in quotes ({key}: "..."){BOOLS}'
            )
        if key.startswith("entity."):
            raise WordsFileError(
                f"{path}: {key}: the names of kinds of data are in gateway/detect/entities.py"
            )
    return loaded


def load_words(folder: Path = WORDS_FOLDER) -> dict[str, Words]:
    """Every language's words, from ``folder/<language>.yaml``, with the entity table's names."""
    texts = {lang: _read(folder / f"{lang}.yaml") for lang in LANGUAGES}
    every = set().union(*(set(t) for t in texts.values()))
    for lang, text in texts.items():
        lacking = sorted(every - set(text))
        if lacking:
            raise WordsFileError(f"{folder / f'{lang}.yaml'}: lacks {', '.join(lacking)}")
    for entity in entities.TABLE:
        texts["da"][f"entity.{entity.name}"] = entity.da
        texts["en"][f"entity.{entity.name}"] = entity.en
    return {lang: Words(text) for lang, text in texts.items()}


WORDS: dict[str, Words] = load_words()
