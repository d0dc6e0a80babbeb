"""Delivery Status Notification parameters (RFC 3461) on MAIL and RCPT.

A sending Postfix adds ``ORCPT=`` to every recipient as soon as the server it talks to (or,
in the before-queue slot, the front Postfix) offers DSN, and ``NOTIFY=``/``RET=``/``ENVID=``
when its user asked. aiosmtpd knows none of them and refuses any parameter with a permanent
555, so every such message bounced. Here they are taken out of the command before aiosmtpd
reads it, checked against the RFC's grammar (a malformed one gets a permanent 501, as any
MTA answers), and kept as the client wrote them, case and xtext included, so the next hop
gets exactly what the sender asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.model import DsnRequest

MAIL_KEYWORDS = frozenset({"RET", "ENVID"})
RCPT_KEYWORDS = frozenset({"NOTIFY", "ORCPT"})

NOTIFY_WORDS = frozenset({"SUCCESS", "FAILURE", "DELAY"})
# xtext (RFC 3461 section 4): printable US-ASCII but "+" and "=", or "+" and two upper-case
# hex digits. ENVID is at most 100 characters, ORCPT's address at most 500 (section 5.4).
_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")
_ADDR_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")  # an atom


class DsnSyntaxError(ValueError):
    """A DSN parameter the RFC's grammar does not allow; its text is the SMTP reply."""


@dataclass(frozen=True)
class Taken:
    """A command's argument without its DSN parameters, and those parameters."""

    rest: str
    params: dict[str, str] = field(default_factory=dict)


def split_params(address_part: str, params: str, keywords: frozenset[str]) -> Taken:
    """Take the ``keywords`` parameters out of ``params`` (the text after the address).

    ``address_part`` is everything before the parameters, kept as it was; the other
    parameters are left for aiosmtpd in their order. Raises DsnSyntaxError."""
    kept: list[str] = []
    found: dict[str, str] = {}
    for token in params.split():
        name, eq, value = token.partition("=")
        key = name.upper()
        if key not in keywords:
            kept.append(token)
            continue
        if key in found:
            raise DsnSyntaxError(f"501 5.5.4 Duplicate {key} parameter")
        if not eq or not value:
            raise DsnSyntaxError(f"501 5.5.4 {key} needs a value")
        found[key] = value
    for key, value in found.items():
        _check(key, value)
    rest = " ".join([address_part.rstrip(), *kept]) if kept else address_part.rstrip()
    return Taken(rest=rest, params=found)


def _check(key: str, value: str) -> None:
    if key == "NOTIFY":
        words = value.upper().split(",")
        if words == ["NEVER"]:
            return
        if len(set(words)) != len(words) or not set(words) <= NOTIFY_WORDS:
            raise DsnSyntaxError("501 5.5.4 NOTIFY is NEVER or any of SUCCESS,FAILURE,DELAY")
    elif key == "ORCPT":
        addr_type, semicolon, address = value.partition(";")
        if not semicolon or not _ADDR_TYPE.fullmatch(addr_type) or not address:
            raise DsnSyntaxError("501 5.5.4 ORCPT is addr-type;xtext")
        if len(address) > 500 or not _XTEXT.fullmatch(address):
            raise DsnSyntaxError("501 5.5.4 ORCPT address is not valid xtext")
    elif key == "RET":
        if value.upper() not in ("FULL", "HDRS"):
            raise DsnSyntaxError("501 5.5.4 RET is FULL or HDRS")
    elif key == "ENVID":
        if len(value) > 100 or not _XTEXT.fullmatch(value):
            raise DsnSyntaxError("501 5.5.4 ENVID is at most 100 characters of xtext")


def request(params: dict[str, str]) -> DsnRequest | None:
    """The model's form of one command's DSN parameters (None when there were none)."""
    if not params:
        return None
    notify = tuple(params["NOTIFY"].upper().split(",")) if "NOTIFY" in params else ()
    return DsnRequest(
        notify=notify,
        orcpt=params.get("ORCPT"),
        ret=params["RET"].upper() if "RET" in params else None,
        envid=params.get("ENVID"),
    )
