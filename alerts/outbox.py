"""Transactional outbox: notifications are rows committed with their alert, then delivered.

Life of a row::

    pending --claim--> sending --sent OK--> sent
       ^                  |
       +---- failed ------+        (next_attempt_at = now + back-off; attempts counted)
    pending/sending past expires_at --> expired

* :func:`enqueue` runs inside the caller's transaction, the one that writes the alert, so an
  alert is never stored without its notifications and no notification leaves before the alert
  is committed.
* :func:`claim_due` moves due rows to ``sending`` with a lease (``next_attempt_at = now + lease``)
  in its own short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
  SQLite), so two deliverers never take the same row.
* A process killed after claiming leaves the row ``sending``; once the lease runs out it is due
  again and is sent once. A crash *after* the receiver accepted but *before* :func:`mark_sent`
  re-sends with the same idempotency key, which the receiver drops (at-least-once + idempotency
  = effectively once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.engine import Connection

from storage import schema as s
from storage.db import dialect_insert, write_tx

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
DEFAULT_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox row."""

    id: int
    alert_id: int | None
    notifier: str
    dedup_key: str
    payload: dict[str, Any]
    attempts: int
    expires_at: datetime


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed tries: 30 s, 1 min, 2 min ... at most 1 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def enqueue(
    conn: Connection,
    engine: Engine,
    *,
    notifier: str,
    dedup_key: str,
    payload: dict[str, Any],
    alert_id: int | None,
    now: datetime,
    expires_at: datetime,
) -> bool:
    """Add one notification inside the caller's transaction; False when ``dedup_key`` is already queued."""
    stmt = (
        dialect_insert(engine, s.outbox)
        .values(
            alert_id=alert_id,
            notifier=notifier,
            dedup_key=dedup_key,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            expires_at=expires_at,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(s.outbox.c.id)
    )
    return conn.execute(stmt).scalar() is not None


def expire_overdue(engine: Engine, now: datetime) -> list[OutboxRow]:
    """Mark undelivered rows past their expiry as ``expired``; returns them (for the alert history)."""
    o = s.outbox
    with write_tx(engine) as conn:
        rows = conn.execute(
            select(o).where(o.c.status.in_(["pending", "sending"]), o.c.expires_at <= now).with_for_update()
        ).all()
        if rows:
            conn.execute(update(o).where(o.c.id.in_([r.id for r in rows])).values(status="expired"))
    return [_row(r) for r in rows]


def claim_due(
    engine: Engine, now: datetime, *, lease: timedelta = DEFAULT_LEASE, limit: int = 50
) -> list[OutboxRow]:
    """Take up to ``limit`` due rows for sending: pending rows whose time has come, and rows whose lease ran out."""
    o = s.outbox
    due = and_(
        o.c.expires_at > now,
        o.c.next_attempt_at <= now,
        or_(o.c.status == "pending", o.c.status == "sending"),
    )
    with write_tx(engine) as conn:
        q = (
            select(o)
            .where(due)
            .order_by(o.c.next_attempt_at, o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = conn.execute(q).all()
        for r in rows:
            conn.execute(
                update(o)
                .where(o.c.id == r.id)
                .values(status="sending", attempts=o.c.attempts + 1, next_attempt_at=now + lease)
            )
    return [_row(r, attempts=r.attempts + 1) for r in rows]


def mark_sent(engine: Engine, row_id: int, now: datetime) -> None:
    """Record a successful delivery."""
    with write_tx(engine) as conn:
        conn.execute(
            update(s.outbox)
            .where(s.outbox.c.id == row_id)
            .values(status="sent", sent_at=now, last_error=None)
        )


def mark_failed(engine: Engine, row: OutboxRow, now: datetime, error: str) -> datetime:
    """Record a failed try and schedule the next one; returns when it will be."""
    retry_at = now + backoff(row.attempts)
    with write_tx(engine) as conn:
        conn.execute(
            update(s.outbox)
            .where(s.outbox.c.id == row.id)
            .values(status="pending", next_attempt_at=retry_at, last_error=error[:2000])
        )
    return retry_at


def mark_expired(engine: Engine, row_id: int, error: str) -> None:
    """Give up on a row now (e.g. its notifier was removed from the configuration)."""
    with write_tx(engine) as conn:
        conn.execute(
            update(s.outbox).where(s.outbox.c.id == row_id).values(status="expired", last_error=error[:2000])
        )


def _row(r: Any, attempts: int | None = None) -> OutboxRow:
    return OutboxRow(
        id=int(r.id),
        alert_id=r.alert_id,
        notifier=r.notifier,
        dedup_key=r.dedup_key,
        payload=dict(r.payload),
        attempts=int(r.attempts if attempts is None else attempts),
        expires_at=r.expires_at,
    )
