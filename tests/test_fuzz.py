"""A fuzz target over parse → protection → text → detection → decision (hypothesis): bounded
here (FUZZ_EXAMPLES, default 150), run longer with bench/reliability.py. Any exception is a
finding; so is a decision that is not one of the policy's."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.decide.holder import PolicyHolder
from gateway.decide.walk import Facts, decide
from gateway.parse import parse
from gateway.reading import message_chunks
from gateway.scan import recipients_of, sender_address
from gateway.security import TrustConfig, classify
from tests.hostile import HostileHeaderText

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


# -- hostile header shapes: RFC 2231 parameters and floods of encoded words --------------------


def rfc2231(name: str, value: str, pieces: int = 1, charset: str = "us-ascii") -> str:
    """``value`` as an RFC 2231 parameter: ``name*=charset''%xx…``, or in ``pieces``
    continuations ``name*0*=…; name*1*=…``."""
    encoded = "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in value)
    if pieces <= 1:
        return f"{name}*={charset}''{encoded}"
    size = max(1, -(-len(encoded) // pieces))
    chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)] or [""]
    # A %xx escape must not be cut in two.
    for i in range(len(chunks) - 1):
        while "%" in chunks[i][-2:]:
            chunks[i], chunks[i + 1] = chunks[i][:-1], chunks[i][-1] + chunks[i + 1]
    head = f"{name}*0*={charset}''{chunks[0]}"
    return "; ".join([head, *(f"{name}*{i}*={c}" for i, c in enumerate(chunks[1:], 1))])


def rfc2231_content_type(entity: bytes, name: str, value: str) -> bytes:
    """An entity whose Content-Type carries ``name`` (already there) as RFC 2231."""
    head, _, body = entity.partition(b"\r\n\r\n")
    lines = head.replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ").split(b"\r\n")
    out = []
    for line in lines:
        if line.lower().startswith(b"content-type:"):
            kept = [p for p in line.split(b";") if not p.strip().lower().startswith(name.encode())]
            line = b";".join(kept) + b"; " + rfc2231(name, value, pieces=2).encode()
        out.append(line)
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def encoded_word_flood(header: str, words: int, word: str = "=?utf-8?q?(B=C3=B8rger?=") -> bytes:
    """A header of ``words`` encoded words, folded ten to a line (public test suites hold a
    To: line of this shape; a "(" in each made the stdlib address parser recurse)."""
    lines = [" ".join([word] * 10) for _ in range(max(1, words // 10))]
    return f"{header}: ".encode() + "\r\n ".join(lines).encode() + b" <a@example.net>\r\n"


charsets = st.sampled_from(["us-ascii", "utf-8", "iso-8859-1", "x-nonsense", ""])
rfc2231_params = st.builds(
    lambda name, value, pieces, charset: (name, rfc2231(name, value, pieces, charset)),
    st.sampled_from(["protocol", "smime-type", "boundary", "name", "charset", "filename"]),
    st.one_of(
        st.sampled_from(
            [
                "application/pgp-signature",
                "application/pkcs7-signature",
                "application/pgp-encrypted",
                "signed-data",
                "enveloped-data",
                "b",
                "smime.p7m",
            ]
        ),
        st.text(max_size=30),
    ),
    st.integers(1, 4),
    charsets,
)
encoded_words = st.builds(
    lambda charset, encoding, text: f"=?{charset or 'utf-8'}?{encoding}?{text}?=",
    charsets,
    st.sampled_from(["q", "Q", "b", "B"]),
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?"),
        max_size=12,
    ),
)
encoded_word_floods = st.builds(
    lambda words, count, separator: separator.join(words * count),
    st.lists(encoded_words, min_size=1, max_size=3),
    st.integers(1, 2000),
    st.sampled_from([" ", "", "\r\n ", ", ", " (", ")"]),
)
# One form per name here: ``name*=`` beside ``name*0*=`` makes the stdlib parser itself
# raise (TypeError in email.utils.decode_params); gateway.rawmail.parse_message, which every
# reader uses, survives it: hostile_cases() has that shape as "rfc2231-mixed-forms".
content_types_2231 = st.builds(
    lambda kind, params: kind + "; " + "; ".join(text for _, text in params),
    st.sampled_from(
        ["multipart/signed", "multipart/encrypted", "application/pkcs7-mime", "multipart/mixed"]
    ),
    st.lists(rfc2231_params, min_size=1, max_size=3, unique_by=lambda p: p[0]),
)
header_values = st.one_of(header_values, content_types_2231, encoded_word_floods)

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


@pytest.mark.slow
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


@pytest.mark.slow
@settings(
    max_examples=max(20, EXAMPLES // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    address_header=st.sampled_from(["To", "Cc", "From", "Return-Path", "Subject"]),
    flood=encoded_word_floods,
    content_type=content_types_2231,
)
def test_hostile_headers_never_raise(detector, address_header, flood, content_type):
    """RFC 2231 parameters wherever a parameter is read, floods of encoded words wherever an
    address or a subject is read: the gateway's and the scan's readers never raise."""
    head = f"{address_header}: {flood}\r\nContent-Type: {content_type}; boundary=b\r\n"
    raw = head.encode("utf-8", "replace") + b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nhej"
    raw += b"\r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\nx\r\n--b--\r\n"
    parse(raw)
    protection = classify(raw, TrustConfig())
    chunks, _ = message_chunks(raw, protection)
    detector.detect(chunks, time.monotonic() + 10)
    recipients_of(raw, ())
    sender_address(raw, None)


def test_fuzz_figures(figure):
    figure("fuzz examples (parse→extract→detect→decide)", EXAMPLES, "0 exceptions")
    figure("fuzz: slowest example (s)", f"{_slowest[0]:.3f}")


class _InProcessPool:
    """The detection worker's job (gateway.reader_pool.read_in_worker), in this process."""

    def __init__(self, detector) -> None:
        self.detector = detector

    def detect(self, raw: bytes, budget: float):
        protection = classify(raw, TrustConfig())
        chunks, gaps = message_chunks(raw, protection)
        findings, _, incomplete = self.detector.detect(chunks, time.monotonic() + budget)
        return findings, [*(g.reason for g in gaps), *incomplete], protection


def hostile_cases() -> dict[str, bytes]:
    signed = (
        b"Content-Type: multipart/signed; micalg=pgp-sha256; "
        + rfc2231("protocol", "application/pgp-signature", pieces=2).encode()
        + b"; boundary=s\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nhej\r\n--s\r\n"
        b"Content-Type: application/pgp-signature\r\n\r\nx\r\n--s--\r\n"
    )
    body = b"Subject: Hej\r\n\r\nHej\r\n"
    return {
        "rfc2231-protocol": b"From: a@example.net\r\nTo: b@kommune.example\r\n" + signed,
        "rfc2231-smime-type": b"From: a@example.net\r\nContent-Type: application/pkcs7-mime; "
        + rfc2231("smime-type", "enveloped-data").encode()
        + b"\r\n\r\nAAAA\r\n",
        "rfc2231-mixed-forms": b"From: a@example.net\r\nContent-Type: multipart/mixed; "
        b"boundary*=us-ascii''b; boundary*0=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        b"hej\r\n--b--\r\n",
        "flood-to": b"From: a@example.net\r\n" + encoded_word_flood("To", 5000) + body,
        "flood-from": b"To: b@kommune.example\r\n" + encoded_word_flood("From", 5000) + body,
        "flood-subject": encoded_word_flood("Subject", 5000) + b"\r\nhej\r\n",
        # NUL, C0 and bidi controls in subjects, file names and display names
        **dict(HostileHeaderText().mails()),
    }


def test_generated_hostile_cases_gateway_and_scan_agree(detector):
    """The generated cases through the gateway's own stages and through `postvagt scan`'s
    code: no crash, no "internal-error", the same protection facts."""
    from datetime import UTC, datetime

    from gateway.model import Inspection, Received
    from gateway.scan import ScanOptions, scan_one
    from gateway.stages import DetectStage, ParseStage, run_stages

    stages = (ParseStage(), DetectStage(pool=_InProcessPool(detector), budget=20))
    for name, raw in hostile_cases().items():
        received = Received(
            id=name,
            received_at=datetime.now(UTC),
            peer="127.0.0.1",
            helo="x",
            mail_from="a@example.net",
            rcpt_tos=("b@kommune.example",),
            group="default",
            raw=raw,
        )
        facts = run_stages(stages, received, Inspection())
        result, _ = scan_one(detector, name, raw, ScanOptions(policy=PolicyHolder(None, "mx")))
        assert "error" not in result, (name, result)
        assert "internal-error" not in facts.unscanned, name
        assert result.get("incomplete", []) == [str(u) for u in facts.unscanned], name
        p = facts.protection
        assert (result["signed"], result["encrypted"], result["signature_valid"]) == (
            p.signed,
            p.encrypted,
            p.signature_valid,
        ), name
    protocol = classify(hostile_cases()["rfc2231-protocol"])
    assert [layer.kind for layer in protocol.layers] == ["pgp-signed"]
    smime_type = classify(hostile_cases()["rfc2231-smime-type"])
    assert [layer.kind for layer in smime_type.layers] == ["smime-encrypted"]
