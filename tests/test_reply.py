"""The auto-reply's building blocks: the RFC 3834 matrix, templates that quote nothing, and
replies that cannot be used for header injection. (Sending through the outbox: not yet.)"""

from __future__ import annotations

import email
import random
from email import policy

import pytest

from gateway.act.reply import ReplyContext, build_reply, render, should_reply
from tests import fictional
from tests.test_smtp import message


def ok(raw: bytes = b"", sender: str = "borger@example.net", **kwargs):
    return should_reply(raw or message(), sender, **{"sender_authenticated": True, **kwargs})


@pytest.mark.parametrize(
    ("headers", "sender", "kwargs", "reason"),
    [
        ({}, "", {}, "null envelope sender"),
        ({"Auto-Submitted": "auto-replied"}, None, {}, "Auto-Submitted: auto-replied"),
        (
            {"Auto-Submitted": "auto-generated; owner-email=x@y"},
            None,
            {},
            "Auto-Submitted: auto-generated",
        ),
        (
            {"Content-Type": "multipart/report; report-type=delivery-status; boundary=x"},
            None,
            {},
            "delivery or disposition report",
        ),
        ({"List-Id": "<nyhed.kommune.example>"}, None, {}, "mailing list"),
        ({"List-Unsubscribe": "<mailto:x@y>"}, None, {}, "mailing list"),
        ({"X-Mailing-List": "x"}, None, {}, "mailing list"),
        ({"Precedence": "bulk"}, None, {}, "Precedence: bulk"),
        ({"Precedence": "junk"}, None, {}, "Precedence: junk"),
        ({}, "MAILER-DAEMON@example.net", {}, "automatic sender"),
        ({}, "postmaster@example.net", {}, "automatic sender"),
        ({}, "owner-liste@example.net", {}, "automatic sender"),
        ({}, "liste-request@example.net", {}, "automatic sender"),
        ({}, "no-reply@example.net", {}, "automatic sender"),
        ({}, "noreply@example.net", {}, "automatic sender"),
        ({}, "donotreply@example.net", {}, "automatic sender"),
        ({}, "bounce+123@example.net", {}, "automatic sender"),
        ({"X-Auto-Response-Suppress": "OOF, AutoReply"}, None, {}, "X-Auto-Response-Suppress"),
        ({}, None, {"encrypted": True}, "encrypted mail"),
        (
            {},
            None,
            {"sender_authenticated": False},
            "sender not authenticated (aligned SPF or DKIM)",
        ),
    ],
)
def test_rfc3834_suppression(headers, sender, kwargs, reason):
    raw = message(**headers)
    check = ok(raw, "borger@example.net" if sender is None else sender, **kwargs)
    assert (check.send, check.reason) == (False, reason)


def test_the_normal_case_replies():
    assert ok().send is True
    assert ok(raw=message(**{"Auto-Submitted": "no"})).send is True


CONTEXT = ReplyContext(
    display_name="Testby Kommune",
    reference="4f1c-ref",
    portal="borger.dk",
    digital_post_link="https://post.borger.dk/send/x/",
    phone="70 00 00 00",
    postal_address="Rådhuspladsen 1, 9999 Testby",
)


def test_citizen_and_business_templates():
    citizen = render("digital-post", CONTEXT)
    assert "post.borger.dk" in citizen and "https://post.borger.dk/send/x/" in citizen
    assert "Ring til os på 70 00 00 00" in citizen and "Reference: 4f1c-ref" in citizen
    assert citizen.index("Hej") < citizen.index("English:")  # Danish first
    business = render(
        "digital-post", CONTEXT.__class__(**{**CONTEXT.__dict__, "portal": "virk.dk"})
    )
    assert "virk.dk" in business and "MitID Erhverv" in business
    assert "post.borger.dk/send" not in business


def test_the_template_cannot_see_the_original():
    # The context type has no field for subject, body, file names or findings: a template
    # that asked for one would fail (StrictUndefined), not quote it.
    assert set(ReplyContext.__dataclass_fields__) == {
        "display_name",
        "reference",
        "portal",
        "digital_post_link",
        "business_text",
        "phone",
        "postal_address",
    }
    number = fictional.cpr(random.Random(61))
    assert number not in render("digital-post", CONTEXT)


def test_reply_headers_and_no_injection():
    reply = build_reply(
        original_message_id="<abc@example.net>",
        envelope_sender="borger@example.net",
        from_name="Testby Kommune – automatisk svar",
        from_address="noreply@kommune.example",
        text="Hej",
    )
    parsed = email.message_from_bytes(reply.as_bytes(), policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["In-Reply-To"] == "<abc@example.net>"
    assert parsed["To"] == "borger@example.net"
    for bad in (
        {"envelope_sender": "a@b.dk\r\nBcc: victim@example.net"},
        {"from_name": "Kommune\r\nBcc: victim@example.net"},
    ):
        args = {
            "original_message_id": None,
            "envelope_sender": "a@b.dk",
            "from_name": "K",
            "from_address": "noreply@kommune.example",
            "text": "x",
        }
        with pytest.raises(ValueError):
            build_reply(**{**args, **bad})
    injected = build_reply(
        original_message_id="<x>\r\nBcc: victim@example.net",
        envelope_sender="a@b.dk",
        from_name="K",
        from_address="noreply@kommune.example",
        text="x",
    )
    assert b"Bcc" not in injected.as_bytes()
