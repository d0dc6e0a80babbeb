"""One form for domain names wherever two are compared: the IDNA 2008 A-label, lower case,
without a trailing dot.

A Danish municipality may be ``ærø.dk`` in its settings and ``xn--r-3fa9c.dk`` on the wire
(or the other way round, or in capitals): every comparison of local domains, mailbox
patterns, policy senders, consumer domains, ``no_reply_domains``, DMARC alignment and the
trusted authserv-ids goes through ``a_label`` on both sides. A name that is not a valid IDN
(a wildcard pattern, a typo) is kept lower-cased as written, so a comparison still works
for whatever it did before.
"""

from __future__ import annotations

from functools import lru_cache

import idna


@lru_cache(maxsize=4096)
def a_label(domain: str) -> str:
    """``Ærø.DK.`` → ``xn--r-3fa9c.dk``; ASCII names lower-cased."""
    name = domain.strip().rstrip(".").lower()
    if name.isascii():
        return name
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        # Label by label, so a mailbox pattern such as *.ærø.dk still finds its form.
        return ".".join(_label(label) for label in name.split("."))


def _label(label: str) -> str:
    if label.isascii():
        return label
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return label


def address_key(address: str) -> str:
    """An address with its domain in A-label form (the local part lower-cased too: mailbox
    patterns and sender lists have always matched case-insensitively)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    return f"{local.lower()}@{a_label(domain)}"


def domain_of(address: str) -> str:
    """The A-label domain of an address ("" for the null sender or no domain)."""
    _, at, domain = address.rpartition("@")
    return a_label(domain) if at else ""


def u_label(domain: str) -> str:
    """For people: ``xn--r-3fa9c.dk`` → ``ærø.dk`` (as written where it is not an IDN)."""
    try:
        return idna.decode(domain)
    except (idna.IDNAError, UnicodeError):
        return domain
