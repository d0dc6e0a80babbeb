"""One log line per message (logger ``postvagt.messages``): what happened to it — size, scan
state, verdict, journal flag, reply state, the next hop's code, time taken — and never who
wrote it to whom about what: the sender's domain only, no subject, no finding's value.
"""

from __future__ import annotations

import logging

from gateway.metrics import Metrics
from gateway.model import Outcome, Received, ReplyPlan

messages_log = logging.getLogger("postvagt.messages")


def log_message(
    received: Received,
    outcome: Outcome,
    seconds: float,
    metrics: Metrics,
    plan: ReplyPlan | None = None,
    reply_state: str | None = None,
) -> None:
    verdict = outcome.inspection.verdict
    fields = {
        "id": received.id,
        "size": len(received.raw),
        "rcpts": len(received.rcpt_tos),
        "group": received.group,
        "sender_domain": received.mail_from.rpartition("@")[2].lower() or "<>",
        "scan": "complete" if outcome.inspection.complete else "incomplete",
        "unscanned": ",".join(outcome.inspection.unscanned),
        "upstream": outcome.reply.code,
        "delivered": outcome.delivered,
        "verdict": verdict.action if verdict else "-",
        "rule": verdict.rule if verdict else "-",
        "journal": bool(verdict and verdict.journal),
        "reply": reply_state or "none",
        "ms": round(seconds * 1000, 1),
    }
    if plan is not None and plan.suppressed:
        # The kind of reason only: "Auto-Submitted: <value>" would echo a header.
        fields["reply_reason"] = plan.suppressed.split(":")[0]
    text = " ".join(f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in fields.items())
    messages_log.info(text, extra={"fields": fields})
    metrics.message(outcome, seconds)
