"""Hourly rollups by channel x source x category x province x topic x sentiment.

The refresh (:mod:`storage.rollups.refresh`) finds the hour buckets touched by documents tagged since the last watermark
(``app_state['rollups.watermark']``), groups them into contiguous ranges and rebuilds those
ranges in one transaction each, so a crash never leaves a half-built bucket. Analysts'
corrections override the model's sentiment and category here, so every chart shows them at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, case, cast, delete, func, insert, select

from storage import schema as s
from storage.corrections import corrected_tag
from storage.db import truncate_time

log = logging.getLogger(__name__)
WATERMARK = "rollups.watermark"
LATE_COMMIT = timedelta(minutes=5)
GAP = timedelta(hours=24)  # touched buckets further apart than this are rebuilt separately


def hour_bucket(engine: Engine, column: Any) -> Any:
    """SQL expression truncating a stored UTC timestamp to its hour, on either backend."""
    return truncate_time(engine, column, "hour")


def as_utc(value: datetime | str) -> datetime:
    """A bucket as read back (a naive datetime, or ISO text on SQLite) as an aware UTC datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
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


__all__ = ["WATERMARK", "hour_bucket", "rebuild_range", "touched_ranges"]
