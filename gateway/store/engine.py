"""Engines for the two back ends: SQLite (one instance) and PostgreSQL (several).

SQLite runs in WAL mode with ``synchronous=FULL`` by default, so a committed record survives
a power cut (with NORMAL it may roll back, https://www.sqlite.org/pragma.html#pragma_synchronous),
and every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two
processes (the gateway and ``postvagt users add``, say) wait for each other through
busy_timeout instead of failing half-way with "database is locked".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def make_engine(
    url: str, *, sqlite_synchronous: str = "FULL", busy_timeout: float = 5.0, pool_size: int = 4
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we ship
    if parsed.get_backend_name() != "sqlite":
        # A statement waiting on a lock gives up after busy_timeout, like SQLite's, so the
        # retry loop (and in the end a 451) stays in charge of how long a message waits.
        options = f"-c lock_timeout={int(busy_timeout * 1000)}"
        return create_engine(
            parsed,
            pool_size=pool_size,
            pool_pre_ping=True,
            connect_args={"options": options, "connect_timeout": max(1, int(busy_timeout))},
        )

    engine = create_engine(parsed, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        # SQLite's own lower() folds A–Z only: "Ørsted" would not find "ØRSTED" as it does
        # on PostgreSQL. Python's, for the staff page's search and sort.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
