"""Robot mail, one generator per class that real robots write (issue 25, point 5): bounces
from MAILER-DAEMON or postmaster with a person's Return-Path, vacation and automatic-reply
subjects in the languages and tools that write them (Lotus Notes, Exchange, ticket systems
behind a ``[queue #123]`` tag), challenge-response, complaint reports as ARF and as
multipart/mixed, DMARC aggregate and failure reports in several MIME shapes, newsletters
from no-reply senders without list headers, bulk senders' own headers, and list headers
after a malformed header line. Every mail carries a fictional CPR number in its subject and
body, and most come with a person's envelope sender: the robot must be known by what the
message itself carries, whatever the Return-Path says.

``robots()`` yields (class, name, raw, envelope sender); ``citizens()`` the ordinary mail
from addresses that look like roles but are people's or firms' (info@, post@, kontakt@) and
subjects that only look automatic, which must still be answered.
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Iterator

from tests import fictional

MAILBOX = "borgerservice@kommune.example"
PERSON = "jens.hansen@example.net"


def _mail(head: list[str], body: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    fields = [
        f"To: {MAILBOX}",
        "Date: Mon, 07 Dec 2026 10:00:00 +0100",
        "Message-ID: <robot-{n}@example.net>",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
    ]
    return ("\r\n".join([*head, *fields]) + "\r\n\r\n" + body).encode("utf-8")


def _text(subject: str, number: str, *head: str, sender: str = f"<{PERSON}>") -> bytes:
    fields = [f"From: {sender}", f"Subject: {subject} {number}", *head]
    return _mail(fields, f"Hej\r\n\r\nCPR-nr. {number}\r\n")


def _mixed(head: list[str], number: str, parts: list[tuple[str, str, bytes]]) -> bytes:
    """multipart/mixed: a text part with the number, then (type, file name, bytes) parts."""
    boundary = "robot-boundary-25"
    out = [f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCPR-nr. {number}\r\n"]
    for kind, name, data in parts:
        disposition = f'Content-Disposition: attachment; filename="{name}"\r\n' if name else ""
        if kind.startswith(("message/", "text/")):
            out.append(f"--{boundary}\r\nContent-Type: {kind}\r\n{disposition}\r\n")
            out[-1] += data.decode("utf-8") + "\r\n"
        else:
            import base64

            encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
            out.append(
                f"--{boundary}\r\nContent-Type: {kind}\r\n{disposition}"
                f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
            )
    body = "".join(out) + f"--{boundary}--\r\n"
    return _mail(head, body, f'multipart/mixed; boundary="{boundary}"')


ORIGINAL = (
    b"From: Borgerservice <borgerservice@kommune.example>\r\nTo: <jens.hansen@example.net>\r\n"
    b"Subject: Svar fra kommunen\r\nMessage-ID: <svar-1@kommune.example>\r\n\r\nHej Jens\r\n"
)
DMARC_XML = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<feedback><report_metadata>'
    b"<org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>"
    b"<report_id>1234567890</report_id></report_metadata><policy_published>"
    b"<domain>kommune.example</domain><p>none</p></policy_published></feedback>\n"
)


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _bounces(number: str) -> Iterator[tuple[str, bytes]]:
    report = (
        f"Delivery to the following recipient failed permanently:\r\n\r\n  CPR-nr. {number}\r\n"
    )
    for name, sender, subject in (
        ("mailer-daemon", "Mail Delivery System <MAILER-DAEMON@mx.example.net>", "Returned"),
        ("postmaster", "postmaster@mx.example.net", "Til info"),
        ("postmaster-notes", "Postmaster@example.net", "DELIVERY FAILURE: user not listed"),
        ("post-master", "post_master@vtext.example.com", "Re:Test message"),
        ("display-name", "Mail Delivery Subsystem <mx@example.net>", "Returned"),
    ):
        yield name, _mail([f"From: {sender}", f"Subject: {subject} {number}"], report)


def _auto_replies(number: str) -> Iterator[tuple[str, bytes]]:
    subjects = {
        "lotus-notes": "AUTO: Jens Hansen er fraværende (retur 14-12-2026)",
        "lotus-notes-english": "Jens Hansen is out of the office.",
        "exchange-english": "Automatic reply: Deres henvendelse",
        "exchange-danish": "Automatisk svar: Deres henvendelse",
        "autosvar": "Autosvar: Deres henvendelse",
        "out-of-office": "Out of Office: Deres henvendelse",
        "out-of-office-bracket": "[Out of Office] Deres henvendelse",
        "fravaerende": "Fraværende: Deres henvendelse",
        "re-autosvar": "Re: Autosvar: Deres henvendelse",
        "rt-autoreply": "[kommune.example #123] AutoReply: Deres henvendelse",
        "otrs-autoreply": "[Ticket#2026120710000012] Auto-Reply: Deres henvendelse",
        "jira-request-received": "[JIRA] (SUP-12) Request received: Deres henvendelse",
        "german": "Abwesenheitsnotiz: Ihre Anfrage",
        "apple-auto-reply": "Auto reply: Deres henvendelse",
    }
    for name, subject in subjects.items():
        yield name, _text(subject, number)
    yield "apple-vacation-header", _text("Deres henvendelse", number, "X-Apple-Action: VACATION")
    yield "rt-header", _text("[kommune.example #9] Re: sag", number, "RT-Ticket: kommune #9")


def _challenges(number: str) -> Iterator[tuple[str, bytes]]:
    yield (
        "tmda",
        _text(
            "Please confirm your message",
            number,
            "X-Delivery-Agent: TMDA/1.1.12 (Macallan)",
            sender="<jens-confirm-1733565600.12345.a1b2c3@example.net>",
        ),
    )
    yield "tmda-subject-only", _text("Re: Please confirm your message", number)
    yield "x-challenge", _text("Deres henvendelse", number, "X-Challenge: 8f3a1c")
    yield "boxbe", _text("Request to join my Guest List", number, sender="<notify@boxbe.com>")
    yield "spamarrest", _text("[Verification needed] Re: Svar", number, sender="<a@spamarrest.com>")
    yield "ask", _text("Please confirm (conf#a1b2c3d4)", number)
    yield "verification-required", _text("Verification required: Svar fra kommunen", number)


def _complaints(number: str) -> Iterator[tuple[str, bytes]]:
    original = ("message/rfc822", "", ORIGINAL)
    arf = (
        b"Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"
        b"Reported-Domain: kommune.example\r\n"
    )
    yield (
        "arf",
        _mail(
            [f"From: <{PERSON}>", f"Subject: FW: Svar fra kommunen {number}"],
            "--b\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
            f"CPR-nr. {number}\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\n"
            + arf.decode()
            + "\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
            + ORIGINAL.decode()
            + "\r\n--b--\r\n",
            "multipart/report; report-type=feedback-report; boundary=b",
        ),
    )
    yield (
        "x-arf",
        _mixed(
            [f"From: <{PERSON}>", "X-ARF: Yes", f"Subject: Svar {number}"],
            number,
            [
                (
                    "text/plain",
                    "report.txt",
                    b"Reported-From: kommune.example\r\nCategory: abuse\r\n",
                ),
                original,
            ],
        ),
    )
    yield (
        "abuse-report-subject",
        _mixed(
            [f"From: <{PERSON}>", f"Subject: Abuse report for IP 192.0.2.7 {number}"],
            number,
            [original],
        ),
    )
    yield (
        "spamcop",
        _mixed(
            [
                f"From: <{PERSON}>",
                f"Subject: [SpamCop (http://kommune.example/) id:7]Svar {number}",
            ],
            number,
            [original],
        ),
    )
    yield (
        "feedback-report-in-mixed",
        _mixed(
            [f"From: <{PERSON}>", f"Subject: Svar fra kommunen {number}"],
            number,
            [("message/feedback-report", "", arf), original],
        ),
    )


def _dmarc(number: str) -> Iterator[tuple[str, bytes]]:
    name = "google.com!kommune.example!1733443200!1733529599"
    subject = f"Report domain: kommune.example Submitter: google.com Report-ID: <1234> {number}"
    yield (
        "aggregate-google",
        _mixed(
            ["From: noreply-dmarc-support@google.com", f"Subject: {subject}"],
            number,
            [("application/zip", f"{name}.zip", _zip(f"{name}.xml", DMARC_XML))],
        ),
    )
    yield (
        "aggregate-person-from",
        _mixed(
            [f"From: <{PERSON}>", f"Subject: {subject}"],
            number,
            [("application/gzip", f"{name}.xml.gz", gzip.compress(DMARC_XML))],
        ),
    )
    yield (
        "aggregate-attachment-only",
        _mixed(
            [f"From: <{PERSON}>", f"Subject: Svar {number}"],
            number,
            [("application/gzip", f"{name}.xml.gz", gzip.compress(DMARC_XML))],
        ),
    )
    yield (
        "aggregate-dmarc-sender",
        _mixed(
            ["From: dmarc-reports@example.net", f"Subject: DMARC Aggregate Report {number}"],
            number,
            [("application/zip", "report.zip", _zip("report.xml", DMARC_XML))],
        ),
    )
    auth_failure = (
        b"Feedback-Type: auth-failure\r\nVersion: 1\r\nAuth-Failure: dmarc\r\n"
        b"Reported-Domain: kommune.example\r\n"
    )
    yield (
        "failure-report-mixed",
        _mixed(
            [f"From: <{PERSON}>", f"Subject: Svar fra kommunen {number}"],
            number,
            [("message/feedback-report", "", auth_failure), ("text/rfc822-headers", "", ORIGINAL)],
        ),
    )
    yield "failure-report-subject", _text(f"DMARC Failure Report for kommune.example {number}", "")


def _bulk(number: str) -> Iterator[tuple[str, bytes]]:
    for name, sender in (
        ("noreply", "Webshop <noreply@shop.example.net>"),
        ("no-reply", "no-reply@shop.example.net"),
        ("donotreply", "DoNotReply@shop.example.net"),
        ("newsletter", "Nyhedsbrev <newsletter@shop.example.net>"),
        ("bounce-local-part", "bounce-1234@mail.shop.example.net"),
        ("service-noreply", "service-noreply@shop.example.net"),
    ):
        yield f"sender-{name}", _text("Ugens tilbud", number, sender=sender)
    for header in (
        "X-MC-User: 5f0c3e2a1b",
        "X-SG-EID: u001.abcdefg",
        "X-SES-Outgoing: 2026.12.07-54.240.0.1",
        "X-Mailgun-Sid: WyIxMjM0NSJd",
        "X-SFDC-LK: 00D000000000062",
        "Feedback-ID: 1:campaign:sender:esp",
        "X-Campaign: 4711",
        "X-CampaignID: 4711",
        "X-Mailjet-Campaign: 4711",
    ):
        yield f"header-{header.split(':')[0].lower()}", _text("Ugens tilbud", number, header)


def _lists(number: str) -> Iterator[tuple[str, bytes]]:
    body = f"Hej\r\n\r\nCPR-nr. {number}\r\n"
    yield (
        "ezmlm-after-malformed-line",
        _mail(
            [
                f"From: <{PERSON}>",
                f"Subject: Referat {number}",
                "this line is not a header field",
                "Mailing-List: contact nyheder-help@lists.example.net; run by ezmlm",
            ],
            body,
        ),
    )
    yield (
        "list-unsubscribe-after-8bit-line",
        _mail(
            [
                f"From: <{PERSON}>",
                f"Subject: Referat {number}",
                "Ærgerlig linje uden kolon",
                "List-Unsubscribe: <mailto:leave@lists.example.net>",
            ],
            body,
        ),
    )
    yield "mailman-beenthere", _text("Referat", number, "X-BeenThere: nyheder@lists.example.net")
    yield "fml-mlserver", _text("Referat", number, "X-MLServer: fml [fml 4.0.3 release]")


CLASSES = {
    "bounce-sender": _bounces,
    "auto-reply": _auto_replies,
    "challenge": _challenges,
    "complaint": _complaints,
    "dmarc": _dmarc,
    "bulk": _bulk,
    "list": _lists,
}


def robots(seed: int = 25) -> Iterator[tuple[str, str, bytes, str]]:
    """(class, name, raw, envelope sender): each with a person's envelope sender."""
    rng = random.Random(seed)
    for kind, make in CLASSES.items():
        for name, raw in make(fictional.cpr(rng)):
            yield kind, f"{kind}-{name}", raw.replace(b"{n}", name.encode()), PERSON


def citizens(seed: int = 2525) -> Iterator[tuple[str, bytes, str]]:
    """(name, raw, envelope sender): people's and firms' mail that must be answered."""
    rng = random.Random(seed)
    cases = [
        ("info-at-firm", "info@vvs-hansen.example", "Ansøgning om tilskud"),
        ("post-at-firm", "post@tandlaege.example", "Henvisning"),
        ("kontakt-at-firm", "kontakt@revisor.example", "Vedr. klient"),
        ("person", "mette.jensen@example.net", "Fraværende barn"),
        ("absence-word", "karen@example.net", "Fravær i skolen"),
        ("reply-to-kommune", "lars@example.net", "Re: Svar fra kommunen"),
        ("out-of-office-hours", "sofie@example.net", "Out of office hours question"),
        ("delivery-of-bins", "ahmed@example.net", "Levering af skraldespand"),
        ("confirmation", "jonas@example.net", "Bekræftelse af flytning"),
        ("report-word", "aase@example.net", "Indberetning af skade"),
        ("auto-name", "auto.hansen@example.net", "Min bil"),
        ("mail-person", "mail@soeren.example", "Boligstøtte"),
        ("admin-person", "admin@forening.example", "Medlem"),
        ("news-reporter", "journalist@avis.example", "Aktindsigt"),
    ]
    for name, sender, subject in cases:
        number = fictional.cpr(rng)
        raw = _text(subject, number, sender=f"<{sender}>").replace(b"{n}", name.encode())
        yield name, raw, sender
