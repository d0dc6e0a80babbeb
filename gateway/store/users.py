"""Staff accounts: who may log in to the staff page, with which role and mailboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update

from gateway.store.review import audit
from gateway.store.tables import users

ROLES = ("staff", "admin", "dpo")
"""staff: their mailboxes' mail; admin: every mailbox's, and the audit log; dpo (the data
protection officer): the audit log and the statistics of every mailbox, read-only, and no
mail at all (no list, no entry, no export)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    mailboxes: tuple[str, ...]
    password_hash: str | None = None
    session_version: int = 0

    @property
    def scope(self) -> list[str] | None:
        """The mailboxes whose entries this user may see; None: all (admins); none for a
        DPO, whatever the account's mailboxes say."""
        if self.role == "dpo":
            return []
        return None if self.role == "admin" else list(self.mailboxes)

    @property
    def statistics_scope(self) -> list[str] | None:
        """The mailboxes counted on the statistics page (counts, never content)."""
        return None if self.role == "dpo" else self.scope


def add_user(
    connection: Connection,
    name: str,
    *,
    role: str,
    mailboxes: list[str],
    password_hash: str | None,
    actor: str,
) -> None:
    """Create the account, or replace its role, mailboxes and password (re-enabling it)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError("a user name is one word of printable characters")
    values = {
        "role": role,
        "mailboxes": sorted(set(mailboxes)),
        "password_hash": password_hash,
        "disabled": False,
    }
    # A new password (or role) ends every session the account had.
    changed = connection.execute(
        update(users)
        .where(users.c.name == name)
        .values(**values, session_version=users.c.session_version + 1)
    )
    if changed.rowcount == 0:
        connection.execute(users.insert().values(name=name, created_at=datetime.now(UTC), **values))
    audit(connection, actor, "user-set", name, {"role": role, "mailboxes": values["mailboxes"]})


def disable_user(connection: Connection, name: str, *, actor: str) -> bool:
    changed = connection.execute(
        update(users)
        .where(users.c.name == name)
        .values(disabled=True, session_version=users.c.session_version + 1)
    )
    if changed.rowcount:
        audit(connection, actor, "user-disable", name)
    return bool(changed.rowcount)


def find_user(connection: Connection, name: str) -> User | None:
    row = connection.execute(
        select(users).where(users.c.name == name, users.c.disabled.is_(False))
    ).first()
    if row is None:
        return None
    return User(
        row.name, row.role, tuple(row.mailboxes or ()), row.password_hash, row.session_version
    )


def end_sessions(connection: Connection, name: str) -> int:
    """Every session the account has now stops working (logout); returns the new version,
    for a session that goes on (after a password change, the one that changed it)."""
    connection.execute(
        update(users)
        .where(users.c.name == name)
        .values(session_version=users.c.session_version + 1)
    )
    version = connection.execute(
        select(users.c.session_version).where(users.c.name == name)
    ).scalar()
    return int(version or 0)


def change_password(connection: Connection, name: str, password_hash: str) -> int:
    """A user's own new password: every session ends; returns the new session version."""
    connection.execute(
        update(users).where(users.c.name == name).values(password_hash=password_hash)
    )
    audit(connection, name, "password-change", name)
    return end_sessions(connection, name)


def list_users(connection: Connection) -> list[User]:
    rows = connection.execute(select(users).order_by(users.c.name)).all()
    return [
        User(r.name, r.role if not r.disabled else "disabled", tuple(r.mailboxes)) for r in rows
    ]
