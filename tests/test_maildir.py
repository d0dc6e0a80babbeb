"""The embedded next hop: durable Maildir delivery that keeps the relay contract."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from gateway.nexthop.maildir import mailbox_dir
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
