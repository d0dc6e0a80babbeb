"""Number labels generated from stems, in every way people abbreviate them.

``Fakturanr.`` is also written ``Fak-nr.``, ``Fak.nr.``, ``Faktura nr.``, ``Faktura-nr:``,
``Fakturanummer`` and ``Invoice No.``; listing each spelling misses the next one. A label
here is a stem, an optional separator (none, ``-``, ``.``, a space, or ``. ``), and a number
word (``nr``, ``nummer``, ``numre``, ``no``, ``number``, ``num``, ``#``), with or without a
trailing dot or colon: one regular expression per list of stems.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

NUMBER_WORDS = ("nummer", "numre", "number", "num", "nr", "no", "#")
SEPARATOR = r"(?:\.\s?|[-\s]\s?)?"

# Labels of numbers that are not personal identifiers. Stems may contain spaces.
REFERENCE_STEMS = (
    "ordre", "order", "faktura", "fak", "invoice", "inv", "kunde", "customer", "bilag",
    "voucher", "kvittering", "receipt", "konto", "account", "sags", "sag", "case", "journal",
    "reference", "ref", "abonnement", "subscription", "aftale", "contract", "kontrakt",
    "forsendelse", "shipment", "pakke", "parcel", "tracking", "vare", "varenummer", "item",
    "artikel", "article", "produkt", "product", "serie", "serial", "p", "ean", "gln",
    "test report", "protocol", "protokol", "transaktion", "transaction", "betaling",
    "payment", "medlems", "member", "police", "policy", "skade", "claim", "lever", "leverance",
    "delivery", "rekvisition", "requisition", "indkøbs", "purchase", "po", "booking",
    "reservation", "billet", "ticket", "lokal", "tlf", "telefon", "fax", "mobil", "reg",
    "registrerings", "licens", "license", "lot", "batch", "parti", "enheds", "lager",
    "model", "måler", "meter", "installations", "forbrugs", "ejendoms", "matrikel",
)  # fmt: skip
# Stems that are a label on their own: "Faktura 1502893041", "Ordre: 1502893041".
BARE_STEMS = (
    "ordre", "order", "faktura", "invoice", "bilag", "voucher", "kvittering", "receipt",
    "konto", "account", "kontonummer", "reference", "ref", "tracking", "serienummer", "ean",
    "reg", "regnr", "track & trace", "timestamp", "ts=", "police", "skadesnummer",
)  # fmt: skip


def _stem(stem: str) -> str:
    return regex.escape(stem).replace(r"\ ", r"\s+")


def label_pattern(stems: Iterable[str], bare: Iterable[str] = ()) -> str:
    """A regex (no flags, no anchors) that matches any generated label of ``stems``."""
    numbered = "|".join(sorted((_stem(s) for s in stems), key=len, reverse=True))
    words = "|".join(regex.escape(w) for w in NUMBER_WORDS)
    # A Danish compound may link stem and number word with an "s" (forsendelsesnummer).
    alternatives = [rf"(?:{numbered})s?{SEPARATOR}(?:{words})(?!\w)\.?:?"]
    bare = list(bare)
    if bare:
        plain = "|".join(sorted((_stem(s) for s in bare), key=len, reverse=True))
        alternatives.append(rf"(?:{plain})(?!\w)\.?:?")
    return rf"(?<!\w)(?:{'|'.join(alternatives)})"


REFERENCE_LABEL = label_pattern(REFERENCE_STEMS, BARE_STEMS)

# A business's own numbers in a footer: "Licence Number", "Reg. No.", "VAT No.", "Company
# No.", "Moms-nr." — any number word after these stems, or the stem alone before the number.
BUSINESS_STEMS = (
    "licence", "license", "licens", "reg", "registration", "registrerings", "vat", "moms",
    "cvr", "company", "firma", "selskabs", "org", "organisation", "organization", "tax",
    "skat", "se", "gst", "ust", "eori", "duns", "permit", "tilladelses", "autorisations",
    "authorisation", "authorization", "certificate", "certifikat",
)  # fmt: skip
BUSINESS_LABEL = r"(?<!driving\s)(?<!driver'?s\s)" + label_pattern(
    BUSINESS_STEMS, ("vat", "moms", "licence", "license", "cvr")
)
