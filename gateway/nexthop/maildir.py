"""The embedded next hop: a Maildir per recipient under the data dir.

Used when no upstream is configured, so a newcomer can send a mail and look at the result.
It keeps the relay contract: 250 only once the file is fsync'ed and renamed into new/.
Mail is readable by the service's user only: 0600 files in 0700 folders, whatever the umask.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
import uuid
from pathlib import Path

from gateway.model import TEMPFAIL, DsnRequest, Reply, Transaction
from gateway.privatefiles import private_folder, write_durably
from gateway.rawmail import normalise_line_ends

_UNSAFE = re.compile(r"[^a-z0-9._+@=-]")


def mailbox_dir(root: Path, recipient: str) -> Path:
    """The Maildir of one recipient. Names are lowercased and made file-system safe."""
    name = _UNSAFE.sub("_", recipient.lower()).strip(".") or "_"
    return root / name[:200]


def deliver_file(root: Path, recipient: str, mail_from: str, data: bytes) -> Path:
    """Write one message into a recipient's Maildir, durably (tmp/ → fsync → new/)."""
    box = mailbox_dir(root, recipient)
    for sub in ("tmp", "new", "cur"):
        private_folder(box / sub)
    unique = f"{time.time_ns()}.{uuid.uuid4().hex}.{socket.gethostname().replace('/', '_')}"
    trace = f"Return-Path: <{mail_from}>\r\nDelivered-To: {recipient}\r\n".encode()
    final = box / "new" / unique
    write_durably(box / "tmp" / unique, final, trace + data)
    return final


class MaildirTransaction(Transaction):
    def __init__(self, root: Path) -> None:
        self._root = root
        self._mail_from = ""
        self._rcpts: list[str] = []

    async def mail(
        self, sender: str, options: list[str], smtputf8: bool, *, dsn: DsnRequest | None = None
    ) -> Reply:
        self._mail_from = sender
        return Reply(250, "2.1.0 Ok")

    async def rcpt(self, recipient: str, smtputf8: bool, *, dsn: DsnRequest | None = None) -> Reply:
        self._rcpts.append(recipient)
        return Reply(250, "2.1.5 Ok")

    async def data(self, message: bytes, timeout: float) -> Reply:
        # The same line-end normalisation an SMTP hop gets from aiosmtplib: a bare CR or LF
        # never leaves Postvagt as it came (SMTP smuggling, outbound).
        message = normalise_line_ends(message)

        def write_all() -> None:
            for rcpt in self._rcpts:
                deliver_file(self._root, rcpt, self._mail_from, message)

        try:
            # A Maildir write fsyncs: never on the event loop.
            await asyncio.wait_for(asyncio.to_thread(write_all), timeout)
        except (OSError, TimeoutError):
            return TEMPFAIL
        return Reply(250, f"2.0.0 Ok: delivered to Maildir ({len(self._rcpts)} recipients)")

    async def release(self) -> None:
        self._rcpts = []


class MaildirNextHop:
    """Delivers into ``root``; every recipient gets its own Maildir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # A Maildir an older version made 0755 is closed now: nothing below it is readable.
        if root.is_dir():
            os.chmod(root, 0o700)

    async def begin(self) -> Transaction:
        return MaildirTransaction(self.root)

    async def close(self) -> None:
        return None
