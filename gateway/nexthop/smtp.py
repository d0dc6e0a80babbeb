"""The SMTP next hop: a pool of persistent aiosmtplib connections to the upstream server.

Each SMTP transaction of ours borrows one connection from MAIL FROM to the end of DATA (or
RSET) and gives it back. A connection that broke, timed out or is in an unknown state is
closed, never reused. A stale pooled connection that fails at MAIL is replaced once: nothing
was sent yet, so the retry cannot duplicate mail.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiosmtplib

from gateway.model import TEMPFAIL, Reply, Transaction

log = logging.getLogger("postvagt.relay")


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
    ) -> None:
        self.host = host
        self.port = port
        self._local_hostname = local_hostname
        self._timeout = timeout
        self._max_idle = max_idle_connections
        self._idle_seconds = idle_seconds
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []

    async def begin(self) -> Transaction:
        return SmtpTransaction(self)

    async def connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            start_tls=False,
        )
        try:
            await client.connect()
            await client.ehlo()
        except (aiosmtplib.SMTPException, OSError) as e:
            client.close()
            raise UpstreamUnavailable(f"{self.host}:{self.port}: {e}") from e
        return client

    def take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            since, client = self._idle.pop()
            if client.is_connected and now - since < self._idle_seconds:
                return client
            client.close()
        return None

    def give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and len(self._idle) < self._max_idle:
            self._idle.append((time.monotonic(), client))
        else:
            client.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, client in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


def _reply(e: aiosmtplib.SMTPResponseException) -> Reply:
    return Reply(e.code, e.message)


class SmtpTransaction(Transaction):
    """One transaction on one upstream connection."""

    def __init__(self, hop: SmtpNextHop) -> None:
        self._hop = hop
        self._client: aiosmtplib.SMTP | None = None
        self._open = False  # MAIL accepted and no final DATA reply yet: RSET before reuse

    async def mail(self, sender: str, options: list[str], smtputf8: bool) -> Reply:
        encoding = "utf-8" if smtputf8 else "ascii"
        pooled = self._hop.take_idle()
        for client in ([pooled] if pooled else []) + [None]:
            try:
                if client is None:
                    client = await self._hop.connect()
                self._client = client
                # Open from here on: if we are cancelled before the answer, release() must
                # RSET (or drop) the connection, never pool it mid-transaction.
                self._open = True
                response = await client.mail(sender, options=options, encoding=encoding)
            except aiosmtplib.SMTPResponseException as e:
                self._open = False  # MAIL refused: no transaction upstream
                if e.code == 421:
                    self._discard()
                return _reply(e)
            except asyncio.CancelledError:
                self._discard()
                raise
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

    async def rcpt(self, recipient: str, smtputf8: bool, *, notify_never: bool = False) -> Reply:
        if self._client is None:
            return TEMPFAIL
        dsn = self._client.supports_extension("dsn")
        options = ["NOTIFY=NEVER"] if notify_never and dsn else []
        try:
            response = await self._client.rcpt(
                recipient, options=options, encoding="utf-8" if smtputf8 else "ascii"
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

    async def data(self, message: bytes, timeout: float) -> Reply:
        if self._client is None:
            return TEMPFAIL
        try:
            response = await self._client.data(message, timeout=timeout)
        except aiosmtplib.SMTPResponseException as e:
            # Refused at the final "." or already at the DATA command: the latter leaves
            # the transaction open upstream, so release() sends RSET either way.
            if e.code == 421:
                self._discard()
            return _reply(e)
        except asyncio.CancelledError:
            self._discard()
            raise
        except (aiosmtplib.SMTPException, OSError) as e:
            # Timed out or dropped after the final ".": the upstream may or may not have the
            # message. 451 makes the client retry; a duplicate is possible, a loss is not.
            log.warning("upstream failed at DATA: %s", type(e).__name__)
            self._discard()
            return TEMPFAIL
        self._open = False
        return Reply(response.code, response.message)

    async def release(self) -> None:
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
