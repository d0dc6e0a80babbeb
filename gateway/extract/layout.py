"""Text with its tables kept: what makes a number's label findable.

In an invoice, an order confirmation, a payslip or a spreadsheet the label of a number is its
column's header or the cell to its left, not the words before it in the extracted text
(DOMAIN.md 1.5). Flattening a table cell by cell puts each number on a line of its own, far
from its label, so an order number reads like a bare CPR number and a ``CPR`` column header
boosts nothing. Every reader of tables (HTML, CSV, XLSX/ODS, DOCX/ODT/PPTX) therefore writes a
table row as one line, cells joined by `` | ``, each data cell prefixed with its column's
header (``P-nr.: 1502893041 | Afdeling: Social``). The detector then finds the label in the
place a label has in prose, right before the number, and needs no notion of tables itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CELL_SEPARATOR = " | "
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"\d{4}")


def _clean(cell: str) -> str:
    return _SPACES.sub(" ", cell).strip()


def looks_like_header(cells: list[str]) -> bool:
    """A first row that names columns: two or more cells, words rather than numbers."""
    filled = [c for c in cells if c]
    return len(filled) >= 2 and not any(_NUMBER.search(c) for c in filled)


def row_line(cells: list[str], headers: list[str] | None) -> str:
    """One table row as one line, each filled cell after its column's header."""
    out = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        header = headers[i] if headers and i < len(headers) else ""
        out.append(f"{header}: {cell}" if header and header != cell else cell)
    return CELL_SEPARATOR.join(out)


def table_lines(rows: list[list[str]], header_rows: int | None = None) -> list[str]:
    """A whole table's lines. ``header_rows``: how many leading rows are headers (None: the
    first row is one if it looks like one)."""
    rows = [[_clean(c) for c in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    if header_rows is None:
        header_rows = 1 if len(rows) > 1 and looks_like_header(rows[0]) else 0
    headers = rows[header_rows - 1] if header_rows else None
    lines = [CELL_SEPARATOR.join(c for c in row if c) for row in rows[:header_rows]]
    lines.extend(row_line(row, headers) for row in rows[header_rows:])
    return lines


@dataclass
class _Table:
    rows: list[list[str]] = field(default_factory=list)
    header_flags: list[bool] = field(default_factory=list)
    row: list[str] | None = None
    row_is_header: bool = True
    cell: list[str] | None = None


class TextLayout:
    """Collects a document's text as it streams by: paragraphs as lines, tables as rows.

    Forgiving like browsers: a cell or row that is not closed is closed by the next one.
    A table inside a cell is written out on lines of its own when it ends.
    """

    def __init__(self) -> None:
        self._out: list[str] = []
        self._tables: list[_Table] = []

    def text(self, data: str) -> None:
        table = self._tables[-1] if self._tables else None
        if table is None:
            self._out.append(data)
        elif table.cell is not None:
            table.cell.append(data)
        elif data.strip():  # text between cells: keep it, on a line of its own
            self._out.append("\n" + data)

    def newline(self) -> None:
        table = self._tables[-1] if self._tables else None
        if table is None:
            self._out.append("\n")
        elif table.cell is not None:
            table.cell.append(" ")

    def start_table(self) -> None:
        self._tables.append(_Table())

    def start_row(self) -> None:
        if not self._tables:
            self.start_table()
        table = self._tables[-1]
        if table.row is not None:
            self.end_row()
        table.row, table.row_is_header = [], True

    def start_cell(self, header: bool = False) -> None:
        if not self._tables or self._tables[-1].row is None:
            self.start_row()
        table = self._tables[-1]
        if table.cell is not None:
            self.end_cell()
        table.cell = []
        table.row_is_header &= header

    def end_cell(self) -> None:
        table = self._tables[-1] if self._tables else None
        if table is None or table.cell is None or table.row is None:
            return
        table.row.append("".join(table.cell))
        table.cell = None

    def end_row(self) -> None:
        table = self._tables[-1] if self._tables else None
        if table is None or table.row is None:
            return
        self.end_cell()
        if table.row:
            table.rows.append(table.row)
            table.header_flags.append(table.row_is_header)
        table.row = None

    def end_table(self) -> None:
        if not self._tables:
            return
        self.end_row()
        table = self._tables.pop()
        marked = 0
        while marked < len(table.header_flags) and table.header_flags[marked]:
            marked += 1
        lines = table_lines(table.rows, marked or None)
        if lines:
            self._out.append("\n" + "\n".join(lines) + "\n")

    def result(self) -> str:
        while self._tables:
            self.end_table()
        return "".join(self._out)
