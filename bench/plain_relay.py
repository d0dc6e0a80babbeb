"""The fair baseline for bench/relay.py: a plain aiosmtpd relay with no inspection.

It answers 250 only after the upstream did, and forwards over a pool of persistent
aiosmtplib connections, which is what a careful hand-written relay does.

    python bench/plain_relay.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import aiosmtplib
from aiosmtpd.smtp import SMTP


class PooledRelay:
    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[aiosmtplib.SMTP] = []

    async def _client(self) -> aiosmtplib.SMTP:
        while self.idle:
            client = self.idle.pop()
            if client.is_connected:
                return client
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, start_tls=False)
        await client.connect()
        return client

    async def handle_DATA(self, server, session, envelope) -> str:
        try:
            client = await self._client()
        except (aiosmtplib.SMTPException, OSError):
            return "451 4.3.0 Upstream unavailable"
        try:
            await client.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        except aiosmtplib.SMTPResponseException as e:
            await client.rset()
            self.idle.append(client)
            return f"{e.code} {e.message}"
        except (aiosmtplib.SMTPException, OSError):
            client.close()
            return "451 4.3.0 Upstream failed"
        self.idle.append(client)
        return "250 2.0.0 Ok"


async def main(listen: int, upstream: int) -> None:
    relay = PooledRelay(upstream)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(relay, decode_data=False, enable_SMTPUTF8=True, hostname="relay", loop=loop),
        "127.0.0.1",
        listen,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
