"""Three gateway processes sharing one PostgreSQL behind a round-robin client: the flagged-mail
log is complete, one reply per sender across instances, a policy change is picked up by
each, and any instance's staff page shows every instance's mail."""

from __future__ import annotations

import random
import smtplib
import time

import httpx
import pytest
from sqlalchemy import create_engine, select

from gateway.store.tables import messages
from tests import fictional
from tests.helpers import start_gateway, stop, users_add, wait_for
from tests.servers import Upstream, free_port
from tests.test_web import csrf

POLICY = """\
version: 1
replies: {{require_authentication: false}}
rules:
  - name: {health_rule}
    when: {{entities: [HEALTH], encrypted: false}}
    then: {{action: {health_action}, journal: true}}
  - name: personal-data
    when: {{entities: [DK_CPR], encrypted: false}}
    then: {{action: deliver, journal: true, reply: true}}
  - name: ordinary
"""
MAILBOX = "post@kommune.example"


def mail(sender: str, n: int, health: bool = False) -> bytes:
    cpr = fictional.cpr(random.Random(n))
    extra = " Jeg er i behandling for en sygdom og har en diagnose." if health else ""
    return (
        f"From: {sender}\r\nTo: {MAILBOX}\r\nSubject: Brev {n}\r\n\r\n"
        f"Mit CPR-nummer er {cpr}.{extra}\r\n"
    ).encode()


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_three_instances_one_database(db_url, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(health_rule="health-delivered", health_action="deliver"))
    upstream, relay = Upstream().start(), Upstream().start()
    procs, smtp_ports, web_ports = [], [], []
    try:
        for n in (1, 2, 3):
            smtp_ports.append(free_port())
            web_ports.append(free_port())
            procs.append(
                start_gateway(
                    smtp_ports[-1],
                    *("--web-listen", f"127.0.0.1:{web_ports[-1]}"),
                    *("--upstream", f"smtp://127.0.0.1:{upstream.port}"),
                    *("--domain", "kommune.example", "--policy", str(policy)),
                    *("--data-dir", str(tmp_path / f"data{n}"), "--database-url", db_url),
                    env={
                        "POSTVAGT_INSTANCE_NAME": f"gw{n}",
                        "POSTVAGT_REPLY_RELAY": f"smtp://127.0.0.1:{relay.port}",
                        "POSTVAGT_OUTBOX_POLL": "0.2",
                        "POSTVAGT_DETECT_WORKERS": "1",
                        # One session key for the instances behind one address.
                        "POSTVAGT_WEB_SECRET_FILE": str(tmp_path / "web-secret"),
                    },
                )
            )
        senders = [f"b{i}@borger.example" for i in range(4)]
        sent = 0
        for round_ in range(3):  # round-robin: every sender reaches every instance
            for i, sender in enumerate(senders):
                port = smtp_ports[(round_ + i) % 3]
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                    client.sendmail(sender, [MAILBOX], mail(sender, sent))
                sent += 1
        assert len(upstream.messages) == sent == 12
        engine = create_engine(db_url)
        with engine.connect() as c:
            rows = c.execute(select(messages)).all()
        assert len(rows) == 12 and all(r.journal_state == "open" for r in rows)
        assert {r.instance for r in rows} == {"gw1", "gw2", "gw3"}
        assert wait_for(lambda: len(relay.messages) >= 4, timeout=20)
        time.sleep(1)
        assert sorted(m.rcpt_tos[0] for m in relay.messages) == sorted(senders)

        # A policy change: each instance picks it up from the file (or SIGHUP).
        policy.write_text(POLICY.format(health_rule="health-held", health_action="quarantine"))
        time.sleep(3)  # the file watcher looks every 2 s
        for n, port in enumerate(smtp_ports):
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.sendmail(
                    "h@borger.example", [MAILBOX], mail("h@borger.example", 100 + n, True)
                )
        with engine.connect() as c:
            held = c.execute(
                select(messages.c.instance, messages.c.state).where(
                    messages.c.mail_from == "h@borger.example"
                )
            ).all()
        assert sorted(held) == [
            ("gw1", "quarantined"),
            ("gw2", "quarantined"),
            ("gw3", "quarantined"),
        ]
        engine.dispose()

        # The staff page of any instance shows all of them.
        made = users_add("anne", "en-lang-adgangskode", "--role", "admin", "--database-url", db_url)
        assert made.returncode == 0, made.stderr
        with httpx.Client(base_url=f"http://127.0.0.1:{web_ports[0]}", timeout=30) as web:
            token = csrf(web.get("/login").text)
            web.post(
                "/login", data={"user": "anne", "password": "en-lang-adgangskode", "csrf": token}
            )
            listing = web.get("/").text
        assert all(sender in listing for sender in senders) and "h@borger.example" in listing
        assert "15 · Side 1 af 1" in listing
    finally:
        for proc in procs:
            stop(proc)
        upstream.close()
        relay.close()
