"""Every read query the dashboard runs, on SQLite and PostgreSQL alike.

The UI never writes SQL: each page calls a function here with a :class:`QueryFilters`. Charts
and KPIs read the hourly ``rollups``. Two global filters are not rollup dimensions (source and
keyword); when either is set, :func:`aggregate` computes the same rollup-shaped frame from
``doc_tags`` joined to ``documents`` instead, so every page honours every filter (more slowly).

Conventions: periods are half-open ``[start, end)`` of aware UTC datetimes aligned to the hour;
unknown category or province is ``''`` and "no topic" is ``-1``, as in the rollups. Frames
carry UTC timestamps; the UI converts to the display time zone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from storage import schema as s
from storage.admin_queries import (
    audit_frame,
    filter_options,
    report_runs_frame,
    source_health_frame,
    tagging_backlog,
)
from storage.alert_queries import (
    active_silences,
    alert_events_frame,
    alert_matches,
    alerts_frame,
    count_alerts_fired,
    open_alert_count,
)
from storage.document_queries import (
    DOCUMENT_COLUMNS,
    ORDERS,
    document_count,
    documents_by_ids,
    search_documents,
    topic_documents,
)
from storage.filters import (
    HOUR,
    QueryFilters,
    dim_conditions,
    doc_dims,
    document_conditions,
    hour_floor,
    keyword_condition,
    last_hours,
    like_pattern,
    tag_dims,
    to_utc,
    topic_column,
)
from storage.rollups.reads import DIMENSIONS, MEASURES, rollup_sums

log = logging.getLogger(__name__)

# Heat persistence counts active hours over at most a week (dashboard and weekly report).
HEAT_HOURLY_TAIL = timedelta(days=7)


def aggregate(
    engine: Engine, f: QueryFilters, by: Sequence[str], *, topic_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Sum :data:`MEASURES` over ``[f.start, f.end)`` grouped by ``by`` (names from :data:`DIMENSIONS`).

    Reads the rollups (see :func:`rollup_sums`, including what ``bucket`` holds for long periods)
    unless the filters need documents (see :class:`QueryFilters`).
    """
    unknown = set(by) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}; expected some of {DIMENSIONS}")
    if f.needs_documents:
        t, d = s.doc_tags, s.documents
        dims = doc_dims(engine)
        sums = [
            func.count().label("n"),
            func.sum(case((d.c.dup_of.is_(None), 1), else_=0)).label("n_unique"),
            *[func.coalesce(func.sum(d.c[m]), 0).label(m) for m in MEASURES[2:]],
        ]
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, *document_conditions(engine, f)]
        conds += dim_conditions(dims, f)
        if topic_ids is not None:
            conds.append(dims["topic_id"].in_([int(i) for i in topic_ids]))
        q = select(*[dims[name].label(name) for name in by], *sums)
        q = q.select_from(t.join(d, d.c.id == t.c.document_id)).where(*conds)
        if by:
            q = q.group_by(*[dims[name] for name in by])
    else:
        q = rollup_sums(engine, f, by, topic_ids=topic_ids)
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=[*by, *MEASURES])
    for m in MEASURES:
        frame[m] = pd.to_numeric(frame[m]).fillna(0).astype("int64")
    if "bucket" in by:
        frame["bucket"] = to_utc(frame["bucket"])
    if "topic_id" in by:
        frame["topic_id"] = frame["topic_id"].astype("int64")
    if not by and frame.empty:
        frame = pd.DataFrame([dict.fromkeys(MEASURES, 0)])
    return frame


def total(engine: Engine, f: QueryFilters) -> dict[str, int]:
    """The measures summed over the whole period."""
    row = aggregate(engine, f, ())
    return {m: int(row[m].iloc[0]) for m in MEASURES}


def negative_share(frame: pd.DataFrame) -> float | None:
    """Share of ``n`` with sentiment 'negative' in a frame grouped by sentiment (None if empty)."""
    volume = int(frame["n"].sum()) if not frame.empty else 0
    if volume == 0:
        return None
    return float(frame.loc[frame["sentiment"] == "negative", "n"].sum()) / volume


def kpi_summary(engine: Engine, f: QueryFilters) -> dict[str, Any]:
    """Volume, negative share, new topics and alerts for the period and the previous one."""
    prev = f.previous()
    cur_s, prev_s = aggregate(engine, f, ["sentiment"]), aggregate(engine, prev, ["sentiment"])
    return {
        "volume": int(cur_s["n"].sum()),
        "volume_prev": int(prev_s["n"].sum()),
        "negative_share": negative_share(cur_s),
        "negative_share_prev": negative_share(prev_s),
        "new_topics": count_new_topics(engine, f),
        "new_topics_prev": count_new_topics(engine, prev),
        "open_alerts": open_alert_count(engine),
        "alerts_fired": count_alerts_fired(engine, f),
        "alerts_fired_prev": count_alerts_fired(engine, prev),
    }


# -- topics ----------------------------------------------------------------------------------
def topics_frame(engine: Engine, ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Rows of ``topics`` (all, or the given ids)."""
    t = s.topics
    q = select(t)
    if ids is not None:
        q = q.where(t.c.id.in_([int(i) for i in ids]))
    with engine.connect() as conn:
        frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in t.c])
    for col in ("first_seen", "last_seen"):
        frame[col] = to_utc(frame[col])
    return frame


def count_new_topics(engine: Engine, f: QueryFilters) -> int:
    """Topics first seen in the period that have matching documents in it."""
    present = aggregate(engine, f, ["topic_id"])
    ids = [int(i) for i in present.loc[(present["topic_id"] >= 0) & (present["n"] > 0), "topic_id"]]
    if not ids:
        return 0
    t = s.topics
    q = select(func.count()).where(t.c.id.in_(ids), t.c.first_seen >= f.start, t.c.first_seen < f.end)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def _activity(
    engine: Engine, f: QueryFilters, lookback: timedelta, keys: list[str], hourly_tail: timedelta
) -> pd.DataFrame:
    """Rollup rows over ``[f.start - lookback, f.end)`` grouped by ``keys``: hourly over the last
    ``hourly_tail`` (never before the lookback starts); before that, one row per key for the
    lookback's part, dated at the lookback's start, and one for the period's part, dated ``f.start``.

    So a window ending at ``f.end`` and no longer than ``hourly_tail`` sums as from hourly rows; so do
    the period and the lookback, and any window starting at ``f.start - lookback`` or ``f.start``.
    """

    def summed(start: datetime, end: datetime) -> pd.DataFrame:
        """``[start, end)`` as one row per key, dated ``start``."""
        frame = aggregate(engine, f.with_period(start, end), keys).assign(bucket=pd.Timestamp(start))
        return frame.loc[:, ["bucket", *keys, *MEASURES]]

    begin = f.start - lookback
    hourly_from = max(begin, f.end - hourly_tail)
    lookback_end = min(f.start, hourly_from)
    parts = [summed(begin, lookback_end)] if begin < lookback_end else []
    if f.start < hourly_from:
        parts.append(summed(f.start, hourly_from))
    parts.append(aggregate(engine, f.with_period(hourly_from, f.end), ["bucket", *keys]))
    return pd.concat([p for p in parts if not p.empty] or parts[-1:], ignore_index=True)


def topic_activity(
    engine: Engine, f: QueryFilters, lookback: timedelta, hourly_tail: timedelta = HEAT_HOURLY_TAIL
) -> pd.DataFrame:
    """Rollup rows of every topic over ``[f.start - lookback, f.end)``: the input of heat ranking and
    emerging-topic detection (``bucket``, ``topic_id``, ``channel``, ``sentiment``, measures).

    Heat ranking sums the period and the lookback and counts active hours in the last
    :data:`HEAT_HOURLY_TAIL`; emerging-topic detection sums its recent window and the history
    before it, both ending inside the last ``recent + history`` hours, which the caller passes as
    ``hourly_tail``. Only that tail comes hourly (see :func:`_activity`).
    """
    frame = _activity(engine, f, lookback, ["topic_id", "channel", "sentiment"], hourly_tail)
    return frame.loc[frame["topic_id"] >= 0].reset_index(drop=True)


def agenda_activity(engine: Engine, f: QueryFilters, lookback: timedelta) -> pd.DataFrame:
    """Rollup rows of every category x province cell over ``[f.start - lookback, f.end)``: the input
    of agenda ranking (``bucket``, ``category``, ``province``, ``channel``, ``sentiment``, measures).

    Agenda ranking sums the period and the lookback and counts active hours only in the last
    :data:`HEAT_HOURLY_TAIL` (heat persistence), so only those come hourly (see :func:`_activity`).
    (A year's read at 1 M documents returns 7 k rows instead of 21 k.)
    """
    keys = ["category", "province", "channel", "sentiment"]
    return _activity(engine, f, lookback, keys, HEAT_HOURLY_TAIL)


def emotion_mix(engine: Engine, f: QueryFilters, topic_id: int | None = None) -> pd.DataFrame:
    """Documents per emotion (analysts' corrections applied) for the filters, optionally one topic."""
    topics = [int(topic_id)] if topic_id is not None else None
    if f.needs_documents:
        t, d = s.doc_tags, s.documents
        emotion = tag_dims(engine)["emotion"].label("emotion")
        dims = doc_dims(engine)
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, *dim_conditions(dims, f)]
        conds += document_conditions(engine, f)
        if topics is not None:
            conds.append(topic_column(engine, f.keyword).in_(topics))
        q = select(emotion, func.count().label("n")).select_from(t.join(d, d.c.id == t.c.document_id))
        q = q.where(*conds).group_by(emotion)
    else:
        q = rollup_sums(engine, f, ["emotion"], ["n"], topic_ids=topics)
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=["emotion", "n"])
    frame["n"] = pd.to_numeric(frame["n"]).fillna(0).astype("int64")
    return (
        frame.loc[frame["n"] > 0]
        .sort_values(["n", "emotion"], ascending=[False, True])
        .reset_index(drop=True)
    )


def region_table(engine: Engine, f: QueryFilters) -> pd.DataFrame:
    """Documents and negative documents by province, city and district (from the tags)."""
    places = ["province", "city", "district"]
    if f.needs_documents:
        t, d = s.doc_tags, s.documents
        dims = tag_dims(engine)
        cols = [dims[c].label(c) for c in (*places, "sentiment")]
        # doc_dims: the source is a documents condition here, not tag_dims' per-row subquery
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, *dim_conditions(doc_dims(engine), f)]
        conds += document_conditions(engine, f)
        q = select(*cols, func.count().label("n")).select_from(t.join(d, d.c.id == t.c.document_id))
        sub = q.where(*conds).group_by(*[dims[c] for c in (*places, "sentiment")]).subquery()
    else:
        sub = rollup_sums(engine, f, [*places, "sentiment"], ["n"]).subquery()
    neg = func.sum(case((sub.c.sentiment == "negative", sub.c.n), else_=0)).label("negative")
    q = select(*[sub.c[c] for c in places], func.sum(sub.c.n).label("n"), neg).group_by(
        *[sub.c[c] for c in places]
    )
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=[*places, "n", "negative"])
    for col in ("n", "negative"):
        frame[col] = pd.to_numeric(frame[col]).fillna(0).astype("int64")
    frame = frame.loc[frame["n"] > 0].sort_values(["n", *places], ascending=[False, True, True, True])
    return frame.reset_index(drop=True)


__all__ = [
    "DOCUMENT_COLUMNS",
    "HOUR",
    "ORDERS",
    "alert_matches",
    "hour_floor",
    "like_pattern",
    "open_alert_count",
    "count_alerts_fired",
    "DIMENSIONS",
    "MEASURES",
    "QueryFilters",
    "active_silences",
    "agenda_activity",
    "aggregate",
    "alert_events_frame",
    "alerts_frame",
    "audit_frame",
    "document_count",
    "documents_by_ids",
    "emotion_mix",
    "filter_options",
    "keyword_condition",
    "kpi_summary",
    "last_hours",
    "region_table",
    "report_runs_frame",
    "rollup_sums",
    "search_documents",
    "source_health_frame",
    "tagging_backlog",
    "topic_activity",
    "topic_documents",
    "topics_frame",
    "total",
]
