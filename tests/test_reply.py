"""The auto-reply's building blocks: the RFC 3834 checks, templates that quote nothing, and
replies that cannot be used for header injection. End to end through the gateway and the
outbox: tests/test_reply_e2e.py."""

from __future__ import annotations

import email
from dataclasses import replace
from email import policy

import pytest

from gateway.act.reply import TEMPLATES, ReplyContext, build_reply, render, should_reply
from tests.helpers import message


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
            "sender authentication failed (SPF or DMARC pass needed)",
        ),
        (
            {},
            None,
            {"sender_authenticated": None},
            "sender authentication not checked (SPF or DMARC pass needed)",
        ),
        (
            {},
            "besked@digitalpost.example",
            {"no_reply_domains": frozenset({"digitalpost.example"})},
            "sender domain is a secure channel (no_reply_domains)",
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
    assert "post.borger.dk/send" not in business  # the mailbox's deep link is for citizens
    assert "Ring til os på 70 00 00 00" in business and "Rådhuspladsen 1" in business


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


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.txt.j2")), ids=lambda p: p.name)
def test_every_template_renders_plainly_and_quotes_nothing(template):
    name, audience = template.name.removesuffix(".txt.j2").rsplit(".", 1)
    portal = "virk.dk" if audience == "business" else "borger.dk"
    for context in (
        replace(CONTEXT, portal=portal),
        # Only the required fields: the optional lines fall away, nothing is left dangling.
        ReplyContext(display_name="Testby Kommune", reference="4f1c-ref", portal=portal),
    ):
        text = render(name, context)
        assert "{{" not in text and "{%" not in text and "None" not in text
        assert "Reference: 4f1c-ref" in text and "automatisk" in text and "automatic" in text
        assert text.index("Hej") < text.index("English:")  # Danish first
        # The sender's own route first; the other one, and phone or letter, always offered.
        first, other = ("virk.dk", "post.borger.dk")[:: 1 if portal == "virk.dk" else -1]
        assert first in text and other in text and text.index(first) < text.index(other)
        assert max(len(line) for line in text.splitlines()) <= 100
        # Short sentences (DOMAIN.md 4.4: well under 25 words).
        danish = text.split("English:")[0].replace("\n", " ")
        assert max(len(s.split()) for s in danish.split(".")) < 25


def test_reply_headers_and_no_injection():
    reply = build_reply(
        original_message_id="<abc@example.net>",
        envelope_sender="borger@example.net",
        from_name="Testby Kommune – automatisk svar",
        from_address="noreply@kommune.example",
        text="Hej",
    )
    parsed = email.message_from_bytes(reply, policy=policy.default)
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
    assert b"Bcc" not in injected


def auth(**kwargs):
    from gateway.model import SenderAuth

    return SenderAuth(source="session", **kwargs)


@pytest.mark.parametrize(
    ("facts", "envelope", "from_", "expected"),
    [
        (None, "a@borger.example", "a@borger.example", None),
        (auth(spf="pass", dmarc="fail"), "a@borger.example", "x@other.example", True),
        (auth(spf="fail", dmarc="pass"), "a@borger.example", "a@borger.example", True),
        (auth(spf="fail", dmarc="pass"), "bounce@mail.borger.example", "a@borger.example", True),
        # DKIM-signed From of the attacker's own domain, a victim in MAIL FROM: no.
        (auth(spf="fail", dmarc="pass"), "victim@forged.example", "x@attacker.example", False),
        (auth(spf="softfail", dmarc="none"), "a@borger.example", "a@borger.example", False),
    ],
)
def test_only_an_authenticated_envelope_sender_counts(facts, envelope, from_, expected):
    from gateway.act.reply import sender_verified

    assert sender_verified(facts, envelope, from_) is expected


def test_a_sender_without_a_domain_is_not_answered():
    check = ok(sender="MAILER-DAEMON")
    assert (check.send, check.reason) == (False, "sender address without a domain")


def test_headers_are_read_from_the_header_block_only():
    # Bare-LF mail: the check must not parse (on the event loop) a megabyte of body.
    raw = b"Subject: x\nList-Id: <l.example>\n\n" + b"y" * 2_000_000
    assert ok(raw=raw).reason == "mailing list"


@pytest.mark.parametrize(
    "sender",
    ["borger@example.net", '"a b"@example.net', "anne-sø@eksempel.dk", "x@sub.example.net"],
)
def test_reply_bytes_read_like_a_message_the_email_package_builds(sender):
    """build_reply writes the per-message headers and body itself (issue 17); parsed, it
    says exactly what an EmailMessage built the slow way says."""
    from email.headerregistry import Address
    from email.message import EmailMessage

    text = "Hej\n\nLæs venligst dette.   \nEn meget lang linje " + "ord " * 40 + "\nSlut\n"
    fast = build_reply(
        original_message_id="<m1@example.net>",
        envelope_sender=sender,
        from_name="Testby Kommune – automatisk svar",
        from_address="digitalpost-svar@kommune.example",
        text=text,
    )
    reference = EmailMessage(policy=policy.SMTPUTF8)
    local, _, domain = sender.rpartition("@")
    reference["To"] = Address(username=local.strip('"'), domain=domain)
    reference["From"] = Address(
        display_name="Testby Kommune – automatisk svar",
        username="digitalpost-svar",
        domain="kommune.example",
    )
    reference.set_content(text, cte="quoted-printable")
    parsed = email.message_from_bytes(fast, policy=policy.default)
    expected = email.message_from_bytes(reference.as_bytes(), policy=policy.default)
    for name in ("To", "From", "Content-Type", "Content-Transfer-Encoding"):
        assert str(parsed[name]) == str(expected[name]), name
    assert parsed.get_content() == expected.get_content()
    assert parsed["In-Reply-To"] == "<m1@example.net>"
    assert max(len(line) for line in fast.split(b"\r\n")) <= 998
    assert b"\n" not in fast.replace(b"\r\n", b"")
