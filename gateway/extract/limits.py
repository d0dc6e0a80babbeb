"""Limits on what extraction reads, and the one exception every extractor raises."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


class Unreadable(Exception):
    """A part that could not be read; ``reason`` becomes an "unscanned" reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_depth: int = 3  # archives inside archives
    max_files: int = 500  # entries in one archive or document container
    max_expanded: int = 64 * MiB  # bytes all entries expand to, per archive
    max_ratio: float = 200.0  # expanded / packed: zip bombs expand thousands of times
    max_pdf_pages: int = 200
