"""A fuzz target over parse → protection → text → detection → decision (hypothesis): bounded
here (FUZZ_EXAMPLES, default 150), run longer with bench/reliability.py. Any exception is a
finding; so is a decision that is not one of the policy's."""

from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.decide.holder import PolicyHolder
from gateway.decide.walk import Facts, decide
from gateway.detect.worker import message_chunks
from gateway.parse import parse
from gateway.security import TrustConfig, classify

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
POLICY = PolicyHolder(None, "mx").current
_slowest: list[float] = [0.0]

header_names = st.sampled_from(
    [
        "Content-Type",
        "Content-Transfer-Encoding",
        "Subject",
        "From",
        "MIME-Version",
        "Content-Disposition",
        "X-Junk",
        "Message-ID",
    ]
)
header_values = st.one_of(
    st.sampled_from(
        [
            "multipart/mixed; boundary=b",
            'multipart/signed; protocol="application/pkcs7-signature"; boundary=b',
            "application/pkcs7-mime; smime-type=enveloped-data",
            "multipart/encrypted; boundary=b",
            "text/plain; charset=utf-8",
            "text/html",
            "base64",
            "quoted-printable",
            "8bit",
            "=?utf-8?b?Q1BSIDAxMDE=?=",
            "=?x?q?broken",
            'attachment; filename="a.pdf"',
            ";;;;((((",
            "application/zip",
            "message/rfc822",
            "image/png",
        ]
    ),
    st.text(max_size=80).map(lambda t: t.replace("\r", " ").replace("\n", " ")),
)
part = st.tuples(
    st.lists(st.tuples(header_names, header_values), max_size=4), st.binary(max_size=400)
)


def build(headers: list[tuple[str, str]], parts: list, tail: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8", "replace")
    body = b""
    for part_headers, content in parts:
        body += (
            b"--b\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in part_headers).encode("utf-8", "replace")
            + b"\r\n"
            + content
            + b"\r\n"
        )
    return head + b"\r\n" + body + tail


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    headers=st.lists(st.tuples(header_names, header_values), max_size=8),
    parts=st.lists(part, max_size=6),
    tail=st.binary(max_size=300),
)
def test_the_pipeline_never_raises(detector, headers, parts, tail):
    raw = build(headers, parts, tail)
    started = time.monotonic()
    parsed = parse(raw)
    protection = classify(raw, TrustConfig())
    chunks, _ = message_chunks(raw, protection)
    findings, _, _ = detector.detect(chunks, time.monotonic() + 10)
    verdict = decide(
        POLICY,
        "default",
        Facts(findings=tuple(findings), encrypted=protection.encrypted, mail_from="a@b.dk"),
    )
    _slowest[0] = max(_slowest[0], time.monotonic() - started)
    assert parsed.header_count >= 0
    assert verdict.action in ("deliver", "quarantine", "reject")
    assert verdict.rule in {r.name for r in POLICY.rules} | {"none"}


def test_fuzz_figures(figure):
    figure("fuzz examples (parse→extract→detect→decide)", EXAMPLES, "0 exceptions")
    figure("fuzz: slowest example (s)", f"{_slowest[0]:.3f}")
