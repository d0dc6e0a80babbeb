"""Serviceplatformen's SF1601 for one municipality, through python-serviceplatformen: the
registration look-up (PostForespoerg) and sending (KombiPostAfsend: MeMo, or a letter for the
print service), KOMBIT's tokens, and failures explained without personal data.

All calls block (requests): callers run them in a thread. The look-up carries the CPR number
in its URL (SF1601's design), so nothing here logs a URL or an exception's text.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import requests
from python_serviceplatformen import digital_post as sf1601
from python_serviceplatformen.authentication import KombitAccess, Token, _extract_first_certificate
from python_serviceplatformen.date_helper import format_datetime
from python_serviceplatformen.models import message as memo
from python_serviceplatformen.models import physical_mail as physical
from python_serviceplatformen.models.xml_util import dataclass_to_xml

from gateway.act.journal import hide_digits

# The entity ids KOMBIT's token service issues tokens for (python-serviceplatformen's).
LOOKUP_SERVICE = "http://entityid.kombit.dk/service/postforespoerg/1"
SEND_SERVICE = "http://entityid.kombit.dk/service/kombipostafsend/1"


class _Access(KombitAccess):
    """KombitAccess, pointed at one stand-in address when ``base_url`` is given (tests).

    The package takes Serviceplatformen's address from ``environment`` but has the token
    services' addresses written into its functions; so with a stand-in the two token calls
    are made here, with the package's payloads, against the stand-in. Without one, the
    package's own code runs unchanged."""

    def __init__(self, cvr: str, cert_path: str, test: bool, base_url: str | None) -> None:
        super().__init__(cvr, cert_path, test=test)
        self._base = base_url.rstrip("/") + "/" if base_url else None
        if self._base:
            self.environment = self._base

    def get_saml_token(self, entity_id: str) -> str:
        if self._base is None:
            return super().get_saml_token(entity_id)
        cached = self._saml_tokens.get(entity_id)
        if cached and datetime.now() < cached.expiry_time:
            return cached.value
        payload = {
            "TokenType": "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
            "RequestType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
            "KeyType": "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey",
            "AnvenderKontekst": {"Cvr": self.cvr},
            "UseKey": _extract_first_certificate(self.cert_path),
            "AppliesTo": {"EndpointReference": {"Address": entity_id}},
            "OnBehalfOf": None,
        }
        url = urllib.parse.urljoin(self._base, "runtime/api/rest/wstrust/v1/issue")
        answer = requests.post(url, json=payload, cert=self.cert_path, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        expiry = datetime.strptime(body["Lifetime"], "%m/%d/%Y %H:%M:%S") - timedelta(minutes=5)
        self._saml_tokens[entity_id] = Token(body["RequestedSecurityToken"]["Assertion"], expiry)
        return self._saml_tokens[entity_id].value

    def get_access_token(self, entity_id: str) -> str:
        if self._base is None:
            return super().get_access_token(entity_id)
        cached = self._access_tokens.get(entity_id)
        if cached and datetime.now() < cached.expiry_time:
            return cached.value
        saml = self.get_saml_token(entity_id)
        url = urllib.parse.urljoin(self._base, "service/AccessTokenService_1/token")
        answer = requests.post(url, data={"saml-token": saml}, cert=self.cert_path, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        expiry = datetime.now() + timedelta(seconds=body["expires_in"] - 300)
        self._access_tokens[entity_id] = Token(
            f"{body['token_type']} {body['access_token']}", expiry
        )
        return self._access_tokens[entity_id].value


class Serviceplatformen:
    """SF1601 for one municipality: registration look-up and sending (blocking calls)."""

    def __init__(
        self, certificate: str, cvr: str, *, production: bool, base_url: str | None = None
    ) -> None:
        self.cvr = cvr
        self._access = _Access(cvr, certificate, test=not production, base_url=base_url)

    def is_registered(self, number: str) -> bool:
        """Whether the CPR (10 digits) or CVR (8 digits) number receives Digital Post."""
        return bool(
            self._fresh_tokens_on_401(
                lambda: sf1601.is_registered(number, "digitalpost", self._access)
            )
        )

    def send(self, message: memo.Message) -> str:
        return str(self._fresh_tokens_on_401(lambda: send_memo(message, self._access)))

    def send_letter(self, letter: physical.ForsendelseI) -> str:
        # The package's own call: a letter's XML is ASCII (the PDF travels in base64).
        return str(
            self._fresh_tokens_on_401(lambda: sf1601.send_physical_mail(letter, self._access))
        )

    def _fresh_tokens_on_401(self, call: Callable[[], Any]) -> Any:
        """A 401 means a cached token was expired or revoked before its stated time: the
        tokens are dropped, so the next try (the outbox's retry) fetches new ones."""
        try:
            return call()
        except requests.HTTPError as e:
            if e.response is not None and e.response.status_code == 401:
                self._access._saml_tokens.clear()
                self._access._access_tokens.clear()
            raise


def send_memo(message: memo.Message, access: KombitAccess) -> str:
    """python-serviceplatformen's ``send_message``, with one change: the body goes out as
    UTF-8 bytes. The package posts the XML as a ``str``, which http.client encodes as
    Latin-1 under a declaration saying UTF-8, so a title like "Svar på din henvendelse" or
    a sender named "Københavns Kommune" arrives garbled or is refused (found against the
    stand-in; tests/test_digital_post.py keeps it found)."""
    url = urllib.parse.urljoin(access.environment, "service/KombiPostAfsend_1/memos")
    transaction = str(uuid.uuid4())
    headers = {
        "X-TransaktionsId": transaction,
        "X-TransaktionsTid": format_datetime(datetime.now()),
        "authorization": access.get_access_token(SEND_SERVICE),
        "Content-Type": "application/xml; charset=utf-8",
    }
    element = ElementTree.Element("kombi_request")
    ElementTree.SubElement(element, "KombiValgKode").text = "Digital Post"
    element.append(dataclass_to_xml(message))
    body = ElementTree.tostring(element, encoding="utf-8")
    answer = requests.post(url, headers=headers, data=body, cert=access.cert_path, timeout=10)
    answer.raise_for_status()
    return transaction


def explain(error: BaseException) -> tuple[str, bool]:
    """A failed call in a line without personal data, and whether trying again may help."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        title = ""
        try:
            body = error.response.json()
            title = (
                str(body.get("title") or body.get("detail") or "") if isinstance(body, dict) else ""
            )
        except ValueError:
            pass
        # An error text may quote the recipient's number in any spelling (150289-3041,
        # 150289 3041): every digit is masked, as in masked subjects.
        title = hide_digits(title)[:200]
        # 401: a cached access token expired or was revoked early; the next try fetches new
        # ones (the caller drops its cache), so it is not final.
        retry = status >= 500 or status in (401, 408, 429)
        return f"HTTP {status}{': ' + title if title else ''}", retry
    if isinstance(error, requests.Timeout):
        return "no answer in time (timeout)", True
    if isinstance(error, requests.ConnectionError):
        return "Serviceplatformen not reachable", True
    return f"internal error: {type(error).__name__}", True


def duplicate(error: BaseException) -> bool:
    return (
        isinstance(error, requests.HTTPError)
        and error.response is not None
        and error.response.status_code == 409
    )
