"""Replayed alerts (``alert_replays``): what the rules would have raised over history.

Written by :func:`alerts.replay.replay_rules`, read by 预警中心. Kept apart from ``alerts`` so a
replay never reaches the outbox, the lifecycle or the count of raised alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, select

from storage import schema as s
from storage.db import write_tx


def store_replays(
    engine: Engine, rules: Sequence[str], start: datetime, end: datetime, rows: Sequence[dict[str, Any]]
) -> int:
    """Replace the replayed alerts of ``rules`` first seen in [start, end) with ``rows``; returns how many."""
    r = s.alert_replays
    with write_tx(engine) as conn:
        conn.execute(
            delete(r).where(r.c.rule.in_(list(rules)), r.c.first_seen >= start, r.c.first_seen < end)
        )
        if rows:
            conn.execute(r.insert(), list(rows))
    return len(rows)


def replayed_alerts(
    engine: Engine, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """Replayed alerts that fired in [start, end) (all when not given), newest first."""
    r = s.alert_replays
    q = select(r).order_by(r.c.first_seen.desc(), r.c.id.desc())
    if start is not None:
        q = q.where(r.c.last_seen >= start)
    if end is not None:
        q = q.where(r.c.first_seen < end)
    with engine.connect() as conn:
        return pd.DataFrame([dict(row._mapping) for row in conn.execute(q)], columns=[c.name for c in r.c])
