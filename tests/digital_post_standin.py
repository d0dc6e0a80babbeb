"""A local HTTPS stand-in for Serviceplatformen's SF1601 and KOMBIT's token services, on
127.0.0.1, answering the calls python-serviceplatformen makes:

- ``POST /runtime/api/rest/wstrust/v1/issue`` (JSON): a SAML token for the CVR's certificate;
- ``POST /service/AccessTokenService_1/token`` (form ``saml-token``): an access token;
- ``POST /service/KombiPostAfsend_1/kombi`` (XML ``kombi_request`` with a ForsendelseI):
  physical mail, the letter a PDF;
- ``GET /service/PostForespoerg_1/digitalpost?cprNumber=…|cvrNumber=…``: ``{"result": bool}``;
- ``POST /service/KombiPostAfsend_1/memos`` (XML ``kombi_request`` with a MeMo, validated
  against the MeMo schema in tests/memo_schema): accepted, or a problem answer (RFC 7807
  JSON, as Serviceplatformen's REST services answer errors).

It asks for the client's certificate (mutual TLS, as Serviceplatformen does) and trusts only
the test OCES certificate. Switches: ``exempt`` numbers (not registered: physical mail),
``fail_next`` (status codes for the next sends), ``slow`` (seconds before a send answers),
``down()``/``up()`` (connection refused, then the same port again). Every MeMo received is
kept in ``received``; those accepted, by messageUUID, in ``accepted`` — a messageUUID it
already has is refused with 409, as Digital Post refuses a duplicate.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

MEMO = "https://DigitalPost.dk/MeMo-1"
FJERNPRINT = "urn:oio:fjernprint:1.0.0"
DKAL = "urn:oio:dkal:1.0.0"


def make_certificate(folder: Path, name: str, *, key_inside: bool) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl); with ``key_inside`` the key is in
    the same PEM (as an OCES3 certificate is handed to python-serviceplatformen), mode 0600."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", f"/CN={name}/O=Testby Kommune", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    if not key_inside:
        return cert, key
    both = folder / f"{name}.pem"
    both.touch(mode=0o600)
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    key.unlink()
    return both, both


@dataclass
class Switches:
    exempt: set[str] = field(default_factory=set)
    fail_next: list[int] = field(default_factory=list)
    fail_lookup: list[int] = field(default_factory=list)
    slow: float = 0.0


@dataclass
class StandIn:
    folder: Path
    cvr: str
    client_cert: Path
    switches: Switches = field(default_factory=Switches)
    received: list[bytes] = field(default_factory=list)
    accepted: dict[str, ElementTree.Element] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    letters: dict[str, bytes] = field(default_factory=dict)  # AfsendelseIdentifikator → PDF
    letter_kind: int = 4711  # the ForsendelseTypeIdentifikator "agreed with the provider"
    tokens: set[str] = field(default_factory=set)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> StandIn:
        self.server_cert, self.server_key = make_certificate(
            self.folder, "standin", key_inside=False
        )
        self.up()
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    @property
    def ca_bundle(self) -> str:
        return str(self.server_cert)

    def up(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the municipality's certificate
        context.load_verify_locations(cafile=str(self.client_cert))
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Connection refused from now on (the port is closed, not just silent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    close = down

    def memos(self) -> list[ElementTree.Element]:
        return list(self.accepted.values())


@functools.cache
def _schema() -> Any:
    import xmlschema

    return xmlschema.XMLSchema11(
        str(Path(__file__).resolve().parent / "memo_schema" / "MeMo_core.xsd")
    )


def memo_schema_errors(document: bytes) -> list[str]:
    """The MeMo document checked against the MeMo 1.1 schema; the package writes MeMo 1.2,
    whose root lacks 1.1's required memoSchVersion attribute (tests/memo_schema/README.md):
    that one attribute is added first, everything else must validate as it is."""
    text = document.decode("utf-8")
    if 'memoVersion="1.2"' not in text or "memoSchVersion" in text:
        return ["not the package's MeMo 1.2 root"]
    text = text.replace('memoVersion="1.2"', 'memoVersion="1.2" memoSchVersion="1.2.0"', 1)
    return [f"{e.reason} at {e.path}" for e in _schema().iter_errors(text)]


def _schema_problem(message: ElementTree.Element) -> str:
    errors = memo_schema_errors(ElementTree.tostring(message, encoding="utf-8"))
    return errors[0] if errors else ""


def _problem(status: int, title: str) -> tuple[int, bytes, str]:
    body = {"type": "about:blank", "title": title, "status": status}
    return status, json.dumps(body).encode(), "application/problem+json"


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state
            pass

        def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            token = (self.headers.get("authorization") or "").removeprefix("Holder-of-key ")
            return token in standin.tokens and bool(self.headers.get("X-TransaktionsId"))

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            body = self._body()
            if path == "/runtime/api/rest/wstrust/v1/issue":
                self._answer(*self._saml(json.loads(body)))
            elif path == "/service/AccessTokenService_1/token":
                form = urllib.parse.parse_qs(body.decode())
                if not form.get("saml-token", [""])[0].startswith("<saml:Assertion"):
                    self._answer(*_problem(400, "invalid saml-token"))
                    return
                token = secrets.token_hex(16)
                standin.tokens.add(token)
                answer = {"access_token": token, "token_type": "Holder-of-key", "expires_in": 3600}
                self._answer(200, json.dumps(answer).encode())
            elif path == "/service/KombiPostAfsend_1/memos":
                self._answer(*self._memo(body))
            elif path == "/service/KombiPostAfsend_1/kombi":
                self._answer(*self._letter(body))
            else:
                self._answer(*_problem(404, "no such service"))

        def _saml(self, request: dict[str, Any]) -> tuple[int, bytes, str]:
            if request.get("AnvenderKontekst", {}).get("Cvr") != standin.cvr:
                return _problem(400, "unknown AnvenderKontekst")
            if not request.get("UseKey"):
                return _problem(400, "UseKey missing")
            lifetime = (datetime.now() + timedelta(hours=1)).strftime("%m/%d/%Y %H:%M:%S")
            assertion = f'<saml:Assertion ID="_{secrets.token_hex(8)}"/>'
            body = {"RequestedSecurityToken": {"Assertion": assertion}, "Lifetime": lifetime}
            return 200, json.dumps(body).encode(), "application/json"

        def _receive(self, body: bytes, slow: bool = False) -> tuple[int, bytes, str] | None:
            """Every send: authorised, recorded, slow or failing where a test asked for it;
            None when it goes on to be read."""
            if not self._authorised():
                return _problem(401, "missing or unknown access token")
            with standin._lock:
                standin.received.append(body)
                failing = standin.switches.fail_next.pop(0) if standin.switches.fail_next else 0
            if slow and standin.switches.slow:
                time.sleep(standin.switches.slow)
            return _problem(failing, "Serviceplatformen fejl (test)") if failing else None

        def _memo(self, body: bytes) -> tuple[int, bytes, str]:
            refused = self._receive(body, slow=True)
            if refused:
                return refused
            try:
                root = ElementTree.fromstring(body)
            except ElementTree.ParseError:
                return _problem(400, "not XML")
            message = root.find(f"{{{MEMO}}}Message")
            if root.tag != "kombi_request" or root.findtext("KombiValgKode") != "Digital Post":
                return _problem(400, "not a kombi_request for Digital Post")
            if message is None:
                return _problem(400, "no MeMo message")
            problem = _schema_problem(message)
            if problem:
                return _problem(400, f"MeMo does not validate: {problem}")
            uuid = message.findtext(f"{{{MEMO}}}MessageHeader/{{{MEMO}}}messageUUID") or ""
            with standin._lock:
                if uuid in standin.accepted:
                    return _problem(409, "messageUUID already received")
                standin.accepted[uuid] = message
            return 200, b"", "application/json"

        def _letter(self, body: bytes) -> tuple[int, bytes, str]:
            """Physical mail (fjernprint): a ForsendelseI with the letter as a PDF."""
            refused = self._receive(body)
            if refused:
                return refused
            root = ElementTree.fromstring(body)
            letter = root.find(f"{{{FJERNPRINT}}}ForsendelseISamling/{{{FJERNPRINT}}}ForsendelseI")
            if root.findtext("KombiValgKode") != "Fysisk Post" or letter is None:
                return _problem(400, "not a kombi_request for Fysisk Post")
            kind = letter.findtext(f"{{{FJERNPRINT}}}ForsendelseTypeIdentifikator")
            if kind != str(standin.letter_kind):
                return _problem(400, "unknown ForsendelseTypeIdentifikator")
            content = letter.findtext(f"{{{DKAL}}}MeddelelseIndholdData") or ""
            pdf = base64.b64decode(content)
            if not pdf.startswith(b"%PDF-") or letter.findtext(f"{{{DKAL}}}FilformatNavn") != "pdf":
                return _problem(400, "the letter is not a PDF")
            uuid = letter.findtext(f"{{{FJERNPRINT}}}AfsendelseIdentifikator") or ""
            with standin._lock:
                if uuid in standin.letters:
                    return _problem(409, "AfsendelseIdentifikator already received")
                standin.letters[uuid] = pdf
            return 200, b"", "application/json"

        def do_GET(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(split.query)
            if split.path != "/service/PostForespoerg_1/digitalpost":
                self._answer(*_problem(404, "no such service"))
                return
            if not self._authorised():
                self._answer(*_problem(401, "missing or unknown access token"))
                return
            if standin.switches.fail_lookup:
                self._answer(*_problem(standin.switches.fail_lookup.pop(0), "opslag fejlede"))
                return
            number = (query.get("cprNumber") or query.get("cvrNumber") or [""])[0]
            standin.lookups.append(number)
            registered = number not in standin.switches.exempt
            self._answer(200, json.dumps({"result": registered}).encode())

    return Handler
