"""Failed-login counters in the database: windows, locks, pruning and concurrent failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from storage import login_throttle as lt
from storage import schema as s

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = lt.ThrottlePolicy(max_failures=3, window=timedelta(minutes=10), lockout=timedelta(minutes=5))
ACCOUNT = ("account", "li.hua")


def _fail(engine: Engine, at: datetime, key: tuple[str, str] = ACCOUNT) -> datetime | None:
    return lt.record_failure(engine, *key, POLICY, at)


def test_the_failure_that_reaches_the_limit_locks_for_the_lockout(engine: Engine) -> None:
    assert _fail(engine, T0) is None and _fail(engine, T0 + timedelta(minutes=1)) is None
    assert lt.locked_until(engine, [ACCOUNT], T0 + timedelta(minutes=1)) is None
    lock = _fail(engine, T0 + timedelta(minutes=2))
    assert lock == T0 + timedelta(minutes=7)
    other = ("address", "10.0.0.8")
    assert lt.locked_until(engine, [other, ACCOUNT], T0 + timedelta(minutes=6)) == lock
    assert lt.locked_until(engine, [other], T0 + timedelta(minutes=6)) is None
    assert lt.locked_until(engine, [ACCOUNT], lock) is None  # over at its end
    # a lock starts a fresh count: the next lock needs the full number of failures again
    assert _fail(engine, lock) is None and _fail(engine, lock) is None
    assert _fail(engine, lock) == lock + POLICY.lockout


def test_failures_outside_the_window_start_a_new_count(engine: Engine) -> None:
    _fail(engine, T0)
    _fail(engine, T0 + timedelta(minutes=5))
    assert _fail(engine, T0 + timedelta(minutes=10)) is None  # the window of T0 is over: count 1
    assert _fail(engine, T0 + timedelta(minutes=11)) is None
    assert _fail(engine, T0 + timedelta(minutes=12)) is not None


def test_clearing_forgets_failures_but_keeps_a_lock_in_force(engine: Engine) -> None:
    _fail(engine, T0)
    _fail(engine, T0)
    lt.clear_failures(engine, *ACCOUNT, T0)
    assert _fail(engine, T0) is None  # counted from zero again
    _fail(engine, T0)
    lock = _fail(engine, T0)
    assert lock is not None
    lt.clear_failures(engine, *ACCOUNT, T0 + timedelta(minutes=1))
    assert lt.locked_until(engine, [ACCOUNT], T0 + timedelta(minutes=1)) == lock


def test_idle_rows_are_pruned_and_long_keys_cut(engine: Engine) -> None:
    long_key = ("address", "x" * 300)
    _fail(engine, T0, long_key)
    _fail(engine, T0)
    _fail(engine, T0 + lt.KEEP_IDLE + timedelta(minutes=1), ("address", "10.0.0.9"))
    with engine.connect() as conn:
        keys = set(conn.execute(select(s.login_throttle.c.key)).scalars())
    assert keys == {"10.0.0.9"}
    _fail(engine, T0 + lt.KEEP_IDLE * 3, long_key)
    assert _fail(engine, T0 + lt.KEEP_IDLE * 3, long_key) is None
    assert _fail(engine, T0 + lt.KEEP_IDLE * 3, long_key) is not None  # the same (cut) key


def test_concurrent_failures_are_all_counted(engine: Engine) -> None:
    policy = lt.ThrottlePolicy(max_failures=1000, window=timedelta(hours=1), lockout=timedelta(minutes=1))
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: lt.record_failure(engine, *ACCOUNT, policy, T0), range(30)))
    with engine.connect() as conn:
        counted = conn.execute(select(func.sum(s.login_throttle.c.failures))).scalar_one()
    assert counted == 30
