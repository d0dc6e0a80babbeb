"""A DNS server on loopback for tests and benchmarks: the gateway's sender checks (SPF, DKIM,
DMARC) run as in production, but every question stays on this machine.

It answers TXT for the SPF record and the DMARC policy of the zones it is given, an A record
for their hosts, and NXDOMAIN for everything else, with a TTL of five minutes — so a
resolver that caches by TTL asks once, one that does not asks every time.

    .venv/bin/python tests/dns_server.py PORT example.net [more zones …]
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 300


def records(zones: list[str]) -> dict[tuple[str, int], list[str]]:
    table: dict[tuple[str, int], list[str]] = {}
    for zone in zones:
        table[(f"{zone}.", dns.rdatatype.TXT)] = ['"v=spf1 ip4:127.0.0.0/8 -all"']
        table[(f"_dmarc.{zone}.", dns.rdatatype.TXT)] = ['"v=DMARC1; p=none"']
        table[(f"{zone}.", dns.rdatatype.A)] = ["127.0.0.1"]
    return table


class Stub(asyncio.DatagramProtocol):
    def __init__(self, table: dict[tuple[str, int], list[str]]) -> None:
        self.table = table
        self.transport: Any = None
        self.questions = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        self.questions += 1
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        answers = self.table.get((name, question.rdtype))
        if answers:
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name, TTL, dns.rdataclass.IN, question.rdtype, answers
                )
            )
        elif not any(key[0] == name for key in self.table):
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


async def serve(port: int, zones: list[str]) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: Stub(records(zones)), local_addr=("127.0.0.1", port)
    )
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2:] or ["example.net"]))
