"""Issue 24, points 6–13, over real HTTP against a gateway that received real mail: the
sender's name on the list, what the search and the status filter reach, the CSV for the case
system, the audit log as a page (admins and the DPO, who sees no mail) and /metrics on an
address of its own or behind a bearer token."""

from __future__ import annotations

import csv
import io
import random
import re
import smtplib
import uuid
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from gateway.settings import Settings, SettingsError, load_settings
from gateway.store.tables import answers, audit_log, messages
from gateway.store.users import add_user
from gateway.web.auth import hash_password
from tests import fictional
from tests.test_web import PASSWORD, csrf, ids, login, staff_site

NAMED = [
    # (display name, address, mailbox address, subject, held?)
    ("Åse Ørsted", "aase@borger.example", "borgerservice", "Ansøgning om tilskud", False),
    ("Bo Holm", "bo@firma.example", "byggesag", "Tegninger til 27.24.00-G01-5-19", False),
    ("Cille \u202eDahl", "cille@borger.example", "byggesag", "Lægeerklæring", True),
    ("", "dan@borger.example", "borgerservice", "Flytning", False),
]


def send_named(port: int, name: str, address: str, mailbox: str, subject: str, body: str) -> None:
    """A mail whose From has a display name (RFC 2047-encoded where it is not ASCII)."""
    mail = EmailMessage()
    local, _, domain = address.partition("@")
    mail["From"] = Address(name, local, domain) if name else address
    mail["To"] = f"{mailbox}@kommune.example"
    mail["Subject"] = subject
    mail.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.send_message(mail, from_addr=address, to_addrs=[f"{mailbox}@kommune.example"])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    gw, upstream = staff_site(tmp_path_factory.mktemp("review"))
    rng = random.Random(246)
    for name, address, mailbox, subject, held in NAMED:
        body = f"Mit CPR-nummer er {fictional.cpr(rng)}."
        if held:
            body = "Jeg har en diagnose fra egen læge og er i behandling for min sygdom."
        send_named(gw.port, name, address, mailbox, subject, body)
    engine = create_engine(gw.settings.database)
    with engine.begin() as c:
        for user, role, boxes in [
            ("admin", "admin", []),
            ("bs", "staff", ["borgerservice"]),
            ("byg", "staff", ["byggesag"]),
            ("dpo", "dpo", ["borgerservice"]),  # a DPO's mailboxes give no mail
        ]:
            add_user(
                c,
                user,
                role=role,
                mailboxes=boxes,
                password_hash=hash_password(PASSWORD),
                actor="test",
            )
    yield gw, f"http://127.0.0.1:{gw.gateway.web.port}", engine
    engine.dispose()
    gw.close()
    upstream.close()


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (b"=?utf-8?q?=C3=85se_=C3=98rsted?= <aase@borger.example>", "Åse Ørsted"),
        (b'"Bo Holm" <bo@firma.example>', "Bo Holm"),
        ("Åse Ørsted <aase@borger.example>".encode(), "Åse Ørsted"),  # raw UTF-8 (SMTPUTF8)
        (b"=?utf-8?q?Anna=00Berg=E2=80=AE?= <a@b.example>", "Anna␀Berg⟨RLO⟩"),
        (b"bo@firma.example", None),
        (b'"bo@firma.example" <bo@firma.example>', None),
        (b"<bo@firma.example>", None),
        (b"=?x-unknown?q?Dorte?= <d@b.example>", "Dorte"),
        (b"Anna " + b"(" * 5000 + b" <a@b.example>", ...),  # no crash, capped
    ],
)
def test_the_parser_keeps_the_from_display_name_cleaned(header, name):
    from gateway.parse import parse

    parsed = parse(b"From: " + header + b"\r\nSubject: x\r\n\r\nbody\r\n")
    if name is ...:
        assert parsed.from_name is None or len(parsed.from_name) <= 200
    else:
        assert parsed.from_name == name


def _id_of(engine, address: str) -> str:
    with engine.connect() as c:
        return c.execute(select(messages.c.id).where(messages.c.mail_from == address)).scalar_one()


def _found(page: str) -> int:
    return page.count('href="/mail/')


def test_the_list_shows_the_senders_name_cleaned(site):
    _, base, engine = site
    page = login(base, "admin").get("/").text
    assert '<span class="name">Åse Ørsted</span>' in page
    assert '<span class="name">Bo Holm</span>' in page
    assert "Cille ⟨RLO⟩Dahl" in page and "\u202e" not in page  # made visible, never obeyed
    with engine.connect() as c:
        names = dict(c.execute(select(messages.c.mail_from, messages.c.sender_name)).all())
    assert names["aase@borger.example"] == "Åse Ørsted"
    assert names["dan@borger.example"] is None  # no display name: the address says it all


@pytest.mark.parametrize(
    ("user", "q", "expected"),
    [
        ("admin", "ørsted", ["aase@borger.example"]),  # a name, in any case, with æøå
        ("admin", "ÅSE ØR", ["aase@borger.example"]),
        ("admin", "holm", ["bo@firma.example"]),
        ("admin", "tegninger", ["bo@firma.example"]),  # byggesag shows the masked subject
        ("admin", "tilskud", []),  # borgerservice does not: the subject is nowhere kept
        ("admin", "dan@borger", ["dan@borger.example"]),
        ("bs", "holm", []),  # another mailbox's sender: not found
    ],
)
def test_search_finds_what_caseworkers_remember(site, user, q, expected):
    _, base, engine = site
    page = login(base, user).get("/", params={"q": q})
    assert page.status_code == 200
    assert sorted(_id_of(engine, a) for a in expected) == sorted(
        i for i in ids(engine) if f'href="/mail/{i}"' in page.text
    )


def test_search_finds_the_postvagt_id_and_the_case_number_typed(site):
    _, base, engine = site
    admin = login(base, "admin")
    some = _id_of(engine, "dan@borger.example")
    assert _found(admin.get("/", params={"q": some[:13].upper()}).text) == 1
    token = csrf(admin.get(f"/mail/{some}").text)
    marked = admin.post(
        f"/mail/{some}/mark",
        data={"csrf": token, "state": "journaled", "case_number": "00.01.00-A00-77-26"},
    )
    assert marked.status_code == 303
    assert f"/mail/{some}" in admin.get("/", params={"q": "a00-77"}).text


def test_the_status_filter_has_every_state_a_caseworker_meets(site):
    _, base, engine = site
    admin = login(base, "admin")
    held = _id_of(engine, "cille@borger.example")
    answered = _id_of(engine, "aase@borger.example")
    with engine.begin() as c:  # an answer as gateway.store.answers records it, sent
        c.execute(
            insert(answers).values(
                message_id=answered,
                channel="digital-post",
                recipient_type="CPR",
                recipient_masked="010203-****",
                matched=True,
                memo_uuid=str(uuid.uuid4()),
                state="sent",
                created_by="bs",
                created_at=datetime.now(UTC),
                transaction_id="t-1",
            )
        )

    def listed(status: str) -> set[str]:
        page = admin.get("/", params={"status": status})
        assert page.status_code == 200, page.text[-500:]
        return {i for i in ids(engine) if f'href="/mail/{i}"' in page.text}

    assert listed("held") == {held} and listed("answered") == {answered}
    assert listed("released") == set()
    assert 'value="answered"' in admin.get("/").text and "Besvaret via Digital Post" in (
        admin.get("/").text
    )
    token = csrf(admin.get(f"/mail/{held}").text)
    assert admin.post(f"/mail/{held}/release", data={"csrf": token}).status_code == 303
    assert listed("released") == {held} and listed("held") == set()
    bo = _id_of(engine, "bo@firma.example")
    token = csrf(admin.get(f"/mail/{bo}").text)
    admin.post(f"/mail/{bo}/mark", data={"csrf": token, "state": "false-positive"})
    assert listed("false-positive") == {bo}
    with engine.connect() as c:
        (entry,) = c.execute(
            select(audit_log.c.detail)
            .where(audit_log.c.action == "list")
            .order_by(audit_log.c.id.desc())
            .limit(1)
        ).all()
    assert entry.detail["status"] == "false-positive"
    assert login(base, "byg").get("/", params={"status": "answered"}).text.count("/mail/") == 0


def test_export_carries_the_case_number_who_and_when_formula_safe(site):
    _, base, engine = site
    byg = login(base, "byg")
    bo = _id_of(engine, "bo@firma.example")
    token = csrf(byg.get(f"/mail/{bo}").text)
    byg.post(
        f"/mail/{bo}/mark",
        data={"csrf": token, "state": "journaled", "case_number": "=HYPERLINK(1)"},
    )
    answer = byg.get("/export.csv", params={"q": bo})
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    header, row = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[:4] == ["Modtaget", "Postkasse", "Afsender", "Afsenderens navn"]
    assert row["Afsenderens navn"] == "Bo Holm"
    assert row["Sagsnummer"] == "'=HYPERLINK(1)"  # never a formula
    assert row["Håndteret af"] == "byg"
    assert row["Håndteret"][:4].isdigit() and row["Håndteret"].endswith(("CET", "CEST"))
    assert row["Status"] == "Journaliseret" and row["Reference"] == bo
    english = login(base, "byg")
    english.get("/lang/en")
    head = english.get("/export.csv").content.decode("utf-8-sig").splitlines()[0]
    assert head.startswith("Received;Mailbox;Sender;Sender's name") and "Handled by" in head


# -- the audit log (issue 24.12) ----------------------------------------------------------------


def test_a_dpo_reads_the_audit_log_and_statistics_and_no_mail(site):
    _, base, engine = site
    dpo = login(base, "dpo")
    first = dpo.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/audit"
    some = ids(engine)[0]
    for path in (f"/mail/{some}", f"/mail/{some}/original.eml", f"/mail/{some}/text"):
        refused = dpo.get(path)
        assert refused.status_code == 403 and some not in refused.text.split("<main")[1]
    for path in ("/export.csv", "/health", f"/mail/{some}/answer"):
        assert dpo.get(path).status_code == 403
    token = csrf(dpo.get("/audit").text)
    form = {"csrf": token, "action": "journaled", "id": [some], "back": "/"}
    assert dpo.post("/bulk", data=form).status_code == 403
    assert dpo.post(f"/mail/{some}/mark", data={"csrf": token, "state": "open"}).status_code == 403
    stats = dpo.get("/statistics")
    assert stats.status_code == 200
    assert "byggesag" in stats.text and "borgerservice" in stats.text  # every mailbox, counts
    page = dpo.get("/audit")
    assert page.status_code == 200 and "Revisionslog" in page.text
    assert 'href="/audit"' in page.text and 'href="/health"' not in page.text
    assert "bo@firma.example" not in page.text and "Bo Holm" not in page.text  # no mail
    assert login(base, "bs").get("/audit").status_code == 403
    assert login(base, "bs").get("/audit.csv").status_code == 403
    assert dpo.post("/logout", data={"csrf": token}).status_code == 303


def test_the_audit_log_filters_by_user_action_mailbox_and_date(site):
    _, base, engine = site
    bo = _id_of(engine, "bo@firma.example")
    aase = _id_of(engine, "aase@borger.example")
    login(base, "byg").get(f"/mail/{bo}")
    login(base, "bs").get(f"/mail/{aase}")
    admin = login(base, "admin")
    page = admin.get("/audit", params={"actor": "byg", "action": "view"})
    assert page.status_code == 200
    assert bo in page.text and aase not in page.text and "så mailen" in page.text
    boxes = admin.get("/audit", params={"mailbox": "borgerservice"}).text
    assert aase in boxes and bo not in boxes
    today = datetime.now(UTC).date().isoformat()
    dated = admin.get("/audit", params={"since": today, "until": today, "actor": "bs"}).text
    assert aase in dated
    assert bo not in admin.get("/audit", params={"until": "2000-01-01"}).text
    exported = admin.get("/audit.csv", params={"actor": "byg", "action": "view"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0][:4] == ["Tidspunkt", "Bruger", "Handling", "Kode"]
    assert {r[1] for r in lines[1:]} == {"byg"} and {r[3] for r in lines[1:]} == {"view"}
    assert any(r[4] == bo and r[5] == "byggesag" for r in lines[1:])
    with engine.connect() as c:
        read = c.execute(
            select(audit_log.c.action, audit_log.c.detail)
            .where(audit_log.c.actor == "admin", audit_log.c.action.like("audit-%"))
            .order_by(audit_log.c.id)
        ).all()
    assert ("audit-view", {"actor": "byg", "action": "view", "page": 1}) in [tuple(r) for r in read]
    assert ("audit-export", {"actor": "byg", "action": "view", "rows": len(lines) - 1}) in [
        tuple(r) for r in read
    ]
    # Reading the log is itself on the page, in words.
    again = admin.get("/audit", params={"actor": "admin", "action": "audit-export"}).text
    assert "hentede revisionsloggen" in again


def test_audit_cells_are_cleaned_and_formula_safe(site):
    _, base, engine = site
    with engine.begin() as c:
        c.execute(
            insert(audit_log).values(
                at=datetime.now(UTC),
                actor="=cmd|' /C calc'!A0",
                action="view",
                target=None,
                detail={"client": "x\u202ey\x00"},
            )
        )
    admin = login(base, "admin")
    page = admin.get("/audit", params={"action": "view"}).text
    assert "\u202e" not in page and "\x00" not in page and "x⟨RLO⟩y␀" in page
    text = admin.get("/audit.csv").content.decode("utf-8-sig")
    assert "\u202e" not in text and "\x00" not in text
    assert "'=cmd|' /C calc'!A0" in text


@pytest.mark.parametrize(
    ("path", "danish", "english"),
    [
        ("/audit?actor=ingen-saadan", "Ukendt værdi", "Unknown value"),
        ("/audit?action=drop%20table", "Ukendt værdi", "Unknown value"),
        ("/audit?mailbox=%00", "Ukendt værdi", "Unknown value"),
        ("/audit?since=2026-02-30", "Datoen findes ikke", "No such date"),
        ("/audit?since=2026-12-31&until=2026-01-01", "før fra-datoen", "before the from date"),
        ("/audit?page=0", "Siden findes ikke", "No such page"),
        ("/audit?page=" + "9" * 400, "Siden findes ikke", "No such page"),
        ("/audit.csv?until=99999-01-01", "Datoen findes ikke", "No such date"),
        ("/?status=answered%00", "Ukendt værdi", "Unknown value"),
        ("/?status=hel", "Ukendt værdi", "Unknown value"),
        ("/export.csv?status=nope", "Ukendt værdi", "Unknown value"),
    ],
)
def test_new_query_parameters_are_checked_and_said_in_words(site, path, danish, english):
    _, base, _ = site
    client = login(base, "admin")
    for lang, words in (("da", danish), ("en", english)):
        client.get(f"/lang/{lang}")
        answer = client.get(path)
        assert answer.status_code == 400, (lang, answer.text[-600:])
        assert words in answer.text and 'role="alert"' in answer.text
        assert "Traceback" not in answer.text
    client.get("/lang/da")


def test_every_new_page_is_in_both_languages_without_codes(site):
    from gateway.web.i18n import MISSING
    from tests.test_web import CODES

    _, base, _ = site
    admin = login(base, "admin")
    for lang in ("da", "en"):
        admin.get(f"/lang/{lang}")
        pages = [admin.get(p).text for p in ("/", "/audit", "/?status=held", "/statistics")]
        pages += [login(base, "dpo").get("/audit").text]
        for html in pages:
            visible = re.sub(r"<[^>]+>", " ", html)
            assert not CODES.search(visible), (lang, CODES.search(visible))
    admin.get("/lang/da")
    assert MISSING == set()


def test_the_role_check_takes_a_dpo_and_refuses_other_roles(tmp_path):
    """Migration 0009 rebuilt the users table's check on SQLite: dpo is a role, boss not."""
    from gateway.store import migrate
    from gateway.store.engine import make_engine
    from gateway.store.tables import users

    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    migrate.upgrade(engine)
    with engine.begin() as c:
        for name, role in (("a", "admin"), ("d", "dpo")):
            add_user(c, name, role=role, mailboxes=[], password_hash=None, actor="t")
        with pytest.raises(Exception, match=r"CHECK|check"):
            c.execute(
                users.insert().values(
                    name="x",
                    role="boss",
                    mailboxes=[],
                    created_at=datetime.now(UTC),
                    disabled=False,
                )
            )
    engine.dispose()


# -- /metrics (issue 24.13) ---------------------------------------------------------------------


def _token_file(folder: Path, mode: int) -> Path:
    path = folder / "metrics-token"
    path.write_text("k" * 40 + "\n")
    path.chmod(mode)
    return path


def test_metrics_token_file_must_be_private_and_a_token(tmp_path):
    readable = _token_file(tmp_path, 0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        load_settings({"metrics_token_file": str(readable)}, environ={})
    readable.chmod(0o600)
    assert load_settings({"metrics_token_file": str(readable)}, environ={}).metrics_token == (
        "k" * 40
    )
    readable.write_text("short")
    with pytest.raises(SettingsError, match="at least 16"):
        load_settings({"metrics_token_file": str(readable)}, environ={})
    with pytest.raises(SettingsError, match="metrics_listen"):
        load_settings({"metrics_listen": "nowhere"}, environ={})
    assert Settings(metrics_listen="127.0.0.1:9100").metrics_address == ("127.0.0.1", 9100)


def test_metrics_on_an_address_of_its_own_behind_a_token(make_gateway, tmp_path):
    gw = make_gateway(metrics_listen="127.0.0.1:0", metrics_token_file=_token_file(tmp_path, 0o600))
    web = f"http://127.0.0.1:{gw.gateway.web.port}"
    assert gw.gateway.metrics_web is not None
    metrics = f"http://127.0.0.1:{gw.gateway.metrics_web.port}/metrics"
    assert httpx.get(f"{web}/metrics").status_code == 404  # not on the staff page's address
    assert httpx.get(f"{web}/healthz").status_code == 200
    refused = httpx.get(metrics)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert "postvagt_" not in refused.text
    wrong = httpx.get(metrics, headers={"Authorization": "Bearer " + "x" * 40})
    assert wrong.status_code == 401
    ok = httpx.get(metrics, headers={"Authorization": "Bearer " + "k" * 40})
    assert ok.status_code == 200 and "postvagt_" in ok.text
    assert ok.headers["content-security-policy"].startswith("default-src 'self'")
    assert httpx.get(metrics.replace("/metrics", "/")).status_code == 404  # nothing else there


def test_metrics_behind_a_token_on_the_staff_page(make_gateway, tmp_path):
    gw = make_gateway(metrics_token_file=_token_file(tmp_path, 0o600))
    web = f"http://127.0.0.1:{gw.gateway.web.port}"
    assert httpx.get(f"{web}/metrics").status_code == 401
    token = {"Authorization": "Bearer " + "k" * 40}
    assert httpx.get(f"{web}/metrics", headers=token).status_code == 200
    plain = make_gateway(data_dir=tmp_path / "other")
    assert httpx.get(f"http://127.0.0.1:{plain.gateway.web.port}/metrics").status_code == 200
