"""Masks for the types whose recognizer is Presidio's own (gateway.detect.entities)."""

from __future__ import annotations


def email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def iban(value: str) -> str:
    compact = value.replace(" ", "")
    return compact[:4] + "*" * (len(compact) - 4)
