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


@dataclass(frozen=True)
class SignOn:
    """What a single sign-on did to the account: ``user`` is None when it was refused."""

    user: User | None
    outcome: str  # "created", "updated", "unchanged"; refused: "disabled", "local-account"


def sign_on(connection: Connection, name: str, *, role: str, mailboxes: list[str]) -> SignOn:
    """The account of a user the OpenID provider vouched for, made or brought up to date
    with the role and mailboxes their groups give now.

    Such an account has no password (it cannot log in with the form). An account disabled
    here stays disabled, and a local account of the same name (one with a password: a
    break-glass account) is never taken over."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 255 or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError("a user name is one word of printable characters")
    wanted = sorted(set(mailboxes)) if role == "staff" else []
    row = connection.execute(select(users).where(users.c.name == name)).first()
    if row is not None and row.disabled:
        return SignOn(None, "disabled")
    if row is not None and row.password_hash is not None:
        return SignOn(None, "local-account")
    if row is None:
        connection.execute(
            users.insert().values(
                name=name,
                role=role,
                mailboxes=wanted,
                password_hash=None,
                disabled=False,
                created_at=datetime.now(UTC),
            )
        )
        outcome = "created"
    elif row.role != role or list(row.mailboxes or ()) != wanted:
        # Fewer rights from now on: the account's other sessions end too.
        connection.execute(
            update(users)
            .where(users.c.name == name)
            .values(role=role, mailboxes=wanted, session_version=users.c.session_version + 1)
        )
        outcome = "updated"
    else:
        return SignOn(find_user(connection, name), "unchanged")
    audit(connection, "oidc", "user-set", name, {"role": role, "mailboxes": wanted})
    return SignOn(find_user(connection, name), outcome)
