"""The visible text of HTML mail: no scripts, no styles, entities decoded, nothing fetched.

Tables keep their structure (gateway.extract.layout), and what a mail program quotes in a
``<blockquote>`` is kept apart, so a reply's quoted original reads as quoted text.
"""

from __future__ import annotations

from html.parser import HTMLParser

from gateway.extract.layout import TextLayout

_SKIP = {"script", "style", "head", "title", "template"}
_BREAKS = {
    "br", "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "ul", "ol",
    "dl", "dt", "dd", "address", "section", "article", "header", "footer", "caption",
}  # fmt: skip


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.own = TextLayout()
        self.quoted = TextLayout()
        self._skipping = 0
        self._quote_depth = 0
        self._thead = 0

    @property
    def _layout(self) -> TextLayout:
        return self.quoted if self._quote_depth else self.own

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "blockquote":
            self._layout.newline()
            self._quote_depth += 1
        elif tag == "table":
            self._layout.start_table()
        elif tag == "thead":
            self._thead += 1
        elif tag == "tr":
            self._layout.start_row()
        elif tag in ("td", "th"):
            self._layout.start_cell(header=tag == "th" or self._thead > 0)
        elif tag in _BREAKS:
            self._layout.newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKS:
            self._layout.newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._quote_depth = max(0, self._quote_depth - 1)
            self._layout.newline()
        elif tag == "table":
            self._layout.end_table()
        elif tag == "thead":
            self._thead = max(0, self._thead - 1)
        elif tag == "tr":
            self._layout.end_row()
        elif tag in ("td", "th"):
            self._layout.end_cell()
        elif tag in _BREAKS:
            self._layout.newline()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._layout.text(data)


def html_parts(markup: str) -> tuple[str, str]:
    """The sender's own visible text and the text they quoted (``<blockquote>``)."""
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return parser.own.result(), parser.quoted.result()


def html_to_text(markup: str) -> str:
    """All visible text of HTML, quoted parts included."""
    own, quoted = html_parts(markup)
    return f"{own}\n{quoted}" if quoted.strip() else own
