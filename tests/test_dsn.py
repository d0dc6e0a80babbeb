"""DSN parameters (RFC 3461) on the wire: accepted, checked, passed on or reported.

Before issue 23 aiosmtpd refused every MAIL/RCPT parameter but SIZE, BODY and SMTPUTF8 with
a permanent 555, and a sending Postfix adds ORCPT to every recipient: all its mail bounced.
(tests/test_postfix_sender.py sends through all three slots from a real Postfix.)
"""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

import pytest

from gateway import dsn
from gateway.model import DsnRequest
from tests.helpers import wait_for
from tests.postfix import Postfix, available, gateway_settings
from tests.servers import RawClient, RunningGateway, Upstream, free_port

MAILBOX = "post@kommune.example"
CITIZEN = "anna@borger.example"

# -- the grammar -------------------------------------------------------------------------


def test_parameters_are_taken_out_and_kept_as_written() -> None:
    taken = dsn.split_params(
        "<a@b.example>", "NOTIFY=success,Failure ORCPT=rfc822;A+2Bb@B.example", dsn.RCPT_KEYWORDS
    )
    assert taken.rest == "<a@b.example>"
    request = dsn.request(taken.params)
    assert request == DsnRequest(notify=("SUCCESS", "FAILURE"), orcpt="rfc822;A+2Bb@B.example")
    assert request.rcpt_options() == ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;A+2Bb@B.example"]
    mail = dsn.split_params("<a@b.example>", "SIZE=10 RET=hdrs ENVID=QQ314", dsn.MAIL_KEYWORDS)
    assert mail.rest == "<a@b.example> SIZE=10"  # the others are left for aiosmtpd
    assert dsn.request(mail.params) == DsnRequest(ret="HDRS", envid="QQ314")


@pytest.mark.parametrize(
    "params",
    [
        "NOTIFY=NEVER,SUCCESS",
        "NOTIFY=SOMETIMES",
        "NOTIFY=SUCCESS,SUCCESS",
        "NOTIFY=",
        "ORCPT=a@b.example",  # no addr-type
        "ORCPT=rfc822;a=b@example",  # "=" must be +3D in xtext
        "ORCPT=rfc822;a+zz@example",  # not a hex pair
        "NOTIFY=NEVER NOTIFY=NEVER",
    ],
)
def test_malformed_rcpt_parameters_are_refused(params: str) -> None:
    with pytest.raises(dsn.DsnSyntaxError, match=r"^501 5\.5\.4 "):
        dsn.split_params("<a@b.example>", params, dsn.RCPT_KEYWORDS)


@pytest.mark.parametrize("params", ["RET=BODY", "ENVID=" + "x" * 101, "ENVID=a=b"])
def test_malformed_mail_parameters_are_refused(params: str) -> None:
    with pytest.raises(dsn.DsnSyntaxError, match=r"^501 5\.5\.4 "):
        dsn.split_params("<a@b.example>", params, dsn.MAIL_KEYWORDS)


# -- in the SMTP dialogue ------------------------------------------------------------------


def test_dsn_is_offered_and_malformed_or_unknown_parameters_get_their_replies(
    upstream: Upstream, make_gateway
) -> None:
    gw = make_gateway(upstream)
    client = RawClient(gw.port)  # reads the greeting
    try:
        assert "250-DSN" in client.command("EHLO client.example")
        assert client.command("MAIL FROM:<a@b.example> RET=BODY").startswith("501 5.5.4")
        assert client.command("MAIL FROM:<a@b.example> RET=HDRS ENVID=x1").startswith("250")
        assert client.command(f"RCPT TO:<{MAILBOX}> NOTIFY=SOMETIMES").startswith("501 5.5.4")
        assert client.command(f"RCPT TO:<{MAILBOX}> FOO=BAR").startswith("555")
        reply = client.command(f"RCPT TO:<{MAILBOX}> NOTIFY=FAILURE ORCPT=rfc822;{MAILBOX}")
        assert reply.startswith("250"), reply
    finally:
        client.close()


def test_a_helo_client_may_not_send_parameters(upstream: Upstream, make_gateway) -> None:
    gw = make_gateway(upstream)
    client = RawClient(gw.port)  # reads the greeting
    try:
        client.command("HELO client.example")
        assert client.command("MAIL FROM:<a@b.example> RET=HDRS").startswith("501")
    finally:
        client.close()


def test_the_embedded_maildir_offers_no_dsn(make_gateway) -> None:
    gw = make_gateway()  # no upstream: final delivery into a Maildir, which sends no reports
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("client.example")
        assert not client.has_extn("dsn")


# -- a next hop without DSN: RFC 3461 section 5.2.2, against a real Postfix ---------------


@pytest.mark.skipif(available() is not None, reason=str(available()))
def test_success_asked_of_a_hop_without_dsn_gets_a_relayed_report(tmp_path: Path) -> None:
    port = free_port()
    postfix = Postfix(
        f"127.0.0.1:{port} inet n - n - - smtpd\n",
        mailboxes=[MAILBOX, CITIZEN],
        smtpd_discard_ehlo_keywords="dsn",  # a next hop that offers no DSN
    ).start()
    (tmp_path / "policy.yaml").write_text("version: 1\nrules:\n  - name: ordinary\n")
    settings = gateway_settings(tmp_path, port)
    gateway = RunningGateway(settings)
    try:
        with smtplib.SMTP("127.0.0.1", gateway.gateway.port, timeout=30) as client:
            client.ehlo("mx.borger.example")
            client.sendmail(
                CITIZEN,
                [MAILBOX],
                b"Subject: Sag\r\nFrom: anna@borger.example\r\n\r\nHej\r\n",
                mail_options=["ENVID=sag-7"],
                rcpt_options=["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{MAILBOX}"],
            )
        assert wait_for(lambda: postfix.delivered(MAILBOX), timeout=30), postfix.log()
        # The hop never saw a parameter it does not know.
        assert "NOTIFY" not in postfix.log()
        assert wait_for(lambda: postfix.delivered(CITIZEN), timeout=30), postfix.log()
        (report,) = postfix.delivered(CITIZEN)
        assert b"Return-Path: <>" in report  # from the null sender: nothing answers it
        assert b"multipart/report" in report and b"Action: relayed" in report
        assert b"Original-Envelope-Id: sag-7" in report
        assert f"Original-Recipient: rfc822;{MAILBOX}".encode() in report
        assert re.search(rb"Subject: Sag\r?\n", report)  # the original's headers, no body
        assert b"\r\nHej" not in report.split(b"rfc822-headers", 1)[1]
    finally:
        gateway.close()
        postfix.stop()
