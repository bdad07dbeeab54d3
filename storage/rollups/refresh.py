"""Keeping every rollup table in step with the tags: hourly rows, daily/monthly levels, tag quality.

:func:`refresh_rollups` is what the scheduler's ``rollups`` job, ``sensing process`` and the
dashboard's correction panel call after tags change.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, func, select

from storage import schema as s
from storage.db import write_tx
from storage.rollups import levels as lv
from storage.rollups import tag_quality as tq
from storage.rollups.hourly import LATE_COMMIT, WATERMARK, as_utc, hour_bucket, rebuild_range, touched_ranges
from storage.state import get_state, set_state

log = logging.getLogger(__name__)
DEFAULT_LOW_CONFIDENCE = 0.55  # the settings default (nlp.low_confidence)


def refresh_rollups(
    engine: Engine, *, full: bool = False, tz: str | None = None, low_confidence: float | None = None
) -> dict[str, int]:
    """Bring the hourly rollups, the daily/monthly levels and the tag-quality table up to date.

    ``tz`` is the app time zone the daily/monthly levels use; without it the levels are kept in
    step in the zone they were last built for (if they were ever built). ``low_confidence`` is
    the threshold the tag-quality counts use (default: the one they were built for, else 0.55).
    """
    t = s.doc_tags
    with engine.connect() as conn:  # before the levels: whatever is tagged after it, the next refresh sees
        high = conn.execute(select(func.max(t.c.tagged_at))).scalar()
    tz = tz or get_state(engine, lv.TZ_STATE)
    # Levels just rebuilt from all the tags need no rebuild per range below (after an upgrade that
    # recreated the rollups, that halves the first refresh).
    levels_fresh = bool(tz) and lv.ensure_levels(engine, str(tz)) > 0
    threshold = low_confidence if low_confidence is not None else tq.current_threshold(engine)
    threshold = DEFAULT_LOW_CONFIDENCE if threshold is None else threshold
    tq.ensure_built(engine, threshold)
    wm_raw = None if full else get_state(engine, WATERMARK)
    wm = datetime.fromisoformat(wm_raw) if wm_raw else None
    if high is None:
        return {"ranges": 0, "rows": 0}
    with engine.connect() as conn:
        bucket = hour_bucket(engine, t.c.published_at)
        q = select(bucket).distinct().where(t.c.tagged_at <= high)
        if wm is not None:
            # Workers stamp tagged_at before they commit: look back a little so late commits count.
            q = q.where(t.c.tagged_at > wm - LATE_COMMIT)
        buckets = [as_utc(b) for (b,) in conn.execute(q)]
    rows = 0
    ranges = touched_ranges(buckets)
    for start, end in ranges:
        with write_tx(engine) as conn:
            rows += rebuild_range(engine, start, end, conn)
            tq.rebuild_days(conn, engine, start, end, threshold)
            if tz and not levels_fresh:
                lv.rebuild_levels(conn, engine, start, end, tz)
    with write_tx(engine) as conn:
        set_state(conn, engine, WATERMARK, high.isoformat())
        if tz:
            lv.mark_current(conn, engine, high.isoformat())
    if ranges:
        log.info("rollups refreshed", extra={"ranges": len(ranges), "rows": rows, "buckets": len(buckets)})
    return {"ranges": len(ranges), "rows": rows, "buckets": len(buckets)}


__all__ = ["refresh_rollups"]
