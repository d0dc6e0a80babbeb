"""Did-you-mean for names an admin types: settings keys, entity types, mailboxes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' — did you mean 'X'?' for the closest choice (case aside), or ''."""
    options = sorted(choices)
    by_case = {o.lower(): o for o in options}
    if name.lower() in by_case:
        return f" — did you mean {by_case[name.lower()]!r}?"
    guess = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" — did you mean {guess[0]!r}?" if guess else ""
