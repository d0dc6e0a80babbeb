"""The daily digest: per mailbox, to its staff address, how much flagged mail waits.

Counts and a link only — no sender, no subject, no finding — so it may travel by ordinary
mail. Once a day per mailbox across all instances (the store's claim), at or after
``digest_hour`` local time; queued in the outbox like a reply.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlencode

from sqlalchemy import Connection

from gateway.decide.policy import Policy
from gateway.store import primitives
from gateway.store.digest import Waiting, waiting

DIGEST_SCOPE = "digest"


def build_digest(
    *, mailbox: str, display_name: str, to: str, from_address: str, base_url: str, facts: Waiting
) -> EmailMessage:
    days = (datetime.now(UTC) - facts.oldest).days if facts.oldest else 0
    link = f"{base_url}?{urlencode({'mailbox': mailbox, 'status': 'open'})}"
    text = (
        f"Hej\n\n"
        f"{facts.open} mails til {display_name} med personoplysninger venter på at blive "
        f"journaliseret eller afsluttet.\nDen ældste er {days} dage gammel.\n\n"
        f"Se dem her: {link}\n\n"
        f"English: {facts.open} flagged mails to {display_name} are waiting to be journaled "
        f"or closed (oldest: {days} days).\n\n"
        f"-- \nPostvagt (automatisk besked)\n"
    )
    message = EmailMessage(policy=policy.SMTP)
    local, _, domain = from_address.rpartition("@")
    message["From"] = Address(display_name="Postvagt", username=local, domain=domain)
    to_local, _, to_domain = to.rpartition("@")
    message["To"] = Address(username=to_local, domain=to_domain)
    message["Subject"] = f"Postvagt: {facts.open} markerede mails venter ({display_name})"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=domain or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    return message


def queue_digests(
    connection: Connection,
    policy_: Policy,
    *,
    from_address: str,
    base_url: str,
    today: date | None = None,
) -> list[str]:
    """Queue today's digest for every mailbox that has a staff address and open mail;
    returns the mailboxes queued. Safe to call often: the claim is per mailbox and local
    date, so it is once a day whatever the hour."""
    today = today or date.today()
    queued = []
    for mailbox in policy_.mailboxes:
        if not mailbox.staff_address:
            continue
        facts = waiting(connection, mailbox.name)
        if facts.open == 0:
            continue
        key = f"{mailbox.name}:{today.isoformat()}"
        if not primitives.claim_once(connection, DIGEST_SCOPE, key, timedelta(days=2)):
            continue
        message = build_digest(
            mailbox=mailbox.name,
            display_name=mailbox.display_name,
            to=mailbox.staff_address,
            from_address=from_address,
            base_url=base_url,
            facts=facts,
        )
        primitives.enqueue(
            connection,
            kind="digest",
            mail_from="",
            recipient=mailbox.staff_address,
            payload=message.as_bytes(),
        )
        queued.append(mailbox.name)
    return queued
