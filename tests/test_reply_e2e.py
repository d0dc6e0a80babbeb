"""Auto-replies end to end: real SMTP in, real detection, real SPF answers from an in-memory
zone, a real SQLite or PostgreSQL store, and a real SMTP server standing in for the reply
relay, where each reply is received and parsed."""

from __future__ import annotations

import asyncio
import email
import random
import smtplib
import time
from datetime import timedelta
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from gateway.decide.holder import PolicyHolder
from gateway.decide.load import PolicyError, load_policy
from gateway.scan import ScanOptions, scan_one
from gateway.store.tables import messages, outbox
from tests import fictional
from tests.helpers import start_gateway, stop, wait_for
from tests.servers import Upstream, free_port
from tests.test_authentication import Zone

MAILBOX = "borgerservice@kommune.example"
SUBJECT = "Min ansøgning om boligstøtte"

POLICY = """\
version: 1
consumer_domains: [borger.example]
portal_by_domain: {{forening.example: borger.dk}}
replies:
  require_authentication: {auth}
  period_days: 7
  hourly_cap: {cap}
  no_reply_domains: [digitalpost.example]
mailboxes:
  - name: borgerservice
    addresses: [{mailbox}]
    display_name: Testby Kommune
    digital_post_link: https://post.borger.dk/send/00000000-0000-0000-0000-000000000001/
    phone: "70 00 00 00"
    postal_address: Rådhuspladsen 1, 9999 Testby
rules:
  - name: encrypted
    when: {{encrypted: true}}
    then: {{action: deliver, journal: true}}
  - name: personal-data
    when: {{entities: [DK_CPR, HEALTH], encrypted: false}}
    then: {{action: deliver, journal: true, reply: true}}
  - name: ordinary
"""


def write_policy(folder: Path, *, auth: bool = True, cap: int = 200) -> Path:
    path = folder / "policy.yaml"
    path.write_text(
        POLICY.format(auth=str(auth).lower(), cap=cap, mailbox=MAILBOX), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="module")
def zone() -> Zone:
    """SPF for the test senders' domains: 127.0.0.1 may send for all but forged.example."""
    allow = [b"v=spf1 ip4:127.0.0.1 -all"]
    return Zone(
        {
            "borger.example": allow,
            "firma.example": allow,
            "forening.example": allow,
            "digitalpost.example": allow,
            "forged.example": [b"v=spf1 ip4:192.0.2.1 -all"],
        }
    )


@pytest.fixture
def relay():
    server = Upstream().start()
    yield server
    server.close()


def cpr_mail(sender: str, *, body_extra: str = "", subject: str = SUBJECT, **headers: str) -> bytes:
    number = fictional.cpr(random.Random(sender))
    fields = {
        "From": f"Borger <{sender}>",
        "To": MAILBOX,
        "Subject": subject,
        "Message-ID": f"<{abs(hash(sender + body_extra + subject))}@test.example>",
        **headers,
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    body = f"Hej\r\n\r\nMit CPR-nummer er {number}.\r\n{body_extra}\r\nMvh Borger\r\n"
    if fields.get("Content-Type", "").startswith("multipart/"):  # boundary "b"
        body = f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}--b--\r\n"
    return (head + "\r\n" + body).encode("utf-8")


def message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data, policy=email_policy.compat32)["Message-ID"])


def send_as(port: int, sender: str, data: bytes, rcpts: tuple[str, ...] = (MAILBOX,)) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("mx.example.net")
        client.sendmail(sender, list(rcpts), data)


def records(gateway) -> list:
    engine = create_engine(gateway.settings.database)
    with engine.connect() as connection:
        rows = connection.execute(select(messages).order_by(messages.c.received_at)).all()
    engine.dispose()
    return rows


def reply_of(gateway, sender: str) -> tuple[str | None, str | None]:
    (row,) = [r for r in records(gateway) if r.mail_from == sender]
    return row.reply_state, row.reply_reason


def outbox_rows(database: str) -> list:
    engine = create_engine(database)
    with engine.connect() as connection:
        rows = connection.execute(select(outbox).order_by(outbox.c.id)).all()
    engine.dispose()
    return rows


def parsed(delivered) -> EmailMessage:
    message = email.message_from_bytes(delivered.content, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def replying(make_gateway, upstream, relay, zone, tmp_path):
    """A gateway that checks SPF, detects, and sends replies through ``relay``."""

    def make(**options):
        return make_gateway(
            upstream,
            detect=True,
            detect_workers=1,
            sender_checks=True,
            resolver=options.pop("resolver", zone),
            policy=options.pop("policy", None) or write_policy(tmp_path),
            reply_relay=f"smtp://127.0.0.1:{relay.port}",
            reply_from="digitalpost-svar@kommune.example",
            outbox_poll=0.2,
            reply_retry=options.pop("reply_retry", [0.3, 0.3, 0.3]),
            **options,
        )

    return make


# -- the RFC 3834 matrix ----------------------------------------------------------------------

# (envelope sender, extra headers, the reply state and reason the record must show)
MATRIX = [
    ("", {}, ("suppressed", "null envelope sender")),
    ("a1@borger.example", {"Auto-Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
    ("a2@borger.example", {"Auto-Submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
    (
        "a3@borger.example",
        {"Content-Type": "multipart/report; report-type=delivery-status; boundary=b"},
        "delivery or disposition report",
    ),
    ("a4@borger.example", {"List-Id": "<nyt.forening.example>"}, "mailing list"),
    ("a5@borger.example", {"List-Unsubscribe": "<mailto:u@x.example>"}, "mailing list"),
    ("a6@borger.example", {"X-Mailing-List": "nyt"}, "mailing list"),
    ("a7@borger.example", {"Precedence": "bulk"}, "Precedence: bulk"),
    ("a8@borger.example", {"Precedence": "list"}, "Precedence: list"),
    ("MAILER-DAEMON@borger.example", {}, "automatic sender"),
    ("postmaster@borger.example", {}, "automatic sender"),
    ("owner-nyt@borger.example", {}, "automatic sender"),
    ("nyt-request@borger.example", {}, "automatic sender"),
    ("noreply@borger.example", {}, "automatic sender"),
    ("no-reply@borger.example", {}, "automatic sender"),
    ("donotreply@borger.example", {}, "automatic sender"),
    ("bounces+x@borger.example", {}, "automatic sender"),
    ("a9@borger.example", {"X-Auto-Response-Suppress": "All"}, "X-Auto-Response-Suppress"),
    # Vacation replies that do not say Auto-Submitted (Roundcube, managesieve, Outlook).
    ("a10@borger.example", {"X-Autoreply": "yes"}, "automatic reply (X-Autoreply)"),
    ("a11@borger.example", {"X-Autorespond": "Ferie"}, "automatic reply (X-Autorespond)"),
    ("a12@borger.example", {"Subject": "Autosvar: Min ansøgning"}, "automatic reply (Subject)"),
    (
        "a13@borger.example",
        {"Subject": "=?utf-8?q?Frav=C3=A6rende=3A_Min_ans=C3=B8gning?="},
        "automatic reply (Subject)",
    ),
    ("a14@borger.example", {"Subject": "Out of Office: Min sag"}, "automatic reply (Subject)"),
    ("a15@borger.example", {"Subject": "Automatisk svar: Min sag"}, "automatic reply (Subject)"),
    ("post@digitalpost.example", {}, "sender domain is a secure channel (no_reply_domains)"),
    (
        "victim@forged.example",
        {},
        "sender authentication failed (SPF or DMARC pass needed)",
    ),
]


def test_rfc3834_matrix_end_to_end(replying, relay, upstream):
    gw = replying()
    for sender, headers, _ in MATRIX:
        send_as(gw.port, sender, cpr_mail(sender or "null@x.example", **headers))
    send_as(gw.port, "borger@borger.example", cpr_mail("borger@borger.example"))
    assert len(upstream.messages) == len(MATRIX) + 1  # every mail delivered
    assert wait_for(lambda: len(relay.messages) >= 1)
    time.sleep(1)  # any reply that should not exist has had time to go out
    # Exactly one reply, to the one ordinary citizen.
    assert [m.rcpt_tos for m in relay.messages] == [["borger@borger.example"]]
    wrong = []
    for sender, _, expected in MATRIX:
        state, reason = reply_of(gw, sender)
        want = expected if isinstance(expected, tuple) else ("suppressed", expected)
        if (state, reason) != want:
            wrong.append((sender, state, reason, want))
    assert wrong == []
    assert reply_of(gw, "borger@borger.example") == ("sent", "250 2.0.0 Ok: queued as UP1")


def test_encrypted_mail_gets_no_reply(replying, relay, upstream, pki):
    from tests import crypto_mail

    gw = replying()
    number = fictional.cpr(random.Random(5))
    sealed = crypto_mail.smime(pki, f"Mit CPR-nummer er {number}", "encrypted")
    send_as(gw.port, "krypto@borger.example", sealed)
    assert wait_for(lambda: len(upstream.messages) == 1)
    state, _ = reply_of(gw, "krypto@borger.example")
    assert state is None  # the verdict asked for no reply: encrypted mail is the right way
    (row,) = records(gw)
    assert row.verdict["rule"] == "encrypted"
    time.sleep(0.6)
    assert relay.messages == []


# -- what a reply says, and to whom -------------------------------------------------------------


def test_citizen_and_business_replies_are_right_and_quote_nothing(replying, relay, detector):
    gw = replying()
    citizen, business = "anna@borger.example", "info@firma.example"
    consumer_with_cvr = "lars@borger.example"
    cvr = fictional.cvr(random.Random(3))
    sent = {
        citizen: cpr_mail(citizen),
        business: cpr_mail(business),
        consumer_with_cvr: cpr_mail(consumer_with_cvr, body_extra=f"CVR: {cvr}"),
        "kasserer@forening.example": cpr_mail("kasserer@forening.example"),
    }
    for sender, data in sent.items():
        send_as(gw.port, sender, data)
    assert wait_for(lambda: len(relay.messages) == 4)
    by_rcpt = {m.rcpt_tos[0]: m for m in relay.messages}
    originals = {r.mail_from: r for r in records(gw)}
    for sender, portal in [
        (citizen, "borger.dk"),
        (business, "virk.dk"),
        (consumer_with_cvr, "virk.dk"),
        ("kasserer@forening.example", "borger.dk"),  # portal_by_domain overrides
    ]:
        delivered = by_rcpt[sender]
        reply = parsed(delivered)
        text = reply.get_content()
        assert delivered.mail_from in ("", "<>")  # MAIL FROM:<>, however aiosmtpd spells it
        assert reply["To"] == sender and reply["Cc"] is None and reply["Bcc"] is None
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["X-Auto-Response-Suppress"] == "All"
        assert (
            reply["From"] == "Testby Kommune – automatisk svar <digitalpost-svar@kommune.example>"
        )
        assert reply["In-Reply-To"] == reply["References"] == message_id(sent[sender])
        assert reply.get_content_type() == "text/plain" and not reply.is_multipart()
        assert f"Reference: {originals[sender].id}" in text
        assert text.index("Hej") < text.index("English:")
        if portal == "borger.dk":
            assert "post.borger.dk" in text and "MitID" in text
            assert "https://post.borger.dk/send/00000000-0000-0000-0000-000000000001/" in text
            assert text.index("post.borger.dk") < text.index("virk.dk")
        else:
            assert "virk.dk" in text and "MitID Erhverv" in text
            assert text.index("virk.dk") < text.index("post.borger.dk")
            assert "post.borger.dk/send" not in text
        assert "Ring til os på 70 00 00 00" in text and "Rådhuspladsen 1" in text
        # Nothing of the original: no subject, no number, no name of what was found.
        number = fictional.cpr(random.Random(sender))
        for secret in (SUBJECT, "boligstøtte", number, number.replace("-", ""), cvr, "CPR-nummer "):
            assert secret not in delivered.content.decode("utf-8", "replace")
            assert secret not in text
        assert originals[sender].reply_state == "sent"
        # `postvagt scan` names the same portal for the same mail and sender.
        options = ScanOptions(policy=PolicyHolder(gw.settings.policy, "mx"), mail_from=sender)
        assert scan_one(detector, "x.eml", sent[sender], options)[0]["decision"]["portal"] == portal


def test_header_injection_reaches_nothing(replying, relay):
    gw = replying()
    sender = "ida@borger.example"
    evil = cpr_mail(
        sender,
        subject="Hej\r\n Bcc: victim@evil.example",
        **{
            "From": '"Ida\r\n\tBcc: victim@evil.example" <ida@borger.example>',
            "Reply-To": "victim@evil.example",
            "Message-ID": "<x@y>\r\n Bcc: victim@evil.example",
        },
    )
    send_as(gw.port, sender, evil)
    # A quoted local part is a valid address: it is answered as given, never split.
    odd = '"ida bcc:victim"@borger.example'
    send_as(gw.port, odd, cpr_mail(odd))
    assert wait_for(lambda: len(relay.messages) == 2)
    for delivered in relay.messages:
        assert len(delivered.rcpt_tos) == 1
        reply = parsed(delivered)
        assert reply["Bcc"] is None and reply["Cc"] is None
        assert "evil.example" not in delivered.content.decode("utf-8", "replace")
    evil_reply = parsed(next(m for m in relay.messages if m.rcpt_tos == [sender]))
    assert evil_reply["In-Reply-To"] in (None, "<x@y>")  # the msg-id, or nothing: never more
    assert sorted(m.rcpt_tos[0] for m in relay.messages) == sorted([sender, odd])
    # Admin-written values are refused with line breaks, before any reply is built.
    bad = (
        Path(gw.settings.policy)
        .read_text()
        .replace(
            "display_name: Testby Kommune", 'display_name: "Testby\\r\\nBcc: victim@evil.example"'
        )
    )
    Path(gw.settings.policy).write_text(bad)
    with pytest.raises(PolicyError, match="must be one line"):
        load_policy(Path(gw.settings.policy))


def test_fifty_mails_from_one_sender_get_one_reply(replying, relay, upstream):
    gw = replying()
    sender = "flittig@borger.example"
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as client:
        for i in range(50):
            client.sendmail(sender, [MAILBOX], cpr_mail(sender, body_extra=f"Brev {i}"))
    assert len(upstream.messages) == 50
    assert wait_for(lambda: len(relay.messages) == 1)
    time.sleep(1)
    assert len(relay.messages) == 1
    states = [(r.reply_state, r.reply_reason) for r in records(gw)]
    assert states[0] == ("sent", "250 2.0.0 Ok: queued as UP1")
    assert set(states[1:]) == {("suppressed", "already answered within 7 days")}


def test_hourly_cap(replying, relay, tmp_path):
    gw = replying(policy=write_policy(tmp_path, cap=2))
    for i in range(4):
        send_as(gw.port, f"b{i}@borger.example", cpr_mail(f"b{i}@borger.example"))
    assert wait_for(lambda: len(relay.messages) == 2)
    assert [r.reply_reason for r in records(gw)][2:] == ["hourly cap of 2 replies reached"] * 2


def test_no_reply_for_mail_the_upstream_refused(replying, relay, upstream):
    gw = replying()
    upstream.handler.replies["DATA"] = "550 5.1.1 No such mailbox"
    with pytest.raises(smtplib.SMTPDataError):
        send_as(gw.port, "ole@borger.example", cpr_mail("ole@borger.example"))
    assert reply_of(gw, "ole@borger.example") == ("suppressed", "original not accepted (550)")
    time.sleep(0.6)
    assert relay.messages == []


# -- the outbox ---------------------------------------------------------------------------------


def test_relay_refuses_for_a_while_then_accepts(replying, relay):
    gw = replying(reply_retry=[0.3, 0.3, 0.3, 0.3, 0.3])
    relay.handler.replies["MAIL"] = "451 4.3.2 Try again later"
    send_as(gw.port, "per@borger.example", cpr_mail("per@borger.example"))
    assert wait_for(lambda: (outbox_rows(gw.settings.database) or [None])[0] is not None)
    assert wait_for(lambda: outbox_rows(gw.settings.database)[0].attempts >= 2)
    assert relay.messages == []
    assert reply_of(gw, "per@borger.example") == ("queued", "queued")
    (row,) = outbox_rows(gw.settings.database)
    assert row.last_error.startswith("451 4.3.2")
    del relay.handler.replies["MAIL"]
    assert wait_for(lambda: len(relay.messages) == 1)
    assert wait_for(lambda: reply_of(gw, "per@borger.example")[0] == "sent")


def test_relay_5xx_is_final_and_recorded(replying, relay):
    gw = replying()
    relay.handler.replies["RCPT"] = "550 5.7.54 Unable to relay recipient in non-accepted domain"
    send_as(gw.port, "eva@borger.example", cpr_mail("eva@borger.example"))
    assert wait_for(lambda: reply_of(gw, "eva@borger.example")[0] == "failed")
    assert "5.7.54" in reply_of(gw, "eva@borger.example")[1]
    (row,) = outbox_rows(gw.settings.database)
    assert (row.state, row.attempts) == ("failed", 1)


def test_retries_run_out(replying, relay):
    gw = replying(reply_retry=[0.2, 0.2])
    relay.stop()  # nobody listens: connection refused, every time
    send_as(gw.port, "kim@borger.example", cpr_mail("kim@borger.example"))
    assert wait_for(lambda: reply_of(gw, "kim@borger.example")[0] == "failed", timeout=20)
    assert reply_of(gw, "kim@borger.example")[1].startswith("gave up after 3 tries")


def test_queued_replies_survive_a_restart(replying, relay, upstream, make_gateway, zone, tmp_path):
    relay.stop()
    port = relay.port
    gw = replying(reply_retry=[0.2] * 50)
    send_as(gw.port, "mia@borger.example", cpr_mail("mia@borger.example"))
    assert wait_for(lambda: outbox_rows(gw.settings.database)[0].attempts >= 1)
    gw.close()
    assert reply_of(gw, "mia@borger.example")[0] == "queued"
    relay.start(port)
    again = replying(reply_retry=[0.2] * 50)
    assert wait_for(lambda: len(relay.messages) == 1, timeout=20)
    assert relay.messages[0].rcpt_tos == ["mia@borger.example"]
    assert reply_of(again, "mia@borger.example")[0] == "sent"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_gateway_processes_on_one_database_reply_once(db_url, upstream, relay, tmp_path):
    policy = write_policy(tmp_path, auth=False)  # the processes do no DNS: SPF is not asked
    procs, ports = [], []
    try:
        for n in (1, 2):
            ports.append(free_port())
            procs.append(
                start_gateway(
                    ports[-1],
                    *("--upstream", f"smtp://127.0.0.1:{upstream.port}"),
                    *("--domain", "kommune.example", "--policy", str(policy)),
                    *("--data-dir", str(tmp_path / f"data{n}"), "--web-listen", "127.0.0.1:0"),
                    env={
                        "POSTVAGT_DATABASE_URL": db_url,
                        "POSTVAGT_INSTANCE_NAME": f"gw{n}",
                        "POSTVAGT_REPLY_RELAY": f"smtp://127.0.0.1:{relay.port}",
                        "POSTVAGT_OUTBOX_POLL": "0.2",
                        "POSTVAGT_DETECT_WORKERS": "1",
                    },
                )
            )
        import threading

        senders = [f"s{i}@borger.example" for i in range(5)]

        def hammer(port: int) -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                for round_ in range(4):
                    for sender in senders:
                        client.sendmail(
                            sender, [MAILBOX], cpr_mail(sender, body_extra=f"{port}{round_}")
                        )

        threads = [threading.Thread(target=hammer, args=(p,)) for p in ports]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(upstream.messages) == 40
        assert wait_for(lambda: len(relay.messages) >= 5, timeout=20)
        time.sleep(1.5)  # both outbox senders have looked several times since
        assert sorted(m.rcpt_tos[0] for m in relay.messages) == sorted(senders)
        rows = outbox_rows(db_url)
        assert len(rows) == 5 and {r.state for r in rows} == {"sent"}
        assert sum(r.reclaims for r in rows) == 0
    finally:
        for proc in procs:
            stop(proc)


def test_mail_held_for_review_is_answered_too(replying, relay, upstream, tmp_path):
    # Quarantined mail got our 250: the sender is told, like for delivered mail.
    path = write_policy(tmp_path)
    path.write_text(
        path.read_text().replace(
            "then: {action: deliver, journal: true, reply: true}",
            "then: {action: quarantine, journal: true, reply: true}",
        )
    )
    gw = replying(policy=path)
    send_as(gw.port, "hanne@borger.example", cpr_mail("hanne@borger.example"))
    assert upstream.messages == []
    assert wait_for(lambda: len(relay.messages) == 1)
    (row,) = records(gw)
    assert (row.state, row.reply_state) == ("quarantined", "sent")


def test_a_non_ascii_sender_is_answered_with_smtputf8(replying, relay):
    gw = replying()
    sender = "søren@borger.example"
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as client:
        client.ehlo("mx.example.net")
        client.sendmail(sender, [MAILBOX], cpr_mail(sender), mail_options=["SMTPUTF8"])
    assert wait_for(lambda: len(relay.messages) == 1)
    delivered = relay.messages[0]
    assert delivered.rcpt_tos == [sender] and "SMTPUTF8" in delivered.mail_options
    assert parsed(delivered)["To"] == sender


def test_a_dkim_signed_from_does_not_vouch_for_someone_elses_envelope(
    replying, relay, zone, tmp_path
):
    import dkim

    from tests import crypto_mail

    key, record = crypto_mail.dkim_key(tmp_path)
    attacker = Zone(
        {
            **zone.records,
            "sel._domainkey.attacker.example": [record],
            "_dmarc.attacker.example": [b"v=DMARC1; p=reject"],
            "attacker.example": [b"v=spf1 -all"],
        }
    )
    gw = replying(resolver=attacker)
    mail = cpr_mail("x@attacker.example", **{"From": "x@attacker.example"})
    signed = dkim.sign(mail, b"sel", b"attacker.example", key, include_headers=[b"from"]) + mail
    send_as(gw.port, "victim@forged.example", signed)
    (row,) = records(gw)
    assert row.protection["sender"]["dmarc"] == "pass"  # the From domain is authentic …
    assert (row.reply_state, row.reply_reason) == (  # … but the reply would go elsewhere
        "suppressed",
        "sender authentication failed (SPF or DMARC pass needed)",
    )
    time.sleep(0.5)
    assert relay.messages == []


def test_two_senders_and_a_slow_relay_send_each_reply_once(relay, tmp_path):
    """One lease covers one send: with a relay slower than the lease for a batch, two
    senders sharing the outbox still send every item exactly once."""
    from gateway.act.outbox import OutboxSender
    from gateway.nexthop.smtp import SmtpNextHop
    from gateway.store import Store, primitives

    relay.handler.stall["DATA"] = 0.3
    store = Store(f"sqlite:///{tmp_path / 'o.db'}", instance="t", slot="mx")
    store.prepare(timedelta(minutes=1))
    with store.engine.begin() as c:
        for i in range(6):
            primitives.enqueue(
                c, kind="reply", mail_from="", recipient=f"r{i}@borger.example", payload=b"x\r\n"
            )

    async def both() -> None:
        senders = [
            OutboxSender(
                store,
                SmtpNextHop(
                    "127.0.0.1",
                    relay.port,
                    local_hostname="gw.test",
                    timeout=5,
                    max_idle_connections=1,
                    idle_seconds=5,
                ),
                instance=f"i{n}",
                retry=[1.0],
                poll=0.1,
                lease=1.0,  # longer than one send (0.3 s), shorter than six
                timeout=5,
            )
            for n in (1, 2)
        ]
        await asyncio.gather(*(s.send_due() for s in senders))
        for s in senders:
            await s.stop()

    asyncio.run(both())
    store.close()
    assert sorted(m.rcpt_tos[0] for m in relay.messages) == [
        f"r{i}@borger.example" for i in range(6)
    ]
    rows = outbox_rows(f"sqlite:///{tmp_path / 'o.db'}")
    assert {r.state for r in rows} == {"sent"} and sum(r.reclaims for r in rows) == 0
