"""Policies: the schema, the walk, the shipped files, errors admins can act on, reload, and
deliver / quarantine / reject / monitor end to end through SMTP."""

from __future__ import annotations

import random
import smtplib
import subprocess
import threading
from pathlib import Path

import pytest

from gateway.decide.holder import PolicyHolder
from gateway.decide.load import DEFAULT_POLICY, PolicyError, load_policy
from gateway.decide.policy import Policy
from gateway.decide.walk import Facts, decide
from gateway.model import Finding
from tests import fictional
from tests.helpers import MAILBOX, POSTVAGT, SENDER, clean_env, message, send, split

HERE = Path(__file__).parent
ROOT = HERE.parent


def finding(entity: str, score: float = 0.85) -> Finding:
    return Finding(entity, "body", score, "test", None)


def policy(rules: list[dict], **extra) -> Policy:
    return Policy.model_validate({"version": 1, "rules": rules, **extra})


# -- the walk ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "facts", "matches"),
    [
        ({}, Facts(), True),
        ({"entities": ["DK_CPR"]}, Facts(findings=(finding("DK_CPR"),)), True),
        ({"entities": ["DK_CPR"]}, Facts(findings=(finding("HEALTH"),)), False),
        ({"entities": ["DK_CPR"], "min_score": 0.9}, Facts(findings=(finding("DK_CPR"),)), False),
        ({"entities": ["HEALTH"], "min_count": 2}, Facts(findings=(finding("HEALTH"),)), False),
        ({"encrypted": True}, Facts(encrypted=True), True),
        ({"encrypted": False}, Facts(encrypted=True), False),
        ({"signature_valid": True}, Facts(signature_valid=None), False),
        ({"tls_below": "TLSv1.2"}, Facts(tls_version="TLSv1.1"), True),
        ({"tls_below": "TLSv1.2"}, Facts(tls_version="TLSv1.3"), False),
        ({"tls_below": "TLSv1.2"}, Facts(tls_version=None), True),
        ({"unscanned": True}, Facts(unscanned=("limit",)), True),
        ({"sender_domains": ["aarhus.dk"]}, Facts(mail_from="x@Aarhus.dk"), True),
        ({"sender_addresses": ["a@b.dk"]}, Facts(mail_from="c@b.dk"), False),
        ({"dmarc": "fail"}, Facts(dmarc="fail"), True),
        ({"dmarc": "pass"}, Facts(dmarc=None), False),
        ({"larger_than": 100}, Facts(size=101), True),
    ],
)
def test_rule_matching(when, facts, matches):
    verdict = decide(
        policy([{"name": "r", "when": when, "then": {"action": "quarantine"}}]), "default", facts
    )
    assert (verdict.rule == "r") == matches


def test_first_match_wins_and_continue_accumulates():
    p = policy(
        [
            {"name": "tag-all", "then": {"tag": {"Seen": "yes"}, "continue": True}},
            {
                "name": "cpr",
                "when": {"entities": ["DK_CPR"]},
                "then": {"journal": True, "reply": True},
            },
            {"name": "never", "then": {"action": "reject"}},
        ]
    )
    verdict = decide(p, "default", Facts(findings=(finding("DK_CPR"),), mail_from="a@gmail.com"))
    assert (verdict.rule, verdict.action, verdict.journal, verdict.reply) == (
        "cpr",
        "deliver",
        True,
        True,
    )
    assert verdict.tags == (("Seen", "yes"),)
    assert verdict.reasons == ("DK_CPR x1",)
    assert [s.split(":")[0] for s in verdict.steps] == ["tag-all", "cpr"]


def test_monitor_mode_delivers_but_records_what_it_would_do():
    p = policy([{"name": "r", "mode": "monitor", "then": {"action": "reject"}}])
    verdict = decide(p, "default", Facts())
    assert (verdict.action, verdict.would, verdict.mode) == ("deliver", "reject", "monitor")


def test_portal_follows_consumer_domains_and_cvr():
    p = policy([{"name": "r", "then": {"reply": True}}], consumer_domains=["gmail.com"])
    assert decide(p, "default", Facts(mail_from="a@gmail.com")).portal == "borger.dk"
    assert decide(p, "default", Facts(mail_from="a@firma.dk")).portal == "virk.dk"
    cvr = Facts(mail_from="a@gmail.com", findings=(finding("DK_CVR"),))
    assert decide(p, "default", cvr).portal == "virk.dk"


def test_mailboxes_group_recipients_and_bring_their_rules():
    p = load_policy(ROOT / "policies" / "examples" / "several-mailboxes.yaml")
    assert p.group_of("Borgerservice@kommune.example") == "borgerservice"
    assert p.group_of("anne@byg.kommune.example") == "byggesag"
    assert p.group_of("other@kommune.example") == "default"
    big = Facts(size=40_000_000)
    assert decide(p, "byggesag", big).rule == "drawings-may-be-large"
    assert decide(p, "borgerservice", big).rule == "ordinary"


# -- files and errors -------------------------------------------------------------------------


def policy_check(*args: str) -> subprocess.CompletedProcess[str]:
    """``postvagt policy check ARGS`` as the admin runs it."""
    return subprocess.run(
        [*POSTVAGT, "policy", "check", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )


@pytest.mark.parametrize(
    "path", [DEFAULT_POLICY, *sorted((ROOT / "policies").rglob("*.yaml"))], ids=lambda p: p.name
)
def test_shipped_policies_pass_check(path):
    result = policy_check(str(path))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("typo.yaml", "typo.yaml:5:12: unknown key 'acton' — did you mean 'action'?"),
        (
            "bad_action.yaml",
            "bad_action.yaml:5:15: rules.0.then.action: Input should be "
            "'deliver', 'quarantine' or 'reject' (got 'bounce')",
        ),
        ("no_rules.yaml", "no_rules.yaml:1:1: rules: Field required"),
        ("bad_tls.yaml", "bad_tls.yaml:4:23: rules.0.when.tls_below: must be one of"),
        ("not_yaml.yaml", "not_yaml.yaml:3:1: not valid YAML"),
        ("duplicate_rule.yaml", "rule names must be unique"),
        (
            "unknown_entity.yaml",
            "unknown_entity.yaml:5:18: rules.0.when.entities.0: unknown entity type "
            "'DK_CPRR' — did you mean 'DK_CPR'?",
        ),
        (
            "unknown_category.yaml",
            "unknown_category.yaml:8:35: mailboxes.0.rules.0.when.entities.1: unknown entity "
            "type 'HELTH' — did you mean 'HEALTH'?",
        ),
    ],
)
def test_broken_policies_give_the_exact_error(name, expected):
    with pytest.raises(PolicyError) as error:
        load_policy(HERE / "policies" / name)
    assert expected in str(error.value)


def test_policy_check_refuses_an_entity_typo():
    result = policy_check(str(HERE / "policies" / "unknown_entity.yaml"))
    assert result.returncode == 1 and "ok" not in result.stdout
    assert "did you mean 'DK_CPR'?" in result.stderr


def test_known_entity_names_are_what_the_detector_reports():
    from gateway.detect import analyzer, entities
    from gateway.detect.recognizers.categories import CATEGORIES

    reported = {*analyzer.MASKS, *analyzer.IDENTIFIERS, *CATEGORIES, *analyzer.NER_ENTITIES}
    assert entities.KNOWN == reported


def test_trial_policy_has_the_default_rules():
    """policies/trial.yaml (make run) differs from the default only where its header says."""
    import yaml

    default = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    trial = yaml.safe_load((ROOT / "policies" / "trial.yaml").read_text(encoding="utf-8"))
    assert trial.pop("portal_by_domain") == {"example.net": "borger.dk"}
    assert trial["replies"].pop("require_authentication") is False
    default.pop("portal_by_domain")
    default["replies"].pop("require_authentication")
    assert trial == default


def test_check_refuses_reject_in_the_after_queue_slot(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nrules:\n  - {name: refuse, then: {action: reject}}\n")
    result = policy_check("--slot", "after-queue", str(path))
    assert result.returncode == 1 and "would bounce" not in result.stdout
    assert "after-queue slot cannot do" in result.stderr


def test_a_bad_policy_stops_start_up(tmp_path):
    result = subprocess.run(
        [
            *POSTVAGT,
            "run",
            "--listen",
            "127.0.0.1:0",
            "--web-listen",
            "127.0.0.1:0",
            "--policy",
            str(HERE / "policies" / "typo.yaml"),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "did you mean 'action'" in result.stderr and "Traceback" not in result.stderr


def test_explain_shows_the_walk(tmp_path):
    mail = tmp_path / "m.eml"
    mail.write_bytes(message(body=f"Mit CPR-nr. er {fictional.cpr(random.Random(2))}\r\n"))
    result = subprocess.run(
        [*POSTVAGT, "policy", "explain", str(mail)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "rule  1  encrypted: no match" in result.stdout
    assert "rule  2  personal-data-by-ordinary-mail: match (DK_CPR x1; not encrypted)" in (
        result.stdout
    )
    assert "verdict  deliver, rule=personal-data-by-ordinary-mail, journal=True" in result.stdout
    print("\n" + result.stdout)


# -- reload -----------------------------------------------------------------------------------


def test_reload_swaps_a_good_policy_and_keeps_the_last_on_a_bad_one(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nrules:\n  - {name: first}\n")
    holder = PolicyHolder(path, "mx")
    path.write_text("version: 1\nrules:\n  - {name: second}\n")
    assert holder.reload() is True and holder.current.rules[0].name == "second"
    path.write_text("version: 1\nrules:\n  - {name: third, then: {acton: reject}}\n")
    assert holder.reload() is False
    assert holder.current.rules[0].name == "second"
    assert "did you mean 'action'" in (holder.last_error or "")


def test_reload_under_load_never_shows_a_half_policy(upstream, make_gateway, tmp_path):
    path = tmp_path / "p.yaml"
    rules = {
        True: "version: 1\nrules:\n  - {name: alpha}\n",
        False: "version: 1\nrules:\n  - {name: beta}\n",
    }
    path.write_text(rules[True])
    gw = make_gateway(upstream, policy=path)
    stop = threading.Event()

    def flip() -> None:
        state = True
        while not stop.is_set():
            state = not state
            path.write_text(rules[state])
            gw.gateway.policy.reload()
            if not state:
                path.write_text("version: 1\nrules: [ {name: broken\n")
                gw.gateway.policy.reload()  # refused: alpha/beta stays

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(30):
            send(gw.port, message())
    finally:
        stop.set()
        flipper.join()
    verdicts = {
        split(m.content)[0].split(b"X-Postvagt-Verdict: ")[1].split(b"\r\n")[0]
        for m in upstream.messages
    }
    assert verdicts <= {b"deliver; rule=alpha", b"deliver; rule=beta"}
    assert len(upstream.messages) == 30


# -- end to end -------------------------------------------------------------------------------

ACTIONS = """version: 1
mailboxes:
  - {name: byg, addresses: [byg@kommune.example], display_name: Byg}
  - {name: held, addresses: [held@kommune.example], display_name: Held,
     rules: [{name: hold, when: {entities: [DK_CPR]}, then: {action: quarantine}},
             {name: ok-held}]}
  - {name: strict, addresses: [strict@kommune.example], display_name: Strict,
     rules: [{name: refuse, when: {entities: [DK_CPR]},
              then: {action: reject, reject_text: "5.7.1 Brug Digital Post"}},
             {name: ok-strict}]}
rules:
  - {name: cpr, when: {entities: [DK_CPR]}, then: {journal: true, reply: true}}
  - {name: ordinary}
"""


def test_deliver_quarantine_reject_end_to_end(upstream, make_gateway, tmp_path):
    from sqlalchemy import select

    from gateway.store import Store
    from gateway.store.tables import messages, quarantine

    path = tmp_path / "actions.yaml"
    path.write_text(ACTIONS)
    gw = make_gateway(upstream, detect=True, detect_workers=1, policy=path)
    cpr = message(body=f"Mit CPR-nr. er {fictional.cpr(random.Random(4))}\r\n")
    send(gw.port, cpr, rcpts=["byg@kommune.example"])
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("x.example")
        client.mail(SENDER)
        client.rcpt("held@kommune.example")
        code, text = client.data(cpr)
        assert (code, text[:28]) == (250, b"2.0.0 Ok: held for review as")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(gw.port, cpr, rcpts=["strict@kommune.example"])
    assert (refused.value.smtp_code, refused.value.smtp_error) == (550, b"5.7.1 Brug Digital Post")
    # Only the delivered one reached the municipality's server; the others never left us.
    assert [m.rcpt_tos for m in upstream.messages] == [["byg@kommune.example"]]
    headers = split(upstream.messages[0].content)[0]
    assert b"X-Postvagt-Verdict: deliver; rule=cpr" in headers
    assert b"X-Postvagt-Journal: required" in headers
    send(gw.port, message(), rcpts=["strict@kommune.example"])  # the session went on cleanly
    store = Store(f"sqlite:///{tmp_path / 'var' / 'postvagt.db'}", instance="t", slot="mx")
    with store.engine.connect() as connection:
        states = [
            (r.state, r.verdict["rule"])
            for r in connection.execute(select(messages).order_by(messages.c.received_at))
        ]
        held = connection.execute(select(quarantine)).all()
    store.close()
    assert states == [
        ("delivered", "cpr"),
        ("quarantined", "hold"),
        ("rejected", "refuse"),
        ("delivered", "ok-strict"),
    ]
    assert len(held) == 1 and held[0].raw == cpr


def test_recipients_of_two_mailboxes_get_their_own_verdicts(upstream, make_gateway, tmp_path):
    """swaks retries the 452'd recipient in a second transaction, as an MTA does."""
    path = tmp_path / "actions.yaml"
    path.write_text(ACTIONS)
    gw = make_gateway(upstream, policy=path)
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("x.example")
        refused = client.sendmail(
            SENDER, ["byg@kommune.example", "strict@kommune.example"], message()
        )
    assert refused == {
        "strict@kommune.example": (
            452,
            b"4.5.3 Recipient of another policy group; send it in a separate transaction",
        )
    }
    result = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{gw.port}",
            "--from",
            SENDER,
            "--to",
            "strict@kommune.example",
            "--body",
            "hej",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert [m.rcpt_tos for m in upstream.messages] == [
        ["byg@kommune.example"],
        ["strict@kommune.example"],
    ]
    verdicts = [
        split(m.content)[0].split(b"X-Postvagt-Verdict: ")[1].split(b"\r\n")[0]
        for m in upstream.messages
    ]
    assert verdicts == [b"deliver; rule=ordinary", b"deliver; rule=ok-strict"]
    assert MAILBOX not in str(verdicts)
