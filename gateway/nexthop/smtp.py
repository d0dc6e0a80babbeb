"""The SMTP next hop: aiosmtplib connections to the upstream server, pooled, with TLS.

Each SMTP transaction of ours borrows one connection from MAIL FROM to the end of DATA (or
RSET) and gives it back. A connection that broke, timed out or is in an unknown state is
closed, never reused. A stale pooled connection that fails at MAIL is replaced once: nothing
was sent yet, so the retry cannot duplicate mail.

What the next hop does not offer is not sent to it: DSN parameters go on only where it
offers DSN (RFC 3461 section 5.2.2 otherwise: a "relayed" report where the client asked for
SUCCESS, which the caller reads from ``relayed_dsn``), and mail that needs SMTPUTF8 is
refused in line with ``553 5.6.7`` where it does not offer SMTPUTF8 (RFC 6531), so the
sender's server bounces it with the right reason instead of the next hop garbling it.

A client still sending its DATA slowly does not hold a next-hop connection: ``park`` gives
it back (after RSET) and ``data`` replays MAIL and RCPT on a connection of the pool.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiosmtplib

from gateway.model import TEMPFAIL, DsnRequest, Reply, Transaction
from gateway.nexthop.pool import Pool
from gateway.nexthop.tls import ClientTls, TlsLevel, TlsRequired

log = logging.getLogger("postvagt.relay")

NEEDS_SMTPUTF8 = Reply(553, "5.6.7 The next hop does not accept internationalised mail (SMTPUTF8)")
HEADERS_NEED_SMTPUTF8 = Reply(
    554, "5.6.7 Non-ASCII header fields need SMTPUTF8, which the next hop does not offer"
)


class UpstreamUnavailable(Exception):
    """The next hop could not be reached or stopped answering."""


class SmtpNextHop:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        local_hostname: str,
        timeout: float,
        max_idle_connections: int,
        idle_seconds: float,
        tls: ClientTls | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._local_hostname = local_hostname
        self._timeout = timeout
        self.tls = tls or ClientTls(TlsLevel.NONE)
        self.pool = Pool(max_idle_connections, idle_seconds)

    async def begin(self) -> Transaction:
        return SmtpTransaction(self)

    async def connect(self) -> aiosmtplib.SMTP:
        """A fresh connection, greeted, with TLS as the level asks. Raises
        UpstreamUnavailable, or TlsRequired where TLS is required and cannot be had."""
        try:
            return await self._connect(self.tls.level)
        except _HandshakeFailed as e:
            if self.tls.required:
                raise TlsRequired(f"{self.host}:{self.port}: {e}") from e
            # "may": like Postfix, try again in cleartext when the handshake fails.
            log.warning("STARTTLS with %s:%d failed (%s); tls may: cleartext", *self._at(), e)
            return await self._connect(TlsLevel.NONE)

    def _at(self) -> tuple[str, int]:
        return self.host, self.port

    async def _connect(self, level: TlsLevel) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            # aiosmtplib's own STARTTLS is opportunistic (it goes on in cleartext where the
            # hop offers none): off, so that the level decides below and "encrypt"/"verify"
            # fail closed before any MAIL (tests/test_nexthop_tls.py, a real Postfix).
            start_tls=False,
        )
        try:
            await client.connect()
            await client.ehlo()
            if level is not TlsLevel.NONE:
                if not client.supports_extension("starttls"):
                    if level.required:
                        raise TlsRequired(f"{self.host}:{self.port} does not offer STARTTLS")
                    return client
                try:
                    await client.starttls(tls_context=self.tls.context, server_hostname=self.host)
                except (ssl.SSLError, ssl.CertificateError) as e:
                    raise _HandshakeFailed(_why(e)) from e
                except aiosmtplib.SMTPResponseException as e:
                    raise _HandshakeFailed(f"STARTTLS refused: {e.code} {e.message}") from e
                except aiosmtplib.SMTPConnectError as e:
                    raise _HandshakeFailed(_why(e)) from e
                await client.ehlo()  # RFC 3207: what was offered before TLS no longer holds
        except (TlsRequired, _HandshakeFailed):
            client.close()
            raise
        except (aiosmtplib.SMTPException, OSError) as e:
            client.close()
            if level is not TlsLevel.NONE and _is_tls_error(e):
                raise _HandshakeFailed(_why(e)) from e
            raise UpstreamUnavailable(f"{self.host}:{self.port}: {e}") from e
        return client

    def take_idle(self) -> aiosmtplib.SMTP | None:
        return self.pool.take()

    def give_back(self, client: aiosmtplib.SMTP) -> None:
        self.pool.give_back(client)

    async def close(self) -> None:
        await self.pool.close()


class _HandshakeFailed(Exception):
    """STARTTLS was offered but the handshake or the certificate check failed."""


def _is_tls_error(e: BaseException) -> bool:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _why(e: BaseException) -> str:
    """The reason of a failed handshake in a log line's words (verify_message where the
    certificate check said why)."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate not accepted: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError):
            return f"TLS handshake failed: {seen.reason or seen}"
        seen = seen.__cause__ or seen.__context__
    return f"TLS handshake failed: {e}"


def tls_version(client: aiosmtplib.SMTP | None) -> str | None:
    if client is None or client.transport is None:
        return None
    ssl_object = client.transport.get_extra_info("ssl_object")
    return ssl_object.version() if ssl_object is not None else None


def _reply(e: aiosmtplib.SMTPResponseException) -> Reply:
    return Reply(e.code, e.message)


class SmtpTransaction(Transaction):
    """One transaction on one upstream connection (or, parked, on none for a while)."""

    def __init__(self, hop: SmtpNextHop) -> None:
        self._hop = hop
        self._client: aiosmtplib.SMTP | None = None
        self._open = False  # MAIL accepted and no final DATA reply yet: RSET before reuse
        self._lock = asyncio.Lock()  # park() and data() never interleave
        self._mail: tuple[str, list[str], bool, DsnRequest | None] | None = None
        self._rcpts: list[tuple[str, bool, DsnRequest | None]] = []
        self._parked = False
        self._ascii_only = False  # SMTPUTF8 asked for, but the hop does not offer it
        self.relayed_dsn: list[tuple[str, DsnRequest]] = []
        self.tls_version: str | None = None
        self.hop_name = hop.host

    async def mail(
        self, sender: str, options: list[str], smtputf8: bool, *, dsn: DsnRequest | None = None
    ) -> Reply:
        self._mail = (sender, options, smtputf8, dsn)
        self.mail_dsn = dsn
        pooled = self._hop.take_idle()
        for client in ([pooled] if pooled else []) + [None]:
            try:
                if client is None:
                    client = await self._hop.connect()
                self._client = client
                self.tls_version = tls_version(client)
                refused = self._cannot_carry(sender, smtputf8)
                if refused is not None:
                    return refused
                # Open from here on: if we are cancelled before the answer, release() must
                # RSET (or drop) the connection, never pool it mid-transaction.
                self._open = True
                response = await client.mail(
                    sender,
                    options=self._mail_options(client, options, dsn),
                    encoding="utf-8" if smtputf8 and not self._ascii_only else "ascii",
                )
            except aiosmtplib.SMTPResponseException as e:
                self._open = False  # MAIL refused: no transaction upstream
                if e.code == 421:
                    self._discard()
                if e.code == 530:
                    # "Must issue a STARTTLS command first": our configuration, not the
                    # message's fault. Passed on, it would bounce the citizen's mail.
                    log.error("the next hop requires TLS (530); set upstream_tls: %s", e.message)
                    return TEMPFAIL
                return _reply(e)
            except asyncio.CancelledError:
                self._discard()
                raise
            except TlsRequired as e:
                log.error("not sending: TLS required towards the next hop: %s", e)
                return TEMPFAIL
            except UpstreamUnavailable as e:
                log.warning("upstream unavailable at MAIL: %s", e)
                return TEMPFAIL
            except (aiosmtplib.SMTPException, OSError) as e:
                self._discard()
                if client is pooled:
                    continue  # a stale pooled connection: try once on a fresh one
                log.warning("upstream failed at MAIL: %s", type(e).__name__)
                return TEMPFAIL
            return Reply(response.code, response.message)
        return TEMPFAIL

    def _cannot_carry(self, sender: str, smtputf8: bool) -> Reply | None:
        assert self._client is not None
        self._ascii_only = smtputf8 and not self._client.supports_extension("smtputf8")
        if self._ascii_only and not sender.isascii():
            return NEEDS_SMTPUTF8
        return None

    def _mail_options(
        self, client: aiosmtplib.SMTP, options: list[str], dsn: DsnRequest | None
    ) -> list[str]:
        if self._ascii_only:
            options = [o for o in options if o.upper() != "SMTPUTF8"]
        if dsn is not None and client.supports_extension("dsn"):
            options = options + dsn.mail_options()
        return options

    async def rcpt(self, recipient: str, smtputf8: bool, *, dsn: DsnRequest | None = None) -> Reply:
        if self._client is None:
            return TEMPFAIL
        if self._ascii_only and not recipient.isascii():
            return NEEDS_SMTPUTF8
        reply = await self._send_rcpt(self._client, recipient, smtputf8, dsn)
        if reply.positive:
            self._rcpts.append((recipient, smtputf8, dsn))
            if dsn is not None and "SUCCESS" in dsn.notify and not self._offers_dsn():
                self.relayed_dsn.append((recipient, dsn))
        return reply

    def _offers_dsn(self) -> bool:
        return self._client is not None and self._client.supports_extension("dsn")

    async def _send_rcpt(
        self, client: aiosmtplib.SMTP, recipient: str, smtputf8: bool, dsn: DsnRequest | None
    ) -> Reply:
        options = dsn.rcpt_options() if dsn is not None and client.supports_extension("dsn") else []
        try:
            response = await client.rcpt(
                recipient,
                options=options,
                encoding="utf-8" if smtputf8 and not self._ascii_only else "ascii",
            )
        except aiosmtplib.SMTPResponseException as e:
            if e.code == 421:
                self._discard()
            return _reply(e)
        except asyncio.CancelledError:
            self._discard()
            raise
        except (aiosmtplib.SMTPException, OSError, UnicodeError) as e:
            log.warning("upstream failed at RCPT: %s", type(e).__name__)
            self._discard()
            return TEMPFAIL
        return Reply(response.code, response.message)

    async def park(self) -> None:
        """Give the connection back while the client is still sending (RSET first); the
        transaction is replayed on a pooled or fresh connection when the data is here."""
        async with self._lock:
            if self._client is None or not self._open or self._parked:
                return
            self._parked = True
            await self.release_connection()

    async def _replay(self) -> Reply:
        """MAIL and every accepted RCPT again, after ``park``. A refusal now that was an
        acceptance before is temporary for the whole message, unless the one recipient's
        own permanent refusal: the others must not bounce for it."""
        assert self._mail is not None
        self._parked = False
        sender, options, smtputf8, dsn = self._mail
        reply = await self.mail(sender, options, smtputf8, dsn=dsn)
        if not reply.positive:
            return reply if reply.code < 500 or len(self._rcpts) == 1 else TEMPFAIL
        assert self._client is not None
        for recipient, utf8, rdsn in self._rcpts:
            reply = await self._send_rcpt(self._client, recipient, utf8, rdsn)
            if not reply.positive:
                return reply if reply.code < 500 or len(self._rcpts) == 1 else TEMPFAIL
        return reply

    async def data(self, message: bytes, timeout: float) -> Reply:
        async with self._lock:
            if self._parked:
                replayed = await self._replay()
                if not replayed.positive:
                    return replayed
            if self._client is None:
                return TEMPFAIL
            if self._ascii_only and _headers_need_utf8(message):
                return HEADERS_NEED_SMTPUTF8
            try:
                response = await self._client.data(message, timeout=timeout)
            except aiosmtplib.SMTPResponseException as e:
                # Refused at the final "." or already at the DATA command: the latter
                # leaves the transaction open upstream, so release() sends RSET either way.
                if e.code == 421:
                    self._discard()
                return _reply(e)
            except asyncio.CancelledError:
                self._discard()
                raise
            except (aiosmtplib.SMTPException, OSError) as e:
                # Timed out or dropped after the final ".": the upstream may or may not have
                # the message. 451 makes the client retry; a duplicate is possible, a loss
                # is not.
                log.warning("upstream failed at DATA: %s", type(e).__name__)
                self._discard()
                return TEMPFAIL
            self._open = False
            return Reply(response.code, response.message)

    async def release(self) -> None:
        await self.release_connection()

    async def release_connection(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._open:
            self._open = False
            try:
                await client.rset(timeout=min(self._hop._timeout, 5))
            except (aiosmtplib.SMTPException, OSError):
                client.close()
                return
            except asyncio.CancelledError:
                client.close()
                raise
        self._hop.give_back(client)

    def _discard(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._open = False


def _headers_need_utf8(message: bytes) -> bool:
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end]
    return not head.isascii()
