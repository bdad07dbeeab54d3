"""Engines for both backends, configured the same way everywhere.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy time-out, so
the scheduler, the NLP worker and the dashboard can share one file. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from storage.permissions import make_private_dir, touch_private_file

log = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for bare ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """True when the engine or URL points at SQLite."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


_SQLITE_TRUNC = {"hour": "%Y-%m-%d %H:00:00.000000", "day": "%Y-%m-%d 00:00:00.000000"}


def truncate_time(engine: Engine, column: Any, unit: str) -> Any:
    """SQL expression truncating a stored UTC timestamp to its ``hour`` or ``day``, on either backend."""
    if unit not in _SQLITE_TRUNC:
        raise ValueError(f"unknown time unit {unit!r}; expected one of {sorted(_SQLITE_TRUNC)}")
    if is_sqlite(engine):
        return func.strftime(_SQLITE_TRUNC[unit], column)
    return func.date_trunc(unit, column)


def make_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = 10_000, pool_size: int = 5) -> Engine:
    """Create an engine; for SQLite the parent folder is created and pragmas set per connection.

    Statement parameters are hidden from errors and echo logs (``hide_parameters=True``).
    """
    url = normalize_url(url)
    # Parameters are row contents (personal data, even masked): never put them in errors or logs.
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            # Owner-only: SQLite gives the -wal and -shm files the database file's permissions.
            make_private_dir(Path(database).parent)
            touch_private_file(database)
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions (BEGIN issued below) so batches are atomic.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return engine
    kwargs["pool_size"] = pool_size
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **kwargs)


def engine_from_settings(settings: Any) -> Engine:
    """Engine for ``settings.database``."""
    db = settings.database
    return make_engine(db.url, echo=db.echo, busy_timeout_ms=db.busy_timeout_ms, pool_size=db.pool_size)


class write_tx:  # noqa: N801 - used like a function: ``with write_tx(engine) as conn``
    """A write transaction; on SQLite it starts with ``BEGIN IMMEDIATE`` to take the lock up front."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Any:
        self._conn = self.engine.connect()
        self._conn.info["write"] = True
        self._tx = self._conn.begin()
        return self._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self._tx.commit()
            else:
                self._tx.rollback()
        finally:
            self._conn.info.pop("write", None)
            self._conn.close()


def dialect_insert(engine: Engine, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_*`` support for the engine's dialect."""
    return sqlite.insert(table) if is_sqlite(engine) else postgresql.insert(table)
