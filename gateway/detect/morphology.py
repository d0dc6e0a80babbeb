"""Danish morphology under the category lexicons: a term matches its inflections, its
compounds and, where marked, its abbreviation as written — not only its listed form.

- **Stems**: every word is reduced by Snowball's Danish stemmer (PyStemmer), and so is every
  lexicon form: ``kræften``, ``depressionen``, ``misbruger`` meet ``kræft``, ``depression``,
  ``misbrug``.
- **Compound heads**: Danish puts a compound's head last (``brystkræft`` → ``kræft``,
  ``alkoholmisbruget`` → ``misbrug``, ``fødselsdepression`` → ``depression``); a word whose
  stem ends in a term's stem of at least ``MIN_HEAD`` letters matches it. A hyphenated word's
  last part is a head too (``type 1-diabetes``).
- **Compound modifiers**, only for forms marked ``*``: ``kræft*`` also matches ``kræftsyg``
  and ``kræftbehandling``.
- **Exact forms**, marked ``=``: short or ambiguous words (``dømt`` is the end of ``bedømt``,
  ``vold`` of place names) match only as written, case aside.
- **Abbreviations as written**: an all-capital form (``KOL``, ``MS``, ``ADD``, ``ALS``) matches
  only in capitals: ``kol``, ``ms``, ``add`` and ``als`` are ordinary words.
- **Phrases**: forms of several words match word by word, each by its stem (``drikker for
  meget``, ``tage sit eget liv``, ``blå mærker``).
- **Patterns**, lines starting with ``/``: a regular expression over the lower-case text, for
  what a word list cannot say (``somalisk oprindelse``, any of 40 nationalities).

Lexicon files: one per category (gateway.detect.entities names them), plus shared lists with
``[CATEGORY]`` sections (abbreviations.txt, medicines.txt). A line is a term: its forms,
comma-separated; ``~`` before the line makes it weak; ``!form`` is a word that never matches
(an unrelated word that happens to end in a term: ``sygdomsfri`` is no disease).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import regex
import Stemmer

MIN_HEAD = 4
"""Letters a compound head's stem needs: ``gigt`` and ``kræft`` yes, ``ms`` and ``dom`` no."""
MIN_REST = 3
"""Letters a compound needs besides its head or modifier (``ikræft`` is no compound)."""

_STEMMER = Stemmer.Stemmer("danish")
WORD = re.compile(r"[^\W_]+(?:[-+][^\W_]*)*")


def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


@dataclass(frozen=True)
class Hit:
    category: str
    base: str  # the term's first form: what --explain names
    strong: bool


@dataclass
class Lexicon:
    """Every category's terms, indexed for one pass over a text."""

    categories: set[str] = field(default_factory=set)
    stems: dict[str, Hit] = field(default_factory=dict)
    heads: dict[str, Hit] = field(default_factory=dict)
    modifiers: dict[str, Hit] = field(default_factory=dict)
    exact: dict[str, Hit] = field(default_factory=dict)
    capitals: dict[str, Hit] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], Hit] = field(default_factory=dict)
    patterns: list[tuple[regex.Pattern[str], Hit]] = field(default_factory=list)
    never: set[str] = field(default_factory=set)
    strong_bases: dict[str, set[str]] = field(default_factory=dict)

    def add_file(self, path: Path, category: str | None = None) -> None:
        """A category's file (``category`` given) or a shared one with ``[CATEGORY]`` sections."""
        current = category
        for number, raw_line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]") and category is None:
                current = line[1:-1].strip()
                continue
            if current is None:
                raise ValueError(f"{path.name}:{number}: a term before any [CATEGORY]")
            self.categories.add(current)
            self._add_line(line, current, f"{path.name}:{number}")
        if category is not None and not self.strong_bases.get(category):
            raise ValueError(f"{path.name}: a category needs at least one strong term")

    def _add_line(self, line: str, category: str, where: str) -> None:
        strong = not line.startswith("~")
        line = line.lstrip("~").strip()
        if line.startswith("/"):
            hit = Hit(category, line[1:], strong)
            self.patterns.append((regex.compile(rf"(?<!\w)(?:{line[1:]})(?!\w)"), hit))
            self.strong_bases.setdefault(category, set()).add(line[1:]) if strong else None
            return
        forms = [" ".join(form.split()) for form in line.split(",") if form.strip()]
        base = forms[0].lstrip("=!").rstrip("*").lower()
        hit = Hit(category, base, strong)
        if strong:
            self.strong_bases.setdefault(category, set()).add(base)
        for form in forms:
            self._add_form(form, hit, where)

    def _put(self, table: dict, key: object, hit: Hit, where: str) -> None:
        old = table.get(key)
        if old is not None and old.category != hit.category:
            raise ValueError(f"{where}: {key!r} is in {old.category} and {hit.category}")
        if old is None or (hit.strong and not old.strong):
            table[key] = hit

    def _add_form(self, form: str, hit: Hit, where: str) -> None:
        if form.startswith("!"):
            self.never.add(form[1:].lower())
            return
        exact = form.startswith("=")
        modifier = form.endswith("*")
        form = form.lstrip("=").rstrip("*")
        words = WORD.findall(form)
        if len(words) > 1:
            self._put(self.phrases, tuple(stem(w.lower()) for w in words), hit, where)
            return
        if form.isupper() and len(form) > 1 and any(c.isalpha() for c in form):
            self._put(self.capitals, form, hit, where)
            return
        word = form.lower()
        if exact:
            self._put(self.exact, word, hit, where)
            return
        stemmed = stem(word)
        self._put(self.stems, stemmed, hit, where)
        self._put(self.exact, word, hit, where)
        if len(stemmed) >= MIN_HEAD:
            self._put(self.heads, stemmed, hit, where)
        if modifier:
            self._put(self.modifiers, stemmed, hit, where)

    def word(self, word: str) -> tuple[str, Hit | None]:
        """A lower-case word's stem, and the term it matches on its own (not in a phrase)."""
        stemmed = stem(word)
        if word in self.never:
            return stemmed, None
        hit = self.exact.get(word) or self.stems.get(stemmed)
        if hit is not None:
            return stemmed, hit
        for part in (stemmed, stem(word.rsplit("-", 1)[-1]) if "-" in word else ""):
            for i in range(MIN_REST, len(part) - MIN_HEAD + 1):
                hit = self.heads.get(part[i:])
                if hit is not None:
                    return stemmed, hit
        for i in range(MIN_HEAD, len(stemmed) - MIN_REST + 1):
            hit = self.modifiers.get(stemmed[:i])
            if hit is not None:
                return stemmed, hit
        return stemmed, None
