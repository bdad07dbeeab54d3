"""Hourly rollups by channel x source x category x province x topic x sentiment, kept up to date
incrementally.

The refresh finds the hour buckets touched by documents tagged since the last watermark
(``app_state['rollups.watermark']``), groups them into contiguous ranges and rebuilds those
ranges in one transaction each, so a crash never leaves a half-built bucket. Analysts'
corrections override the model's sentiment and category here, so every chart shows them at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, case, cast, delete, func, insert, literal, select

from storage import schema as s
from storage.corrections import corrected_tag
from storage.db import truncate_time, write_tx
from storage.state import get_state, set_state

log = logging.getLogger(__name__)
WATERMARK = "rollups.watermark"
LATE_COMMIT = timedelta(minutes=5)
DEFAULT_LOW_CONFIDENCE = 0.55  # the settings default (nlp.low_confidence)
GAP = timedelta(hours=24)  # touched buckets further apart than this are rebuilt separately


def hour_bucket(engine: Engine, column: Any) -> Any:
    """SQL expression truncating a stored UTC timestamp to its hour, on either backend."""
    return truncate_time(engine, column, "hour")


def _to_dt(engine: Engine, value: Any) -> datetime:
    if isinstance(value, str):
        from datetime import UTC

        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def touched_ranges(buckets: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Group sorted hour buckets into [start, end) ranges split at gaps longer than a day."""
    ranges: list[tuple[datetime, datetime]] = []
    for b in sorted(set(buckets)):
        if ranges and b - (ranges[-1][1] - timedelta(hours=1)) <= GAP:
            ranges[-1] = (ranges[-1][0], b + timedelta(hours=1))
        else:
            ranges.append((b, b + timedelta(hours=1)))
    return ranges


def rebuild_range(engine: Engine, start: datetime, end: datetime, conn: Any) -> int:
    """Recompute every rollup row with bucket in [start, end) inside ``conn``'s transaction."""
    d, t, r = s.documents, s.doc_tags, s.rollups
    bucket = hour_bucket(engine, t.c.published_at)
    sentiment = corrected_tag("sentiment", func.coalesce(t.c.sentiment, ""))
    category = corrected_tag("category", func.coalesce(t.c.category, ""))
    province = func.coalesce(t.c.province, "")
    topic = func.coalesce(t.c.topic_id, -1)
    first_copy = func.sum(case((d.c.dup_of.is_(None), 1), else_=0))
    q = (
        select(
            bucket.label("bucket"),
            t.c.channel,
            d.c.source_id,
            cast(category, String).label("category"),
            province.label("province"),
            topic.label("topic_id"),
            cast(sentiment, String).label("sentiment"),
            func.count().label("n"),
            first_copy.label("n_unique"),
            func.coalesce(func.sum(d.c.likes), 0),
            func.coalesce(func.sum(d.c.reposts), 0),
            func.coalesce(func.sum(d.c.comments), 0),
            func.coalesce(func.sum(d.c.reads), 0),
        )
        .select_from(t.join(d, d.c.id == t.c.document_id))
        .where(t.c.published_at >= start, t.c.published_at < end)
        .group_by(bucket, t.c.channel, d.c.source_id, category, province, topic, sentiment)
    )
    conn.execute(delete(r).where(r.c.bucket >= start, r.c.bucket < end))
    cols = ["bucket", "channel", "source_id", "category", "province", "topic_id", "sentiment"]
    cols += ["n", "n_unique", "likes", "reposts", "comments", "reads"]
    result = conn.execute(insert(r).from_select(cols, q))
    return max(int(result.rowcount or 0), 0)  # some drivers report -1 for INSERT ... SELECT


def refresh_rollups(
    engine: Engine, *, full: bool = False, tz: str | None = None, low_confidence: float | None = None
) -> dict[str, int]:
    """Bring the hourly rollups, the daily/monthly levels and the tag-quality table up to date.

    ``tz`` is the app time zone the daily/monthly levels use; without it the levels are kept in
    step in the zone they were last built for (if they were ever built). ``low_confidence`` is
    the threshold the tag-quality counts use (default: the one they were built for, else 0.55).
    """
    from analytics import rollup_levels as lv
    from analytics import tag_quality as tq

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
        buckets = [_to_dt(engine, b) for (b,) in conn.execute(q)]
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


__all__ = ["hour_bucket", "literal", "rebuild_range", "refresh_rollups", "touched_ranges"]
