"""The staff page in a real headless Chromium (Debian's, driven by Playwright through
executable_path): log in, filter, open an entry, journal it, see the audit entry — and a
corpus of hostile subjects and addresses that must execute nothing."""

from __future__ import annotations

import random
import shutil

import pytest
from sqlalchemy import create_engine

from gateway.store.users import add_user
from gateway.web.auth import hash_password
from tests import fictional
from tests.test_web import PASSWORD, send, staff_site

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

HOSTILE_SUBJECTS = [
    "<script>window.__xss=1;alert(1)</script>",
    "<svg onload=alert(2)><animate onbegin=alert(3) attributeName=x dur=1s>",
    '<a href="javascript:alert(4)">klik</a>',
    "<img src=x onerror=alert(5)>",
    '"><iframe src=javascript:alert(6)>',
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    gw, upstream = staff_site(tmp_path_factory.mktemp("browser"))
    settings = gw.settings
    rng = random.Random(14)
    # byggesag shows a digit-masked subject: the hostile subjects reach the page there.
    for n, subject in enumerate(HOSTILE_SUBJECTS):
        send(
            gw.port,
            f'"<script>alert({n})</script>"@borger.example',
            "byggesag@kommune.example",
            subject,
            f"CPR-nummer {fictional.cpr(rng)}, bilag <b>javascript:alert(7)</b>",
        )
    send(
        gw.port,
        "anna@borger.example",
        "borgerservice@kommune.example",
        "Ansøgning",
        f"Mit CPR-nummer er {fictional.cpr(rng)}.",
    )
    engine = create_engine(settings.database)
    with engine.begin() as c:
        add_user(
            c,
            "sagsbehandler",
            role="staff",
            mailboxes=["borgerservice", "byggesag"],
            password_hash=hash_password(PASSWORD),
            actor="test",
        )
    engine.dispose()
    yield f"http://127.0.0.1:{gw.gateway.web.port}"
    gw.close()
    upstream.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def test_log_in_filter_open_and_journal(served, browser):
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(served + "/")
    assert page.url.startswith(served + "/login")
    page.get_by_label("Brugernavn").fill("sagsbehandler")
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    assert page.get_by_role("heading", name="Markerede mails").is_visible()
    page.get_by_label("Postkasse").select_option("borgerservice")
    page.get_by_role("button", name="Filtrér").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 1
    rows.first.get_by_role("link").click()
    assert page.get_by_role("heading", name="Detaljer").is_visible()
    page.get_by_label("Sagsnummer").fill("27.12.00-G01-1-23")
    page.get_by_role("button", name="Markér som journaliseret").click()
    assert page.get_by_role("status").inner_text() == "Gemt."
    history = page.locator("ol.history").inner_text()
    assert "sagsbehandler: mark-journaled (27.12.00-G01-1-23)" in history
    assert "sagsbehandler: view" in history
    page.get_by_role("link", name="Markerede mails").click()
    page.get_by_label("Status").select_option("journaled")
    page.get_by_role("button", name="Filtrér").click()
    assert page.locator("tbody tr").count() == 1
    assert dialogs == []


def test_hostile_content_executes_nothing(served, browser):
    page = browser.new_page()
    dialogs: list[str] = []
    blocked: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(served + "/login")
    page.get_by_label("Brugernavn").fill("sagsbehandler")
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.goto(served + "/?mailbox=byggesag")
    links = [a.get_attribute("href") for a in page.locator("tbody a").all()]
    assert len(links) == len(HOSTILE_SUBJECTS)
    for href in links:
        page.goto(served + href)
        text = page.locator("main").inner_text()
        assert (
            "<script>" in text
            or "<svg" in text
            or "<a href" in text
            or "<img" in text
            or ("<iframe" in text)
        )  # shown as text …
        assert page.locator("main script, main svg, main iframe, main img").count() == 0
        assert page.evaluate("window.__xss === undefined")  # … never run
        assert page.locator("a[href^='javascript:']").count() == 0
    assert dialogs == []
