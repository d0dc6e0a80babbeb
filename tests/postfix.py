"""A real Postfix instance for tests: its own configuration directory, queue, Maildirs and
log under a temporary folder, loopback ports only, started and stopped by the test.

Needs the Debian packages postfix and postfix-pcre and root (Postfix's master runs as root
and drops to the postfix user), as on the CI machine.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

MASTER_CF = Path("/usr/share/postfix/master.cf.dist")


def available() -> str | None:
    """Why Postfix tests cannot run here, or None."""
    if shutil.which("postfix") is None:
        return "Debian package postfix is not installed"
    if os.geteuid() != 0:
        return "a Postfix instance needs root"
    return None


class Postfix:
    """``services`` are master.cf lines; ``mailboxes`` get a Maildir each. The instance lives
    in a folder of its own under /tmp (pytest's folders are closed to the postfix user)."""

    def __init__(self, services: str, mailboxes: list[str], **main: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix="postvagt-postfix-"))
        self.folder = folder
        self.conf = folder / "conf"
        self.mail = folder / "mail"
        self.log_file = folder / "maillog"
        for sub in (self.conf, folder / "queue", folder / "data", self.mail):
            sub.mkdir(parents=True, exist_ok=True)
        owner = pwd.getpwnam("postfix")
        os.chown(folder / "data", owner.pw_uid, owner.pw_gid)
        os.chown(self.mail, owner.pw_uid, owner.pw_gid)
        folder.chmod(0o755)
        domains = sorted({address.split("@")[1] for address in mailboxes})
        (self.conf / "vmailbox").write_text(
            "".join(f"{a} {a.split('@')[1]}/{a.split('@')[0]}/\n" for a in mailboxes)
        )
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(folder / "queue"),
            "data_directory": str(folder / "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "mx.kommune.example",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(folder.parent),
            "virtual_mailbox_domains": ", ".join(domains),
            "virtual_mailbox_base": str(self.mail),
            "virtual_mailbox_maps": f"texthash:{self.conf / 'vmailbox'}",
            "virtual_uid_maps": f"static:{owner.pw_uid}",
            "virtual_gid_maps": f"static:{owner.pw_gid}",
            "virtual_minimum_uid": "1",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "smtp_connect_timeout": "5s",
            "smtputf8_enable": "no",
            "biff": "no",
            **main,
        }
        (self.conf / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        # Debian's master.cf without its port-25 listener, plus the services of this test.
        master = MASTER_CF.read_text().replace("\nsmtp      inet", "\n#smtp      inet")
        (self.conf / "master.cf").write_text(master)
        self.ports: list[int] = []
        self.add_services(services)

    def add_services(self, services: str) -> None:
        """Append master.cf lines (before start)."""
        with open(self.conf / "master.cf", "a") as f:
            f.write("\n" + services)
        self.ports += [
            int(line.split()[0].split(":")[1])
            for line in services.splitlines()
            if line and not line[0].isspace() and not line.startswith("#") and " inet " in line
        ]

    def postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["postfix", "-c", str(self.conf), *args], capture_output=True, text=True, timeout=60
        )

    def start(self) -> Postfix:
        result = self.postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix did not start: {result.stderr}\n{self.log()}")
        for port in self.ports:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"not listening on {port}\n{self.log()}") from None
                    time.sleep(0.1)
        return self

    def flush(self) -> None:
        """Try deferred mail now (after a next hop came back)."""
        self.postfix("flush")

    def stop(self) -> None:
        self.postfix("stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def delivered(self, address: str) -> list[bytes]:
        local, domain = address.split("@")
        box = self.mail / domain / local / "new"
        return [f.read_bytes() for f in sorted(box.iterdir())] if box.is_dir() else []


def gateway_settings(tmp_path: Path, upstream_port: int, **overrides: Any) -> Any:
    """Postvagt's settings in front of a Postfix on ``upstream_port``: a free listening port
    (unless ``listen`` is given), the policy in tmp_path/policy.yaml, no DNS, one reader."""
    from gateway.settings import Settings

    values: dict[str, Any] = {
        "listen": f"127.0.0.1:{_free_port()}",
        "web_listen": "127.0.0.1:0",
        "upstream": f"smtp://127.0.0.1:{upstream_port}",
        "domains": ["kommune.example"],
        "policy": tmp_path / "policy.yaml",
        "data_dir": tmp_path / "var",
        "hostname": "postvagt.kommune.example",
        "sender_checks": False,
        "detect_workers": 1,
        "outbox_poll": 0.2,
        "shutdown_grace": 5,
        **overrides,
    }
    return Settings(**values)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
