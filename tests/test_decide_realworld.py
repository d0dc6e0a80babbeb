"""Who writes, decided on the shipped default policy: generated invoices from businesses (not
answered, not journaled: a business's own payment details are not personal data), private
persons' bank accounts (answered), and citizens forwarding or quoting a letter that carries
their employer's CVR (still citizens: borger.dk). Detection and decision are the gateway's
own code (gateway.detect, gateway.decide.walk); scan and the gateway share both."""

from __future__ import annotations

import pytest

from gateway.decide.load import DEFAULT_POLICY, load_policy
from gateway.decide.walk import Facts, decide, sender_kind
from gateway.detect.analyzer import Detector
from gateway.extract.text import mail_text
from tests.realworld import decision_cases


@pytest.fixture(scope="module")
def default_policy():
    return load_policy(DEFAULT_POLICY)


def test_every_decision_class(detector: Detector, default_policy):
    wrong = []
    table: dict[str, list[int]] = {}
    for name, raw, sender, expected in decision_cases():
        findings, _, _ = detector.detect(mail_text(raw))
        facts = Facts(findings=tuple(findings), mail_from=sender)
        verdict = decide(default_policy, "default", facts)
        got = {"reply": verdict.reply, "journal": verdict.journal, "portal": verdict.portal}
        ok = all(got[key] == value for key, value in expected.items())
        row = table.setdefault(name.rsplit("-", 1)[0], [0, 0])
        row[0] += ok
        row[1] += 1
        if not ok:
            wrong.append((name, verdict.rule, sender_kind(default_policy, facts), got))
    print("\nfigure: decisions per class (default policy)")
    for name, (good, total) in table.items():
        print(f"  {name:36} {good:3}/{total}")
    assert wrong == []
