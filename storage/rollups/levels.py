"""Daily and monthly rollup levels, so long periods read a few rows per day or month, not per hour.

At a million documents the hourly ``rollups`` hold about one row per document (an hour has tens
of documents spread over channel x category x province x topic x sentiment), so a year of them
is as slow to scan as the documents. The levels sum whole local days and whole local months of
the app time zone, and keep several *grouping sets* (:data:`GROUPINGS`): a set keeps some
dimensions and rolls the others up (``'*'``, or ``-2`` for ``topic_id``). A read picks the
smallest set holding every dimension it groups or filters by (:func:`pick_grouping`); the set
without topics, the most used one, has about 1/60 of the hourly rows for a year.

The levels are rebuilt from the tags (analysts' corrections applied, as in the hourly rollups)
for every local day an hourly rebuild touched, inside the same transaction, then the months
holding those days from the daily rows (:func:`rebuild_levels`), so the three levels always
agree. The time zone they were built for is kept in ``app_state``; changing it rebuilds them.
Reads use the levels only while their watermark equals the hourly one (:func:`mark_current`), so
a refresh that skipped them makes reads fall back to the hourly rollups, never to stale sums.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, case, cast, delete, func, insert, literal, select
from sqlalchemy import String as SqlString

from storage import schema as s
from storage.corrections import corrected_tag
from storage.db import write_tx
from storage.rollups.hourly import WATERMARK as HOURLY

log = logging.getLogger(__name__)
TZ_STATE = "rollups.levels_tz"
WATERMARK = "rollups.levels_watermark"  # equals HOURLY when the levels match the hourly rollups
ALL = "*"
ALL_TOPICS = -2
LEVEL_DIMS = (
    "channel", "source_id", "category", "province", "city", "district", "topic_id", "sentiment", "emotion"
)  # fmt: skip
MEASURES = ("n", "n_unique", "likes", "reposts", "comments", "reads")
# Grouping set id -> the dimensions it keeps. Preference order (smallest first) is PREFERENCE.
# Every set keeps the source next to the channel: sources nest in channels, so it adds rows only
# where a channel has several sources, and a source filter reads the levels like any other.
GROUPINGS: dict[int, tuple[str, ...]] = {
    0: ("channel", "source_id", "category", "province", "topic_id", "sentiment", "emotion"),
    1: ("channel", "source_id", "category", "province", "sentiment"),
    2: ("channel", "source_id", "category", "topic_id", "sentiment"),
    3: ("channel", "source_id", "category", "province", "sentiment", "emotion"),
    4: ("channel", "source_id", "category", "province", "city", "district", "sentiment"),
    5: ("channel", "source_id", "province", "topic_id", "sentiment"),  # topic x region (0 is 1.7x the rows)
}
PREFERENCE = (1, 3, 4, 2, 5, 0)
# The grouping sets the stored levels were built with: a store built with other sets is rebuilt
# (ensure_levels) and, until then, read from the hourly rollups.
LAYOUT_STATE = "rollups.levels_layout"
LAYOUT = ";".join(f"{g}:{','.join(dims)}" for g, dims in sorted(GROUPINGS.items()))


def level_tables() -> tuple[Table, Table] | None:
    """The (daily, monthly) tables, or None while the schema does not have them yet."""
    daily, monthly = getattr(s, "rollups_daily", None), getattr(s, "rollups_monthly", None)
    return (daily, monthly) if daily is not None and monthly is not None else None


def pick_grouping(dims: Iterable[str]) -> int | None:
    """The smallest grouping set keeping every dimension in ``dims`` (None: no set does)."""
    need = set(dims)
    return next((g for g in PREFERENCE if need <= set(GROUPINGS[g])), None)


def local_midnight(day: date, tz: str) -> datetime:
    """Midnight starting ``day`` in ``tz``, as an aware UTC datetime."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_day(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Piece:
    """A part of a period read from one level: ``hour`` (hourly rollups), ``day`` or ``month``."""

    level: str
    start: datetime
    end: datetime


def _first_midnight_at_or_after(at: datetime, tz: str) -> datetime:
    midnight = local_midnight(local_day(at, tz), tz)
    return midnight if midnight >= at else local_midnight(local_day(at, tz) + timedelta(days=1), tz)


def plan_period(
    start: datetime, end: datetime, tz: str, *, months: bool = True, coarse_before: datetime | None = None
) -> list[Piece]:
    """Split ``[start, end)`` into whole local months (when ``months``), whole local days and hours.

    Days and months are only used before ``coarse_before`` (default: ``end``); the rest, and the
    partial days at both edges, are read hour by hour.
    """
    limit = end if coarse_before is None else max(start, min(end, coarse_before))
    d0 = _first_midnight_at_or_after(start, tz)
    d1 = local_midnight(local_day(limit, tz), tz)
    if d0 >= d1:
        return [Piece("hour", start, end)]
    pieces = [Piece("hour", start, d0)] if start < d0 else []
    m0 = m1 = d1
    if months:
        first = local_day(d0, tz)
        first = first if first.day == 1 else next_month(first)
        m0, m1 = local_midnight(first, tz), local_midnight(month_start(local_day(d1, tz)), tz)
    if months and m0 < m1:
        pieces += [Piece("day", d0, m0)] if d0 < m0 else []
        pieces.append(Piece("month", m0, m1))
        pieces += [Piece("day", m1, d1)] if m1 < d1 else []
    else:
        pieces.append(Piece("day", d0, d1))
    return pieces + ([Piece("hour", d1, end)] if d1 < end else [])


def levels_timezone(engine: Engine) -> str | None:
    """The time zone the levels were built for, or None when reads must use the hourly rollups only:
    never built, built with other grouping sets (:data:`LAYOUT`), or not rebuilt with the last hourly
    refresh (their watermark lags the rollups')."""
    if level_tables() is None:
        return None
    a = s.app_state
    keys = [TZ_STATE, WATERMARK, HOURLY, LAYOUT_STATE]
    with engine.connect() as conn:
        rows = conn.execute(select(a.c.key, a.c.value).where(a.c.key.in_(keys)))
        state: dict[str, Any] = {str(key): value for key, value in rows}
    if not state.get(TZ_STATE) or state.get(WATERMARK) != state.get(HOURLY):
        return None
    if state.get(LAYOUT_STATE) != LAYOUT:
        return None
    return str(state[TZ_STATE])


def mark_current(conn: Any, engine: Engine, hourly_watermark: Any) -> None:
    """Record that the levels match the hourly rollups up to ``hourly_watermark`` (the value the refresh
    stores as ``rollups.watermark``); call it in the transaction that stores that watermark."""
    from storage.state import set_state

    set_state(conn, engine, WATERMARK, hourly_watermark)


def _tag_dims() -> dict[str, Any]:
    t, d = s.doc_tags, s.documents
    return {
        "channel": t.c.channel,
        "source_id": d.c.source_id,
        "category": cast(corrected_tag("category", func.coalesce(t.c.category, "")), SqlString),
        "province": func.coalesce(t.c.province, ""),
        "city": func.coalesce(t.c.city, ""),
        "district": func.coalesce(t.c.district, ""),
        "topic_id": func.coalesce(t.c.topic_id, -1),
        "sentiment": cast(corrected_tag("sentiment", func.coalesce(t.c.sentiment, "")), SqlString),
        "emotion": cast(corrected_tag("emotion", func.coalesce(t.c.emotion, "")), SqlString),
    }


def _rebuild_day(conn: Any, daily: Table, day: date, tz: str) -> None:
    t, d = s.doc_tags, s.documents
    lo, hi = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    conn.execute(delete(daily).where(daily.c.bucket == lo))
    dims = _tag_dims()
    sums = [
        func.count(),
        func.sum(case((d.c.dup_of.is_(None), 1), else_=0)),
        *[func.coalesce(func.sum(d.c[m]), 0) for m in MEASURES[2:]],
    ]
    for grouping, kept in GROUPINGS.items():
        cols = [
            dims[k].label(k)
            if k in kept
            else literal(ALL_TOPICS if k in ("topic_id", "source_id") else ALL).label(k)
            for k in LEVEL_DIMS
        ]
        q = (
            select(literal(grouping), literal(lo, daily.c.bucket.type), *cols, *sums)
            .select_from(t.join(d, d.c.id == t.c.document_id))
            .where(t.c.published_at >= lo, t.c.published_at < hi)
            .group_by(*[dims[k] for k in kept])
        )
        conn.execute(insert(daily).from_select(["grouping", "bucket", *LEVEL_DIMS, *MEASURES], q))


def _rebuild_month(conn: Any, daily: Table, monthly: Table, first: date, tz: str) -> None:
    lo, hi = local_midnight(first, tz), local_midnight(next_month(first), tz)
    conn.execute(delete(monthly).where(monthly.c.bucket == lo))
    keys = [daily.c.grouping, *[daily.c[k] for k in LEVEL_DIMS]]
    q = (
        select(
            daily.c.grouping,
            literal(lo, monthly.c.bucket.type),
            *[daily.c[k] for k in LEVEL_DIMS],
            *[func.sum(daily.c[m]) for m in MEASURES],
        )
        .where(daily.c.bucket >= lo, daily.c.bucket < hi)
        .group_by(*keys)
    )
    conn.execute(insert(monthly).from_select(["grouping", "bucket", *LEVEL_DIMS, *MEASURES], q))


def rebuild_levels(conn: Any, engine: Engine, start: datetime, end: datetime, tz: str) -> int:
    """Rebuild every local day overlapping ``[start, end)`` and the months holding them, in ``conn``'s
    transaction (call it right after the hourly rebuild of the same range). Returns the days rebuilt."""
    tables = level_tables()
    if tables is None or end <= start:
        return 0
    daily, monthly = tables
    first, last = local_day(start, tz), local_day(end - timedelta(microseconds=1), tz)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for day in days:
        _rebuild_day(conn, daily, day, tz)
    for m in sorted({month_start(day) for day in days}):
        _rebuild_month(conn, daily, monthly, m, tz)
    return len(days)


def ensure_levels(engine: Engine, tz: str) -> int:
    """Build the levels for all tagged documents when missing, or built for another time zone or
    with other grouping sets.

    Returns the days rebuilt (0 when the levels were already built for ``tz``).
    """
    from storage.state import set_state

    tables = level_tables()
    if tables is None or levels_timezone(engine) == tz:
        return 0  # built for this zone and in step with the hourly rollups
    t = s.doc_tags
    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(t.c.published_at), func.max(t.c.published_at))).one()
    days = 0
    with write_tx(engine) as conn:
        for table in tables:
            conn.execute(delete(table))
        if lo is not None:
            # Month by month, so the daily rows of a month are complete when the month is summed.
            first = month_start(local_day(lo, tz))
            while local_midnight(first, tz) <= hi:
                after = next_month(first)
                days += rebuild_levels(conn, engine, local_midnight(first, tz), local_midnight(after, tz), tz)
                first = after
        set_state(conn, engine, TZ_STATE, tz)
        set_state(conn, engine, LAYOUT_STATE, LAYOUT)
        hourly = conn.execute(select(s.app_state.c.value).where(s.app_state.c.key == HOURLY)).scalar()
        set_state(conn, engine, WATERMARK, hourly)
    log.info("rollup levels built", extra={"days": days, "tz": tz})
    return days


__all__ = [
    "ALL",
    "Piece",
    "plan_period",
    "ALL_TOPICS",
    "GROUPINGS",
    "LEVEL_DIMS",
    "ensure_levels",
    "level_tables",
    "levels_timezone",
    "local_midnight",
    "mark_current",
    "pick_grouping",
    "rebuild_levels",
]
