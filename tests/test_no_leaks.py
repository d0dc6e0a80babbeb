"""After a run of mails with fictional CPR numbers, names and art. 9 words in subjects and
bodies: the database, the logs, the replies, the digest and the staff pages hold no unmasked
number, no name and no subject text. (The envelope sender address is kept: staff need it.
The raw copy of held mail is kept on purpose, readable by the service only.)"""

from __future__ import annotations

import random
import re
import signal
import sqlite3
from xml.etree import ElementTree

from gateway.store.tables import quarantine
from tests import fictional
from tests.helpers import split, start_gateway, users_add, wait_for
from tests.servers import Upstream, free_port
from tests.test_web import csrf, send

POLICY = """\
version: 1
mailboxes:
  - name: borgerservice
    addresses: [borgerservice@kommune.example]
    display_name: Testby Kommune
    staff_address: team@kommune.example
replies: {require_authentication: false}
rules:
  - name: health-held
    when: {entities: [HEALTH], min_count: 4, encrypted: false}
    then: {action: quarantine, journal: true, reply: true}
  - name: personal-data
    when: {entities: [DK_CPR, HEALTH, SOCIAL], encrypted: false}
    then: {action: deliver, journal: true, reply: true}
  - name: ordinary
"""
NAMES = ["Karen Fiktivsen", "Jens Opdigtetsen", "Lone Testesen"]


def start(tmp_path, upstream: Upstream, relay: Upstream, web_port: int):
    port = free_port()
    proc = start_gateway(
        port,
        *("--web-listen", f"127.0.0.1:{web_port}"),
        *("--upstream", f"smtp://127.0.0.1:{upstream.port}", "--domain", "kommune.example"),
        *("--policy", str(tmp_path / "policy.yaml"), "--data-dir", str(tmp_path / "var")),
        *("--log-format", "json"),
        env={
            "POSTVAGT_REPLY_RELAY": f"smtp://127.0.0.1:{relay.port}",
            "POSTVAGT_OUTBOX_POLL": "0.2",
            "POSTVAGT_DIGEST_HOUR": "0",
            "POSTVAGT_DETECT_WORKERS": "1",
        },
    )
    return proc, port


def stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out + err


def test_nothing_of_the_content_is_kept(tmp_path):
    import httpx

    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    upstream, relay = Upstream().start(), Upstream().start()
    rng = random.Random(77)
    numbers = [fictional.cpr(rng, separator=sep) for sep in ("-", "", " ", "-", "")]
    subjects = []
    web_port = free_port()
    try:
        proc, port = start(tmp_path, upstream, relay, web_port)
        for n, (name, number) in enumerate(zip(NAMES * 2, numbers, strict=False)):
            subject = f"{name} – diagnose og behandling, CPR {number} (sag {n})"
            subjects.append(subject)
            health = "Jeg har fået en diagnose og er i behandling for min sygdom. " if n % 2 else ""
            body = (
                f"Kære kommune\n\nJeg hedder {name}, CPR-nummer {number}. {health}"
                "Jeg modtager kontanthjælp.\n"
            )  # the odd ones are held for review, the even ones delivered
            send(port, f"borger{n}@borger.example", "borgerservice@kommune.example", subject, body)
        assert wait_for(lambda: len(relay.messages) >= len(numbers), timeout=30)  # the replies
        made = users_add(
            "tjek", "en-lang-adgangskode", "--role", "admin", "--data-dir", str(tmp_path / "var")
        )
        assert made.returncode == 0, made.stderr
        pages = []
        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as web:
            token = csrf(web.get("/login").text)
            web.post(
                "/login", data={"user": "tjek", "password": "en-lang-adgangskode", "csrf": token}
            )
            listing = web.get("/").text
            pages.append(listing)
            for href in set(re.findall(r'href="(/mail/[0-9a-f-]{36})"', listing)):
                pages.append(web.get(href).text)
            pages.append(web.get("/health").text)
            pages.append(web.get("/metrics").text)
        assert len(pages) == len(numbers) + 3
        logs = stop(proc)
        # A new start runs the housekeeping at once: today's digest goes out.
        proc, port = start(tmp_path, upstream, relay, web_port)
        assert wait_for(
            lambda: any(m.rcpt_tos == ["team@kommune.example"] for m in relay.messages),
            timeout=30,
        )
        logs += stop(proc)
    finally:
        upstream.close()
        relay.close()

    database = sqlite3.connect(tmp_path / "var" / "postvagt.db")
    # Everything but the held copies' raw bytes (kept on purpose, for staff).
    database.execute(f"DELETE FROM {quarantine.name}")
    dump = "\n".join(database.iterdump())
    database.close()
    sent = "\n".join(m.content.decode("utf-8", "replace") for m in relay.messages)
    ours = "\n".join(split(m.content)[0].decode("utf-8", "replace") for m in upstream.messages)
    assert ours.count("X-Postvagt-Journal: required") == len(upstream.messages) > 0
    haystacks = {
        "headers we add to delivered mail": ours,
        "database": dump,
        "logs": logs,
        "replies and digest": sent,
        "pages": "\n".join(pages),
    }
    needles = [*numbers, *(n.replace("-", "").replace(" ", "") for n in numbers), *NAMES]
    needles += [s.split(" (")[0] for s in subjects] + ["diagnose og behandling", "kontanthjælp"]
    leaks = [
        (where, needle) for where, text in haystacks.items() for needle in needles if needle in text
    ]
    assert leaks == []
    assert "borger0@borger.example" in dump  # the envelope sender is kept for staff
    assert "DK_CPR" in dump and "HEALTH" in dump  # types and counts are


def test_digital_post_answer_keeps_no_number(tmp_path):
    """A caseworker answers a mail through Digital Post (the stand-in) and another citizen,
    exempt, by physical letter: the CPR numbers typed reach the MeMo and the letter's address
    reaches the print service, and afterwards no table and no log line holds any of them."""
    from sqlalchemy import create_engine, select

    from gateway.store.tables import answers
    from tests.digital_post_standin import StandIn, make_certificate
    from tests.test_web import login

    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    rng = random.Random(19)
    number, municipality = fictional.cpr(rng), fictional.cvr(rng)
    exempt = fictional.cpr(rng)
    digits = number.replace("-", "")
    address = ["Lone Testesen", "Opdigtet Allé 12, 3. th.", "9999 Testby"]
    oces, _ = make_certificate(tmp_path / "oces", "oces3", key_inside=True)
    standin = StandIn(tmp_path / "standin", municipality, oces).start()
    standin.switches.exempt.add(exempt.replace("-", ""))
    upstream, relay = Upstream().start(), Upstream().start()
    web_port = free_port()
    env = {
        "POSTVAGT_REPLY_RELAY": f"smtp://127.0.0.1:{relay.port}",
        "POSTVAGT_OUTBOX_POLL": "0.2",
        "POSTVAGT_DETECT_WORKERS": "1",
        "POSTVAGT_DIGITAL_POST_CERTIFICATE": str(oces),
        "POSTVAGT_DIGITAL_POST_CVR": municipality,
        "POSTVAGT_DIGITAL_POST_BASE_URL": standin.url,
        "POSTVAGT_DIGITAL_POST_PHYSICAL_MAIL": str(standin.letter_kind),
        "REQUESTS_CA_BUNDLE": standin.ca_bundle,
    }
    port = free_port()
    try:
        proc = start_gateway(
            port,
            *("--web-listen", f"127.0.0.1:{web_port}"),
            *("--upstream", f"smtp://127.0.0.1:{upstream.port}", "--domain", "kommune.example"),
            *("--policy", str(tmp_path / "policy.yaml"), "--data-dir", str(tmp_path / "var")),
            *("--log-format", "json", "--log-level", "DEBUG"),
            env=env,
        )
        body = f"Kære kommune\n\nMit CPR-nummer er {number}. Jeg modtager kontanthjælp.\n"
        send(port, "borger@borger.example", "borgerservice@kommune.example", "Spørgsmål", body)
        made = users_add(
            "sb", "en-lang-adgangskode", "--role", "staff", "--mailbox", "borgerservice",
            "--data-dir", str(tmp_path / "var"), "--policy", str(tmp_path / "policy.yaml"),
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'postvagt.db'}")
        web = login(f"http://127.0.0.1:{web_port}", "sb", "en-lang-adgangskode")
        (href,) = set(re.findall(r'href="(/mail/[0-9a-f-]{36})"', web.get("/").text))
        token = csrf(web.get(href).text)
        checked = web.post(
            f"{href}/answer", data={"csrf": token, "step": "check", "number": number}
        )
        assert "✓" in checked.text  # the number typed is the mail's (its keyed hash)
        data = {"csrf": token, "number": digits, "title": "Svar", "text": "Vi har modtaget den."}
        confirm = web.post(f"{href}/answer", data={**data, "step": "confirm"})
        (memo,) = re.findall(r'name="memo_uuid" value="([^"]+)"', confirm.text)
        sent = web.post(
            f"{href}/answer", data={**data, "step": "send", "confirm": "yes", "memo_uuid": memo}
        )
        assert sent.status_code == 303

        # Another citizen than the mail's: looked up only with the caseworker's reason.
        ack = {"acknowledge": "yes", "reason": "Svar til borgerens værge, jf. sagen"}
        offer = web.post(
            f"{href}/answer", data={"csrf": token, "step": "check", "number": exempt, **ack}
        )
        assert "fjernprint" in offer.text
        letter = {**data, "number": exempt, "channel": "physical-mail", **ack}
        letter["address"] = "\n".join(address)
        confirm = web.post(f"{href}/answer", data={**letter, "step": "confirm"})
        (memo,) = re.findall(r'name="memo_uuid" value="([^"]+)"', confirm.text)
        sent = web.post(
            f"{href}/answer", data={**letter, "step": "send", "confirm": "yes", "memo_uuid": memo}
        )
        assert sent.status_code == 303

        def states() -> list[str]:
            with engine.connect() as c:
                return list(c.execute(select(answers.c.state)).scalars())

        assert wait_for(lambda: states() == ["sent", "sent"], timeout=30)
        engine.dispose()
        page = web.get(href).text
        web.close()
        logs = stop(proc)
    finally:
        standin.close()
        upstream.close()
        relay.close()

    (memo,) = standin.memos()  # it did reach Digital Post …
    assert digits in ElementTree.tostring(memo, encoding="unicode")
    assert len(standin.letters) == 1 and standin.lookups == [
        digits,
        digits,
        *[exempt.replace("-", "")] * 2,
    ]
    database = sqlite3.connect(tmp_path / "var" / "postvagt.db")
    database.execute(f"DELETE FROM {quarantine.name}")
    dump = "\n".join(database.iterdump())
    database.close()
    haystacks = {"database": dump, "logs": logs, "detail page after": page}
    leaks = [
        (where, needle)
        for where, text in haystacks.items()
        for needle in (
            *(number, digits, number.replace("-", " ")),
            *(exempt, exempt.replace("-", "")),
            *address,
        )
        if needle in text
    ]
    assert leaks == [], [x for x in logs.splitlines() if digits in x][:3]  # … nor here
    assert f"{number[:6]}-****" in dump and "digital-post-sent" in dump
