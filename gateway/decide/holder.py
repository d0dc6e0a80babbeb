"""The policy in force: loaded once, swapped atomically on reload, never half-loaded.

A bad file at start-up stops the gateway (fail closed). A bad file on reload is refused: the
last good policy stays in force and the error is logged (and kept for the staff page).
"""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.decide.load import DEFAULT_POLICY, PolicyError, check_slot, load_policy
from gateway.decide.policy import Policy

log = logging.getLogger("postvagt.policy")


class PolicyHolder:
    def __init__(self, path: Path | None, slot: str) -> None:
        self.path = path or DEFAULT_POLICY
        self.slot = slot
        self.current: Policy = self._load()  # raises PolicyError: the caller stops
        self.last_error: str | None = None
        self._mtime = self._stat()

    def _load(self) -> Policy:
        policy = load_policy(self.path)
        check_slot(policy, self.slot, self.path)
        if not policy.replies.require_authentication:
            log.warning(
                "policy %s answers senders that did not pass SPF or DMARC "
                "(replies.require_authentication: false): for trials only, never in front "
                "of real mail (replies to forged senders are backscatter)",
                self.path,
            )
        return policy

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def reload(self) -> bool:
        """Validate the file again and swap it in; False (old policy kept) if it is bad."""
        self._mtime = self._stat()
        try:
            policy = self._load()
        except PolicyError as e:
            self.last_error = str(e)
            log.error("policy reload refused, keeping the last good policy:\n%s", e)
            return False
        self.current = policy  # one reference assignment: readers see old or new, whole
        self.last_error = None
        log.info("policy reloaded from %s", self.path)
        return True

    def reload_if_changed(self) -> bool | None:
        if self._stat() == self._mtime:
            return None
        return self.reload()

    def group_of(self, address: str) -> str:
        return self.current.group_of(address)
