"""Recall and precision on the labelled corpus (tests/mailcorpus.py): both must be >= 0.98.

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
from tests.mailcorpus import corpus, digits

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


@pytest.fixture(scope="module")
def scored(detector: Detector) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    misses = []
    for mail in corpus():
        got = predicted(detector, mail.raw)
        for entity, _ in got | mail.labels:
            counts.setdefault(entity, Counter())
        for label in got & mail.labels:
            counts[label[0]]["tp"] += 1
        for label in got - mail.labels:
            counts[label[0]]["fp"] += 1
            misses.append((mail.name, "false positive", label))
        for label in mail.labels - got:
            counts[label[0]]["fn"] += 1
            misses.append((mail.name, "missed", label))
    for miss in misses:
        print("corpus:", *miss)
    return counts


def test_corpus_size():
    mails = list(corpus())
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


def test_no_cpr_or_category_in_the_hard_negatives(detector: Detector):
    for mail in corpus():
        if mail.kind != "negative":
            continue
        got = predicted(detector, mail.raw)
        assert not {e for e, _ in got} & ({"DK_CPR"} | CATEGORY_TYPES), mail.name
