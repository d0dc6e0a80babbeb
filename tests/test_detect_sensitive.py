"""Sensitive personal data without a CPR number (issue 25), on the generated corpus of
tests/sensitive.py: per class (category), per way of writing, per person the fact is about,
per location and per genre of hard negative. Detection and decision are the gateway's own
code (gateway.detect, gateway.decide.walk) on the shipped default policy, as `postvagt scan`
runs them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.decide.load import DEFAULT_POLICY, load_policy
from gateway.decide.walk import Facts, decide
from gateway.detect.analyzer import Detector
from gateway.detect.entities import CATEGORIES
from gateway.extract.text import mail_text
from tests import sensitive


@pytest.fixture(scope="module")
def outcomes(detector: Detector) -> list[tuple[sensitive.SensitiveMail, set[str], bool]]:
    """Each mail, the categories found in it, and whether the default policy journals it."""
    policy = load_policy(DEFAULT_POLICY)
    out = []
    for mail in sensitive.mails():
        findings, _, _ = detector.detect(mail_text(mail.raw))
        found = {f.entity for f in findings if f.entity in CATEGORIES}
        verdict = decide(policy, "default", Facts(findings=tuple(findings)))
        out.append((mail, found, verdict.journal))
    return out


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.2f} ({hits}/{total})" if total else "-"


def figures(outcomes) -> dict[str, Counter]:
    rows: dict[str, Counter] = {}
    for mail, found, journal in outcomes:
        keys = [f"class {mail.category}"]
        if mail.kind == "positive":
            style, about = mail.style.split("/")
            keys += [f"style {style}", f"about {about}", f"location {mail.where}"]
        else:
            keys += [f"negative {mail.style}", f"location {mail.where}"]
        for key in [*keys, "all"]:
            row = rows.setdefault(key, Counter())
            if mail.kind == "positive":
                row["pos"] += 1
                row["found"] += mail.category in found
                row["journal"] += journal
            else:
                row["neg"] += 1
                row["false"] += journal
    return rows


def test_sensitive_corpus_per_class(outcomes):
    rows = figures(outcomes)
    print("\nfigure: sensitive data without a CPR number (default policy)")
    print(f"  {'':28} {'category found':>16} {'journaled':>16} {'false alarms':>14}")
    order = ("class", "about", "style", "location", "negative", "all")
    for key, row in sorted(rows.items(), key=lambda kv: order.index(kv[0].split()[0])):
        print(
            f"  {key:28} {_rate(row['found'], row['pos']):>16} "
            f"{_rate(row['journal'], row['pos']):>16} {_rate(row['false'], row['neg']):>14}"
        )
    journaled = rows["all"]["journal"] + rows["all"]["false"]
    precision = rows["all"]["journal"] / journaled if journaled else 1.0
    print(
        f"  journal recall {rows['all']['journal'] / rows['all']['pos']:.2f}, "
        f"precision {precision:.2f}"
    )
    for mail, found, journal in outcomes:
        if (mail.kind == "positive") != journal or (mail.labels and not mail.labels <= found):
            print("sensitive:", mail.name, mail.style, mail.where, sorted(found), journal)
    for key, row in rows.items():
        if row["pos"]:
            assert row["found"] / row["pos"] >= 0.9, key
            assert row["journal"] / row["pos"] >= 0.9, key
        if row["neg"]:
            assert row["false"] / row["neg"] <= 0.05, key
    assert precision >= 0.98


def test_explain_names_whom_a_fact_is_about(detector):
    """The person signal travels with the finding (``postvagt scan --explain``); a name
    never does."""
    cases = {
        "Jeg har fået konstateret brystkræft.": "writer",
        "Min søn har ADHD og får medikinet.": "relative",
        "Vores medarbejder Karen Sø er kræftsyg og starter i kemo.": "named",
        "Nyhedsbrev: tilbud til borgere med kræft og depression. Afmeld nyhedsbrevet.": "",
    }
    for text, who in cases.items():
        findings = [c for c in detector.analyze(text).findings() if c.entity in CATEGORIES]
        assert [c.about for c in findings] == ([who] if who else []), text
        assert all("Karen" not in c.reason for c in findings)


def test_corpus_shape():
    mails = list(sensitive.mails())
    assert len({m.category for m in mails}) == len(sensitive.CATEGORY_CLASSES) >= 12
    positives = [m for m in mails if m.kind == "positive"]
    english = sum(m.style.startswith("english") for m in positives) / len(positives)
    assert 0.08 <= english <= 0.25
    assert {m.where for m in mails} == set(sensitive.LOCATIONS)
    assert {m.style for m in mails if m.kind == "negative"} == set(sensitive.NEGATIVE_FRAMES)
