"""The staff page over real HTTP, served by a running gateway that received real mail:
logins, permissions, CSRF, filters, journaling, quarantine, audit, headers, escaping."""

from __future__ import annotations

import os
import random
import re
import smtplib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from gateway.settings import Settings
from gateway.store.tables import audit_log, messages
from gateway.store.users import add_user
from gateway.web.auth import hash_password
from tests import fictional
from tests.servers import RunningGateway, Upstream

PASSWORD = "korrekt-hest-batteri"
POLICY = """\
version: 1
mailboxes:
  - name: borgerservice
    addresses: [borgerservice@kommune.example]
    display_name: Testby Kommune
  - name: byggesag
    addresses: [byggesag@kommune.example]
    display_name: Testby Kommune, Byggesager
    show_masked_subject: true
rules:
  - name: health-held
    when: {entities: [HEALTH], encrypted: false}
    then: {action: quarantine, journal: true}
  - name: personal-data
    when: {entities: [DK_CPR], encrypted: false}
    then: {action: deliver, journal: true}
  - name: ordinary
"""
XSS = '"<script>alert(1)</script>"@borger.example'


def send(port: int, sender: str, rcpt: str, subject: str, body: str) -> None:
    data = (
        f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail(sender, [rcpt], data)


def staff_site(folder: Path, policy: str = POLICY, **more: Any) -> tuple[RunningGateway, Upstream]:
    """A detecting gateway with the staff page, ``policy``'s mailboxes (POLICY's two) and
    an upstream; ``more``: further settings (Digital Post's, for instance)."""
    (folder / "policy.yaml").write_text(policy, encoding="utf-8")
    upstream = Upstream().start()
    settings = Settings(
        listen="127.0.0.1:0",
        web_listen="127.0.0.1:0",
        upstream=f"smtp://127.0.0.1:{upstream.port}",
        domains=["kommune.example"],
        data_dir=folder / "var",
        policy=folder / "policy.yaml",
        hostname="gateway.test",
        sender_checks=False,
        detect_workers=1,
        shutdown_grace=5,
        **more,
    )
    return RunningGateway(settings), upstream


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One gateway with mail in two mailboxes, an admin and a staff member of each."""
    gw, upstream = staff_site(tmp_path_factory.mktemp("web"))
    settings = gw.settings
    rng = random.Random(9)
    cpr = fictional.cpr(rng)
    send(
        gw.port,
        "anna@borger.example",
        "borgerservice@kommune.example",
        f"Ansøgning {cpr}",
        f"Mit CPR-nummer er {cpr}.",
    )
    send(
        gw.port,
        XSS,
        "borgerservice@kommune.example",
        "<svg onload=alert(2)>",
        f"CPR {fictional.cpr(rng)}",
    )
    send(
        gw.port,
        "bo@firma.example",
        "byggesag@kommune.example",
        "Sag 27.24.00-G01-5-19 tegninger",
        f"Ejers CPR-nummer: {fictional.cpr(rng)}",
    )
    send(
        gw.port,
        "cille@borger.example",
        "byggesag@kommune.example",
        "Helbred",
        "Jeg har fået en diagnose og er i behandling hos egen læge for min sygdom.",
    )
    send(gw.port, "dan@borger.example", "borgerservice@kommune.example", "Hej", "Ingen data.")
    engine = create_engine(settings.database)
    with engine.begin() as c:
        for name, role, boxes in [
            ("admin", "admin", []),
            ("bs", "staff", ["borgerservice"]),
            ("byg", "staff", ["byggesag"]),
        ]:
            add_user(
                c,
                name,
                role=role,
                mailboxes=boxes,
                password_hash=hash_password(PASSWORD),
                actor="test",
            )
    base = f"http://127.0.0.1:{gw.gateway.web.port}"
    yield gw, base, engine, upstream
    engine.dispose()
    gw.close()
    upstream.close()


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(base: str, name: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    page = client.get("/login")
    answer = client.post(
        "/login", data={"user": name, "password": password, "csrf": csrf(page.text)}
    )
    assert answer.status_code == 303, answer.text
    return client


def ids(engine, **where) -> list[str]:
    with engine.connect() as c:
        query = select(messages.c.id).order_by(messages.c.received_at)
        for column, value in where.items():
            query = query.where(messages.c[column] == value)
        return list(c.execute(query).scalars())


def audit_actions(engine, target: str) -> list[tuple[str, str]]:
    with engine.connect() as c:
        rows = c.execute(select(audit_log).where(audit_log.c.target == target)).all()
    return [(r.actor, r.action) for r in rows]


def test_no_page_without_login(site):
    _, base, engine, _ = site
    some = ids(engine)[0]
    with httpx.Client(base_url=base) as client:
        for path in ("/", f"/mail/{some}", "/health", f"/mail/{some}/original.eml"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        assert (
            client.post(f"/mail/{some}/mark", data={"state": "false-positive"}).status_code == 303
        )
        assert client.get("/healthz").json() == {"status": "ok"}


def test_wrong_password_is_refused_and_audited_and_throttled(site):
    _, base, engine, _ = site
    client = httpx.Client(base_url=base)
    token = csrf(client.get("/login").text)
    answer = client.post("/login", data={"user": "bs", "password": "forkert-1234", "csrf": token})
    assert answer.status_code == 401 and "Forkert brugernavn" in answer.text
    answer = client.post("/login", data={"user": "nobody", "password": PASSWORD, "csrf": token})
    assert answer.status_code == 401
    with engine.connect() as c:
        failed = c.execute(select(audit_log).where(audit_log.c.action == "login-failed")).all()
    assert {r.actor for r in failed} >= {"bs", "(unknown user)"}  # a typed name is not kept
    codes = [
        client.post(
            "/login", data={"user": "ghost", "password": "x" * 12, "csrf": token}
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    # Correct passwords use nothing up: staff logging in all day are never locked out.
    for _ in range(12):
        login(base, "byg")


def test_csrf_is_required_on_every_form(site):
    _, base, engine, _ = site
    client = login(base, "admin")
    target = ids(engine)[0]
    for data in ({"state": "false-positive"}, {"state": "false-positive", "csrf": "forged"}):
        answer = client.post(f"/mail/{target}/mark", data=data)
        assert answer.status_code == 403
    assert client.post("/logout").status_code == 403
    fresh = httpx.Client(base_url=base)
    assert fresh.post("/login", data={"user": "admin", "password": PASSWORD}).status_code == 403


def test_staff_see_their_mailboxes_only(site):
    _, base, engine, _ = site
    bs = login(base, "bs")
    listing = bs.get("/").text
    assert "borgerservice" in listing and "bo@firma.example" not in listing
    other = ids(engine, recipient_group="byggesag")[0]
    assert bs.get(f"/mail/{other}").status_code == 404
    token = csrf(listing)
    answer = bs.post(f"/mail/{other}/mark", data={"state": "false-positive", "csrf": token})
    assert answer.status_code == 404
    assert audit_actions(engine, other) == []  # nothing happened to it, nothing was seen
    admin = login(base, "admin")
    assert "bo@firma.example" in admin.get("/").text


def test_filters_and_paging(site):
    _, base, _, _ = site
    admin = login(base, "admin")
    assert admin.get("/", params={"mailbox": "byggesag"}).text.count("/mail/") == 2
    assert admin.get("/", params={"entity": "HEALTH"}).text.count("/mail/") == 1
    assert (
        admin.get("/", params={"since": "2000-01-01", "until": "2000-01-02"}).text.count("/mail/")
        == 0
    )
    page = admin.get("/", params={"status": "open"}).text
    assert page.count("/mail/") == 4  # the mail without personal data is not flagged
    assert "Ingen mails matcher" in admin.get("/", params={"reply": "sent"}).text


def test_journaling_an_entry_is_recorded_with_its_case_number(site):
    _, base, engine, _ = site
    client = login(base, "byg")
    target = ids(engine, recipient_group="byggesag", state="delivered")[0]
    page = client.get(f"/mail/{target}")
    assert page.status_code == 200
    # The KLE/SBSYS case number from the subject is offered; the masked subject shown here
    # because the admin switched it on for this mailbox.
    assert "27.24.00-G01-5-19" in page.text
    token = csrf(page.text)
    refused = client.post(
        f"/mail/{target}/mark", data={"state": "journaled", "case_number": " ", "csrf": token}
    )
    assert refused.status_code == 400
    answer = client.post(
        f"/mail/{target}/mark",
        data={"state": "journaled", "case_number": "27.24.00-G01-5-19", "csrf": token},
    )
    assert answer.status_code == 303
    with engine.connect() as c:
        row = c.execute(select(messages).where(messages.c.id == target)).one()
    assert (row.journal_state, row.case_number, row.handled_by) == (
        "journaled",
        "27.24.00-G01-5-19",
        "byg",
    )
    assert ("byg", "view") in audit_actions(engine, target)
    assert ("byg", "mark-journaled") in audit_actions(engine, target)
    # The history shows it, in words.
    history = client.get(f"/mail/{target}").text
    assert "byg: markerede som journaliseret (27.24.00-G01-5-19)" in history


def test_quarantined_mail_download_release_and_delete(site):
    _, base, engine, upstream = site
    client = login(base, "byg")
    (held,) = ids(engine, state="quarantined")
    page = client.get(f"/mail/{held}")
    eml = client.get(f"/mail/{held}/original.eml")
    assert eml.status_code == 200 and eml.headers["content-type"].startswith("message/rfc822")
    assert eml.headers["content-disposition"].startswith("attachment;")
    assert b"diagnose" in eml.content
    before = len(upstream.messages)
    answer = client.post(f"/mail/{held}/release", data={"csrf": csrf(page.text)})
    assert answer.status_code == 303
    assert len(upstream.messages) == before + 1
    released = upstream.messages[-1]
    assert released.rcpt_tos == ["byggesag@kommune.example"]
    assert b"X-Postvagt-Verdict: deliver; rule=released-by-staff" in released.content
    # A second click (or a second instance) sends nothing more.
    again = client.post(f"/mail/{held}/release", data={"csrf": csrf(page.text)})
    assert again.status_code == 502 and len(upstream.messages) == before + 1
    # Deleting asks first, naming the mail; only the confirmed form deletes.
    asked = client.post(f"/mail/{held}/delete-held", data={"csrf": csrf(page.text)})
    assert asked.status_code == 200 and "Slet karantænekopien af 1 mails" in asked.text
    assert client.get(f"/mail/{held}/original.eml").status_code == 200
    answer = client.post(
        "/bulk/apply",
        data={
            "csrf": csrf(page.text),
            "action": "delete-held",
            "id": held,
            "confirm": "yes",
            "back": f"/mail/{held}",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/mail/{held}?saved=1"
    assert client.get(f"/mail/{held}/original.eml").status_code == 404
    actions = [a for _, a in audit_actions(engine, held)]
    assert {"download", "release", "delete-quarantined"} <= set(actions)


def test_message_content_is_escaped_never_rendered(site):
    _, base, engine, _ = site
    admin = login(base, "admin")
    listing = admin.get("/").text
    assert "<script>alert(1)</script>" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    (target,) = [i for i in ids(engine) if XSS in _sender(engine, i)]
    detail = admin.get(f"/mail/{target}").text
    assert "<script>" not in detail and "<svg" not in detail


def _sender(engine, message_id: str) -> str:
    with engine.connect() as c:
        return c.execute(select(messages.c.mail_from).where(messages.c.id == message_id)).scalar()


def test_security_headers_and_cookie(site):
    _, base, _, _ = site
    client = httpx.Client(base_url=base)
    page = client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    answer = client.post(
        "/login", data={"user": "admin", "password": PASSWORD, "csrf": csrf(page.text)}
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "<script" not in client.get("/").text  # no inline script anywhere


def test_language_switch(site):
    _, base, _, _ = site
    admin = login(base, "admin")
    assert "Markerede mails" in admin.get("/").text
    admin.get("/lang/en", params={"next": "/"})
    assert "Flagged mail" in admin.get("/").text
    assert (
        admin.get("/lang/en", params={"next": "https://evil.example/"}).headers["location"] == "/"
    )  # never an open redirect


def test_health_and_metrics_hold_no_personal_data(site):
    _, base, engine, _ = site
    admin = login(base, "admin")
    health = admin.get("/health").text
    assert "policy.yaml" in health and "Åbne markerede mails" in health
    metrics = httpx.get(f"{base}/metrics").text
    assert 'postvagt_findings_total{entity="DK_CPR"}' in metrics
    assert "postvagt_queue" in metrics and "postvagt_message_seconds_bucket" in metrics
    with engine.connect() as c:
        senders = list(c.execute(select(messages.c.mail_from)).scalars())
    for sender in senders:
        assert sender not in metrics and sender.split("@")[1] not in metrics


def test_users_cli_makes_an_account_that_can_log_in(site, tmp_path):
    import subprocess

    from tests.helpers import POSTVAGT, clean_env, users_add

    gw, base, _, _ = site
    database = gw.settings.database
    policy = str(gw.settings.policy)
    made = users_add(
        "eva",
        "eva-har-en-lang-kode",
        *("--role", "staff", "--mailbox", "borgerservice", "--database-url", database),
        *("--policy", policy),
    )
    assert made.returncode == 0, made.stderr
    assert "user eva: staff of borgerservice" in made.stdout
    client = login(base, "eva", "eva-har-en-lang-kode")
    assert client.get("/").status_code == 200
    short = users_add("x", "kort", "--role", "staff", "--database-url", database)
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    listed = subprocess.run(
        [*POSTVAGT, "users", "list", "--database-url", database],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert "eva\tstaff\tborgerservice" in listed.stdout
    subprocess.run(
        [*POSTVAGT, "users", "disable", "eva", "--database-url", database],
        check=True,
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert client.get("/").status_code == 303  # disabled: out at once
    assert Path(gw.settings.data_dir / "web-secret").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("proxies", "trusted"), [(["127.0.0.1/32"], True), (["10.0.0.0/8"], False)]
)
def test_single_sign_on_header_only_from_trusted_proxies(make_gateway, proxies, trusted):
    gw = make_gateway(web_user_header="X-Remote-User", web_trusted_proxies=proxies)
    engine = create_engine(gw.settings.database)
    with engine.begin() as c:
        add_user(c, "sso-user", role="admin", mailboxes=[], password_hash=None, actor="test")
    engine.dispose()
    base = f"http://127.0.0.1:{gw.gateway.web.port}"
    answer = httpx.get(f"{base}/", headers={"X-Remote-User": "sso-user"})
    assert answer.status_code == (200 if trusted else 303)
    # A user without a password cannot log in with the form, whatever is typed.
    client = httpx.Client(base_url=base)
    token = csrf(client.get("/login").text)
    refused = client.post("/login", data={"user": "sso-user", "password": "", "csrf": token})
    assert refused.status_code == 401


def test_users_add_explains_instead_of_failing(site, monkeypatch, capsys):
    """In-process (the subprocess round trips are in the test above): a --mailbox typo gets
    a did-you-mean, and no terminal without --password-stdin gets a sentence, not a
    traceback."""
    import io

    from gateway.cli import main

    gw, _, _, _ = site
    where = ["--database-url", gw.settings.database, "--policy", str(gw.settings.policy)]
    monkeypatch.setattr("sys.stdin", io.StringIO("en-lang-adgangskode\n"))
    typo = main(["users", "add", "y", "--role", "staff", "--mailbox", "borgerservise", *where])
    assert typo == 2 and "did you mean 'borgerservice'?" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    assert main(["users", "add", "z", "--role", "admin", *where]) == 2
    err = capsys.readouterr().err
    assert "--password-stdin" in err and "Traceback" not in err


# -- sessions that end ---------------------------------------------------------------------------


def _account(engine, name: str, role: str = "staff", boxes: tuple[str, ...] = ()) -> None:
    with engine.begin() as c:
        add_user(
            c,
            name,
            role=role,
            mailboxes=list(boxes),
            password_hash=hash_password(PASSWORD),
            actor="test",
        )


def test_logout_ends_every_copy_of_the_session_cookie(site):
    _, base, engine, _ = site
    _account(engine, "kopi", boxes=("borgerservice",))
    client = login(base, "kopi")
    copied = httpx.Client(base_url=base, cookies=dict(client.cookies))
    assert copied.get("/").status_code == 200
    page = client.get("/")
    assert client.post("/logout", data={"csrf": csrf(page.text)}).status_code == 303
    assert copied.get("/").status_code == 303  # the copy stopped working on the server
    assert login(base, "kopi").get("/").status_code == 200  # a new login works


def test_password_change_ends_the_other_sessions(site):
    _, base, engine, _ = site
    _account(engine, "skift", boxes=("byggesag",))
    here, elsewhere = login(base, "skift"), login(base, "skift")
    page = here.get("/password")
    new = "et-helt-nyt-kodeord"
    answer = here.post(
        "/password", data={"csrf": csrf(page.text), "current": PASSWORD, "new": new, "again": new}
    )
    assert answer.status_code == 200 and "Adgangskoden er skiftet" in answer.text
    assert here.get("/").status_code == 200  # the session that changed it goes on
    assert elsewhere.get("/").status_code == 303
    assert login(base, "skift", new).get("/").status_code == 200
    wrong = here.post(
        "/password",
        data={"csrf": csrf(here.get("/").text), "current": "gæt-gæt-gæt", "new": new, "again": new},
    )
    assert wrong.status_code == 403


def test_a_link_to_the_login_page_keeps_a_valid_session(site):
    _, base, _, _ = site
    client = login(base, "bs")
    answer = client.get("/login", params={"next": "/?status=open"})
    assert answer.status_code == 303 and answer.headers["location"] == "/?status=open"
    assert "set-cookie" not in answer.headers  # the session was not replaced
    assert client.get("/").status_code == 200


def _from(base: str, source: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base, transport=transport, timeout=60)


def test_guessing_from_one_address_never_locks_out_the_owner(site):
    _, base, engine, _ = site
    _account(engine, "maal", boxes=("borgerservice",))
    attacker = _from(base, "127.0.0.2")
    token = csrf(attacker.get("/login").text)
    codes = [
        attacker.post(
            "/login", data={"user": "maal", "password": f"gæt-nummer-{n}", "csrf": token}
        ).status_code
        for n in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    # The owner, at another address, logs in at once with the right password.
    assert login(base, "maal").get("/").status_code == 200
    with engine.connect() as c:
        throttled = c.execute(
            select(audit_log).where(
                audit_log.c.action == "login-throttled", audit_log.c.actor == "maal"
            )
        ).all()
    assert throttled and all(r.detail["client"] == "127.0.0.2" for r in throttled)
    assert any(r.detail["refused"] for r in throttled)
    assert any(r.detail["delay"] > 0 for r in throttled)  # slowed before it was refused


def test_forwarded_for_counts_only_from_trusted_proxies(make_gateway):
    gw = make_gateway(web_trusted_proxies=["127.0.0.1/32"])
    engine = create_engine(gw.settings.database)
    _account(engine, "proxied", role="admin")
    base = f"http://127.0.0.1:{gw.gateway.web.port}"
    client = httpx.Client(base_url=base, timeout=60)
    token = csrf(client.get("/login").text)
    guesser = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}  # the left part is the client's
    for n in range(10):
        data = {"user": "proxied", "password": f"forkert-{n}-xyz", "csrf": token}
        assert client.post("/login", data=data, headers=guesser).status_code == 401
    data = {"user": "proxied", "password": PASSWORD, "csrf": token}
    assert client.post("/login", data=data, headers=guesser).status_code == 429
    colleague = {"X-Forwarded-For": "203.0.113.9"}  # same proxy, another member of staff
    assert client.post("/login", data=data, headers=colleague).status_code == 303
    with engine.connect() as c:
        clients = {
            r.detail.get("client")
            for r in c.execute(select(audit_log).where(audit_log.c.actor == "proxied")).all()
        }
    engine.dispose()
    assert clients == {"203.0.113.5", "203.0.113.9"}


def test_forwarded_for_from_anyone_else_is_ignored(make_gateway):
    gw = make_gateway()
    base = f"http://127.0.0.1:{gw.gateway.web.port}"
    client = httpx.Client(base_url=base, timeout=60)
    token = csrf(client.get("/login").text)
    data = {"user": "nobody", "password": "forkert-xyz-123", "csrf": token}
    client.post("/login", data=data, headers={"X-Forwarded-For": "203.0.113.5"})
    engine = create_engine(gw.settings.database)
    with engine.connect() as c:
        (row,) = c.execute(select(audit_log).where(audit_log.c.action == "login-failed")).all()
    engine.dispose()
    assert row.detail["client"] == "127.0.0.1"


def test_files_are_private_whatever_the_umask(tmp_path):
    from datetime import timedelta

    from gateway.store import Store
    from gateway.web.auth import session_secret

    old = os.umask(0)
    try:
        store = Store(f"sqlite:///{tmp_path / 'postvagt.db'}", instance="t", slot="mx")
        store.prepare(timedelta(seconds=60))
        store.transaction(lambda c: c.exec_driver_sql("SELECT 1"))
        session_secret(tmp_path / "web-secret")
        made = sorted(p.name for p in tmp_path.iterdir())
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert {"postvagt.db", "postvagt.db-wal", "web-secret"} <= set(made)
    assert all(mode == 0o600 for mode in modes.values()), modes


# -- the list and the work -----------------------------------------------------------------------


def test_rows_say_what_became_of_the_mail_in_local_time(site):
    _, base, _, _ = site
    page = login(base, "admin").get("/").text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d (CET|CEST)", page)
    assert "CPR-nummer ×" in page and "DK_CPR" not in re.sub(r"<[^>]+>", "", page)
    assert "Leveret" in page  # delivered, in words
    assert "Karantænekopi slettet" in page or "Frigivet" in page  # the held one, handled


def test_search_sort_and_open_counts(site):
    _, base, engine, _ = site
    admin = login(base, "admin")
    assert admin.get("/", params={"q": "BO@FIRMA"}).text.count("/mail/") == 1
    assert admin.get("/", params={"q": "27.24.00-G01"}).text.count("/mail/") == 1
    some = ids(engine, recipient_group="byggesag")[0]
    assert f"/mail/{some}" in admin.get("/", params={"q": some[:13]}).text
    assert "Ingen mails matcher" in admin.get("/", params={"q": "ingen-saadan%"}).text
    ascending = admin.get("/", params={"sort": "sender", "order": "asc"}).text
    senders = re.findall(r'<span class="addr">([^<]*)</span>', ascending)
    assert senders == sorted(senders, key=str.lower) and len(senders) >= 4
    page = admin.get("/").text
    assert 'href="/?mailbox=borgerservice&amp;status=open"' in page
    bs = login(base, "bs").get("/").text
    assert "mailbox=byggesag&amp;status=open" not in bs  # another mailbox's counts are not shown


def test_bulk_marks_ask_first_then_audit_every_mail(site):
    _, base, engine, _ = site
    bs = login(base, "bs")
    page = bs.get("/", params={"mailbox": "borgerservice"}).text
    mine = ids(engine, recipient_group="borgerservice", journal_state="open")[:2]
    other = ids(engine, recipient_group="byggesag")[0]
    form = {"csrf": csrf(page), "action": "not-needed", "id": [*mine, other], "back": "/"}
    asked = bs.post("/bulk", data=form)
    assert asked.status_code == 200 and "Markér 2 mails: ingen journalisering" in asked.text
    assert other not in asked.text  # not this user's mailbox: left out
    assert all(m in asked.text for m in mine) and 'name="note"' in asked.text
    with engine.connect() as c:
        still = c.execute(select(messages.c.journal_state).where(messages.c.id.in_(mine)))
        assert set(still.scalars()) == {"open"}  # nothing changed before the confirmation
    answer = bs.post(
        "/bulk/apply", data={**form, "confirm": "yes", "note": "Dublet af tidligere henvendelse"}
    )
    assert answer.status_code == 303 and "done=2" in answer.headers["location"]
    for message_id in mine:
        assert ("bs", "mark-not-needed") in audit_actions(engine, message_id)
    assert audit_actions(engine, other) == [] or ("bs", "mark-not-needed") not in audit_actions(
        engine, other
    )
    assert "2 mails opdateret" in bs.get(answer.headers["location"]).text


def test_export_is_the_filtered_list_masked_and_audited(site):
    _, base, engine, _ = site
    admin = login(base, "admin")
    answer = admin.get("/export.csv", params={"mailbox": "byggesag"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Modtaget;Postkasse;Afsender")
    assert len(lines) == 1 + len(ids(engine, recipient_group="byggesag"))
    with engine.connect() as c:
        raw = c.execute(select(messages.c.findings)).scalars().all()
        exports = c.execute(select(audit_log).where(audit_log.c.action == "export")).all()
    assert exports and exports[-1].detail == {"mailbox": "byggesag", "rows": len(lines) - 1}
    for findings in raw:  # only masked values, never a whole number
        for f in findings:
            for masked in f.get("masked") or []:
                assert "*" in masked or "•" in masked
    assert "CPR-nummer" in answer.text and "DK_CPR" not in answer.text


def test_statistics_are_svg_and_tables(site):
    _, base, _, _ = site
    admin = login(base, "admin")
    page = admin.get("/statistics")
    assert page.status_code == 200
    assert page.text.count("<svg") >= 3 and "<script" not in page.text
    assert "Markerede mails pr. uge og postkasse" in page.text
    assert "<caption>Mails pr. type oplysning</caption>" in page.text
    assert ">CPR-nummer<" in page.text and "Helbredsoplysninger" in page.text
    staff = login(base, "bs").get("/statistics", params={"weeks": "4"}).text
    assert "byggesag" not in staff


def test_health_shows_staff_their_mailboxes_only(site):
    _, base, _, _ = site
    staff = login(base, "bs").get("/health").text
    assert "borgerservice" in staff and "byggesag" not in staff
    assert "Autosvar i kø" not in staff  # the outbox spans every mailbox: admins only
    assert "byggesag" in login(base, "admin").get("/health").text


def test_held_mail_text_is_shown_masked(site):
    gw, base, engine, _ = site
    rng = random.Random(77)
    number = fictional.cpr(rng)
    send(
        gw.port,
        "eik@borger.example",
        "byggesag@kommune.example",
        "Helbred og sag",
        f"Jeg har en diagnose fra egen læge og er i behandling. Mit CPR-nummer er {number}.",
    )
    held = ids(engine, state="quarantined")[-1]
    client = login(base, "byg")
    assert f"/mail/{held}/text" in client.get(f"/mail/{held}").text
    page = client.get(f"/mail/{held}/text")
    assert page.status_code == 200
    assert number not in page.text and number.replace("-", "") not in page.text
    assert "<mark" in page.text and "Jeg har en" in page.text
    assert ("byg", "preview") in audit_actions(engine, held)
    assert login(base, "bs").get(f"/mail/{held}/text").status_code == 404


CODES = re.compile(
    r"\b(DK_[A-Z_]+|IBAN_CODE|BIOMETRIC_GENETIC|delete-quarantined|mark-[a-z-]+|"
    r"not-needed|false-positive|flagged_open)\b"
)


def test_every_page_is_in_the_chosen_language_without_codes(site):
    from gateway.web.i18n import MISSING

    _, base, engine, _ = site
    admin = login(base, "admin")
    everything = ids(engine)
    held = ids(engine, state="quarantined")
    for lang in ("da", "en"):
        admin.get(f"/lang/{lang}")
        token = csrf(admin.get("/").text)
        pages = [admin.get(path).text for path in ("/", "/statistics", "/health", "/password")]
        pages += [admin.get(f"/mail/{i}").text for i in everything]
        pages += [admin.get(f"/mail/{i}/text").text for i in held]
        for action in ("journaled", "not-needed", "release", "delete-held"):
            data = {"csrf": token, "action": action, "id": everything, "back": "/"}
            pages.append(admin.post("/bulk", data=data).text)
        for html in pages:
            visible = re.sub(r"<[^>]+>", " ", html)
            assert not CODES.search(visible), CODES.search(visible)
    admin.get("/lang/da")
    assert MISSING == set()


def test_hostile_names_never_reach_a_page_or_a_csv_cell(tmp_path, db_url):
    """Issue 23.6 and 24.10–11, on each back end: subjects and file names with NUL, C0 and
    bidi controls, an envelope sender with a right-to-left override (kept as received, for a
    release) and a row stored before the cleaning: the list, every detail page, the preview
    and the CSV export show the controls, as ␀ and ⟨RLO⟩, and never hold one. The preview
    shows what each attachment really is."""
    from tests.hostile import HostileHeaderText, mail
    from tests.test_cleantext import PROGRAM, PROGRAM_TYPES

    gw, upstream = staff_site(tmp_path, database_url=db_url)
    engine = create_engine(gw.settings.database)
    with engine.begin() as c:
        add_user(
            c,
            "byg",
            role="staff",
            mailboxes=["byggesag"],
            password_hash=hash_password(PASSWORD),
            actor="test",
        )
    try:
        rng = random.Random(24)
        generated = HostileHeaderText(seed=24)
        subjects = list(generated.subjects(count=3))
        names = list(generated.file_names(count=2))
        cpr = f"CPR-nummer {fictional.cpr(rng)}".encode()
        for case in subjects:
            data = mail(subject=case.header, body=cpr)
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as client:
                client.sendmail("anna@borger.example", ["byggesag@kommune.example"], data)
        for case in names:
            data = mail(file_name=case.header, attachment=cpr)
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as client:
                client.sendmail("anna@borger.example", ["byggesag@kommune.example"], data)
        held = mail(
            subject=b"=?utf-8?q?Helbred_faktura=E2=80=AEfdp.exe?=",
            file_name=names[0].header,
            attachment=PROGRAM,
            body=b"Jeg har en diagnose fra egen l\xc3\xa6ge og er i behandling. " + cpr,
        )
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as client:
            client.ehlo()
            client.sendmail(
                "anna\u202e@borger.example",
                ["byggesag@kommune.example"],
                held,
                mail_options=["SMTPUTF8"],
            )
        assert len(upstream.messages) == len(subjects) + len(names)  # the last one is held
        (held_id,) = ids(engine, state="quarantined")
        legacy = ids(engine)[0]
        with engine.begin() as c:  # a row as a gateway before the cleaning stored it
            old = "gammel\u202efdp.exe" + ("\x00" if db_url.startswith("sqlite") else "")
            c.execute(messages.update().where(messages.c.id == legacy).values(subject_masked=old))

        staff = login(gw_base(gw), "byg")
        pages = {"list": staff.get("/", params={"mailbox": "byggesag"}).text}
        for message_id in ids(engine):
            pages[message_id] = staff.get(f"/mail/{message_id}").text
        pages["preview"] = staff.get(f"/mail/{held_id}/text").text
        csv_text = staff.get("/export.csv", params={"mailbox": "byggesag"}).content.decode(
            "utf-8-sig"
        )
        pages["csv"] = csv_text
        for where, text in pages.items():
            assert "\x00" not in text and "\u202e" not in text, where
            assert not set(text) & {chr(c) for c in range(0x20) if c not in (9, 10, 13)}, where
        everything = "".join(pages.values())
        for case in subjects:
            assert case.shown in pages["list"] and case.shown in csv_text, case.name
        for case in names:
            assert case.shown in everything, case.name  # its finding's location
        assert "gammel⟨RLO⟩fdp.exe" in pages["list"] and "gammel⟨RLO⟩fdp.exe" in csv_text
        assert "anna⟨RLO⟩@borger.example" in pages[held_id]
        assert "anna⟨RLO⟩@borger.example" in csv_text
        with engine.connect() as c:  # the record keeps the envelope as received
            sender = c.execute(
                select(messages.c.mail_from).where(messages.c.id == held_id)
            ).scalar_one()
        assert sender == "anna\u202e@borger.example"

        preview = pages["preview"]
        assert "faktura⟨RLO⟩fdp.exe" in preview
        assert any(f"<code>{kind}</code>" in preview for kind in PROGRAM_TYPES), preview
        assert "<code>application/octet-stream</code>" in preview  # what the sender claims
        assert f"{len(PROGRAM)} byte" in preview
    finally:
        engine.dispose()
        gw.close()
        upstream.close()


def gw_base(gw: RunningGateway) -> str:
    return f"http://127.0.0.1:{gw.gateway.web.port}"


@pytest.mark.parametrize(
    ("path", "status", "danish", "english"),
    [
        # The date picker's last day is a day like any other: everything up to it.
        ("/?until=9999-12-31", 200, None, None),
        ("/?since=9999-12-31&until=9999-12-31", 200, None, None),
        ("/export.csv?until=9999-12-31", 200, None, None),
        ("/?page=99999999999999999999999", 400, "Siden findes ikke", "No such page"),
        ("/?page=" + "9" * 5000, 400, "Siden findes ikke", "No such page"),
        ("/?page=-3", 400, "Siden findes ikke", "No such page"),
        ("/?page=2.5", 400, "Siden findes ikke", "No such page"),
        ("/?since=2026-02-30", 400, "Datoen findes ikke", "No such date"),
        ("/?until=0000-01-01", 400, "Datoen findes ikke", "No such date"),
        ("/?until=99999-01-01", 400, "Datoen findes ikke", "No such date"),
        ("/?since=2026-12-31&until=2026-01-01", 400, "før fra-datoen", "before the from date"),
        ("/?mailbox=ingen-saadan", 400, "Ukendt værdi", "Unknown value"),
        ("/?status=open%00", 400, "Ukendt værdi", "Unknown value"),
        ("/?sort=id;drop", 400, "Ukendt værdi", "Unknown value"),
        ("/?done=99999999999999999999", 400, "Ukendt værdi", "Unknown value"),
        ("/?q=%00hej%01", 200, None, None),
        ("/export.csv?page=x&since=2026-13-01", 400, "Datoen findes ikke", "No such date"),
        ("/statistics?weeks=99999999999999999999", 400, "Ukendt værdi", "Unknown value"),
        ("/statistics?weeks=12", 200, None, None),
    ],
)
def test_query_parameters_are_checked_and_answered_in_words(site, path, status, danish, english):
    """Every query parameter of the staff pages: a value out of range is said in the
    page's language with 400 (the page shown without it), never a 500 with a stack."""
    _, base, _, _ = site
    client = login(base, "admin")
    for lang, words in (("da", danish), ("en", english)):
        client.get(f"/lang/{lang}")
        answer = client.get(path)
        assert answer.status_code == status, (lang, answer.text[-600:])
        assert "Traceback" not in answer.text and "Internal Server Error" not in answer.text
        if words:
            assert words in answer.text
            assert 'role="alert"' in answer.text
    client.get("/lang/da")


def test_parallel_guesses_are_counted_before_the_password_is_checked(make_gateway, db_url):
    """40 wrong passwords at once, for one account from one address: every attempt is
    counted before its password is checked, so exactly PAIR_LIMIT get an answer (401) and
    the rest are refused (429), on SQLite and PostgreSQL alike; the owner is not locked out."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gateway.web.throttle import PAIR_LIMIT

    gw = make_gateway(database_url=db_url)
    engine = create_engine(gw.settings.database)
    _account(engine, "paralleltest", boxes=("borgerservice",))
    base = f"http://127.0.0.1:{gw.gateway.web.port}"
    first = httpx.Client(base_url=base, timeout=120)
    token = csrf(first.get("/login").text)
    start = threading.Barrier(40)

    def guess(n: int) -> int:
        with httpx.Client(base_url=base, cookies=first.cookies, timeout=120) as client:
            data = {"user": "paralleltest", "password": f"forkert-gæt-{n}", "csrf": token}
            start.wait()
            return client.post("/login", data=data).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(guess, range(40)))
    assert sorted(codes) == [401] * PAIR_LIMIT + [429] * (40 - PAIR_LIMIT), codes
    with engine.connect() as c:
        failed = c.execute(select(audit_log).where(audit_log.c.action == "login-failed")).all()
    engine.dispose()
    assert len(failed) == PAIR_LIMIT
    owner = _from(base, "127.0.0.4")
    page = owner.get("/login")
    data = {"user": "paralleltest", "password": PASSWORD, "csrf": csrf(page.text)}
    assert owner.post("/login", data=data).status_code == 303


def test_the_findings_counter_counts_each_finding():
    """/metrics counts findings per type, one increment per type and message (a list of 300
    people is counted in one step per type, not 900)."""
    from gateway.metrics import Metrics
    from gateway.model import Finding, Inspection, Outcome, Reply

    findings = [Finding("DK_CPR", "body", 0.9, "DkCprRecognizer", "010382-****")] * 300
    findings += [Finding("DK_PHONE", "body", 0.8, "DkPhoneRecognizer", "22******")] * 2
    metrics = Metrics()
    outcome = Outcome(Reply(250, "2.0.0 Ok"), True, Inspection(findings=tuple(findings)))
    metrics.message(outcome, 0.01)
    metrics.message(outcome, 0.01)
    text = metrics.exposition({}, 0).decode()
    assert 'postvagt_findings_total{entity="DK_CPR"} 600.0' in text
    assert 'postvagt_findings_total{entity="DK_PHONE"} 4.0' in text
