"""Postvagt: an SMTP gateway that enforces a Danish municipality's channel strategy."""

__version__ = "0.1.0"
