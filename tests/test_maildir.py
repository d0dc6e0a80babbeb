"""The embedded next hop: durable Maildir delivery that keeps the relay contract."""

from __future__ import annotations

import os
import smtplib
from pathlib import Path

import pytest

from gateway.nexthop.maildir import deliver_file, mailbox_dir
from tests.helpers import SENDER, message, send


def maildir_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/new/*"))


def test_each_recipient_gets_its_own_copy(make_gateway, tmp_path):
    gw = make_gateway()
    send(gw.port, message(), rcpts=["a@kommune.example", "B@Kommune.Example"])
    files = maildir_files(tmp_path / "var" / "mail")
    assert [f.parent.parent.name for f in files] == ["a@kommune.example", "b@kommune.example"]
    assert not list((tmp_path / "var" / "mail").glob("*/tmp/*"))  # nothing left half-written


def test_bare_line_ends_are_normalised(make_gateway, tmp_path):
    gw = make_gateway()
    with smtplib.SMTP("127.0.0.1", gw.port) as client:
        client.ehlo("x.example")
        client.mail(SENDER)
        client.rcpt("a@kommune.example")
        # smtplib would fix line ends itself; send the DATA bytes by hand.
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(b"Subject: bare\r\n\r\none\ntwo\rthree\r\n.\r\n")
        assert client.getreply()[0] == 250
    content = maildir_files(tmp_path / "var" / "mail")[0].read_bytes()
    assert content.endswith(b"\r\n\r\none\r\ntwo\r\nthree\r\n")


def test_write_failure_is_451_and_nothing_is_delivered(make_gateway, tmp_path):
    gw = make_gateway()
    blocked = mailbox_dir(tmp_path / "var" / "mail", "blocked@kommune.example")
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the Maildir should be")
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(gw.port, message(), rcpts=["blocked@kommune.example"])
    assert failed.value.smtp_code == 451


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("Post@Kommune.DK", "post@kommune.dk"),
        ("../../etc/passwd@x", "_.._etc_passwd@x"),
        ("søren@kommune.dk", "s_ren@kommune.dk"),
        ("...", "_"),
    ],
)
def test_mailbox_names_are_safe(tmp_path, address, name):
    path = mailbox_dir(tmp_path, address)
    assert path.parent == tmp_path
    assert path.name == name


def _modes(root: Path) -> dict[str, int]:
    """Every folder and file under ``root`` (itself included) and its permission bits."""
    found = {".": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    return found


def _private(modes: dict[str, int], root: Path) -> bool:
    return all(mode == (0o700 if (root / name).is_dir() else 0o600) for name, mode in modes.items())


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_delivered_mail_is_readable_by_the_service_only(make_gateway, tmp_path, umask):
    """Mail in the Maildir and in the replies folder: 0600 files in 0700 folders, whatever
    the umask the service was started with."""
    old = os.umask(umask)
    try:
        gw = make_gateway()
        send(gw.port, message(), rcpts=["a@kommune.example"])
        for root in (tmp_path / "var" / "mail", tmp_path / "var" / "replies"):
            deliver_file(root, "b@kommune.example", "postvagt@kommune.example", b"Subject: x\r\n")
    finally:
        os.umask(old)
    for root in (tmp_path / "var" / "mail", tmp_path / "var" / "replies"):
        modes = _modes(root)
        assert len([n for n in modes if "/new/" in n]) >= 1
        assert _private(modes, root), modes


def test_quarantine_folder_is_readable_by_the_service_only(tmp_path):
    from gateway.store.records import _write_durably

    old = os.umask(0)
    try:
        _write_durably(tmp_path / "q" / "2026/12/06/m-1.eml", b"Subject: held\r\n")
    finally:
        os.umask(old)
    modes = _modes(tmp_path / "q")
    assert len(modes) == 5 and _private(modes, tmp_path / "q"), modes
