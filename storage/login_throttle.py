"""Failed-login counters in the database, per account and per client address (``login_throttle``).

A counter lives in a row keyed by ``(scope, key)``: ``("account", username)`` or
``("address", ip)``. Failures are counted within a window that starts at the first one; the
failure that reaches the limit locks the key until ``now + lockout`` and starts a fresh count.
Because the rows are in the database, a lock-out holds for every browser session, every
dashboard process and across restarts. Rows idle for a day (and not locked) are pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, or_, select, tuple_, update

from storage import schema as s
from storage.db import write_tx

KEEP_IDLE = timedelta(days=1)
MAX_KEY = 100  # the column's length


@dataclass(frozen=True)
class ThrottlePolicy:
    """At most ``max_failures`` failures within ``window``; the last one locks for ``lockout``."""

    max_failures: int
    window: timedelta
    lockout: timedelta


def locked_until(engine: Engine, keys: Sequence[tuple[str, str]], now: datetime) -> datetime | None:
    """The latest lock still in force on any of ``keys`` (``(scope, key)`` pairs), or None."""
    t = s.login_throttle
    pairs = [(scope, key[:MAX_KEY]) for scope, key in keys]
    q = select(t.c.locked_until).where(tuple_(t.c.scope, t.c.key).in_(pairs), t.c.locked_until > now)
    with engine.connect() as conn:
        locks = [until for (until,) in conn.execute(q)]
    return max(locks) if locks else None


def record_failure(
    engine: Engine, scope: str, key: str, policy: ThrottlePolicy, now: datetime
) -> datetime | None:
    """Count one failed login for ``(scope, key)``; returns the lock's end when this failure locks it.

    The row is read under a row lock (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so
    concurrent failures from several dashboard processes are all counted.
    """
    from storage.db import dialect_insert

    t = s.login_throttle
    key = key[:MAX_KEY]
    new = {"failures": 0, "window_start": now, "locked_until": None, "updated_at": now}
    with write_tx(engine) as conn:
        conn.execute(
            dialect_insert(engine, t)
            .values(scope=scope, key=key, **new)
            .on_conflict_do_nothing(index_elements=["scope", "key"])
        )
        row = (
            conn.execute(select(t).where(t.c.scope == scope, t.c.key == key).with_for_update())
            .mappings()
            .one()
        )
        failures, window_start = row["failures"], row["window_start"]
        if now - window_start >= policy.window:
            failures, window_start = 0, now
        failures += 1
        lock = None
        if failures >= policy.max_failures:
            lock, failures, window_start = now + policy.lockout, 0, now
        values = {"failures": failures, "window_start": window_start, "updated_at": now}
        if lock is not None:
            values["locked_until"] = lock
        conn.execute(update(t).where(t.c.scope == scope, t.c.key == key).values(**values))
        idle = and_(t.c.updated_at < now - KEEP_IDLE, or_(t.c.locked_until.is_(None), t.c.locked_until < now))
        conn.execute(delete(t).where(idle))
    return lock


def clear_failures(engine: Engine, scope: str, key: str, now: datetime) -> None:
    """Forget the failures of ``(scope, key)`` (after a successful login); a lock in force stays."""
    t = s.login_throttle
    unlocked = or_(t.c.locked_until.is_(None), t.c.locked_until <= now)
    with write_tx(engine) as conn:
        conn.execute(delete(t).where(t.c.scope == scope, t.c.key == key[:MAX_KEY], unlocked))
