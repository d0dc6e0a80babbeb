"""Every message of the OSS-Fuzz e-mail seed corpus passes through the gateway.

Each gets a clean reply (no traceback, no hang) and every accepted one is delivered, with
our headers in front of its bytes as received.
"""

from __future__ import annotations

import smtplib
from pathlib import Path

from tests.helpers import FUZZ_CORPUS, FUZZ_CORPUS_SIZE, MAILBOX, SENDER, split

CORPUS = FUZZ_CORPUS


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.eml"))


def test_corpus_is_present():
    assert len(corpus_files()) == FUZZ_CORPUS_SIZE


def test_every_corpus_message_passes_through(upstream, make_gateway):
    gw = make_gateway(upstream)
    outcomes: dict[int, int] = {}
    accepted: list[bytes] = []
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as client:
        client.ehlo("fuzz.example")
        for path in corpus_files():
            raw = path.read_bytes()
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
    assert len(upstream.messages) == len(accepted) == FUZZ_CORPUS_SIZE
    incomplete = 0
    for delivered in upstream.messages:
        ours, _ = split(delivered.content)
        assert b"X-Postvagt-Id: " in ours
        incomplete += b"X-Postvagt-Scan: incomplete" in ours
    print(f"figure: {incomplete} of {FUZZ_CORPUS_SIZE} delivered with an incomplete scan")


def test_parser_survives_the_whole_corpus():
    from gateway.parse import parse

    defects = 0
    for path in corpus_files():
        parsed = parse(path.read_bytes())
        defects += bool(parsed.defects)
    print(f"\nfigure: {defects} of {FUZZ_CORPUS_SIZE} corpus messages have header defects recorded")
