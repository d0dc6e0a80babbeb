"""Held mail released by staff: delivered to the next hop as it arrived, with our id and a
verdict header saying staff released it.

Claimed first, so two clicks (or two instances) send it once; all recipients or none: a
refusal or an outage keeps it held (the claim is given back).
"""

from __future__ import annotations

import logging

from gateway.act.headers import released_bytes
from gateway.model import TEMPFAIL, NextHop, Reply
from gateway.nexthop.send import send_message
from gateway.store import Store, review

log = logging.getLogger("postvagt.release")


async def release_held(store: Store, hop: NextHop, message_id: str, *, timeout: float) -> Reply:
    held = await store.run(review.claim_release, message_id, store.quarantine)
    if held is None:
        return Reply(550, "5.0.0 not held (any more)")
    mail_from, recipients, raw = held
    try:
        reply = await send_message(
            hop, mail_from, recipients, released_bytes(raw, message_id), timeout=timeout
        )
    except Exception:
        log.exception("id=%s release failed", message_id)
        reply = TEMPFAIL
    if not reply.positive:
        await store.run(review.unclaim_release, message_id)
    return reply
