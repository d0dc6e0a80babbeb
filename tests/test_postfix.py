"""Postvagt next to a real Postfix, in both standard slots (README "Putting it in front of a
mail server"): a mail with a fictional CPR number sent by swaks to the front Postfix arrives in
the Maildir with the journal header, the Digital Post reply reaches the sender's mailbox
through Postfix, the flagged entry is on the staff page, and refusals and outages of the
chain reach the sending client the way each slot promises."""

from __future__ import annotations

import random
import re
import smtplib
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from gateway.settings import Settings
from gateway.store import review
from gateway.store.tables import messages
from gateway.store.users import add_user
from gateway.web.auth import hash_password
from tests import fictional
from tests.helpers import wait_for
from tests.postfix import Postfix, available
from tests.servers import RunningGateway, free_port
from tests.test_web import PASSWORD, login

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

POLICY = """\
version: 1
replies: {require_authentication: false}   # no DNS in tests; Postfix adds no Authentication-Results
rules:
  - name: personal-data
    when: {entities: [DK_CPR], encrypted: false}
    then: {action: deliver, journal: true, reply: true}
  - name: ordinary
"""
MAILBOX = "post@kommune.example"
CITIZEN = "anna@borger.example"
REFUSED = "afvist@borger.example"

DOCS = Path(__file__).resolve().parents[1] / "docs" / "postfix"


def services(slot: str, front: int, gw: int, reinject: int, conf: Path) -> str:
    """The master.cf lines the README ships (docs/postfix/), on this test's ports, with the
    public smtpd on loopback and unchrooted; the re-injection smtpd also refuses one sender
    so that a refusal can be followed through the chain."""
    text = (DOCS / f"{slot}.master.cf").read_text()
    text = re.sub(r"(?m)^smtp\s+inet\s+n\s+-\s+y", f"127.0.0.1:{front} inet n - n", text)
    text = text.replace(":10025", f":{gw}").replace(":10026", f":{reinject}")
    refuse = f"check_sender_access texthash:{conf}/refuse"
    return text.rstrip() + f"\n    -o {{ smtpd_sender_restrictions = {refuse} }}\n"


def cpr_mail(sender: str, n: int) -> str:
    return f"Hej\n\nMit CPR-nummer er {fictional.cpr(random.Random(n))}.\n\nMvh\n"


def swaks(port: int, sender: str, body: str, subject: str = "Ansøgning") -> str:
    result = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{port}",
            "--from",
            sender,
            "--to",
            MAILBOX,
            "--header",
            f"Subject: {subject}",
            "--body",
            body,
            "--timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    return result.stdout + result.stderr


def chain(tmp_path: Path, slot: str, next_hop: int | None = None):
    """Postfix in front (and behind, for re-injection and the replies) and Postvagt between;
    ``next_hop``: a port Postvagt delivers to instead of the re-injection smtpd."""
    ports = {"front": free_port(), "gw": free_port(), "reinject": free_port()}
    postfix = Postfix("", mailboxes=[MAILBOX, CITIZEN, REFUSED])
    conf = postfix.conf
    postfix.add_services(services(slot, conf=conf, **ports))
    (conf / "refuse").write_text(f"{REFUSED} REJECT 5.7.1 Refused by the mail server\n")
    postfix.start()
    (tmp_path / "policy.yaml").write_text(POLICY)
    settings = Settings(
        slot=slot,
        listen=f"127.0.0.1:{ports['gw']}",
        web_listen="127.0.0.1:0",
        upstream=f"smtp://127.0.0.1:{next_hop or ports['reinject']}",
        reply_relay=f"smtp://127.0.0.1:{ports['reinject']}",
        domains=["kommune.example"],
        policy=tmp_path / "policy.yaml",
        data_dir=tmp_path / "var",
        hostname="postvagt.kommune.example",
        sender_checks=False,
        detect_workers=1,
        outbox_poll=0.2,
        shutdown_grace=5,
    )
    engine = create_engine(settings.database)
    return postfix, settings, ports, engine


def staff_page_lists(gateway: RunningGateway, engine, sender: str) -> bool:
    with engine.begin() as c:
        add_user(
            c,
            "admin",
            role="admin",
            mailboxes=[],
            password_hash=hash_password(PASSWORD),
            actor="test",
        )
    client = login(f"http://127.0.0.1:{gateway.gateway.web.port}", "admin")
    return sender in client.get("/", params={"status": "open"}).text


@pytest.mark.parametrize("slot", ["after-queue", "before-queue"])
def test_a_citizen_mail_through_postfix(tmp_path, slot):
    postfix, settings, ports, engine = chain(tmp_path, slot)
    gateway = RunningGateway(settings)
    try:
        said = swaks(ports["front"], CITIZEN, cpr_mail(CITIZEN, 1))
        assert "<-  250 2.0.0 Ok: queued" in said or "<-  250 2.0.0 Ok" in said, said
        assert wait_for(lambda: postfix.delivered(MAILBOX), timeout=30), postfix.log()
        (delivered,) = postfix.delivered(MAILBOX)
        assert b"X-Postvagt-Journal: required; id=" in delivered
        assert b"reasons=DK_CPR" in delivered
        assert b"by postvagt.kommune.example (Postvagt)" in delivered
        # The reply went out through the relay Postfix into the citizen's mailbox.
        assert wait_for(lambda: postfix.delivered(CITIZEN), timeout=30), postfix.log()
        (reply,) = postfix.delivered(CITIZEN)
        assert b"Auto-Submitted: auto-replied" in reply and b"post.borger.dk" in reply
        assert b"Return-Path: <>" in reply  # sent from the null sender
        assert staff_page_lists(gateway, engine, CITIZEN)
    finally:
        gateway.close()
        postfix.stop()
        engine.dispose()


def test_after_queue_outage_and_refusal(tmp_path):
    postfix, settings, ports, engine = chain(tmp_path, "after-queue")
    gateway = RunningGateway(settings)
    try:
        gateway.close()  # Postvagt is down: Postfix keeps the mail and retries
        said = swaks(ports["front"], CITIZEN, cpr_mail(CITIZEN, 2))
        assert "<-  250 2.0.0 Ok: queued" in said, said
        assert wait_for(lambda: "status=deferred" in postfix.log(), timeout=30), postfix.log()
        assert postfix.delivered(MAILBOX) == []
        gateway = RunningGateway(settings)  # back on the same port
        postfix.flush()
        assert wait_for(lambda: postfix.delivered(MAILBOX), timeout=30), postfix.log()
        assert b"X-Postvagt-Journal: required" in postfix.delivered(MAILBOX)[0]
        # The next hop refuses: Postvagt passes the 5xx on, Postfix (which had accepted the
        # mail) returns it to the sender as a bounce — it never passes through Postvagt.
        said = swaks(ports["front"], REFUSED, "Hej")
        assert "<-  250 2.0.0 Ok: queued" in said, said
        assert wait_for(lambda: postfix.delivered(REFUSED), timeout=30), postfix.log()
        (bounce,) = postfix.delivered(REFUSED)
        assert b"Refused by the mail server" in bounce and b"MAILER-DAEMON" in bounce
        assert len(postfix.delivered(MAILBOX)) == 1
    finally:
        gateway.close()
        postfix.stop()
        engine.dispose()


def test_before_queue_refusal_and_outage_reach_the_client(tmp_path):
    postfix, settings, ports, engine = chain(tmp_path, "before-queue")
    gateway = RunningGateway(settings)
    try:
        with smtplib.SMTP("127.0.0.1", ports["front"], timeout=60) as client:
            client.ehlo("mx.borger.example")
            code, text = client.mail(REFUSED)
            # The re-injection smtpd's own refusal, through Postvagt and the front smtpd.
            assert code == 554 or (code == 250 and client.rcpt(MAILBOX)[0] >= 500), text
        gateway.close()
        with smtplib.SMTP("127.0.0.1", ports["front"], timeout=60) as client:
            client.ehlo("mx.borger.example")
            try:
                client.sendmail(CITIZEN, [MAILBOX], b"Subject: x\r\n\r\nHej\r\n")
                refused = None
            except smtplib.SMTPException as e:
                refused = e
        assert refused is not None
        codes = str(refused)
        assert " 4" in codes or "(4" in codes or "451" in codes or "421" in codes, codes
        assert postfix.delivered(MAILBOX) == []  # nothing half-delivered, the client retries
    finally:
        gateway.close()
        postfix.stop()
        engine.dispose()


def retried_until_accepted(port: int, data: bytes, tries: int) -> list[int]:
    """A sending MTA's retries: the same message again after each 4xx; the codes it got."""
    codes = []
    for _ in range(tries):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.ehlo("mx.borger.example")
                client.sendmail(CITIZEN, [MAILBOX], data)
            codes.append(250)
            break
        except smtplib.SMTPDataError as e:
            assert 400 <= e.smtp_code < 500, e
            codes.append(e.smtp_code)
    return codes


def flagged_open(engine) -> int:
    with engine.connect() as c:
        return int(review.counts(c)["flagged_open"])


def test_before_queue_retries_keep_one_record(tmp_path, upstream):
    """The front Postfix adds a fresh Received on every try: the sender's retries after the
    next hop's 451 still find the first record, and the failed tries leave nothing open."""
    postfix, settings, ports, engine = chain(tmp_path, "before-queue", next_hop=upstream.port)
    upstream.handler.replies["DATA"] = "451 4.3.0 Mailbox store busy"
    upstream.handler.times["DATA"] = 3
    gateway = RunningGateway(settings)

    def mail(n: int) -> bytes:
        return (
            f"From: <{CITIZEN}>\r\nTo: <{MAILBOX}>\r\nSubject: Ansøgning\r\n"
            f"Message-ID: <retry-{n}@borger.example>\r\nDate: Mon, 3 Mar 2025 10:00:00 +0100\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + cpr_mail(CITIZEN, n).replace("\n", "\r\n")
        ).encode()

    try:
        assert retried_until_accepted(ports["front"], mail(3), tries=6) == [451, 451, 451, 250]
        assert len(upstream.messages) == 1
        delivered = upstream.messages[0].content
        assert b"X-Postvagt-Journal: required" in delivered
        assert delivered.count(b"by mx.kommune.example (Postfix)") == 1  # this try's only
        with engine.connect() as c:
            (row,) = c.execute(select(messages)).all()
        assert (row.state, row.attempts, row.journal_state) == ("delivered", 4, "open")
        assert row.upstream_reply.startswith("250 ")
        assert f"X-Postvagt-Id: {row.id}".encode() in delivered
        assert flagged_open(engine) == 1
        # A message whose every try fails, until the sender gives up: one record, settled
        # with the next hop's reason, and nothing open for journaling.
        upstream.handler.times["DATA"] = 10
        assert retried_until_accepted(ports["front"], mail(4), tries=2) == [451, 451]
        with engine.connect() as c:
            rows = c.execute(select(messages).where(messages.c.id != row.id)).all()
        assert [(r.state, r.attempts, r.journal_state) for r in rows] == [("failed", 2, None)]
        assert "Mailbox store busy" in rows[0].upstream_reply
        assert flagged_open(engine) == 1
    finally:
        gateway.close()
        postfix.stop()
        engine.dispose()
