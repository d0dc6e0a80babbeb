"""Deployment slots: who may send, which recipients are accepted, what is inspected."""

from __future__ import annotations

import smtplib

import pytest

from tests.helpers import MAILBOX, SENDER, message, send, split
from tests.servers import RawClient


def test_after_queue_accepts_outbound_and_passes_it_untouched(upstream, make_gateway):
    gw = make_gateway(upstream, slot="after-queue")
    outbound = message(To="citizen@example.net", **{"X-Postvagt-Id": "from another hop"})
    send(gw.port, outbound, rcpts=["citizen@example.net"])
    assert upstream.messages[0].content == outbound  # not a byte added or removed


def test_after_queue_inspects_local_recipients(upstream, make_gateway):
    gw = make_gateway(upstream, slot="after-queue")
    send(gw.port, message())
    ours, _ = split(upstream.messages[0].content)
    assert b"X-Postvagt-Scan: complete" in ours


def test_after_queue_splits_local_and_outbound_recipients(upstream, make_gateway):
    gw = make_gateway(upstream, slot="after-queue")
    refused = send(gw.port, message(), rcpts=[MAILBOX, "citizen@example.net"])
    assert refused["citizen@example.net"][0] == 452


def test_after_queue_refuses_untrusted_clients(upstream, make_gateway):
    gw = make_gateway(upstream, slot="after-queue", trusted_clients=["127.0.0.1/32"])
    client = RawClient(gw.port, source="127.0.0.2")
    try:
        client.command("EHLO intruder.example")
        assert client.command(f"MAIL FROM:<{SENDER}>").startswith("550 5.7.1")
    finally:
        client.close()
    send(gw.port, message())  # the trusted Postfix on 127.0.0.1 still gets through
    assert len(upstream.messages) == 1


@pytest.mark.parametrize("slot", ["mx", "before-queue"])
def test_front_slots_refuse_relaying(upstream, make_gateway, slot):
    gw = make_gateway(upstream, slot=slot)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(gw.port, message(), rcpts=["citizen@example.net"])
    send(gw.port, message())
    assert len(upstream.messages) == 1
