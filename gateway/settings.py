"""Every setting in one place, with its default and why it exists.

Precedence: command-line flags > environment (``POSTVAGT_<NAME>``) > settings file (YAML) >
defaults. Settings are validated once at start; an error names the key, where the bad value
came from and how to fix it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.domains import a_label
from gateway.model import Slot
from gateway.nexthop.tls import TlsLevel, default_level
from gateway.security import TrustConfig
from gateway.spelling import did_you_mean

ENV_PREFIX = "POSTVAGT_"
CONFIG_ENV = "POSTVAGT_CONFIG"

MiB = 1024 * 1024


class SettingsError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:2525, got {value!r}")
    return host.strip("[]"), int(port)


class Settings(BaseModel):
    """The gateway's settings. The field docs are shown by ``postvagt run --help``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field("127.0.0.1:2525", description="Address the SMTP server listens on.")
    upstream: str | None = Field(
        None,
        description="Next hop, smtp://host:port. Unset: deliver into a Maildir under the data "
        "dir (the embedded default for trying Postvagt out).",
    )
    domains: list[str] = Field(
        default_factory=list,
        description="Local mail domains. Mail to other domains is refused (no open relay). "
        "Required with --upstream.",
    )
    data_dir: Path = Field(Path("var"), description="Maildir, database and spool live here.")
    policy: Path | None = Field(
        None, description="Policy file (YAML); none: policies/default.yaml."
    )
    web_listen: str = Field(
        "127.0.0.1:8025",
        description="Address of the staff review page, /healthz and /metrics.",
    )
    slot: Slot = Field(Slot.MX, description="mx, before-queue or after-queue (see README).")
    hostname: str = Field(
        default_factory=socket.getfqdn,
        description="Name used in the greeting, in Received headers and in EHLO upstream.",
    )
    trusted_clients: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Networks allowed to send in the after-queue slot (the trusted Postfix).",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate chain; enables STARTTLS.")
    tls_key: Path | None = Field(None, description="PEM private key for --tls-cert.")
    max_message_size: Annotated[int, Field(gt=0)] = Field(
        40 * MiB,
        description="Advertised SIZE and hard limit (552 above it). Keep it at or above the "
        "upstream's limit (Postfix: 10240000, Exchange Online: 35 MB) so mail is refused "
        "in the SMTP dialogue, never bounced later.",
    )
    max_recipients: Annotated[int, Field(ge=100)] = Field(
        1000, description="Recipients per transaction; 452 beyond (RFC 5321 asks for >= 100)."
    )
    max_line_length: Annotated[int, Field(ge=1001)] = Field(
        1 * MiB,
        description="Longest line accepted in DATA. Real mail has lines far beyond RFC 5321's "
        "1000; a permanent 'line too long' would lose it.",
    )
    reply_budget: Annotated[float, Field(gt=0)] = Field(
        60.0,
        description="Seconds from the client's final '.' to our reply. Keep well under "
        "Postfix's smtpd_proxy_timeout (100 s) and the client's 10-minute DATA timeout.",
    )
    inspect_budget: Annotated[float, Field(gt=0)] = Field(
        30.0,
        description="Share of reply_budget inspection may use; past it the message is "
        "delivered as 'incomplete; reasons=timeout'.",
    )
    upstream_timeout: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Seconds to wait for the upstream's answer to one command."
    )
    upstream_connections: Annotated[int, Field(ge=1)] = Field(
        32, description="Most idle upstream connections kept open for reuse."
    )
    upstream_idle: Annotated[float, Field(gt=0)] = Field(
        20.0, description="Seconds an idle upstream connection is kept before it is closed."
    )
    max_connections: Annotated[int, Field(ge=1)] = Field(
        1000, description="Open SMTP connections; past it a new one gets 421 and is closed."
    )
    max_connections_per_client: Annotated[int, Field(ge=1)] = Field(
        20,
        description="Open connections from one address (trusted_clients are not limited), "
        "so slow or idle clients from one place cannot crowd out the rest.",
    )
    max_inflight: Annotated[int, Field(ge=1)] = Field(
        200,
        description="Open transactions above which MAIL gets 451 4.3.2: refuse work we "
        "could not finish within the reply budget.",
    )
    max_inflight_per_client: Annotated[int, Field(ge=1)] = Field(
        10,
        description="Open transactions from one client address (trusted_clients are not "
        "limited): past it MAIL gets 451 4.3.2, so slow senders cannot take every slot.",
    )
    data_timeout: Annotated[float, Field(gt=0)] = Field(
        600.0,
        description="Seconds the whole DATA phase may take; past it the client gets 421.",
    )
    data_min_rate: Annotated[float, Field(ge=0)] = Field(
        500.0,
        description="Bytes a second the DATA phase must average after its first 30 seconds "
        "(as Postfix's smtpd_min_data_rate); slower clients get 421 and are disconnected.",
    )
    inspect_workers: Annotated[int, Field(ge=1)] = Field(
        8,
        description="Threads for the inspection stages that wait (the sender checks' DNS "
        "look-ups), off the SMTP event loop; detection has its own processes "
        "(detect_workers).",
    )
    session_timeout: Annotated[float, Field(gt=0)] = Field(
        300.0, description="Idle seconds before a client is disconnected (RFC 5321: >= 5 min)."
    )
    shutdown_grace: Annotated[float, Field(ge=0)] = Field(
        30.0, description="Seconds to let messages in flight finish on SIGTERM."
    )
    health_min_free_mb: Annotated[int, Field(ge=0)] = Field(
        100,
        description="/healthz answers 503 when a folder mail is written to (data_dir, "
        "quarantine_dir) has less free space than this, in MB (0: no check).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database; unset: SQLite file postvagt.db in the "
        "data dir. postgresql://user@host/db for several instances sharing one database.",
    )
    sqlite_synchronous: str = Field(
        "FULL",
        description="SQLite durability: FULL fsyncs every commit, so a record survives a "
        "power cut; NORMAL is faster but a commit may roll back after a power loss.",
    )
    quarantine_dir: Path | None = Field(
        None,
        description="Keep quarantined mail as files here (shared by all instances) instead "
        "of in the database.",
    )
    instance_name: str = Field(
        default_factory=socket.gethostname,
        description="This instance's name in the message records (unique per instance).",
    )
    store_timeout: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="Seconds to keep retrying a locked or unreachable database before the "
        "message gets 451.",
    )
    store_workers: Annotated[int, Field(ge=1)] = Field(
        4, description="Database connections (PostgreSQL; SQLite always has one writer)."
    )
    nlp_model: str | None = Field(
        None,
        description="An installed spaCy pipeline (package name or folder) for names and "
        "places; unset: a blank Danish pipeline (pattern and lexicon recognizers only).",
    )
    smime_trust_store: Path | None = Field(
        None,
        description="PEM bundle of the CA roots whose S/MIME signers count as trusted (e.g. "
        "the Danish OCES/MitID Erhverv roots); never the web PKI.",
    )
    pgp_keyring: Path | None = Field(
        None, description="GnuPG home holding the PGP keys whose signers count as trusted."
    )
    sender_checks: bool = Field(
        True,
        description="mx slot: check SPF, DKIM and DMARC (DNS look-ups); behind another "
        "server: read the trusted servers' Authentication-Results.",
    )
    trusted_authserv_ids: list[str] = Field(
        default_factory=list,
        description="Authserv-ids (host names) of the mail servers in front of Postvagt whose "
        "Authentication-Results and Received headers are believed.",
    )
    dns_timeout: Annotated[float, Field(gt=0)] = Field(
        5.0, description="Seconds a DNS look-up for SPF, DKIM or DMARC may take."
    )
    dns_servers: list[str] = Field(
        default_factory=list,
        description="DNS servers (host or host:port) for the sender checks; empty: the "
        "system's (/etc/resolv.conf). Answers are cached for their TTL either way.",
    )
    detect_threshold: Annotated[float, Field(gt=0, le=1)] = Field(
        0.5, description="Score from which a candidate is reported as personal data."
    )
    detect_workers: Annotated[int, Field(ge=1)] = Field(
        2, description="Detection worker processes (one Presidio engine each)."
    )
    metrics_listen: str | None = Field(
        None,
        description="Serve /metrics on this address of its own (the monitoring network) "
        "and not on web_listen. Unset: on web_listen.",
    )
    metrics_token_file: Path | None = Field(
        None,
        description="File (mode 0600) with a bearer token /metrics asks for (Authorization: "
        "Bearer <token>). Unset: no token.",
    )
    web_secret_file: Path | None = Field(
        None,
        description="File with the key that signs staff sessions; made on first start. Unset: "
        "web-secret in the data dir. Instances behind one address share it.",
    )
    web_secure_cookie: bool | None = Field(
        None,
        description="Send the session cookie over HTTPS only. Unset: yes, unless the page "
        "listens on loopback (behind a TLS proxy on the same host, set it true).",
    )
    web_user_header: str | None = Field(
        None,
        description="Single sign-on: trust this request header (e.g. X-Remote-User) as the "
        "logged-in user, from web_trusted_proxies only. Off by default.",
    )
    web_trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses of the reverse proxies for web_user_header."
    )
    web_url: str | None = Field(
        None,
        description="The staff page's address as staff reach it, for links in the daily "
        "digest. Unset: http://<web_listen>/.",
    )
    oidc_issuer: str | None = Field(
        None,
        description="Single sign-on with OpenID Connect: the provider's issuer URL (Entra ID: "
        "https://login.microsoftonline.com/<tenant>/v2.0; AD FS: https://<host>/adfs; "
        "Keycloak: https://<host>/realms/<realm>); its keys and endpoints come from "
        "<issuer>/.well-known/openid-configuration. https, or http on loopback. Unset: off.",
    )
    oidc_client_id: str | None = Field(
        None, description="The client (application) id Postvagt was registered with."
    )
    oidc_client_secret_file: Path | None = Field(
        None,
        description="File holding the client secret, mode 0600 (never in the settings file).",
    )
    oidc_scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile"],
        description="Scopes asked for; openid is required. Add the one that releases the group "
        "claim where the provider needs one (Keycloak: a client scope with a group mapper).",
    )
    oidc_username_claim: str = Field(
        "preferred_username",
        description="ID token claim that names the user on the page and in the audit log.",
    )
    oidc_groups_claim: str = Field(
        "groups", description="ID token claim that lists the user's groups."
    )
    oidc_admin_groups: list[str] = Field(
        default_factory=list,
        description="Groups (names or, for Entra ID, object ids) whose members are admins.",
    )
    oidc_dpo_groups: list[str] = Field(
        default_factory=list,
        description="Groups whose members are data protection officers: the audit log and "
        "statistics of every mailbox, no mail.",
    )
    oidc_mailbox_groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group -> mailboxes its members see as staff (settings file only). A user "
        "in no mapped group is refused.",
    )
    oidc_display_name: str = Field(
        "single sign-on", description='The provider\'s name on the login page ("Log ind med ...").'
    )
    oidc_hide_password_login: bool = Field(
        False,
        description="Show only single sign-on on the login page; the password form (local "
        "break-glass accounts) stays at /login?local=1.",
    )
    retention_days: Annotated[float, Field(gt=0)] = Field(
        180.0,
        description="Days a message record (facts, never content) is kept; then purged. The "
        "audit log is kept.",
    )
    quarantine_retention_days: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Days the raw copy of quarantined mail is kept."
    )
    digest_hour: Annotated[int, Field(ge=0, le=23)] | None = Field(
        7,
        description="Local hour from which each mailbox's daily digest goes to its "
        "staff_address; unset: no digests.",
    )
    reply_relay: str | None = Field(
        None,
        description="smtp://host:port that sends the Digital Post auto-replies to the internet. "
        "Unset: the upstream (which must then allow the gateway to relay: Exchange answers "
        "550 5.7.54 until a receive connector does), or a Maildir under the data dir without one.",
    )
    upstream_tls: TlsLevel | None = Field(
        None,
        description="TLS to the upstream, as Postfix's smtp_tls_security_level: none, may, "
        "encrypt (required, certificate not checked) or verify (required, chain and host "
        "name checked). Unset: verify, or none for an upstream on loopback. Where TLS is "
        "required and cannot be had, the sender gets 451 and nothing is sent.",
    )
    upstream_tls_ca: Path | None = Field(
        None,
        description="PEM bundle the upstream's certificate must chain to; unset: the system's.",
    )
    upstream_tls_cert: Path | None = Field(
        None,
        description="PEM client certificate (chain) Postvagt presents to the upstream: what an "
        "Exchange Online connector or Postfix's smtpd_tls_req_ccert identifies it by.",
    )
    upstream_tls_key: Path | None = Field(None, description="PEM key of upstream_tls_cert.")
    reply_tls: TlsLevel | None = Field(
        None,
        description="TLS to the reply relay, as upstream_tls. Unset: the upstream's settings "
        "when replies go through the upstream, else verify (none on loopback).",
    )
    reply_tls_ca: Path | None = Field(None, description="As upstream_tls_ca, for the reply relay.")
    reply_tls_cert: Path | None = Field(
        None, description="As upstream_tls_cert, for the reply relay."
    )
    reply_tls_key: Path | None = Field(None, description="PEM key of reply_tls_cert.")
    reply_from: str | None = Field(
        None,
        description="From address of the auto-replies: a monitored mailbox, never postmaster. "
        "Unset: digitalpost-svar@ the first local domain (or the host name).",
    )
    reply_envelope_from: str = Field(
        "",
        description="MAIL FROM of the auto-replies; empty is the null sender <>, so nothing "
        "ever answers an answer.",
    )
    reply_retry: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [60.0, 300.0, 900.0, 3600.0, 3600.0, 14400.0, 14400.0],
        min_length=1,
        description="Seconds to wait before each new try after a 4xx or a connection failure; "
        "when they are used up the reply is given up (5xx: at once).",
    )
    outbox_poll: Annotated[float, Field(gt=0)] = Field(
        5.0, description="Seconds between looks into the shared outbox for due replies."
    )
    outbox_lease: Annotated[float, Field(gt=0)] = Field(
        300.0,
        description="Seconds an outbox item stays claimed by one sender; after a crash another "
        "instance sends it then (a possible duplicate, counted).",
    )
    digital_post_certificate: Path | None = Field(
        None,
        description="Answers through Digital Post: the municipality's OCES3 certificate for "
        "Serviceplatformen, PEM with its key, mode 0600. Unset: no answering from the page.",
    )
    digital_post_cvr: str | None = Field(
        None, description="The municipality's CVR number: the sender of Digital Post answers."
    )
    digital_post_environment: str = Field(
        "test",
        description="Serviceplatformen's test (exttest) or production environment for "
        "Digital Post answers.",
    )
    digital_post_physical_mail: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="Physical mail (fjernprint) for citizens exempt from Digital Post: the "
        "ForsendelseTypeIdentifikator the print provider gave the municipality for letters. "
        "Unset: off; the page says the answer must go by letter.",
    )
    digital_post_lookups_per_hour: Annotated[int, Field(ge=1)] = Field(
        60,
        description="Digital Post registration look-ups one staff member may make in an hour "
        "(counted in the database, over every instance): asking whether someone is exempt "
        "is itself personal data, so it is bounded and audited.",
    )
    digital_post_base_url: str | None = Field(
        None,
        description="For tests only: one https:// address that stands in for Serviceplatformen "
        "and KOMBIT's token service. Unset: the real ones of digital_post_environment.",
    )
    log_format: str = Field("text", description="text or json (one object per line).")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")

    @field_validator("listen", "web_listen")
    @classmethod
    def _check_address(cls, value: str) -> str:
        _host_port(value)
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _check_metrics_address(cls, value: str | None) -> str | None:
        if value is not None:
            _host_port(value)
        return value

    @field_validator("metrics_token_file")
    @classmethod
    def _check_token_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            mode = value.stat().st_mode
            token = value.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read {value}: {getattr(e, 'strerror', e)}") from None
        # Whoever reads the token reads the counts: nobody but the service may read it.
        if mode & 0o077:
            raise ValueError(
                f"{value} holds the metrics token but is readable by others (mode "
                f"{mode & 0o777:04o}): chmod 600 {value}"
            )
        if len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token):
            raise ValueError(
                f"{value}: the token is one line of at least 16 printable characters, no "
                "spaces (e.g. openssl rand -hex 32)"
            )
        return value

    @field_validator("upstream", "reply_relay")
    @classmethod
    def _check_upstream(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "smtp" or not parts.hostname or parts.port is None:
            raise ValueError(
                f"expected smtp://host:port, e.g. smtp://127.0.0.1:10026, got {value!r}"
            )
        return value

    @field_validator("reply_from", "reply_envelope_from")
    @classmethod
    def _check_reply_address(cls, value: str | None) -> str | None:
        if value and (value.count("@") != 1 or any(c in value for c in " <>\r\n\0")):
            raise ValueError(f"expected a bare address like svar@kommune.dk, got {value!r}")
        return value

    @field_validator("domains")
    @classmethod
    def _check_domains(cls, value: list[str]) -> list[str]:
        cleaned = [d.strip().lower().rstrip(".") for d in value if d.strip()]
        for domain in cleaned:
            if "@" in domain or " " in domain or "." not in domain.strip("."):
                raise ValueError(f"{domain!r} is not a mail domain; give e.g. kommune.dk")
        return [a_label(d) for d in cleaned]  # ærø.dk and xn--r-3fa9c.dk are one domain

    @field_validator("trusted_clients", "web_trusted_proxies")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError("must be 'text' or 'json'")
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        if value.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("must be FULL, EXTRA or NORMAL")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(
                "expected sqlite:////path/postvagt.db or postgresql://user@host:5432/db, "
                f"got {value!r}"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("digital_post_environment")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        if value not in ("test", "production"):
            raise ValueError("must be test or production")
        return value

    @field_validator("digital_post_cvr")
    @classmethod
    def _check_cvr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from stdnum.dk import cvr

        if not cvr.is_valid(value):
            raise ValueError(f"{value!r} is not a CVR number (8 digits, modulus 11)")
        return cvr.compact(value)

    @field_validator("digital_post_certificate", "oidc_client_secret_file")
    @classmethod
    def _check_secret_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            mode = value.stat().st_mode
        except OSError as e:
            raise ValueError(f"cannot read {value}: {e.strerror}") from None
        # The file holds a private key or a secret: nobody but the service may read it.
        if mode & 0o077:
            raise ValueError(
                f"{value} holds a secret but is readable by others (mode "
                f"{mode & 0o777:04o}): chmod 600 {value}"
            )
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _check_issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"expected https://host/path, got {value!r}")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(f"{value!r}: the provider must be reached over https")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: an issuer has no query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if (self.digital_post_certificate is None) != (self.digital_post_cvr is None):
            raise ValueError(
                "digital_post_certificate and digital_post_cvr go together: set both to "
                "answer through Digital Post, or neither"
            )
        if self.upstream and not self.domains:
            raise ValueError(
                "upstream is set but domains is empty: name the local domains with "
                "--domain kommune.dk (or POSTVAGT_DOMAINS), else Postvagt would relay for anyone"
            )
        if not self.upstream and not self.domains and not _is_loopback(self.listen_host):
            raise ValueError(
                "without upstream or domains the gateway accepts mail for every domain, so it "
                "may only listen on loopback: set --listen 127.0.0.1:PORT, or name --domain"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        if not self.reply_relay and any(
            v is not None
            for v in (self.reply_tls, self.reply_tls_ca, self.reply_tls_cert, self.reply_tls_key)
        ):
            raise ValueError(
                "reply_tls settings need reply_relay; without it replies leave through the "
                "upstream with the upstream_tls settings"
            )
        for prefix in ("upstream_tls", "reply_tls"):
            files = (getattr(self, f"{prefix}_ca"), getattr(self, f"{prefix}_cert"))
            if getattr(self, prefix) == TlsLevel.NONE and any(f is not None for f in files):
                raise ValueError(f"{prefix} is none, yet {prefix}_ca or {prefix}_cert is set")
            if (getattr(self, f"{prefix}_cert") is None) != (
                getattr(self, f"{prefix}_key") is None
            ):
                raise ValueError(f"{prefix}_cert and {prefix}_key go together: set both or neither")
        if self.oidc_issuer is not None:
            if not self.oidc_client_id or self.oidc_client_secret_file is None:
                raise ValueError(
                    "oidc_issuer needs oidc_client_id and oidc_client_secret_file: the client "
                    "Postvagt was registered as at the provider"
                )
            if "openid" not in self.oidc_scopes:
                raise ValueError("oidc_scopes must include openid")
            if not (self.oidc_admin_groups or self.oidc_dpo_groups or self.oidc_mailbox_groups):
                raise ValueError(
                    "oidc_issuer is set but no group is mapped: name oidc_admin_groups or "
                    "oidc_mailbox_groups, else every single sign-on is refused"
                )
        elif self.oidc_hide_password_login:
            raise ValueError("oidc_hide_password_login needs oidc_issuer: nobody could log in")
        if self.inspect_budget >= self.reply_budget:
            raise ValueError("inspect_budget must be smaller than reply_budget")
        if self.outbox_lease <= self.upstream_timeout * 4:
            raise ValueError(
                "outbox_lease must be longer than a send can take (4 x upstream_timeout): "
                "else a slow send is taken over and sent twice"
            )
        if self.reply_budget >= self.session_timeout:
            raise ValueError("reply_budget must be smaller than session_timeout")
        return self

    @property
    def listen_host(self) -> str:
        return _host_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return _host_port(self.listen)[1]

    @property
    def upstream_address(self) -> tuple[str, int] | None:
        if not self.upstream:
            return None
        parts = urlsplit(self.upstream)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    @property
    def web_address(self) -> tuple[str, int]:
        return _host_port(self.web_listen)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        return _host_port(self.metrics_listen) if self.metrics_listen else None

    @property
    def metrics_token(self) -> str | None:
        """The bearer token /metrics asks for (read at start; checked when loaded)."""
        if self.metrics_token_file is None:
            return None
        return self.metrics_token_file.read_text(encoding="utf-8").strip()

    @property
    def web_cookie_secure(self) -> bool:
        if self.web_secure_cookie is not None:
            return self.web_secure_cookie
        return not _is_loopback(self.web_address[0])

    @property
    def web_base_url(self) -> str:
        host, port = self.web_address
        return (self.web_url or f"http://{host}:{port}/").rstrip("/") + "/"

    @property
    def reply_relay_address(self) -> tuple[str, int] | None:
        """Where replies go: the reply relay, else the upstream; None: the reply Maildir."""
        url = self.reply_relay or self.upstream
        if not url:
            return None
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    @property
    def upstream_tls_level(self) -> TlsLevel:
        address = self.upstream_address
        if self.upstream_tls is not None:
            return self.upstream_tls
        if self.upstream_tls_ca or self.upstream_tls_cert:
            return TlsLevel.VERIFY  # a CA or a certificate given is a wish for TLS
        return default_level(address[0]) if address else TlsLevel.NONE

    @property
    def reply_tls_settings(self) -> tuple[TlsLevel, Path | None, Path | None, Path | None]:
        """Level, CA, certificate and key for the reply relay: its own, or the upstream's
        when replies leave through the upstream."""
        if not self.reply_relay:
            return (
                self.upstream_tls_level,
                self.upstream_tls_ca,
                self.upstream_tls_cert,
                self.upstream_tls_key,
            )
        address = self.reply_relay_address
        assert address is not None
        level = self.reply_tls
        if level is None:
            wanted = self.reply_tls_ca or self.reply_tls_cert
            level = TlsLevel.VERIFY if wanted else default_level(address[0])
        return level, self.reply_tls_ca, self.reply_tls_cert, self.reply_tls_key

    @property
    def reply_from_address(self) -> str:
        return self.reply_from or f"digitalpost-svar@{(self.domains or [self.hostname])[0]}"

    @property
    def reply_maildir(self) -> Path:
        return self.data_dir / "replies"

    @property
    def maildir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def trust(self) -> TrustConfig:
        return TrustConfig(smime_trust_store=self.smime_trust_store, pgp_keyring=self.pgp_keyring)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'postvagt.db').resolve()}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_list(annotation: Any) -> bool:
    """A list setting (``list[str]``, also inside ``X | None`` or ``Annotated``)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


LIST_FIELDS = frozenset(n for n, f in Settings.model_fields.items() if _is_list(f.annotation))
"""Settings given as comma-separated lists in the environment: read from the model, so a
new list setting cannot be forgotten here (oidc_dpo_groups once was)."""


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    known = set(Settings.model_fields)
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in known:
            valid = [ENV_PREFIX + k.upper() for k in sorted(known)]
            raise SettingsError(
                f"unknown environment variable {name}{did_you_mean(name, valid)}; "
                f"valid ones: {', '.join(valid)}"
            )
        values[key] = [v for v in raw.split(",") if v.strip()] if key in LIST_FIELDS else raw
    return values


def _file_values(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SettingsError(f"settings file {path}: cannot read it ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise SettingsError(f"settings file {path}: not valid YAML: {e}") from e
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"settings file {path}: expected a mapping of setting: value")
    known = set(Settings.model_fields)
    for key in loaded:
        if key not in known:
            raise SettingsError(
                f"settings file {path}:{_line_of(path, key)}: unknown key {key!r}"
                f"{did_you_mean(str(key), known)}; valid keys: {', '.join(sorted(known))}"
            )
    return dict(loaded)


def _line_of(path: Path, key: object) -> int:
    """The line of a top-level key in a settings file (1 if it cannot be found)."""
    try:
        document = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return 1
    if isinstance(document, yaml.MappingNode):
        for node, _ in document.value:
            if node.value == key:
                return int(node.start_mark.line) + 1
    return 1


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources in order of precedence and validate once.

    ``flags`` holds only the flags the user gave (None means "not given").
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(CONFIG_ENV):
        config_file = Path(environ[CONFIG_ENV])
    sources: dict[str, str] = {}
    merged: dict[str, Any] = {}
    layers: list[tuple[str, dict[str, Any]]] = []
    if config_file is not None:
        layers.append((f"settings file {config_file}", _file_values(config_file)))
    layers.append(("environment", _env_values(environ)))
    layers.append(("command line", {k: v for k, v in (flags or {}).items() if v is not None}))
    for origin, values in layers:
        for key, value in values.items():
            merged[key] = value
            sources[key] = origin
    try:
        return Settings(**merged)
    except ValidationError as e:
        raise SettingsError(_explain(e, sources)) from None


def _explain(error: ValidationError, sources: Mapping[str, str]) -> str:
    lines = []
    for problem in error.errors():
        key = str(problem["loc"][0]) if problem["loc"] else None
        message = problem["msg"].removeprefix("Value error, ")
        if key is None:
            lines.append(f"settings: {message}")
            continue
        origin = sources.get(key, "default")
        hint = {
            "command line": f"--{key.replace('_', '-')}",
            "environment": f"{ENV_PREFIX}{key.upper()}",
        }.get(origin, key)
        lines.append(f"setting {key!r} ({hint}, from {origin}): {message}")
    return "\n".join(lines)
