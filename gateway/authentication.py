"""Who sent it, and over what: SPF, DKIM, DMARC and TLS facts from the right hop.

In the ``mx`` slot Postvagt's own SMTP session is the sender's hop: the client address, HELO,
envelope sender and TLS come from it, and Postvagt checks SPF (pyspf), DKIM and DMARC
(dkimpy and authheaders) itself. Behind another server (``before-queue``, ``after-queue``)
the facts come from the ``Authentication-Results`` and ``Received`` headers that the
configured trusted servers added — the topmost one with a trusted authserv-id — and never
from headers anyone else could have written. TLS protects one hop only: it says nothing about
how the mail travelled before the sender's server handed it over.

DNS is reached through a ``Resolver`` (dnspython in production), so every check runs the
same code against whatever answers the resolver gives.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from typing import Any, Protocol

import authheaders
import authheaders.dmarc_lookup
import authres
import spf

from gateway.domains import a_label
from gateway.model import SenderAuth, TlsInfo
from gateway.rawmail import header_block_end, parse_message

UNAUTHENTICATED = "none"


class Resolver(Protocol):
    def txt(self, name: str) -> list[bytes]: ...

    def addresses(self, name: str, rdtype: str) -> list[str]: ...

    def mx(self, name: str) -> list[tuple[int, str]]: ...


class DnsResolver:
    """DNS through dnspython, with a bounded wait and answers cached for their TTL (also
    the negative ones): a sender's SPF and DMARC records are asked for once, not on every
    message. ``servers``: "host" or "host:port" in place of the system's resolvers."""

    def __init__(self, timeout: float = 5.0, servers: Sequence[str] = ()) -> None:
        import dns.resolver

        self._resolver = dns.resolver.Resolver(configure=not servers)
        self._resolver.lifetime = timeout
        self._resolver.cache = dns.resolver.LRUCache(max_size=10_000)
        if servers:
            self._resolver.nameservers = [_nameserver(server) for server in servers]

    def _answers(self, name: str, rdtype: str) -> list:
        import dns.exception
        import dns.resolver

        try:
            return list(self._resolver.resolve(name, rdtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except dns.exception.Timeout as e:
            raise spf.TempError(f"DNS timeout for {name}") from e

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(r.strings) for r in self._answers(name, "TXT")]

    def addresses(self, name: str, rdtype: str) -> list[str]:
        return [r.address for r in self._answers(name, rdtype)]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return [(r.preference, str(r.exchange).rstrip(".")) for r in self._answers(name, "MX")]


def _nameserver(server: str) -> Any:
    import dns.nameserver

    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
    return dns.nameserver.Do53Nameserver(host or server, int(port) if port else 53)


class _SpfQuery(spf.query):  # type: ignore[misc]
    """pyspf's query with its DNS look-ups answered by our Resolver."""

    def __init__(self, resolver: Resolver, **kwargs: object) -> None:
        self._resolver = resolver
        super().__init__(**kwargs)

    def dns(self, name: str, qtype: str, cnames: object = None, ignore_void: bool = False) -> list:
        name = str(name).rstrip(".").lower()
        if qtype in ("TXT", "SPF"):
            return [[record] for record in self._resolver.txt(name)]
        if qtype in ("A", "AAAA"):
            return self._resolver.addresses(name, qtype)
        if qtype == "MX":
            return self._resolver.mx(name)
        return []  # PTR and the rest: treated as no answer


def check_spf(resolver: Resolver, ip: str, mail_from: str, helo: str) -> str:
    sender = mail_from or f"postmaster@{helo}"
    try:
        result = _SpfQuery(resolver, i=ip, s=sender, h=helo, timeout=10).check()[0]
    except (OSError, spf.TempError):  # the resolver failed mid-check
        return "temperror"
    return str(result)


@functools.cache
def _public_suffixes() -> Any:
    """authheaders' public suffix list, read once per process."""
    from publicsuffix2 import PublicSuffixList

    ref = importlib.resources.files("authheaders") / "public_suffix_list.txt"
    with importlib.resources.as_file(ref) as location, open(location, encoding="utf-8") as f:
        return PublicSuffixList(f)


def warm_up() -> None:
    """Read the public suffix list now, at start, not on the first message."""
    _public_suffixes()


@functools.lru_cache(maxsize=10_000)
def org_domain(domain: str) -> str:
    """The organisational domain (DMARC alignment) by the public suffix list."""
    return str(_public_suffixes().get_public_suffix(domain))


# authheaders reads the whole public suffix list from its file again for every alignment
# check (40-150 ms of CPU per message, issue 17); the same list, read once, answers instead.
authheaders.get_org_domain = org_domain
authheaders.dmarc_lookup.get_org_domain = org_domain


def _dnsfunc(resolver: Resolver, text: bool):
    """dkimpy wants TXT records as bytes, authheaders' DMARC look-up as str."""

    def lookup(name: bytes | str, timeout: int = 5) -> bytes | str | None:
        query = name.decode() if isinstance(name, bytes) else name
        records = resolver.txt(query.rstrip("."))
        if not records:
            return None
        return records[0].decode("utf-8", "replace") if text else records[0]

    return lookup


def _results(header: str) -> dict[str, str]:
    """Method → result of a parsed Authentication-Results header (the first of each)."""
    parsed = authres.AuthenticationResultsHeader.parse(header)
    found: dict[str, str] = {}
    for result in parsed.results:
        found.setdefault(str(result.method).lower(), str(result.result).lower())
    return found


def check_session(
    raw: bytes,
    *,
    resolver: Resolver,
    authserv_id: str,
    ip: str,
    helo: str,
    mail_from: str,
    tls: TlsInfo | None,
) -> SenderAuth:
    """SPF, DKIM and DMARC checked by Postvagt itself (the ``mx`` slot)."""
    spf_result = check_spf(resolver, ip, mail_from, helo)
    results = {"spf": spf_result}
    try:
        head = raw[: header_block_end(raw)]
        if _DKIM_SIGNATURE.search(head) is not None:
            dkim_result = authheaders.check_dkim(raw, dnsfunc=_dnsfunc(resolver, text=False))
            results["dkim"] = str(dkim_result.result).lower()
        else:
            # RFC 8601: "none" when the message is not signed. What authheaders would say
            # (a "fail" with no signing domain, so nothing aligns for DMARC) without reading
            # the body it would parse for it (2 ms per 100 KB, bench/stages.py).
            dkim_result = authres.DKIMAuthenticationResult(result="fail", header_d="", header_i="")
            results["dkim"] = UNAUTHENTICATED
        spf_fact = authres.SPFAuthenticationResult(
            result=spf_result, smtp_mailfrom=mail_from or helo
        )
        # DMARC reads the From field only: the header block spares it parsing the body.
        dmarc_result = authheaders.check_dmarc(
            head + b"\r\n", spf_fact, dkim_result, dnsfunc=_dnsfunc(resolver, text=True)
        )
        results["dmarc"] = str(dmarc_result.result).lower()
    except Exception:  # malformed mail or DNS trouble: left unknown, never a crash
        pass
    return SenderAuth(
        source="session",
        spf=spf_result,
        dkim=results.get("dkim", UNAUTHENTICATED),
        dmarc=results.get("dmarc", UNAUTHENTICATED),
        aligned_pass=results.get("dmarc") == "pass",
        tls_version=tls.version if tls else None,
        client_ip=ip,
    )


_DKIM_SIGNATURE = re.compile(rb"^DKIM-Signature:", re.IGNORECASE | re.MULTILINE)
_TLS_IN_RECEIVED = re.compile(r"\(using (TLSv?[0-9.]+)", re.IGNORECASE)
_RECEIVED_BY = re.compile(r"\bby\s+([^\s;()]+)", re.IGNORECASE)


def from_trusted_headers(raw: bytes, trusted: list[str]) -> SenderAuth:
    """The facts the trusted servers recorded (``before-queue`` and ``after-queue``)."""
    ids = {a_label(t) for t in trusted}
    headers = parse_message(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
    results: dict[str, str] | None = None
    for value in headers.get_all("Authentication-Results", []):
        try:
            parsed = authres.AuthenticationResultsHeader.parse(
                "Authentication-Results: " + " ".join(str(value).split())
            )
        except Exception:
            continue
        if a_label(str(parsed.authserv_id)) in ids:
            results = _results("Authentication-Results: " + " ".join(str(value).split()))
            break  # the topmost: the trusted server removes older ones with its own id
    tls_version = None
    for value in headers.get_all("Received", []):
        text = " ".join(str(value).split())
        by = _RECEIVED_BY.search(text)
        if by and a_label(by.group(1)) in ids:
            found = _TLS_IN_RECEIVED.search(text)
            tls_version = found.group(1) if found else None
            break
    if results is None:
        return SenderAuth(source="none", tls_version=tls_version)
    return SenderAuth(
        source="trusted-headers",
        spf=results.get("spf"),
        dkim=results.get("dkim"),
        dmarc=results.get("dmarc"),
        aligned_pass=results.get("dmarc") == "pass",
        tls_version=tls_version,
    )
