"""Text from a message made safe to keep and to show: the one cleaning step for subjects,
names and file names where they become facts (records, the staff page, the CSV export).

Control characters are made visible, never silently dropped, so staff see that a name was
odd and what it hid:

- C0 controls and DEL become their Unicode control pictures: NUL is "␀", ESC "␛", DEL "␡".
  PostgreSQL refuses a NUL in text (every retry a 451), and a NUL or line break must not
  reach a CSV cell.
- The bidi controls (Unicode's Bidi_Control: embeddings and overrides U+202A–202E, isolates
  U+2066–2069, and the marks U+200E, U+200F, U+061C) become their Unicode abbreviation in
  brackets, U+202E "⟨RLO⟩": a right-to-left override shows ``faktura\\u202efdp.exe`` as
  "fakturaexe.pdf", and it shows as "faktura⟨RLO⟩fdp.exe". No digits: a masked subject
  hides every digit (gateway.act.journal), and the marker must survive it.
- C1 controls (U+0080–009F) become "⟨U+0085⟩" (in a masked subject "⟨U+••••⟩").

``keep_layout`` spares the layout of multi-line text (tab, line feed, carriage return) where a
text is shown as such. The result is printable and cleaning it again changes nothing.
This module imports nothing of Postvagt's: the model's rank (tests/test_layers.py).
"""

from __future__ import annotations

BIDI_CONTROLS = {
    "\u061c": "ALM",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
}
LAYOUT = "\t\n\r"
"""What ``keep`` spares in text shown as lines (the preview's bodies)."""


def _shown(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if char in BIDI_CONTROLS:
        return f"⟨{BIDI_CONTROLS[char]}⟩"
    return f"⟨U+{code:04X}⟩"


_TABLE = {
    ord(c): _shown(c)
    for c in (*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), *BIDI_CONTROLS)
}
_KEEPING_LAYOUT = {k: v for k, v in _TABLE.items() if chr(k) not in LAYOUT}


def visible(text: str, *, keep_layout: bool = False) -> str:
    """``text`` with every control character made visible (see the module's docstring)."""
    return text.translate(_KEEPING_LAYOUT if keep_layout else _TABLE)
