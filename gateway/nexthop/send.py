"""One whole message through a next hop: MAIL, each RCPT, DATA, and the transaction given back.

The live SMTP front works in lock-step with its client instead (gateway.smtp); everything
Postvagt sends on its own — auto-replies and digests from the outbox, held mail released by
staff — goes through here, so there is one way to hand a finished message on.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.model import DsnRequest, NextHop, Reply


def needs_smtputf8(mail_from: str, recipients: Sequence[str]) -> bool:
    return not (mail_from.isascii() and all(r.isascii() for r in recipients))


async def send_message(
    hop: NextHop,
    mail_from: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    timeout: float,
    dsn: DsnRequest | None = None,
) -> Reply:
    """The next hop's answer for the whole message: its first refusal, or its DATA reply.
    All recipients or none: a refused recipient ends the transaction before DATA."""
    smtputf8 = needs_smtputf8(mail_from, recipients)
    transaction = await hop.begin()
    try:
        reply = await transaction.mail(mail_from, ["SMTPUTF8"] if smtputf8 else [], smtputf8)
        for recipient in recipients if reply.positive else []:
            reply = await transaction.rcpt(recipient, smtputf8, dsn=dsn)
            if not reply.positive:
                return reply
        if reply.positive:
            reply = await transaction.data(data, timeout=timeout)
        return reply
    finally:
        await transaction.release()
