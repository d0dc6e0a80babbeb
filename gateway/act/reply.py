"""The Digital Post auto-reply: when not to send one, and how one is built.

The checks follow RFC 3834 and DOMAIN.md section 6, cheapest first, each with its reason.
The reply quotes nothing of the original: its template sees only the mailbox's settings, the
Postvagt reference and the portal — never the subject, the body, a file name or a finding.
It is built with ``EmailMessage`` under a strict policy (no header is ever formatted by hand)
and goes to the envelope sender only. ``plan_reply`` turns a verdict into a ``ReplyPlan``; the
store settles it (once per sender and period, under the hourly cap) in the same transaction
that records the original as accepted, and gateway.act.outbox sends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from gateway.authentication import SenderAuth
from gateway.decide.load import REPLY_TEMPLATES as TEMPLATES
from gateway.decide.policy import Contact, Policy
from gateway.decide.walk import Verdict
from gateway.model import Inspection, Received
from gateway.parse import MAX_HEADER_BYTES
from gateway.rawmail import header_block_end

ROBOT_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|owner-.*|.*-request|no-?reply|donotreply|do-not-reply|"
    r"bounces?(?:[-+.].*)?)$",
    re.IGNORECASE,
)
# A msg-id as RFC 5322 writes it; anything else is left out of In-Reply-To.
MESSAGE_ID = re.compile(r"^<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>$")
_HEADERS = BytesHeaderParser(policy=policy.compat32)
REPORT_TYPES = ("multipart/report", "message/delivery-status", "message/disposition-notification")


@dataclass(frozen=True)
class ReplyCheck:
    send: bool
    reason: str


def _aligned(envelope_domain: str, from_domain: str) -> bool:
    """Relaxed alignment, conservatively: the same domain, or one a subdomain of the other."""
    a, b = envelope_domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def sender_verified(
    sender: SenderAuth | None, envelope_sender: str, from_address: str | None
) -> bool | None:
    """Whether the envelope sender — where the reply goes — is authenticated. None: not
    checked.

    SPF checks the MAIL FROM domain itself. DMARC vouches for the From domain only, so it
    counts only when the envelope domain is aligned with From: else anyone could DKIM-sign
    their own From and name a victim in MAIL FROM, and we would answer the victim.
    """
    if sender is None or sender.source == "none":
        return None
    if sender.spf == "pass":
        return True
    envelope_domain = envelope_sender.rpartition("@")[2]
    from_domain = (from_address or "").rpartition("@")[2]
    return sender.dmarc == "pass" and _aligned(envelope_domain, from_domain)


def should_reply(
    raw: bytes,
    envelope_sender: str,
    *,
    encrypted: bool = False,
    sender_authenticated: bool | None = None,
    require_authentication: bool = True,
    no_reply_domains: frozenset[str] = frozenset(),
) -> ReplyCheck:
    """Whether this accepted message may get an auto-reply, and why (not).

    The checks of DOMAIN.md section 6, in its order, all on the envelope and the header block;
    the per-sender period and the hourly cap come later, in the store.
    """
    if not envelope_sender:
        return ReplyCheck(False, "null envelope sender")
    if "@" not in envelope_sender:
        return ReplyCheck(False, "sender address without a domain")
    # The header block only, capped like the parser's: this runs on the event loop.
    head = raw[: min(header_block_end(raw), MAX_HEADER_BYTES)]
    headers = _HEADERS.parsebytes(head)
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
    local, _, domain = envelope_sender.rpartition("@")
    if ROBOT_LOCAL_PARTS.match(local):
        return ReplyCheck(False, "automatic sender")
    suppress = str(headers.get("X-Auto-Response-Suppress", "")).lower()
    if any(token in suppress for token in ("all", "autoreply", "oof")):
        return ReplyCheck(False, "X-Auto-Response-Suppress")
    if encrypted:
        return ReplyCheck(False, "encrypted mail")
    if domain.lower() in no_reply_domains:
        return ReplyCheck(False, "sender domain is a secure channel (no_reply_domains)")
    if require_authentication and not sender_authenticated:
        reason = "failed" if sender_authenticated is False else "not checked"
        return ReplyCheck(False, f"sender authentication {reason} (SPF or DMARC pass needed)")
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


@dataclass(frozen=True)
class ReplyIdentity:
    """Who replies: settings, not policy (they belong to the mail system, not the rules)."""

    from_address: str
    envelope_from: str = ""  # the null sender: nothing answers an answer


@dataclass(frozen=True)
class ReplyPlan:
    """A wanted reply, or why none goes out; settled by the store once the original is
    accepted (gateway.store.replies)."""

    recipient: str
    mailbox: str
    suppressed: str | None
    envelope_from: str = ""
    payload: bytes = b""
    period: timedelta = timedelta(days=7)
    hourly_cap: int = 200


def plan_reply(
    received: Received,
    facts: Inspection,
    verdict: Verdict,
    policy_: Policy,
    identity: ReplyIdentity,
) -> ReplyPlan | None:
    """The reply the verdict asks for (None if it asks for none), built now, so that nothing
    can fail between the upstream's 250 and the enqueue."""
    if not verdict.reply:
        return None
    settings = policy_.replies
    protection = facts.protection
    check = should_reply(
        received.raw,
        received.mail_from,
        encrypted=bool(protection and protection.encrypted),
        sender_authenticated=sender_verified(
            facts.sender,
            received.mail_from,
            facts.parsed.from_address if facts.parsed else None,
        ),
        require_authentication=settings.require_authentication,
        no_reply_domains=frozenset(d.lower() for d in settings.no_reply_domains),
    )
    plan = ReplyPlan(
        recipient=received.mail_from,
        mailbox=verdict.mailbox,
        suppressed=None if check.send else check.reason,
        envelope_from=identity.envelope_from,
        period=timedelta(days=settings.period_days),
        hourly_cap=settings.hourly_cap,
    )
    if not check.send:
        return plan
    contact: Contact = policy_.contact_for(verdict.mailbox)
    text = render(
        contact.reply_template,
        ReplyContext(
            display_name=contact.display_name,
            reference=received.id,
            portal=verdict.portal or "borger.dk",
            digital_post_link=contact.digital_post_link,
            business_text=contact.business_text,
            phone=contact.phone,
            postal_address=contact.postal_address,
        ),
    )
    try:
        message = build_reply(
            original_message_id=facts.parsed.message_id if facts.parsed else None,
            envelope_sender=received.mail_from,
            from_name=f"{contact.display_name} – automatisk svar",
            from_address=identity.from_address,
            text=text,
        )
        payload = message.as_bytes()
    except (ValueError, TypeError, UnicodeError) as e:
        return replace(plan, suppressed=f"reply could not be built: {type(e).__name__}")
    return replace(plan, payload=payload)


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
    # A sender that used SMTPUTF8 gets its reply the same way; the outbox asks the relay for it.
    utf8 = not (envelope_sender.isascii() and from_address.isascii())
    message = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    local, _, domain = from_address.rpartition("@")
    message["From"] = Address(display_name=from_name, username=local, domain=domain)
    recipient_local, _, recipient_domain = envelope_sender.rpartition("@")
    if len(recipient_local) > 1 and recipient_local[0] == recipient_local[-1] == '"':
        # A quoted local part: Address quotes it itself, so give it the bare one.
        recipient_local = re.sub(r"\\(.)", r"\1", recipient_local[1:-1])
    message["To"] = Address(username=recipient_local, domain=recipient_domain)
    message["Subject"] = "Automatisk svar: Send personlige oplysninger sikkert med Digital Post"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=domain or None)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["Precedence"] = "bulk"
    if original_message_id and MESSAGE_ID.match(original_message_id.strip()):
        message["In-Reply-To"] = original_message_id.strip()
        message["References"] = original_message_id.strip()
    # Quoted-printable: 7-bit on the wire, whatever relays lie between us and the sender.
    message.set_content(text, cte="quoted-printable")
    return message
