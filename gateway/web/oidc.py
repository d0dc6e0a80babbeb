"""Single sign-on with OpenID Connect (Entra ID, AD FS, Keycloak), built on Authlib.

The authorisation code flow with PKCE (S256): ``/oidc/login`` sends the browser to the
provider with a fresh state, nonce and code verifier kept in the (signed) session cookie;
``/oidc/callback`` checks the state, exchanges the code with the client secret and the
verifier, and verifies the ID token — signature by the provider's published keys (JWKS, from
its discovery document), issuer, audience, expiry and nonce — before anyone is logged in.

Who may do what comes from the group claim alone, mapped in the settings: a member of an
``oidc_admin_groups`` group is an admin, a member of ``oidc_mailbox_groups`` groups sees their
mailboxes; a user in no mapped group is refused. The account is made or brought up to date at
every sign-on (gateway.store.users.sign_on); one disabled here stays disabled. From then on
the session is the page's ordinary one (session version, CSRF token, SameSite=Lax cookie).
Logging out ends it on the server and then, where the provider has an end_session_endpoint,
sends the browser there. Every sign-on, refusal and logout is audited.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.store import review
from gateway.store.users import sign_on
from gateway.web import login, throttle
from gateway.web.common import ctx, render, safe_next, start_session, words

log = logging.getLogger("postvagt.web")

# Clock difference allowed between us and the provider when checking exp and iat.
LEEWAY = 60
NEXT_KEY = "oidc_next"


class ProviderError(Exception):
    """The provider could not be asked (discovery failed or named another issuer)."""


@dataclass
class SingleSignOn:
    """The OpenID provider as the staff page sees it (settings oidc_*)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    after_logout: str
    scopes: list[str]
    username_claim: str
    groups_claim: str
    admin_groups: list[str]
    mailbox_groups: dict[str, list[str]]
    display_name: str
    hide_password_login: bool = False
    dpo_groups: list[str] = field(default_factory=list)
    client: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        oauth = OAuth()
        self.client = oauth.register(
            "oidc",
            client_id=self.client_id,
            client_secret=self.client_secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": " ".join(self.scopes),
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "timeout": 10,
            },
        )

    @property
    def origin(self) -> str:
        """The provider's origin, which the page's forms may lead to (the logout)."""
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched once; it must name our issuer exactly (OpenID
        Connect Discovery 1.0, section 4.3), else nothing it says is used."""
        try:
            metadata: dict[str, Any] = await self.client.load_server_metadata()
        except (httpx2.HTTPError, ValueError) as e:
            raise ProviderError(f"discovery failed: {type(e).__name__}") from e
        named = metadata.get("issuer")
        if named != self.issuer:
            self.client.server_metadata.clear()  # asked again next time
            raise ProviderError(f"discovery names issuer {named!r}, not {self.issuer!r}")
        return metadata

    def claims_options(self) -> dict[str, Any]:
        """What the ID token's claims must be, beyond Authlib's own checks (exp, iat,
        nonce, azp, at_hash): our issuer and our client among its audience."""
        return {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }

    async def verify(self, token: dict[str, Any], nonce: str) -> Mapping[str, Any]:
        """The ID token's claims once verified as the callback does: signature (JWKS),
        issuer, audience, expiry, nonce. Raises JoseError or AuthlibBaseError."""
        await self.metadata()
        claims = await self.client.parse_id_token(
            token, nonce=nonce, claims_options=self.claims_options(), leeway=LEEWAY
        )
        if claims is None:
            raise MismatchingStateError(description="no id_token in the token response")
        return dict(claims)

    def grants(self, groups: object) -> tuple[str, list[str]] | None:
        """Role and mailboxes from the group claim; None: no group is mapped."""
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            return None
        names = {g for g in groups if isinstance(g, str)}
        if names & set(self.admin_groups):
            return "admin", []
        if names & set(self.dpo_groups):
            return "dpo", []  # the audit log, never mail: mailbox groups add nothing
        mailboxes = sorted({m for g in names for m in self.mailbox_groups.get(g, [])})
        return ("staff", mailboxes) if mailboxes else None

    async def end_session_url(self) -> str | None:
        """RP-initiated logout at the provider, back to our login page; None where the
        provider offers no end_session_endpoint."""
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except ProviderError:
            return None
        if not isinstance(endpoint, str) or not endpoint.startswith(self.origin + "/"):
            return None
        query = urlencode(
            {"client_id": self.client_id, "post_logout_redirect_uri": self.after_logout}
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def sso(request: Request) -> SingleSignOn | None:
    found = getattr(request.app.state, "sso", None)
    return found if isinstance(found, SingleSignOn) else None


def _code(value: object) -> str:
    """A provider's error code for the audit log: short, and nothing but a code."""
    text = str(value or "")[:40]
    return text if re.fullmatch(r"[A-Za-z0-9_.-]*", text) else "(odd)"


async def _refuse(
    request: Request, status: int, message: str, actor: str, detail: dict[str, Any]
) -> Response:
    context = ctx(request)
    client = throttle.client_address(request, context.trusted_proxies)
    await context.store.run(
        review.audit, actor, "login-refused", None, {"via": "oidc", "client": client, **detail}
    )
    request.session.pop(NEXT_KEY, None)
    return render(request, "login.html", status, error=message, next="/")


async def start(request: Request) -> Response:
    """GET /oidc/login: to the provider, with state, nonce and PKCE kept in the session."""
    provider = sso(request)
    if provider is None:
        return render(request, "error.html", 404, message="404")
    t = words(request)
    try:
        await provider.metadata()
        request.session[NEXT_KEY] = safe_next(request.query_params.get("next"))
        response: Response = await provider.client.authorize_redirect(
            request, provider.redirect_uri
        )
        return response
    except (ProviderError, httpx2.HTTPError, RuntimeError) as e:
        log.warning("single sign-on: %s: %s", provider.issuer, e)
        message = t["sso_unavailable"].format(provider.display_name)
        return render(request, "login.html", 503, error=message, next="/")


async def callback(request: Request) -> Response:
    """GET /oidc/callback: the provider's answer; a verified ID token logs the user in."""
    provider = sso(request)
    if provider is None:
        return render(request, "error.html", 404, message="404")
    t = words(request)
    failed = t["sso_failed"].format(provider.display_name)
    if request.query_params.get("error"):
        error = _code(request.query_params.get("error"))
        return await _refuse(request, 401, failed, "(oidc)", {"reason": "provider", "error": error})
    answered_by = request.query_params.get("iss")
    if answered_by is not None and answered_by != provider.issuer:
        # RFC 9207: the answer names who sent it; another provider's is not ours to take.
        return await _refuse(request, 401, failed, "(oidc)", {"reason": "iss"})
    try:
        await provider.metadata()
        token = await provider.client.authorize_access_token(
            request, claims_options=provider.claims_options(), leeway=LEEWAY
        )
    except MismatchingStateError:
        return await _refuse(request, 400, failed, "(oidc)", {"reason": "state"})
    except (
        AuthlibBaseError,
        JoseError,
        ProviderError,
        httpx2.HTTPError,
        ValueError,
        KeyError,
        RuntimeError,  # Authlib's word for a discovery document that lacks an endpoint
    ) as e:
        log.warning("single sign-on refused: %s", e)
        why = {"reason": "token", "error": type(e).__name__}
        return await _refuse(request, 401, failed, "(oidc)", why)
    claims = token.get("userinfo")
    if not claims:
        return await _refuse(request, 401, failed, "(oidc)", {"reason": "no-id-token"})
    name = claims.get(provider.username_claim)
    if (
        not isinstance(name, str)
        or not re.fullmatch(r"[^\s]{1,255}", name)
        or not name.isprintable()
    ):
        return await _refuse(request, 401, failed, "(oidc)", {"reason": "no-user-name"})
    granted = provider.grants(claims.get(provider.groups_claim))
    if granted is None:
        groups = claims.get(provider.groups_claim)
        shown = [g for g in groups if isinstance(g, str)][:20] if isinstance(groups, list) else []
        message = t["sso_no_group"].format(provider.display_name)
        return await _refuse(request, 403, message, name, {"reason": "no-group", "groups": shown})
    role, mailboxes = granted
    context = ctx(request)
    outcome = await context.store.run(sign_on, name, role=role, mailboxes=mailboxes)
    if outcome.user is None:
        message = t[f"sso_refused_{outcome.outcome.replace('-', '_')}"]
        return await _refuse(request, 403, message, name, {"reason": outcome.outcome})
    target = safe_next(request.session.get(NEXT_KEY))
    start_session(request, outcome.user, sso=True)
    client = throttle.client_address(request, context.trusted_proxies)
    signed_on = {"client": client, "via": "oidc", "role": role, "mailboxes": mailboxes}
    await context.store.run(review.audit, outcome.user.name, "login", None, signed_on)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    """POST /logout: the page's own logout (every session of the account ends, audited);
    a single sign-on session then goes on to the provider's end_session_endpoint."""
    provider = sso(request)
    was_sso = request.session.get("sso") is True
    response = await login.logout(request)
    ended = response.status_code == 303 and response.headers.get("location") == "/login"
    if provider is None or not was_sso or not ended:
        return response
    target = await provider.end_session_url()
    return RedirectResponse(target, status_code=303) if target else response


ROUTES = [
    Route("/logout", logout, methods=["POST"]),  # login.logout, then the provider's
    Route("/oidc/login", start, methods=["GET"]),
    Route("/oidc/callback", callback, methods=["GET"]),
]
