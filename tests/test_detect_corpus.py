"""Recall and precision on the labelled corpora: tests/mailcorpus.py (our first, hand-tuned
one) and tests/realworld.py (typography, tables, label variants and text parts as real mail
writers produce them). Both must be >= 0.98, and the hard negatives hold no CPR number.

Every mail goes through the same path as in the gateway: the text of subject and bodies
(decoded from 8bit, quoted-printable, base64 and HTML), then the detector. A finding counts
as (entity type, normalised value); categories count by type.
"""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.detect.analyzer import Detector
from gateway.detect.recognizers.categories import CATEGORIES
from gateway.extract.text import mail_text
from tests import realworld
from tests.mailcorpus import LabelledMail, corpus, digits

CATEGORY_TYPES = set(CATEGORIES)


def normalise(entity: str, value: str) -> str:
    if entity in CATEGORY_TYPES:
        return ""
    if entity == "IBAN_CODE":
        return value.replace(" ", "").upper()
    if entity == "EMAIL_ADDRESS":
        return value.lower()
    if entity == "DK_PHONE":
        return digits(value)[-8:]
    return digits(value)


def predicted(detector: Detector, raw: bytes) -> set[tuple[str, str]]:
    found = set()
    for chunk in mail_text(raw):
        analysis = detector.analyze(chunk.text)
        assert analysis.incomplete == []
        for c in analysis.findings(detector.threshold):
            found.add((c.entity, normalise(c.entity, c.value)))
    return found


def all_mails() -> list[LabelledMail]:
    generated = [
        LabelledMail(name, raw, labels, kind) for name, kind, raw, labels in realworld.mails()
    ]
    return [*corpus(), *generated]


def class_of(mail: LabelledMail) -> str:
    return mail.name.rsplit("-", 1)[0]


GENERATED_CLASSES = {make.__name__ for make, _, _ in realworld.CLASSES}
# The real-world classes are labelled for CPR numbers and art. 9/10 categories; the
# addresses and phone numbers in their headers and signatures are not their subject.
GENERATED_TYPES = {"DK_CPR", "DK_CPR_REPLACEMENT"} | CATEGORY_TYPES


@pytest.fixture(scope="module")
def results(detector: Detector) -> list[tuple[LabelledMail, set[tuple[str, str]]]]:
    out = []
    for mail in all_mails():
        got = predicted(detector, mail.raw)
        if class_of(mail) in GENERATED_CLASSES:
            got = {label for label in got if label[0] in GENERATED_TYPES}
        out.append((mail, got))
    return out


@pytest.fixture(scope="module")
def scored(results) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    misses = []
    for mail, got in results:
        for entity, _ in got | mail.labels:
            counts.setdefault(entity, Counter())
        for label in got & mail.labels:
            counts[label[0]]["tp"] += 1
        for label in got - mail.labels:
            counts[label[0]]["fp"] += 1
            misses.append((mail.name, "false positive", label[0]))
        for label in mail.labels - got:
            counts[label[0]]["fn"] += 1
            misses.append((mail.name, "missed", label[0]))
    for miss in misses:
        print("corpus:", *miss)
    return counts


def test_every_class_per_mail(results):
    """The per-class table: mails whose findings are exactly their labels, per class."""
    table: dict[str, Counter] = {}
    for mail, got in results:
        row = table.setdefault(class_of(mail), Counter())
        row["mails"] += 1
        row["exact"] += got == set(mail.labels)
        row["missed"] += len(mail.labels - got)
        row["false"] += len(got - mail.labels)
    print("\nfigure: corpus per class (mails with exactly their labels)")
    for name, row in table.items():
        print(
            f"  {name:28} {row['exact']:4}/{row['mails']:<4} missed {row['missed']:3}"
            f"  false {row['false']:3}"
        )
    for name, row in table.items():
        if name in GENERATED_CLASSES:
            assert row["missed"] == 0 and row["false"] == 0, name


def test_corpus_size():
    mails = all_mails()
    assert len(mails) >= 150
    assert sum(m.kind == "negative" for m in mails) >= 60


def test_recall_and_precision(scored):
    total = Counter()
    print("\nfigure: corpus precision / recall per entity type")
    for entity, c in sorted(scored.items()):
        total.update(c)
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        print(f"  {entity:20} precision {precision:.3f} recall {recall:.3f}  {dict(c)}")
    precision = total["tp"] / (total["tp"] + total["fp"])
    recall = total["tp"] / (total["tp"] + total["fn"])
    print(f"  {'all':20} precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.98
    assert recall >= 0.98


def test_no_cpr_or_category_in_the_hard_negatives(results):
    for mail, got in results:
        if mail.kind == "negative":
            assert not {e for e, _ in got} & ({"DK_CPR"} | CATEGORY_TYPES), mail.name
