"""Header-block edits on raw bytes: what is removed, what is kept, byte for byte."""

from __future__ import annotations

import pytest

from gateway.rawmail import header_block_end, prepend_fields, strip_fields


@pytest.mark.parametrize(
    ("raw", "end"),
    [
        (b"A: 1\r\nB: 2\r\n\r\nbody", 12),
        (b"A: 1\nB: 2\n\nbody", 10),
        (b"A: 1\r\n", 6),  # no body at all
        (b"\r\nbody only", 0),
        (b"A: 1\nB: 2\r\n\r\nmixed", 11),
        (b"A: 1\n\r\nbare LF, then a CRLF blank line", 5),
        (b"A: 1\r\n\nCRLF, then a bare LF blank line", 6),
    ],
)
def test_header_block_end(raw, end):
    assert header_block_end(raw) == end


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # nothing of ours: the very same object comes back
        (b"From: a\r\n\r\nX-Postvagt-Id: body\r\n", b"From: a\r\n\r\nX-Postvagt-Id: body\r\n"),
        (b"X-Postvagt-Id: 1\r\nFrom: a\r\n\r\nb", b"From: a\r\n\r\nb"),
        (b"From: a\r\nx-postvagt-scan:complete\r\n\r\nb", b"From: a\r\n\r\nb"),
        # folded continuation lines go with their field, other folds stay
        (
            b"X-Postvagt-Journal: required;\r\n\treasons=DK_CPR\r\nSubject: s\r\n\tmore\r\n\r\nb",
            b"Subject: s\r\n\tmore\r\n\r\nb",
        ),
        # a look-alike name is not ours
        (b"X-Postvagtish: keep\r\n\r\nb", b"X-Postvagtish: keep\r\n\r\nb"),
        # malformed lines are passed on, not repaired
        (b"not a header line\r\nX-Postvagt-Id: x\r\n\r\nb", b"not a header line\r\n\r\nb"),
        # bare LF header blocks
        (b"X-Postvagt-Id: 1\nFrom: a\n\nb", b"From: a\n\nb"),
        # whitespace before the colon (obsolete syntax) is still our field
        (b"X-Postvagt-Verdict : deliver\r\n\r\nb", b"\r\nb"),
    ],
)
def test_strip_fields(raw, expected):
    assert strip_fields(raw) == expected


def test_strip_fields_leaves_the_body_alone_even_with_lookalikes():
    raw = b"From: a\r\n\r\nX-Postvagt-Id: forged in body\r\n\r\nX-Postvagt-Scan: x\r\n"
    assert strip_fields(raw) is raw


def test_prepend_fields_folds_with_crlf():
    out = prepend_fields(b"From: a\r\n\r\nb", [("Received", "from x\n\tby y"), ("X-A", "1")])
    assert out == b"Received: from x\r\n\tby y\r\nX-A: 1\r\nFrom: a\r\n\r\nb"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-A", "1\r\nBcc: victim@example.net"),
        ("X-A", "1\nBcc: x"),
        ("Bad Name", "1"),
        ("X-A", "nul\0"),
    ],
)
def test_prepend_fields_refuses_injection(name, value):
    with pytest.raises(ValueError):
        prepend_fields(b"", [(name, value)])
