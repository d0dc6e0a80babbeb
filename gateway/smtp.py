"""The SMTP front: aiosmtpd hooks that know SMTP and nothing else.

The handler checks who may send to whom (slot, local domains, limits, recipient group),
keeps the upstream transaction in lock-step with the client's, and maps the pipeline's
Outcome to a reply. Everything about the message itself happens in the pipeline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from gateway import dsn
from gateway.connections import BUSY, ConnectionLimit
from gateway.domains import a_label
from gateway.model import (
    TEMPFAIL,
    DsnRequest,
    NextHop,
    Received,
    Reply,
    Slot,
    TlsInfo,
    Transaction,
)
from gateway.pipeline import Pipeline

log = logging.getLogger("postvagt.smtp")

GroupOf = Callable[[str], str]
"""Maps a recipient address to the name of the recipient group (policy) that governs it."""

OUTBOUND = "outbound"


def _bad_address(address: str) -> bool:
    # Control characters have no place in an address; passed on they would be refused by
    # the next hop (or the database) on every retry, so refuse them once, permanently.
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in address)


def _sender(address: str) -> str:
    """aiosmtpd keeps the null sender (bounces, DSNs) as "<>" (its envelope needs a true
    value); after us, aiosmtplib and the records included, it is the empty address."""
    return "" if address == "<>" else address


BAD_ADDRESS = "553 5.1.3 Address contains control characters"
NEEDS_SMTPUTF8 = "553 5.6.7 Non-ASCII address needs SMTPUTF8"


def _address_problem(address: str, smtputf8: bool) -> str | None:
    """A permanent reply for addresses no next hop could take, else None."""
    if _bad_address(address):
        return BAD_ADDRESS
    try:
        address.encode("utf-8")  # undecodable bytes arrive as surrogates
    except UnicodeEncodeError:
        return "553 5.1.3 Address is not valid UTF-8"
    if not smtputf8 and not address.isascii():
        return NEEDS_SMTPUTF8
    return None


def single_group(recipient: str) -> str:
    """Until policies name mailboxes, every local recipient is governed by one policy."""
    return "default"


class GatewaySession(Session):
    """aiosmtpd's session plus our per-connection state."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.transaction: Transaction | None = None
        self.group: str | None = None
        self.tls: TlsInfo | None = None
        self.busy = False  # a message of this session is being inspected or delivered
        self.counted_peer: str | None = None  # its transaction counts for this address
        self.mail_dsn: DsnRequest | None = None  # RET/ENVID of the MAIL being handled
        self.rcpt_dsn: DsnRequest | None = None  # NOTIFY/ORCPT of the RCPT being handled


@dataclass(frozen=True)
class DataLimits:
    """How long the DATA phase may take and how slowly it may trickle (Postfix has
    ``smtpd_min_data_rate``, Exchange its message rate limits): past ``deadline`` seconds,
    or slower on average than ``min_rate`` bytes a second after ``grace`` seconds, the
    client gets 421 and is disconnected. After ``park_after`` seconds the next-hop
    connection is given back until the data is complete."""

    deadline: float = 600.0
    min_rate: float = 500.0
    grace: float = 30.0
    park_after: float = 2.0
    tick: float = 1.0


TOO_SLOW = "421 4.4.2 Message data too slow or too long; closing connection"


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with a longer line limit, DSN parameters, a watch on the DATA phase,
    and a hook when the client goes away."""

    def __init__(
        self,
        handler: GatewayHandler,
        *,
        line_length_limit: int,
        limit: ConnectionLimit | None = None,
        data_limits: DataLimits | None = None,
        **kwargs: Any,
    ) -> None:
        # Read by SMTP.__init__ to size its stream buffer, so set it first.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)
        self._gateway_handler = handler
        self._limit = limit
        self._counted: str | None = None  # the peer this connection is counted for
        self._refused = False
        self._data_limits = data_limits or DataLimits()
        self._bytes_in = 0  # every byte the client sent, for the DATA rate

    def data_received(self, data: bytes) -> None:
        self._bytes_in += len(data)
        super().data_received(data)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        session = self.session
        watch = None
        if isinstance(session, GatewaySession) and session.transaction is not None and not arg:
            watch = self.loop.create_task(self._watch_data(session))
        try:
            await super().smtp_DATA(arg)
        finally:
            if watch is not None:
                watch.cancel()

    async def _watch_data(self, session: GatewaySession) -> None:
        """While the client sends its data (until handle_DATA marks the session busy)."""
        limits = self._data_limits
        started, bytes_before = self.loop.time(), self._bytes_in
        parked = False
        while True:
            await asyncio.sleep(limits.tick)
            if session.busy or self.transport is None:
                return
            elapsed = self.loop.time() - started
            if not parked and elapsed >= limits.park_after and session.transaction is not None:
                parked = True
                await session.transaction.park()
            rate = (self._bytes_in - bytes_before) / elapsed
            if elapsed > limits.deadline or (elapsed > limits.grace and rate < limits.min_rate):
                log.warning(
                    "client %s: DATA too slow (%.0f bytes/s over %.0f s); disconnected",
                    _peer_address(session),
                    rate,
                    elapsed,
                )
                await self.push(TOO_SLOW)
                if self.transport is not None:
                    self.transport.close()
                return

    def _create_session(self) -> GatewaySession:
        return GatewaySession(self.loop)

    # -- DSN parameters (RFC 3461): taken out before aiosmtpd, which refuses any with 555 --

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        assert isinstance(self.session, GatewaySession)
        try:
            arg, self.session.mail_dsn = self._take_dsn(arg, "FROM:", dsn.MAIL_KEYWORDS)
        except dsn.DsnSyntaxError as e:
            await self.push(str(e))
            return
        await super().smtp_MAIL(arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        assert isinstance(self.session, GatewaySession)
        try:
            arg, self.session.rcpt_dsn = self._take_dsn(arg, "TO:", dsn.RCPT_KEYWORDS)
        except dsn.DsnSyntaxError as e:
            await self.push(str(e))
            return
        await super().smtp_RCPT(arg)

    def _take_dsn(
        self, arg: str | None, keyword: str, keywords: frozenset[str]
    ) -> tuple[str | None, DsnRequest | None]:
        """The argument for aiosmtpd without its DSN parameters, and those parameters.
        Only after EHLO: a HELO client's parameters stay aiosmtpd's syntax error."""
        assert self.session is not None
        if not arg or not self.session.extended_smtp or "=" not in arg:
            return arg, None  # no parameter with a value: nothing to take (the hot path)
        stripped = self._strip_command_keyword(keyword, arg)
        if stripped is None:
            return arg, None
        address, params = self._getaddr(stripped)
        if address is None or not params:
            return arg, None
        taken = dsn.split_params(stripped[: len(stripped) - len(params)], params, keywords)
        return f"{keyword}{taken.rest}", dsn.request(taken.params)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._limit is not None and self._counted is None and self.transport is None:
            peer = (transport.get_extra_info("peername") or ("?",))[0]
            if not self._limit.admit(str(peer)):
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(BUSY)
                transport.close()
                self._refused = True
                return
            self._counted = str(peer)
        # After STARTTLS aiosmtpd starts a fresh session (RFC 3207 resets the state): the old
        # one's upstream transaction must be given back, or it leaks with its inflight count.
        previous = self.session
        super().connection_made(transport)
        if isinstance(previous, GatewaySession) and previous is not self.session:
            self._gateway_handler.session_closed(previous)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # never admitted: nothing of aiosmtpd's was started
        if self._counted is not None and self._limit is not None:
            self._limit.release(self._counted)
            self._counted = None
        session = self.session
        super().connection_lost(error)
        if isinstance(session, GatewaySession):
            self._gateway_handler.session_closed(session)


class GatewayHandler:
    def __init__(
        self,
        *,
        next_hop: NextHop,
        pipeline: Pipeline,
        slot: Slot,
        domains: list[str],
        trusted_clients: list[str],
        max_recipients: int,
        max_inflight: int,
        max_inflight_per_client: int | None = None,
        offer_dsn: bool = True,
        group_of: GroupOf = single_group,
    ) -> None:
        self._next_hop = next_hop
        self._pipeline = pipeline
        self._slot = slot
        self._domains = frozenset(a_label(d) for d in domains)
        self._trusted = [ipaddress.ip_network(n, strict=False) for n in trusted_clients]
        self._max_recipients = max_recipients
        self._max_inflight = max_inflight
        self._max_per_client = max_inflight_per_client or max_inflight
        self._offer_dsn = offer_dsn
        self._group_of = group_of
        self.inflight = 0
        self._inflight_by_peer: Counter[str] = Counter()
        self._background: set[asyncio.Task[Any]] = set()

    # -- who may send to whom --------------------------------------------------------------

    def _is_local(self, address: str) -> bool:
        if not self._domains:
            return True  # the embedded Maildir default: loopback only, every domain is local
        return a_label(address.rpartition("@")[2]) in self._domains

    def _trusted_peer(self, session: Session) -> bool:
        peer = session.peer  # (host, port) for TCP; aiosmtpd types it loosely
        try:
            ip = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else "")
        except (TypeError, ValueError, IndexError):
            return False
        return any(ip in net for net in self._trusted)

    def _group(self, address: str) -> str:
        if self._slot is Slot.AFTER_QUEUE and not self._is_local(address):
            return OUTBOUND
        return self._group_of(address)

    # -- aiosmtpd hooks ----------------------------------------------------------------------

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        await self._end_transaction(session)
        if self._offer_dsn:
            responses.insert(len(responses) - 1, "250-DSN")  # before the closing "250 HELP"
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        assert isinstance(session, GatewaySession)
        await self._end_transaction(session)  # EHLO/HELO reset aiosmtpd's state, not ours
        if self._slot is Slot.AFTER_QUEUE and not self._trusted_peer(session):
            return "550 5.7.1 Not accepting mail from this client"
        if problem := _address_problem(address, "SMTPUTF8" in mail_options):
            return problem
        if self.inflight >= self._max_inflight:
            return "451 4.3.2 System busy, please try again later"
        peer = None if self._trusted_peer(session) else _peer_address(session)
        if peer is not None and self._inflight_by_peer[peer] >= self._max_per_client:
            # Slow clients from one address cannot take every slot (README, promise table).
            return "451 4.3.2 Too many transactions from your address, please try again later"
        session.tls = _tls_info(server)
        transaction = await self._next_hop.begin()
        self._count_in(session, peer)
        session.transaction = transaction
        reply = await transaction.mail(
            _sender(address), mail_options, envelope.smtp_utf8, dsn=session.mail_dsn
        )
        if not reply.positive:
            await self._end_transaction(session)
            return str(reply)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return str(reply)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        assert isinstance(session, GatewaySession)
        if session.transaction is None:
            return str(TEMPFAIL)
        if problem := _address_problem(address, envelope.smtp_utf8):
            return problem
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return "452 4.5.3 Too many recipients"
        if self._slot is not Slot.AFTER_QUEUE and not self._is_local(address):
            return "550 5.7.1 Relaying denied"
        group = self._group(address)
        if session.group is not None and group != session.group:
            # One transaction, one verdict: the client sends this recipient separately.
            return "452 4.5.3 Recipient of another policy group; send it in a separate transaction"
        reply = await session.transaction.rcpt(address, envelope.smtp_utf8, dsn=session.rcpt_dsn)
        if reply.positive:
            session.group = group
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return str(reply)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(session, GatewaySession)
        transaction, group = session.transaction, session.group
        if transaction is None or group is None:
            return str(TEMPFAIL)
        assert isinstance(envelope.original_content, bytes)
        received = Received(
            id=str(uuid.uuid4()),
            received_at=datetime.now(UTC),
            peer=str(session.peer[0]) if session.peer else "unknown",
            helo=session.host_name,
            mail_from=_sender(envelope.mail_from or ""),
            rcpt_tos=tuple(envelope.rcpt_tos),
            group=group,
            raw=envelope.original_content,
            tls=session.tls,
            smtputf8=envelope.smtp_utf8,
            inspect=group != OUTBOUND,
        )
        # Once the bytes are here, the message is finished even if the client goes away:
        # its upstream transaction and our bookkeeping must not be cut in half.
        session.busy = True
        task = asyncio.ensure_future(self._process(received, session))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        reply = await asyncio.shield(task)
        return str(reply)

    async def _process(self, received: Received, session: GatewaySession) -> Reply:
        transaction = session.transaction
        assert transaction is not None
        try:
            outcome = await self._pipeline.run(received, transaction)
        finally:
            session.busy = False
            try:
                await self._end_transaction(session)
            except Exception:
                # The message is already delivered (or refused): its reply stands.
                log.exception("could not release the upstream transaction")
        return outcome.reply

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(session, GatewaySession)
        await self._end_transaction(session)
        return "250 2.0.0 Ok"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is a permanent 500 carrying the exception text: the sender would
        # bounce the mail and learn our internals. Ours is transient and says nothing.
        log.error("unexpected error in SMTP session: %s", type(error).__name__, exc_info=error)
        return str(TEMPFAIL)

    # -- bookkeeping -------------------------------------------------------------------------

    async def _end_transaction(self, session: GatewaySession | Session) -> None:
        assert isinstance(session, GatewaySession)
        transaction, session.transaction, session.group = session.transaction, None, None
        if transaction is not None:
            self._count_out(session)
            await transaction.release()

    def _count_in(self, session: GatewaySession, peer: str | None) -> None:
        self.inflight += 1
        session.counted_peer = peer
        if peer is not None:
            self._inflight_by_peer[peer] += 1

    def _count_out(self, session: GatewaySession) -> None:
        self.inflight -= 1
        peer, session.counted_peer = session.counted_peer, None
        if peer is not None:
            self._inflight_by_peer[peer] -= 1
            if self._inflight_by_peer[peer] <= 0:
                del self._inflight_by_peer[peer]

    def session_closed(self, session: GatewaySession) -> None:
        """The client went away: give back an upstream transaction it left open."""
        if session.transaction is None or session.busy:
            return  # a message in flight ends its own transaction when it is done
        task = asyncio.ensure_future(self._end_transaction(session))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) for messages in flight to finish."""
        pending = [t for t in self._background if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=grace)

    async def cancel_background(self) -> None:
        """At the very end of a shutdown: stop what is still running and wait for it."""
        pending = [t for t in self._background if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _peer_address(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


def _tls_info(server: SMTP) -> TlsInfo | None:
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher() or ("unknown", "", None)
    return TlsInfo(version=ssl_object.version() or "unknown", cipher=cipher[0], bits=cipher[2])
