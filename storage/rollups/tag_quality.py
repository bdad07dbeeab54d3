"""Model-tag quality per source and UTC day, kept in step with the hourly rollups.

For each source, day, field (sentiment, emotion, category) and label: how many documents the
models tagged with it and how many of those scored below the low-confidence threshold. The
source-health page's drift table and the ``model_drift`` alert rule read these few rows (a few
dozen a day) instead of every tag of the period. The threshold the table was built for is kept in
``app_state``; a different one rebuilds the table once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, delete, func, insert, literal, select, union_all

from storage import schema as s
from storage.corrections import TAG_QUALITY_THRESHOLD as THRESHOLD_STATE
from storage.db import truncate_time, write_tx
from storage.state import get_state, set_state

log = logging.getLogger(__name__)

FIELDS = ("sentiment", "emotion", "category")
DAY = timedelta(days=1)


def day_floor(at: datetime) -> datetime:
    """Midnight UTC of ``at``'s day."""
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _select_days(engine: Engine, start: datetime, end: datetime, threshold: float) -> Any:
    """Rows of ``tag_quality_daily`` for the tags published in [start, end)."""
    t, d = s.doc_tags, s.documents
    day = truncate_time(engine, t.c.published_at, "day")
    parts = []
    for field in FIELDS:
        low = func.sum(case((t.c[f"{field}_score"] < threshold, 1), else_=0))
        parts.append(
            select(day, d.c.source_id, literal(field), t.c[field], func.count(), low)
            .select_from(t.join(d, d.c.id == t.c.document_id))
            .where(t.c.published_at >= start, t.c.published_at < end, t.c[field].is_not(None))
            .group_by(day, d.c.source_id, t.c[field])
        )
    return union_all(*parts)


def rebuild_days(conn: Any, engine: Engine, start: datetime, end: datetime, threshold: float) -> None:
    """Rebuild every UTC day overlapping [start, end) inside ``conn``'s transaction."""
    if end <= start:
        return
    first, last = day_floor(start), day_floor(end - timedelta(microseconds=1)) + DAY
    q = s.tag_quality_daily
    conn.execute(delete(q).where(q.c.day >= first, q.c.day < last))
    cols = ["day", "source_id", "field", "label", "n", "n_low"]
    conn.execute(insert(q).from_select(cols, _select_days(engine, first, last, threshold)))


def ensure_built(engine: Engine, threshold: float) -> bool:
    """Build the whole table when it was never built or built for another threshold; True if built."""
    stored = get_state(engine, THRESHOLD_STATE)
    if stored is not None and abs(float(stored) - threshold) < 1e-9:
        return False
    t = s.doc_tags
    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(t.c.published_at), func.max(t.c.published_at))).one()
    with write_tx(engine) as conn:
        conn.execute(delete(s.tag_quality_daily))
        if lo is not None:  # UTCDateTime columns read back as aware datetimes on both backends
            rebuild_days(conn, engine, lo, hi + timedelta(microseconds=1), threshold)
        set_state(conn, engine, THRESHOLD_STATE, threshold)
    log.info("tag quality table built", extra={"threshold": threshold})
    return True


def current_threshold(engine: Engine) -> float | None:
    """The threshold the table holds counts for (None: never built)."""
    stored = get_state(engine, THRESHOLD_STATE)
    return None if stored is None else float(stored)


__all__ = ["FIELDS", "current_threshold", "day_floor", "ensure_built", "rebuild_days"]
