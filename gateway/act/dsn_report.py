"""The "relayed" delivery report (RFC 3461 section 5.2.2, RFC 3464).

A client that asked ``NOTIFY=SUCCESS`` is owed a report when the message is delivered. When
the next hop offers DSN it writes that report itself (the parameters go on to it); when it
does not, the promise ends with us, and we MUST tell the sender that the message was
relayed to a system that will not report further. The report names the recipients, the
original envelope id and the time, and returns only the original's header fields (never
its body: ``RET=HDRS`` is what a gateway that must not quote personal data can offer, so
``RET=FULL`` is answered with headers too, which RFC 3461 section 4.3 allows).
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import datetime
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP

from gateway.model import DsnRequest


def relayed_report(
    *,
    reporting_host: str,
    next_hop: str,
    recipients: Sequence[tuple[str, DsnRequest | None]],
    envid: str | None,
    original_headers: bytes,
    arrival: datetime,
) -> bytes:
    """The report as bytes for the outbox (sent from the null sender)."""
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting_host}"
    if envid:
        per_message["Original-Envelope-Id"] = envid
    per_message["Arrival-Date"] = email.utils.format_datetime(arrival)
    blocks: list[Message | str] = [per_message]
    for recipient, dsn in recipients:
        block = Message()
        if dsn is not None and dsn.orcpt:
            block["Original-Recipient"] = dsn.orcpt
        block["Final-Recipient"] = f"rfc822; {recipient}"
        block["Action"] = "relayed"
        block["Status"] = "2.0.0"
        block["Remote-MTA"] = f"dns; {next_hop}"
        blocks.append(block)
    status = MIMEBase("message", "delivery-status")
    status.set_payload(blocks)
    headers = MIMEBase("text", "rfc822-headers")
    # Header fields only, 7-bit safe: an 8-bit one is kept as the client wrote it, encoded.
    headers.set_payload(original_headers.decode("ascii", "replace"))
    report = MIMEMultipart("report", report_type="delivery-status")
    report.attach(MIMEText(HUMAN, "plain", "utf-8"))
    report.attach(status)
    report.attach(headers)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_host}>"
    report["Subject"] = "Delivery Status Notification (relayed)"
    report["Date"] = email.utils.formatdate(localtime=True)
    report["Message-ID"] = email.utils.make_msgid(domain=reporting_host)
    report["Auto-Submitted"] = "auto-replied"
    return report.as_bytes(policy=SMTP)


HUMAN = (
    "Din mail er sendt videre til modtagerens mailserver, som ikke sender "
    "leveringsbekræftelser. Der kommer ingen yderligere besked.\n\n"
    "Your message was relayed to the recipient's mail server, which does not send "
    "delivery confirmations. No further notice will follow.\n"
)
