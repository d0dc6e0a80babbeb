"""The Digital Post auto-reply: when not to send one, and how one is built.

The checks follow RFC 3834 and DOMAIN.md section 6, cheapest first, each with its reason.
The reply quotes nothing of the original: its template sees only the mailbox's settings, the
Postvagt reference and the portal — never the subject, the body, a file name or a finding.
It is built with ``EmailMessage`` under a strict policy (no header is ever formatted by hand)
and goes to the envelope sender only. Sending it, through the persistent outbox, is the
outbox sender's job (not built yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "replies"

ROBOT_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|owner-.*|.*-request|no-?reply|donotreply|do-not-reply|"
    r"bounces?(?:[-+.].*)?)$",
    re.IGNORECASE,
)
REPORT_TYPES = ("multipart/report", "message/delivery-status", "message/disposition-notification")


@dataclass(frozen=True)
class ReplyCheck:
    send: bool
    reason: str


def should_reply(
    raw: bytes,
    envelope_sender: str,
    *,
    encrypted: bool = False,
    sender_authenticated: bool | None = None,
    require_authentication: bool = True,
) -> ReplyCheck:
    """Whether this accepted message may get an auto-reply, and why (not)."""
    if not envelope_sender:
        return ReplyCheck(False, "null envelope sender")
    headers = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=policy.compat32)
    auto = str(headers.get("Auto-Submitted", "no")).strip().lower()
    if auto.split(";")[0].strip() != "no":
        return ReplyCheck(False, f"Auto-Submitted: {auto.split(';')[0]}")
    content_type = headers.get_content_type()
    if content_type in REPORT_TYPES:
        return ReplyCheck(False, "delivery or disposition report")
    if any(name.lower().startswith("list-") for name in headers.keys()) or headers.get(
        "X-Mailing-List"
    ):
        return ReplyCheck(False, "mailing list")
    if str(headers.get("Precedence", "")).strip().lower() in ("bulk", "list", "junk"):
        return ReplyCheck(False, "Precedence: " + str(headers.get("Precedence")).strip().lower())
    local = envelope_sender.rpartition("@")[0]
    if ROBOT_LOCAL_PARTS.match(local):
        return ReplyCheck(False, "automatic sender")
    suppress = str(headers.get("X-Auto-Response-Suppress", "")).lower()
    if any(token in suppress for token in ("all", "autoreply", "oof")):
        return ReplyCheck(False, "X-Auto-Response-Suppress")
    if encrypted:
        return ReplyCheck(False, "encrypted mail")
    if require_authentication and not sender_authenticated:
        return ReplyCheck(False, "sender not authenticated (aligned SPF or DKIM)")
    return ReplyCheck(True, "reply")


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,  # plain text; every value comes from the admin's settings
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class ReplyContext:
    """Everything a reply template may see: mailbox settings, reference, portal. Nothing of
    the original message."""

    display_name: str
    reference: str
    portal: str
    digital_post_link: str | None = None
    business_text: str = "Log ind på virk.dk og brug jeres Digital Post."
    phone: str | None = None
    postal_address: str | None = None


def render(template: str, context: ReplyContext) -> str:
    audience = "business" if context.portal == "virk.dk" else "citizen"
    values = {k: v for k, v in context.__dict__.items()}
    return _environment.get_template(f"{template}.{audience}.txt.j2").render(**values)


def build_reply(
    *,
    original_message_id: str | None,
    envelope_sender: str,
    from_name: str,
    from_address: str,
    text: str,
) -> EmailMessage:
    """The reply message. Addresses with CR, LF or NUL are refused (ValueError)."""
    for value in (envelope_sender, from_address, from_name):
        if any(c in value for c in "\r\n\0"):
            raise ValueError("control character in an address or display name")
    message = EmailMessage(policy=policy.SMTP)
    local, _, domain = from_address.rpartition("@")
    message["From"] = Address(display_name=from_name, username=local, domain=domain)
    recipient_local, _, recipient_domain = envelope_sender.rpartition("@")
    message["To"] = Address(username=recipient_local, domain=recipient_domain)
    message["Subject"] = "Automatisk svar: Send personlige oplysninger sikkert med Digital Post"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=domain or None)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["Precedence"] = "bulk"
    if original_message_id and not any(c in original_message_id for c in "\r\n\0"):
        message["In-Reply-To"] = original_message_id
        message["References"] = original_message_id
    message.set_content(text)
    return message
