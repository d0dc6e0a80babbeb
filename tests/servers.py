"""Real servers on 127.0.0.1 for the tests: a scriptable upstream and a running gateway.

Each runs on its own asyncio loop in a thread, bound to port 0 (the kernel picks a free
port), so tests talk to them with ordinary blocking clients (smtplib, swaks, raw sockets).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.server import Gateway
from gateway.settings import Settings

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    content: bytes


@dataclass
class UpstreamHandler:
    """Records what it receives; can answer any command with a chosen reply, stall or drop.

    ``replies``: command ("MAIL", "RCPT", "DATA") → reply string, used instead of 250.
    ``stall``: command → seconds to wait before answering.
    ``drop``: commands at which the connection is cut without an answer.
    ``times``: command → how many more times its scripted reply is given (then 250 again);
    absent: every time.
    For "DATA" these apply after the whole message was received (at the final ".").
    """

    messages: list[Delivered] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)
    times: dict[str, int] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)
    connections: int = 0

    async def _script(self, server: SMTP, command: str) -> str | None:
        if command in self.stall:
            await asyncio.sleep(self.stall[command])
        if command in self.drop:
            assert server.transport is not None
            server.transport.abort()
            await asyncio.sleep(3600)  # cancelled by aiosmtpd when the connection is lost
        if command in self.replies and command in self.times:
            if self.times[command] <= 0:
                return None
            self.times[command] -= 1
        return self.replies.get(command)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope: Envelope, address, options):
        scripted = await self._script(server, "MAIL")
        if scripted:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender ok"

    async def handle_RCPT(self, server, session, envelope: Envelope, address, options):
        scripted = await self._script(server, "RCPT")
        if scripted:
            return scripted
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient ok"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):
        scripted = await self._script(server, "DATA")
        if scripted:
            return scripted
        assert isinstance(envelope.original_content, bytes)
        self.messages.append(
            Delivered(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                list(envelope.mail_options),
                envelope.original_content,
            )
        )
        return f"250 2.0.0 Ok: queued as UP{len(self.messages)}"


class LongLineSMTP(SMTP):
    line_length_limit = 1024 * 1024  # like Postfix, the upstream takes long lines


class Upstream:
    """A scriptable SMTP server standing in for the municipality's mail server."""

    def __init__(self) -> None:
        self.handler = UpstreamHandler()
        self._thread = LoopThread("upstream")
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []
        self.port = 0

    def start(self, port: int = 0) -> Upstream:
        async def serve() -> asyncio.Server:
            loop = asyncio.get_running_loop()

            def session() -> SMTP:
                smtp = LongLineSMTP(
                    self.handler,
                    enable_SMTPUTF8=True,
                    decode_data=False,
                    hostname="upstream.test",
                    data_size_limit=None,
                    loop=loop,
                )
                self._sessions.append(smtp)
                return smtp

            return await loop.create_server(
                session,
                "127.0.0.1",
                port,
                reuse_address=True,
            )

        self._server = self._thread.run(serve())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def drop_connections(self) -> None:
        """Cut every open connection, as a server does to idle clients."""

        async def cut() -> None:
            for smtp in self._sessions:
                if smtp.transport is not None:
                    smtp.transport.abort()
            self._sessions.clear()

        self._thread.run(cut())

    def stop(self) -> None:
        """Stop listening and cut the open connections (an outage)."""
        if self._server is not None:
            server, self._server = self._server, None
            self._thread.loop.call_soon_threadsafe(server.close)
            self.drop_connections()

    def close(self) -> None:
        self.stop()
        self._thread.close()

    @property
    def messages(self) -> list[Delivered]:
        return self.handler.messages


class RunningGateway:
    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self._thread = LoopThread("gateway")
        self.settings = settings
        self._closed = False

        async def start() -> Gateway:
            gateway = Gateway(settings, **kwargs)
            await gateway.start()
            return gateway

        self.gateway = self._thread.run(start())
        self.port = self.gateway.port

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._thread.run(coro)

    def close(self) -> None:
        """Stop the gateway (a second call does nothing: tests may stop one early)."""
        if self._closed:
            return
        self._closed = True
        self._thread.run(self.gateway.stop(), timeout=60)
        self._thread.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RawClient:
    """A line-level SMTP client for what smtplib refuses to send (smuggling probes)."""

    def __init__(self, port: int, host: str = "127.0.0.1", source: str | None = None) -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=15, source_address=(source, 0) if source else None
        )
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()
