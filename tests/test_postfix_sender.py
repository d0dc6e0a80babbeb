"""A real Postfix as the *sending* server, into each of the three slots (issue 23).

A sending Postfix adds ``ORCPT=`` to every recipient once the server it talks to offers DSN,
and ``NOTIFY=``/``RET=``/``ENVID=`` when its user asked; before this, Postvagt answered
``555`` and every such message bounced. Here the sender is a second Postfix instance with a
relayhost pointing at Postvagt (``mx``) or at the front Postfix (``before-queue`` and
``after-queue``, with the documented master.cf lines unchanged), and the messages are
submitted to it with DSN requests. Every message must be delivered, none bounced, and the
sender's log must say ``status=sent``. The success report the final Postfix writes for
``NOTIFY=SUCCESS`` travels back to the sender's mailbox with the sender's ENVID in it: the
parameters crossed Postvagt intact.
"""

from __future__ import annotations

import re
import smtplib
import uuid
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.postfix import Postfix, available, gateway_settings
from tests.servers import RunningGateway, free_port
from tests.test_postfix import services

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

MAILBOX = "post@kommune.example"
CITIZEN = "anna@borger.example"
POLICY = """\
version: 1
replies: {require_authentication: false}
rules:
  - name: ordinary
"""
MESSAGES = 5


def receiving_side(slot: str, ports: dict[str, int], sender_port: int) -> Postfix:
    """The municipality's Postfix: for the proxy slots the documented front and re-injection
    services, for ``mx`` only the next hop. Mail for the citizen's domain (the delivery
    reports) goes back to the sending Postfix."""
    postfix = Postfix("", mailboxes=[MAILBOX], myhostname="mx.kommune.example")
    if slot == "mx":
        postfix.add_services(f"127.0.0.1:{ports['reinject']} inet n - n - - smtpd\n")
    else:
        postfix.add_services(services(slot, conf=postfix.conf, **ports))
        (postfix.conf / "refuse").write_text("")
    (postfix.conf / "transport").write_text(f"borger.example smtp:[127.0.0.1]:{sender_port}\n")
    with open(postfix.conf / "main.cf", "a") as f:
        f.write(f"transport_maps = texthash:{postfix.conf / 'transport'}\n")
    return postfix


def sending_side(port: int, relay_to: int) -> Postfix:
    """The citizen's provider: accepts submissions on ``port``, relays everything else to
    ``relay_to``, and keeps the citizen's mailbox (where bounces and reports land)."""
    return Postfix(
        f"127.0.0.1:{port} inet n - n - - smtpd\n",
        mailboxes=[CITIZEN],
        myhostname="mx.borger.example",
        relayhost=f"[127.0.0.1]:{relay_to}",
    )


def submit(port: int, n: int, envid: str) -> None:
    body = f"Subject: Ansøgning {n}\r\nFrom: {CITIZEN}\r\nTo: {MAILBOX}\r\n\r\nHej {n}\r\n"
    notify = "NOTIFY=SUCCESS,FAILURE" if n == 0 else "NOTIFY=FAILURE,DELAY"
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("laptop.borger.example")
        client.sendmail(
            CITIZEN,
            [MAILBOX],
            body.encode(),
            mail_options=["RET=HDRS", f"ENVID={envid}"],
            rcpt_options=[notify, f"ORCPT=rfc822;{MAILBOX}"],
        )


@pytest.mark.parametrize("slot", ["mx", "before-queue", "after-queue"])
def test_a_postfix_sender_delivers_into_each_slot(tmp_path: Path, slot: str) -> None:
    ports = {"front": free_port(), "gw": free_port(), "reinject": free_port()}
    sender_port = free_port()
    receiver = receiving_side(slot, ports, sender_port)
    sender = sending_side(sender_port, ports["gw"] if slot == "mx" else ports["front"])
    (tmp_path / "policy.yaml").write_text(POLICY)
    settings = gateway_settings(
        tmp_path, ports["reinject"], slot=slot, listen=f"127.0.0.1:{ports['gw']}"
    )
    gateway = None
    try:
        receiver.start()
        sender.start()
        gateway = RunningGateway(settings)
        envid = f"sag-{uuid.uuid4().hex[:12]}"
        for n in range(MESSAGES):
            submit(sender_port, n, envid)
        assert wait_for(lambda: len(receiver.delivered(MAILBOX)) == MESSAGES, timeout=60), (
            sender.log() + receiver.log()
        )
        log = sender.log()
        sent = re.findall(rf"to=<{MAILBOX}>.*status=sent", log)
        assert len(sent) == MESSAGES, log
        assert "status=bounced" not in log and "status=deferred" not in log, log
        for message in receiver.delivered(MAILBOX):
            assert b"X-Postvagt-Id: " in message
        # NOTIFY=SUCCESS of the first message: the final Postfix's report came back with
        # the sender's ENVID, so the parameters reached it through Postvagt.
        assert wait_for(lambda: sender.delivered(CITIZEN), timeout=60), receiver.log()
        (report,) = sender.delivered(CITIZEN)
        assert b"multipart/report" in report and b"delivery-status" in report
        assert f"Original-Envelope-Id: {envid}".encode() in report
        assert re.search(rb"Action: (delivered|relayed)", report), report
    finally:
        if gateway is not None:
            gateway.close()
        sender.stop()
        receiver.stop()
