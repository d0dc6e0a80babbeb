"""Assemble the gateway from its settings and serve SMTP on an asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
import weakref
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.act import digest
from gateway.act.outbox import OutboxSender
from gateway.act.release import release_held
from gateway.act.reply import ReplyIdentity
from gateway.authentication import DnsResolver, Resolver, warm_up
from gateway.connections import ConnectionLimit
from gateway.decide.holder import PolicyHolder
from gateway.detect.engine import EngineConfig
from gateway.detect.keyed import number_key
from gateway.health import Health
from gateway.metrics import Metrics
from gateway.model import NextHop, Preview, Reply
from gateway.nexthop.maildir import MaildirNextHop
from gateway.nexthop.smtp import SmtpNextHop
from gateway.nexthop.tls import ClientTls, client_tls
from gateway.pipeline import Pipeline
from gateway.reader_pool import ReaderPool
from gateway.settings import Settings, _is_loopback
from gateway.smtp import DataLimits, GatewayHandler, GatewaySMTP, GroupOf
from gateway.stages import AuthStage, DetectStage, ParseStage, Stage
from gateway.store import Store, records, retention
from gateway.store.engine import is_sqlite
from gateway.web.app import WebServer, build_app, build_metrics_app, templates
from gateway.web.auth import session_secret
from gateway.web.common import WebContext
from gateway.web.oidc import SingleSignOn

log = logging.getLogger("postvagt.server")


def _hop(
    settings: Settings,
    address: tuple[str, int] | None,
    maildir: Path,
    idle_connections: int,
    tls: ClientTls,
) -> NextHop:
    if address is None:
        return MaildirNextHop(maildir)
    return SmtpNextHop(
        address[0],
        address[1],
        local_hostname=settings.hostname,
        timeout=settings.upstream_timeout,
        max_idle_connections=idle_connections,
        idle_seconds=settings.upstream_idle,
        tls=tls,
    )


def build_next_hop(settings: Settings) -> NextHop:
    s = settings
    tls = client_tls(
        s.upstream_tls_level, ca=s.upstream_tls_ca, cert=s.upstream_tls_cert, key=s.upstream_tls_key
    )
    return _hop(s, s.upstream_address, s.maildir, s.upstream_connections, tls)


def build_reply_hop(settings: Settings) -> NextHop:
    """Where auto-replies leave: the reply relay, the upstream, or (embedded) a Maildir."""
    level, ca, cert, key = settings.reply_tls_settings
    tls = client_tls(level, ca=ca, cert=cert, key=key)
    return _hop(settings, settings.reply_relay_address, settings.reply_maildir, 2, tls)


def build_single_sign_on(settings: Settings) -> SingleSignOn | None:
    """The staff page's OpenID provider (settings oidc_*), or None without one."""
    if settings.oidc_issuer is None:
        return None
    assert settings.oidc_client_id and settings.oidc_client_secret_file is not None
    base = settings.web_base_url
    return SingleSignOn(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret_file.read_text().strip(),
        redirect_uri=base + "oidc/callback",
        after_logout=base + "login",
        scopes=list(settings.oidc_scopes),
        username_claim=settings.oidc_username_claim,
        groups_claim=settings.oidc_groups_claim,
        admin_groups=list(settings.oidc_admin_groups),
        mailbox_groups={g: list(m) for g, m in settings.oidc_mailbox_groups.items()},
        dpo_groups=list(settings.oidc_dpo_groups),
        display_name=settings.oidc_display_name,
        hide_password_login=settings.oidc_hide_password_login,
    )


def build_store(settings: Settings) -> Store:
    return Store(
        settings.database,
        instance=settings.instance_name,
        slot=settings.slot.value,
        timeout=settings.store_timeout,
        workers=settings.store_workers,
        sqlite_synchronous=settings.sqlite_synchronous,
        quarantine_dir=settings.quarantine_dir,
    )


def folders_written(settings: Settings) -> list[tuple[str, Path]]:
    """The folders a message is written to (for /healthz), named by their setting."""
    out: list[tuple[str, Path]] = []
    if settings.upstream is None or settings.database_url is None:
        out.append(("data_dir", settings.data_dir))  # the Maildir, the SQLite database
    if settings.database_url is not None and is_sqlite(settings.database_url):
        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            out.append(("database_url", Path(database).parent))
    if settings.quarantine_dir is not None:
        out.append(("quarantine_dir", settings.quarantine_dir))
    return out


def build_tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


class Gateway:
    """The running SMTP service. ``start()`` binds, ``stop()`` drains and closes."""

    def __init__(
        self,
        settings: Settings,
        *,
        next_hop: NextHop | None = None,
        stages: Sequence[Stage] | None = None,
        group_of: GroupOf | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self.next_hop = next_hop or build_next_hop(settings)
        self.store = build_store(settings)
        self.policy = PolicyHolder(settings.policy, settings.slot.value)  # fails closed
        self.metrics = Metrics()
        self.outbox = OutboxSender(
            self.store,
            build_reply_hop(settings),
            instance=settings.instance_name,
            retry=settings.reply_retry,
            poll=settings.outbox_poll,
            lease=settings.outbox_lease,
            timeout=settings.upstream_timeout,
            metrics=self.metrics,
        )
        self.detectors: ReaderPool | None = None
        if stages is None:
            # The key of the numbers' keyed hashes comes from the web secret, which instances
            # behind one address share: one instance's record matches on another's page.
            secret = session_secret(settings.web_secret_file or settings.data_dir / "web-secret")
            self.detectors = ReaderPool(
                EngineConfig(
                    nlp_model=settings.nlp_model,
                    threshold=settings.detect_threshold,
                    number_key=number_key(secret),
                ),
                settings.detect_workers,
                settings.trust,
            )
            built: list[Stage] = [
                ParseStage(),
                DetectStage(self.detectors, settings.inspect_budget),
            ]
            if settings.sender_checks:
                warm_up()
                built.append(
                    AuthStage(
                        settings.slot,
                        resolver or DnsResolver(settings.dns_timeout, settings.dns_servers),
                        settings.hostname,
                        tuple(settings.trusted_authserv_ids),
                    )
                )
            stages = tuple(built)
        self.pipeline = Pipeline(
            store=self.store,
            policy=self.policy,
            hostname=settings.hostname,
            stages=stages,
            workers=settings.inspect_workers,
            inspect_budget=settings.inspect_budget,
            reply_budget=settings.reply_budget,
            reply_identity=ReplyIdentity(
                from_address=settings.reply_from_address,
                envelope_from=settings.reply_envelope_from,
            ),
            on_reply_queued=self.outbox.wake,
            metrics=self.metrics,
            # One inspection thread and one detection worker stay free for ordinary mail.
            large_lanes=max(1, min(settings.inspect_workers, settings.detect_workers) - 1),
        )
        self.handler = GatewayHandler(
            next_hop=self.next_hop,
            pipeline=self.pipeline,
            slot=settings.slot,
            domains=settings.domains,
            trusted_clients=settings.trusted_clients,
            max_recipients=settings.max_recipients,
            max_inflight=settings.max_inflight,
            max_inflight_per_client=settings.max_inflight_per_client,
            offer_dsn=settings.upstream is not None,  # the Maildir is no DSN-aware delivery
            group_of=group_of or self.policy.group_of,
        )
        self._tls = build_tls_context(settings)
        self._server: asyncio.Server | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._sessions: weakref.WeakSet[GatewaySMTP] = weakref.WeakSet()
        self.connections = ConnectionLimit(
            settings.max_connections, settings.max_connections_per_client, settings.trusted_clients
        )
        self.web: WebServer | None = None
        self.metrics_web: WebServer | None = None
        self.web_context: WebContext | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    def _protocol(self) -> GatewaySMTP:
        s = self.settings
        protocol = GatewaySMTP(
            self.handler,
            line_length_limit=s.max_line_length,
            limit=self.connections,
            data_limits=DataLimits(deadline=s.data_timeout, min_rate=s.data_min_rate),
            data_size_limit=s.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=s.hostname,
            ident="Postvagt",
            tls_context=self._tls,
            timeout=s.session_timeout,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(protocol)
        return protocol

    async def start(self) -> None:
        s = self.settings
        # A port in use is said at once, not after the engines took their seconds to build.
        _check_free(s.listen_host, s.listen_port, "")
        _check_free(*s.web_address, "staff page ")
        if s.metrics_address is not None:
            _check_free(*s.metrics_address, "metrics ")
        # Migrations and the recovery of interrupted records, before the first client.
        await asyncio.to_thread(self.store.prepare, timedelta(seconds=2 * s.reply_budget))
        if self.detectors is not None:
            # Engines are built before the first client, not on its first message.
            await asyncio.to_thread(self.detectors.warm_up)
        await self._start_web()  # before SMTP: a port clash stops us before any mail
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol, host=s.listen_host, port=s.listen_port, reuse_address=True
        )
        self._watcher = asyncio.ensure_future(self._watch_policy())
        if s.upstream and not s.reply_relay:
            log.warning(
                "auto-replies go out through the upstream %s (reply_relay unset): it must "
                "relay to the internet for this host, else every reply fails (Exchange: "
                "550 5.7.54) — see README, Auto-replies",
                s.upstream,
            )
        await self._set_up_digital_post()
        self.outbox.start()
        self._housekeeper = asyncio.ensure_future(self._housekeeping())
        log.info(
            "listening on %s:%d (slot %s), next hop %s",
            s.listen_host,
            self.port,
            s.slot,
            s.upstream or f"Maildir {s.maildir}",
        )

    async def _secret(self) -> str:
        s = self.settings
        return await asyncio.to_thread(
            session_secret, s.web_secret_file or s.data_dir / "web-secret"
        )

    async def _set_up_digital_post(self) -> None:
        """Answers through Digital Post (issue 19), when the certificate is set."""
        s = self.settings
        if s.digital_post_certificate is None or s.digital_post_cvr is None:
            return
        from gateway.act import digital_post

        desk, sender = digital_post.set_up(
            str(s.digital_post_certificate),
            s.digital_post_cvr,
            production=s.digital_post_environment == "production",
            base_url=s.digital_post_base_url,
            secret=await self._secret(),
            retry=s.reply_retry,
            wake=self.outbox.wake,
            letter_kind=s.digital_post_physical_mail,
            lookups_per_hour=s.digital_post_lookups_per_hour,
        )
        self.outbox.register_digital_post(sender)
        if self.web_context is not None:
            self.web_context.digital_post = desk
        log.info(
            "Digital Post answers on (%s, sender CVR %s)",
            s.digital_post_base_url or s.digital_post_environment,
            s.digital_post_cvr,
        )

    async def _start_web(self) -> None:
        s = self.settings
        secret = await self._secret()
        context = WebContext(
            store=self.store,
            policy=self.policy,
            templates=templates(),
            metrics=self.metrics,
            release=self.release,
            preview=self._preview if self.detectors is not None else None,
            in_flight=lambda: self.handler.inflight,
            health=Health(
                self.store, folders_written(s), s.health_min_free_mb, self.detectors
            ).problems,
            user_header=s.web_user_header,
            trusted_proxies=list(s.web_trusted_proxies),
            metrics_elsewhere=s.metrics_address is not None,
            metrics_token=await asyncio.to_thread(lambda: s.metrics_token),
        )
        self.web_context = context
        app = build_app(
            context,
            secret=secret,
            secure_cookie=s.web_cookie_secure,
            sso=build_single_sign_on(s),
        )
        self.web = WebServer(app, *s.web_address)
        await self.web.start()
        log.info("staff page on http://%s:%d/", s.web_address[0], self.web.port)
        if s.metrics_address is not None:
            self.metrics_web = WebServer(build_metrics_app(context), *s.metrics_address)
            await self.metrics_web.start()
            log.info("/metrics on http://%s:%d/", s.metrics_address[0], self.metrics_web.port)
        elif context.metrics_token is None and not _is_loopback(s.web_address[0]):
            log.warning(
                "/metrics (rule names, counts per kind of data) answers anyone who reaches "
                "%s without a login: set metrics_listen or metrics_token_file (README)",
                s.web_listen,
            )

    async def _preview(self, raw: bytes) -> Preview:
        """The staff page's masked text of a held message, from a detection worker."""
        assert self.detectors is not None
        return await self.detectors.preview(raw, 20.0)

    async def release(self, message_id: str) -> Reply:
        """Deliver a held message to the next hop (gateway.act.release)."""
        return await release_held(
            self.store, self.next_hop, message_id, timeout=self.settings.upstream_timeout
        )

    async def housekeep(self) -> None:
        """Interrupted records, retention and the daily digests: run every few minutes by
        every instance (the store's claims make each digest once a day; purges are
        idempotent)."""
        s = self.settings
        # A record left pending by a try that broke off (and whose settling failed too) is
        # not left pending and open on the staff page until the next start.
        recovered = await self.store.run(
            records.recover_interrupted, timedelta(seconds=2 * s.reply_budget)
        )
        if recovered:
            log.warning("%d message records were left pending; marked failed", recovered)
        while True:
            batch = await self.store.run(
                retention.purge_batch,
                records_days=s.retention_days,
                quarantine_days=s.quarantine_retention_days,
            )
            await asyncio.to_thread(retention.remove_files, self.store.quarantine, batch.files)
            if retention.empty(batch):
                break
            log.info("retention: purged %s", batch)
        if s.digest_hour is not None and datetime.now().hour >= s.digest_hour:
            queued = await self.store.run(
                digest.queue_digests,
                self.policy.current,
                from_address=s.reply_from_address,
                base_url=s.web_base_url,
            )
            if queued:
                log.info("daily digest queued for %s", ", ".join(queued))
                self.outbox.wake()

    async def _pause(self, seconds: float) -> bool:
        """Sleep, or return False at once when the gateway stops. (A loop must not rely on
        being cancelled alone: before Python 3.12, wait_for can swallow a cancellation.)"""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _housekeeping(self, every: float = 300.0) -> None:
        while not self._closing.is_set():
            try:
                await self.housekeep()
            except Exception:
                log.exception("housekeeping failed; next try in %.0f s", every)
            if not await self._pause(every):
                return

    async def _watch_policy(self, every: float = 2.0) -> None:
        """Reload the policy when its file changes (SIGHUP reloads at once, see cli)."""
        while await self._pause(every):
            await asyncio.to_thread(self.policy.reload_if_changed)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, let messages in flight finish (up to shutdown_grace), then close
        the remaining client sessions, which gives their open upstream transactions back."""
        started = time.monotonic()

        def step(name: str) -> None:
            log.debug("stop: %s after %.2f s", name, time.monotonic() - started)

        if self._server is not None:
            self._server.close()
        self._closing.set()
        background = [t for t in (self._watcher, self._housekeeper) if t is not None]
        for task in background:
            task.cancel()
        if background:
            await asyncio.wait(background, timeout=15)
        step("background tasks")
        await self.handler.drain(self.settings.shutdown_grace)
        step("drained")
        open_sessions = [s for s in self._sessions if s.transport is not None]
        for session in open_sessions:
            if session.transport is not None:  # it may have gone meanwhile
                session.transport.close()
        # connection_lost (which releases a session's upstream transaction) runs a few loop
        # iterations later, later still for TLS sessions: wait for it, boundedly.
        for _ in range(100):
            if all(s.transport is None for s in open_sessions):
                break
            await asyncio.sleep(0.02)
        await self.handler.drain(min(self.settings.shutdown_grace, 5))
        await self.handler.cancel_background()
        step("sessions")
        await self.outbox.stop()
        step("outbox")
        if self.web is not None:
            await self.web.stop()
        if self.metrics_web is not None:
            await self.metrics_web.stop()
        step("web")
        await self.next_hop.close()
        await self.pipeline.aclose()
        if self.detectors is not None:
            self.detectors.close()
        await asyncio.to_thread(self.store.close)
        log.info("stopped in %.1f s", time.monotonic() - started)


def _check_free(host: str, port: int, what: str) -> None:
    """OSError, named like the real bind's, if HOST:PORT cannot be bound now (0: any port)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            where = f"{what}{host}:{port}: {e.strerror}" if what else e.strerror
            raise OSError(e.errno, where) from e
