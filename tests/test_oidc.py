"""Single sign-on with OpenID Connect (gateway.web.oidc), end to end against a real OpenID
Provider — panva's OpenID-certified oidc-provider (tests/oidc, installed by scripts/bootstrap
with npm ci) — in Debian's Chromium: users log in through the provider's own login form and
land with the role and mailboxes their groups give; a user in no mapped group is refused;
logging out ends the session on the server and at the provider; the local break-glass login
goes on working. The ID token's checks are tested on tokens signed by a key the test holds:
a wrong issuer, audience, nonce, signature or algorithm, or an expired token, is refused."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from playwright.sync_api import expect
from pydantic import ValidationError
from sqlalchemy import create_engine, select

from gateway.server import build_single_sign_on
from gateway.settings import Settings
from gateway.store.tables import audit_log
from gateway.store.users import add_user, disable_user
from gateway.web.auth import hash_password
from gateway.web.oidc import SingleSignOn
from tests import fictional
from tests.servers import RunningGateway, Upstream, free_port
from tests.test_web import PASSWORD, POLICY, send

PROVIDER = Path(__file__).resolve().parent / "oidc"
CHROMIUM = shutil.which("chromium")
NODE = shutil.which("node")
CLIENT_ID = "postvagt-test"
CLIENT_SECRET = "en-hemmelighed-kun-til-test"
SHOTS = (
    Path(os.environ["CI_ARTIFACTS"]) / "screenshots"
    if os.environ.get("CI_ARTIFACTS")
    else Path(tempfile.gettempdir()) / "postvagt-screenshots"
)
GROUPS = {
    "oidc_admin_groups": ["postvagt-admins"],
    "oidc_dpo_groups": ["postvagt-dpo"],
    "oidc_mailbox_groups": {
        "postvagt-borgerservice": ["borgerservice"],
        "postvagt-byg": ["byggesag"],
    },
}


def _secret_file(folder: Path) -> Path:
    path = folder / "oidc-secret"
    path.write_text(CLIENT_SECRET + "\n")
    path.chmod(0o600)
    return path


# -- the ID token's checks, on tokens signed by a key the test holds ---------------------------

ISSUER = "https://idp.kommune.example/realms/staff"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, another key
NONCE = "n-0S6_WzA2Mj"


def _offline_provider(tmp_path: Path) -> SingleSignOn:
    settings = Settings(
        data_dir=tmp_path,
        oidc_issuer=ISSUER,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret_file=_secret_file(tmp_path),
        **GROUPS,  # type: ignore[arg-type]
    )
    provider = build_single_sign_on(settings)
    assert provider is not None
    # The discovery document as fetched, with the keys inline: nothing is asked on the network.
    provider.client.server_metadata.update(
        {
            "issuer": ISSUER,
            "jwks": KeySet([KEY]).as_dict(private=False),
            "id_token_signing_alg_values_supported": ["RS256"],
            "_loaded_at": time.time(),
        }
    )
    return provider


def _id_token(key: Any = KEY, alg: str = "RS256", **changes: Any) -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "a1b2c3",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
        "preferred_username": "anne",
        "groups": ["postvagt-admins"],
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return {"id_token": jwt.encode({"alg": alg, "kid": "k1"}, claims, key)}


def test_a_good_id_token_is_accepted(tmp_path):
    provider = _offline_provider(tmp_path)
    claims = asyncio.run(provider.verify(_id_token(), NONCE))
    assert claims["preferred_username"] == "anne"
    assert provider.grants(claims["groups"]) == ("admin", [])


NOW = int(time.time())
REFUSED = [
    ("wrong issuer", {"iss": "https://evil.example/realms/staff"}, "'iss'"),
    ("no issuer", {"iss": None}, "'iss'"),
    ("wrong audience", {"aud": "another-client"}, "'aud'"),
    ("audience of others only", {"aud": ["another-client"], "azp": CLIENT_ID}, "'aud'"),
    ("azp names another client", {"aud": [CLIENT_ID, "x"], "azp": "x"}, "'azp'"),
    ("expired", {"exp": NOW - 600, "iat": NOW - 900}, "expired"),
    ("no expiry", {"exp": None}, "'exp'"),
    ("not valid yet", {"nbf": NOW + 600}, "not yet valid"),
    ("wrong nonce", {"nonce": "replayed"}, "'nonce'"),
    ("no nonce", {"nonce": None}, "'nonce'"),
    ("no subject", {"sub": None}, "'sub'"),
]


@pytest.mark.parametrize(("case", "changes", "why"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_bad_id_token_is_refused(tmp_path, case, changes, why):
    provider = _offline_provider(tmp_path)
    with pytest.raises(JoseError, match=why):
        asyncio.run(provider.verify(_id_token(**changes), NONCE))


def test_a_token_signed_by_another_key_is_refused(tmp_path):
    provider = _offline_provider(tmp_path)
    with pytest.raises(JoseError, match="bad_signature"):
        asyncio.run(provider.verify(_id_token(key=OTHER_KEY), NONCE))


def test_a_token_with_a_symmetric_or_no_algorithm_is_refused(tmp_path):
    from joserfc.jwk import OctKey

    provider = _offline_provider(tmp_path)
    forged = _id_token(key=OctKey.import_key(b"a shared secret of thirty-two b!"), alg="HS256")
    with pytest.raises(JoseError):
        asyncio.run(provider.verify(forged, NONCE))
    _, payload, _ = _id_token()["id_token"].split(".")
    unsigned = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ." + payload + "."
    with pytest.raises(JoseError):
        asyncio.run(provider.verify({"id_token": unsigned}, NONCE))


GRANTS = [
    (["postvagt-admins"], ("admin", [])),
    (["postvagt-borgerservice", "kantine"], ("staff", ["borgerservice"])),
    (["postvagt-byg", "postvagt-borgerservice"], ("staff", ["borgerservice", "byggesag"])),
    (["postvagt-byg", "postvagt-admins"], ("admin", [])),
    (["postvagt-dpo", "postvagt-byg"], ("dpo", [])),
    (["postvagt-dpo", "postvagt-admins"], ("admin", [])),
    ("postvagt-byg", ("staff", ["byggesag"])),  # one group as a string (AD FS may)
    (["kantine"], None),
    ([], None),
    (None, None),
    ([{"name": "postvagt-admins"}], None),
]


@pytest.mark.parametrize(("groups", "expected"), GRANTS)
def test_groups_map_to_role_and_mailboxes(tmp_path, groups, expected):
    assert _offline_provider(tmp_path).grants(groups) == expected


SETTINGS_REFUSED = [
    ({"oidc_issuer": "http://idp.kommune.example"}, "https"),
    ({"oidc_client_id": None}, "oidc_client_id"),
    (
        {"oidc_admin_groups": [], "oidc_dpo_groups": [], "oidc_mailbox_groups": {}},
        "no group is mapped",
    ),
    ({"oidc_scopes": ["profile"]}, "openid"),
    ({"oidc_issuer": None, "oidc_hide_password_login": True}, "nobody could log in"),
]


@pytest.mark.parametrize(("changes", "message"), SETTINGS_REFUSED)
def test_settings_that_cannot_work_are_refused(tmp_path, changes, message):
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "oidc_issuer": ISSUER,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret_file": _secret_file(tmp_path),
        **GROUPS,
    }
    values.update(changes)
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_a_client_secret_others_can_read_is_refused(tmp_path):
    secret = _secret_file(tmp_path)
    secret.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        Settings(
            data_dir=tmp_path,
            oidc_issuer=ISSUER,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret_file=secret,
            **GROUPS,  # type: ignore[arg-type]
        )


# -- a real OpenID Provider and a gateway that trusts it ----------------------------------------


class RealProvider:
    """tests/oidc/provider.mjs: oidc-provider on a free loopback port."""

    def __init__(self, redirect_uri: str, after_logout: str) -> None:
        if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
            pytest.fail("tests/oidc/node_modules is missing: run scripts/bootstrap test")
        env = {
            **os.environ,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_REDIRECT_URI": redirect_uri,
            "OIDC_POST_LOGOUT_REDIRECT_URI": after_logout,
        }
        self.process = subprocess.Popen(
            [str(NODE), "provider.mjs"],
            cwd=PROVIDER,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        assert self.process.stderr is not None and self.process.stdout is not None
        threading.Thread(
            target=lambda: self.stderr.extend(self.process.stderr), daemon=True
        ).start()  # type: ignore[arg-type]
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()))
        reader.start()
        reader.join(30)
        if not ready or not ready[0]:
            self.close()
            pytest.fail(f"oidc-provider did not start: {''.join(self.stderr)[-2000:]}")
        self.issuer = json.loads(ready[0])["issuer"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real provider, and a detecting gateway that trusts it, with mail in two
    mailboxes and one local break-glass admin."""
    if NODE is None:
        pytest.fail("node is not installed: run scripts/bootstrap test")
    folder = tmp_path_factory.mktemp("oidc")
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    provider = RealProvider(f"{base}/oidc/callback", f"{base}/login")
    (folder / "policy.yaml").write_text(POLICY, encoding="utf-8")
    upstream = Upstream().start()
    settings = Settings(
        listen="127.0.0.1:0",
        web_listen=f"127.0.0.1:{web_port}",
        upstream=f"smtp://127.0.0.1:{upstream.port}",
        domains=["kommune.example"],
        data_dir=folder / "var",
        policy=folder / "policy.yaml",
        hostname="gateway.test",
        sender_checks=False,
        detect_workers=1,
        shutdown_grace=5,
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret_file=_secret_file(folder),
        oidc_scopes=["openid", "profile", "groups"],
        oidc_display_name="Testby IdP",
        **GROUPS,  # type: ignore[arg-type]
    )
    gw = RunningGateway(settings)
    rng = random.Random(24)
    for mailbox, subject in (("borgerservice", "Ansøgning"), ("byggesag", "Tegninger")):
        send(
            gw.port,
            "anna@borger.example",
            f"{mailbox}@kommune.example",
            subject,
            f"Mit CPR-nummer er {fictional.cpr(rng)}.",
        )
    engine = create_engine(settings.database)
    with engine.begin() as c:
        add_user(
            c,
            "noedadgang",
            role="admin",
            mailboxes=[],
            password_hash=hash_password(PASSWORD),
            actor="test",
        )
    yield base, engine, provider
    engine.dispose()
    gw.close()
    upstream.close()
    provider.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def _loopback_only(route) -> None:
    # The provider's pages ask for a web font; nothing leaves the machine.
    if route.request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.abort()


def _new_page(browser):
    context = browser.new_context()
    context.route("**/*", _loopback_only)
    return context, context.new_page()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in(page, base: str, name: str, start: str = "/") -> None:
    """From the staff page through the provider's own login form and consent, back."""
    page.goto(base + start)
    assert page.url.startswith(base + "/login")
    page.get_by_role("link", name="Log ind med Testby IdP").click()
    page.get_by_placeholder("Enter any login").fill(name)
    page.get_by_placeholder("and password").fill("any password: the dev form takes it")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent


def _audit(engine, action: str, actor: str | None = None) -> list[Any]:
    with engine.connect() as c:
        query = select(audit_log).where(audit_log.c.action == action)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        return list(c.execute(query.order_by(audit_log.c.id)))


def test_an_admin_logs_in_through_the_provider_and_out_again(site, browser):
    base, engine, provider = site
    context, page = _new_page(browser)
    page.goto(base + "/login")
    _shot(page, "oidc-login")
    _sign_in(page, base, "anne")
    expect(page.get_by_role("heading", name="Markerede mails")).to_be_visible()
    assert page.url == base + "/"
    expect(page.locator("tbody tr")).to_have_count(2)  # both mailboxes: an admin
    expect(page.get_by_role("button", name="Log ud (anne)")).to_be_visible()
    logins = _audit(engine, "login", "anne")
    assert logins[-1].detail["via"] == "oidc" and logins[-1].detail["role"] == "admin"
    assert _audit(engine, "user-set", "oidc")[-1].target == "anne"
    old = {c["name"]: c["value"] for c in context.cookies()}["postvagt_session"]

    page.get_by_role("button", name="Log ud (anne)").click()
    # The provider's end_session_endpoint asks, then sends the browser back to our login.
    assert page.url.startswith(provider.issuer + "/session/end")
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page.get_by_role("heading", name="Log ind")).to_be_visible()
    assert page.url == base + "/login"
    assert _audit(engine, "logout", "anne")
    # The old cookie ended on the server: a copy of it no longer opens the list.
    answer = httpx.get(base + "/", cookies={"postvagt_session": old}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    # And the provider's session ended too: signing on again asks for the login again.
    page.get_by_role("link", name="Log ind med Testby IdP").click()
    expect(page.get_by_placeholder("Enter any login")).to_be_visible()
    context.close()


def test_staff_see_only_the_mailboxes_their_group_gives(site, browser):
    base, engine, _ = site
    context, page = _new_page(browser)
    _sign_in(page, base, "bo", start="/health")
    assert page.url == base + "/health"  # where the link pointed, after the round trip
    # An account of the provider's has no password here to change.
    expect(page.get_by_role("link", name="Skift adgangskode")).to_have_count(0)
    page.get_by_role("link", name="Markerede mails").click()
    expect(page.get_by_role("heading", name="Markerede mails")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    assert "borgerservice" in rows.first.inner_text()
    options = page.get_by_label("Postkasse", exact=True).locator("option").all_inner_texts()
    assert "byggesag" not in options and "borgerservice" in options
    _shot(page, "oidc-staff-list")
    assert page.goto(base + "/mail/does-not-matter").status == 404
    assert _audit(engine, "login", "bo")[-1].detail["mailboxes"] == ["borgerservice"]
    context.close()


def test_a_user_in_no_mapped_group_is_refused(site, browser):
    base, engine, _ = site
    context, page = _new_page(browser)
    _sign_in(page, base, "carl")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("ikke med i en gruppe, der giver adgang")
    _shot(page, "oidc-refused")
    assert page.goto(base + "/").url.startswith(base + "/login")  # not logged in
    refused = _audit(engine, "login-refused", "carl")[-1]
    assert refused.detail["reason"] == "no-group" and refused.detail["groups"] == ["kantine"]
    with engine.connect() as c:
        from gateway.store.tables import users

        assert c.execute(select(users).where(users.c.name == "carl")).first() is None
    context.close()


def test_a_user_disabled_here_stays_disabled(site, browser):
    base, engine, _ = site
    context, page = _new_page(browser)
    _sign_in(page, base, "bo")
    expect(page.get_by_role("heading", name="Markerede mails")).to_be_visible()
    with engine.begin() as c:
        disable_user(c, "bo", actor="test")
    page.reload()
    assert page.url.startswith(base + "/login")  # the open session ended at once
    context.close()
    context, page = _new_page(browser)
    _sign_in(page, base, "bo")
    expect(page.get_by_role("alert")).to_contain_text("spærret")
    assert _audit(engine, "login-refused", "bo")[-1].detail["reason"] == "disabled"
    context.close()


def test_the_local_break_glass_login_still_works(site, browser):
    base, engine, _ = site
    context, page = _new_page(browser)
    page.goto(base + "/login")
    page.get_by_label("Brugernavn").fill("noedadgang")
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind", exact=True).click()
    expect(page.get_by_role("heading", name="Markerede mails")).to_be_visible()
    assert "via" not in _audit(engine, "login", "noedadgang")[-1].detail
    page.get_by_role("button", name="Log ud (noedadgang)").click()
    # A local session ends here: not sent to the provider.
    expect(page.get_by_role("heading", name="Log ind")).to_be_visible()
    assert page.url == base + "/login"
    context.close()


def test_a_callback_with_a_state_of_its_own_is_refused(site):
    base, engine, provider = site
    with httpx.Client(base_url=base) as client:
        started = client.get("/oidc/login", follow_redirects=False)
        assert started.status_code == 302
        assert started.headers["location"].startswith(provider.issuer + "/auth?")
        for part in ("code_challenge_method=S256", "code_challenge=", "nonce=", "state="):
            assert part in started.headers["location"]
        answer = client.get("/oidc/callback", params={"code": "stolen", "state": "forged"})
        assert answer.status_code == 400
        assert "lykkedes ikke" in answer.text
        assert _audit(engine, "login-refused", "(oidc)")[-1].detail["reason"] == "state"
        # RFC 9207: an answer that names another provider as its sender is not taken.
        state = dict(httpx.URL(started.headers["location"]).params)["state"]
        mixed = {"code": "x", "state": state, "iss": "https://evil.example"}
        assert client.get("/oidc/callback", params=mixed).status_code == 401
    assert _audit(engine, "login-refused", "(oidc)")[-1].detail["reason"] == "iss"


def test_the_password_form_can_be_hidden_yet_kept_for_break_glass(site, make_gateway, tmp_path):
    _, _, provider = site
    gw = make_gateway(
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret_file=_secret_file(tmp_path),
        oidc_hide_password_login=True,
        oidc_display_name="Testby IdP",
        **GROUPS,
    )
    base = f"http://127.0.0.1:{gw.gateway.web.port}"
    page = httpx.get(base + "/login").text
    assert "Log ind med Testby IdP" in page and 'name="password"' not in page
    assert 'name="password"' in httpx.get(base + "/login?local=1").text


def test_a_provider_that_names_another_issuer_or_is_down_is_not_used(site, make_gateway, tmp_path):
    """Discovery must name the issuer we were given (OpenID Connect Discovery 4.3): the same
    provider reached as localhost is refused; a closed port says the provider is away."""
    _, _, provider = site
    port = provider.issuer.rsplit(":", 1)[1]
    for issuer in (f"http://localhost:{port}", f"http://127.0.0.1:{free_port()}"):
        gw = make_gateway(
            oidc_issuer=issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret_file=_secret_file(tmp_path),
            oidc_display_name="Testby IdP",
            **GROUPS,
        )
        base = f"http://127.0.0.1:{gw.gateway.web.port}"
        answer = httpx.get(base + "/oidc/login", follow_redirects=False)
        assert answer.status_code == 503, issuer
        assert "Testby IdP svarer ikke lige nu" in answer.text
        gw.close()


SIGN_ONS = [
    # (the account before, role and mailboxes now) -> outcome, session version raised
    (None, ("staff", ["borgerservice"]), "created", False),
    (("staff", ["borgerservice"], None, False), ("staff", ["borgerservice"]), "unchanged", False),
    (("staff", ["borgerservice"], None, False), ("staff", ["byggesag"]), "updated", True),
    (("staff", ["borgerservice"], None, False), ("admin", []), "updated", True),
    (("staff", ["borgerservice"], None, True), ("admin", []), "disabled", False),
    (("admin", [], "argon2-hash", False), ("admin", []), "local-account", False),
]


@pytest.mark.parametrize(("before", "now", "outcome", "raised"), SIGN_ONS)
def test_sign_on_makes_updates_or_refuses_the_account(store, before, now, outcome, raised):
    from sqlalchemy import update

    from gateway.store.tables import users
    from gateway.store.users import sign_on

    if before is not None:
        role, boxes, password_hash, disabled = before
        store.transaction(sign_on, "anne", role=role, mailboxes=boxes)
        store.transaction(
            lambda c: c.execute(
                update(users)
                .where(users.c.name == "anne")
                .values(password_hash=password_hash, disabled=disabled)
            )
        )
    version = store.transaction(
        lambda c: c.execute(select(users.c.session_version).where(users.c.name == "anne")).scalar()
    )
    role, boxes = now
    result = store.transaction(sign_on, "anne", role=role, mailboxes=boxes)
    assert result.outcome == outcome
    if outcome in ("disabled", "local-account"):
        assert result.user is None
        return
    assert result.user is not None
    assert (result.user.role, list(result.user.mailboxes)) == (role, boxes)
    assert result.user.password_hash is None
    assert (result.user.session_version != (version or 0)) == raised
