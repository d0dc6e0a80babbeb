"""One database layer for the message log, quarantine, outbox, rate limits, users and audit."""

from gateway.store.store import Store, StoreUnavailable

__all__ = ["Store", "StoreUnavailable"]
