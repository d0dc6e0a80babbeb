"""Every message of the OSS-Fuzz e-mail seed corpus, and the generated hostile header text
(tests/hostile.py), passes through the gateway, on SQLite and on PostgreSQL.

Each gets a clean reply (no traceback, no hang) and every accepted one is delivered, with
our headers in front of its bytes as received. The policy journals every mail and keeps its
masked subject, so every subject becomes part of a record.
"""

from __future__ import annotations

import smtplib
from pathlib import Path

from tests.helpers import FUZZ_CORPUS, FUZZ_CORPUS_SIZE, MAILBOX, SENDER, split
from tests.hostile import HostileHeaderText
from tests.test_store_gateway import JOURNAL_EVERYTHING, records

CORPUS = FUZZ_CORPUS


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.eml"))


def test_corpus_is_present():
    assert len(corpus_files()) == FUZZ_CORPUS_SIZE


def test_every_corpus_message_passes_through(upstream, make_gateway, db_url, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(JOURNAL_EVERYTHING, encoding="utf-8")
    gw = make_gateway(upstream, database_url=db_url, policy=policy)
    outcomes: dict[int, int] = {}
    accepted: list[bytes] = []
    hostile = [raw for _, raw in HostileHeaderText().mails()]
    corpus = [path.read_bytes() for path in corpus_files()] + hostile
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
        client.ehlo("fuzz.example")
        for raw in corpus:
            assert client.mail(SENDER)[0] == 250
            assert client.rcpt(MAILBOX)[0] == 250
            # smtplib.data() only fixes line ends and dot-stuffs, like any MTA would.
            code, text = client.data(raw)
            assert b"Traceback" not in text and b"Error:" not in text
            outcomes[code] = outcomes.get(code, 0) + 1
            if code == 250:
                accepted.append(raw)
            else:
                client.rset()
    print(f"\nfigure: corpus outcomes by reply code: {outcomes}")
    assert set(outcomes) == {250}
    assert len(upstream.messages) == len(accepted) == FUZZ_CORPUS_SIZE + len(hostile)
    incomplete = 0
    for delivered in upstream.messages:
        ours, _ = split(delivered.content)
        assert b"X-Postvagt-Id: " in ours
        incomplete += b"X-Postvagt-Scan: incomplete" in ours
    print(f"figure: {incomplete} of {len(corpus)} delivered with an incomplete scan")
    # The hostile ones as sent, byte for byte; each record's masked subject shows its
    # controls: no NUL, no C0 control, no bidi override.
    assert [split(m.content)[1] for m in upstream.messages[FUZZ_CORPUS_SIZE:]] == hostile
    rows = records(db_url)
    assert [r.state for r in rows] == ["delivered"] * len(corpus)
    subjects = "".join(r.subject_masked or "" for r in rows)
    assert subjects and not set(subjects) & HIDDEN


HIDDEN = {chr(c) for c in range(0x20)} | set(
    "\x7f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def test_parser_survives_the_whole_corpus():
    from gateway.parse import parse

    defects = 0
    for path in corpus_files():
        parsed = parse(path.read_bytes())
        defects += bool(parsed.defects)
    print(f"\nfigure: {defects} of {FUZZ_CORPUS_SIZE} corpus messages have header defects recorded")
