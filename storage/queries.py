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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, String, and_, case, cast, func, literal_column, or_, select, union_all

from analytics import rollup_levels as lv
from analytics.rollups import hour_bucket
from storage import schema as s
from storage import search_index
from storage.corrections import corrected_tag as corrected
from storage.db import is_sqlite

log = logging.getLogger(__name__)

MEASURES = ("n", "n_unique", "likes", "reposts", "comments", "reads")
DIMENSIONS = ("bucket", "channel", "category", "province", "topic_id", "sentiment")
HOUR = timedelta(hours=1)
# Reads grouped by bucket keep hourly buckets for the last two weeks of the period (heat persistence,
# emerging topics and growth baselines look back that far); older whole local days come as days.
HOURLY_TAIL = timedelta(days=14)


@dataclass(frozen=True)
class QueryFilters:
    """The global filters of the sidebar; empty tuples mean "all"."""

    start: datetime
    end: datetime
    channels: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    keyword: str = ""

    @property
    def needs_documents(self) -> bool:
        """True when a filter is not a rollup dimension (source, keyword)."""
        return bool(self.sources or self.keyword.strip())

    def previous(self) -> QueryFilters:
        """The same filters over the period of equal length just before this one."""
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start)

    def with_period(self, start: datetime, end: datetime) -> QueryFilters:
        return replace(self, start=start, end=end)

    def describe(self) -> dict[str, Any]:
        """JSON-safe description (for the audit log and exports)."""
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items() if v not in ((), "")}


def hour_floor(dt: datetime) -> datetime:
    return dt.replace(minute=0, second=0, microsecond=0)


def last_hours(now: datetime, hours: int) -> tuple[datetime, datetime]:
    """``[end - hours, end)`` where ``end`` is the end of the current hour (so it includes now)."""
    end = hour_floor(now) + HOUR
    return end - timedelta(hours=hours), end


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%``, ``_``, ``\\`` escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_match(engine: Engine, column: Any, text: str) -> Any:
    """Case-insensitive substring match: LIKE on SQLite (ASCII case-folding), ILIKE on PostgreSQL.

    On SQLite a text without ASCII letters (most Chinese keywords), for which case cannot matter,
    uses ``instr``: the same matches, several times faster than LIKE.
    """
    if is_sqlite(engine) and not any(c.isascii() and c.isalpha() for c in text):
        return func.instr(column, text) > 0
    pattern = like_pattern(text)
    if is_sqlite(engine):
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def keyword_condition(engine: Engine, text: str) -> Any:
    """Title or content contains ``text`` (see :func:`text_match`); with the bigram index
    (:mod:`storage.search_index`) only the documents that may contain it are read."""
    d = s.documents
    match = or_(text_match(engine, d.c.content, text), text_match(engine, d.c.title, text))
    up_to = search_index.indexed_up_to(engine) if len(text) >= 2 else None
    if up_to is None:
        return match
    return and_(d.c.id.in_(search_index.candidate_ids(text, up_to)), match)


def _doc_dims(engine: Engine) -> dict[str, Any]:
    t = s.doc_tags
    return {
        "bucket": hour_bucket(engine, t.c.published_at),
        "channel": t.c.channel,
        "category": cast(corrected("category", func.coalesce(t.c.category, "")), String),
        "province": func.coalesce(t.c.province, ""),
        "topic_id": func.coalesce(t.c.topic_id, -1),
        "sentiment": cast(corrected("sentiment", func.coalesce(t.c.sentiment, "")), String),
    }


def _dim_conditions(dims: dict[str, Any], f: QueryFilters) -> list[Any]:
    conds = []
    for name, values in (
        ("channel", f.channels),
        ("category", f.categories),
        ("province", f.provinces),
        ("sentiment", f.sentiments),
    ):
        if values:
            conds.append(dims[name].in_(list(values)))
    return conds


def _document_conditions(engine: Engine, f: QueryFilters) -> list[Any]:
    d = s.documents
    conds: list[Any] = []
    if f.sources:
        ids = select(s.sources.c.id).where(s.sources.c.name.in_(list(f.sources)))
        conds.append(d.c.source_id.in_(ids))
    if f.keyword.strip():
        kw = f.keyword.strip()
        conds.append(keyword_condition(engine, kw))
    return conds


def _to_utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)


def _filter_dims(f: QueryFilters) -> set[str]:
    named = (("channel", f.channels), ("category", f.categories), ("province", f.provinces))
    return {name for name, values in (*named, ("sentiment", f.sentiments)) if values}


def _tag_dims(engine: Engine) -> dict[str, Any]:
    """:func:`_doc_dims` plus the tag columns that only the daily and monthly levels keep."""
    t = s.doc_tags
    return {
        **_doc_dims(engine),
        "emotion": cast(corrected("emotion", func.coalesce(t.c.emotion, "")), String),
        "city": func.coalesce(t.c.city, ""),
        "district": func.coalesce(t.c.district, ""),
    }


def _piece_select(
    engine: Engine,
    f: QueryFilters,
    piece: lv.Piece,
    grouping: int | None,
    by: Sequence[str],
    measures: Sequence[str],
    topic_ids: Sequence[int] | None,
) -> Any:
    """One part of a period: hourly rollups, a daily/monthly level, or (dimensions the hourly rollups
    lack) the tags themselves; columns ``by`` + ``measures``."""
    if piece.level == "hour" and set(by) | _filter_dims(f) <= set(DIMENSIONS):
        table: Any = s.rollups
        dims = {name: table.c[name] for name in DIMENSIONS}
        sums = [func.sum(table.c[m]).label(m) for m in measures]
        conds = [table.c.bucket >= piece.start, table.c.bucket < piece.end]
    elif piece.level == "hour":
        if set(measures) - {"n"}:
            raise ValueError(f"only n can be counted from the tags, not {sorted(measures)}")
        t = s.doc_tags
        table, dims = t, _tag_dims(engine)
        sums = [func.count().label("n")]
        conds = [t.c.published_at >= piece.start, t.c.published_at < piece.end]
    else:
        daily, monthly = lv.level_tables() or (None, None)
        table = daily if piece.level == "day" else monthly
        dims = {name: table.c[name] for name in (*lv.LEVEL_DIMS, "bucket")}
        sums = [func.sum(table.c[m]).label(m) for m in measures]
        conds = [table.c.grouping == grouping, table.c.bucket >= piece.start, table.c.bucket < piece.end]
    conds += _dim_conditions(dims, f)
    if topic_ids is not None:
        conds.append(dims["topic_id"].in_([int(i) for i in topic_ids]))
    q = select(*[dims[name].label(name) for name in by], *sums).select_from(table).where(*conds)
    return q.group_by(*[dims[name] for name in by]) if by else q


def rollup_sums(
    engine: Engine,
    f: QueryFilters,
    by: Sequence[str],
    measures: Sequence[str] = MEASURES,
    *,
    topic_ids: Sequence[int] | None = None,
) -> Any:
    """A select of ``by`` + ``measures`` summed over ``[f.start, f.end)`` from the rollups, filtered by ``f``'s
    dimensions (not its source or keyword).

    Whole local months and days come from the daily and monthly levels (see
    :mod:`analytics.rollup_levels`) when they are built; the rest from the hourly rollups (or, for
    emotion, city and district, which those lack, from the tags). Grouped by ``bucket``, rows are
    hourly for the last :data:`HOURLY_TAIL` of the period and the partial days at its start, and one
    per local day (bucket = local midnight, in UTC) before; months are then never used.
    """
    need = (
        {b for b in by if b != "bucket"}
        | _filter_dims(f)
        | ({"topic_id"} if topic_ids is not None else set())
    )
    tz = lv.levels_timezone(engine)
    grouping = lv.pick_grouping(need) if tz else None
    if grouping is None or tz is None:
        pieces = [lv.Piece("hour", f.start, f.end)]
    else:
        bucketed = "bucket" in by
        coarse_before = f.end - HOURLY_TAIL if bucketed else None
        pieces = lv.plan_period(f.start, f.end, tz, months=not bucketed, coarse_before=coarse_before)
    selects = [_piece_select(engine, f, p, grouping, by, measures, topic_ids) for p in pieces]
    if len(selects) == 1:
        return selects[0]
    sub = union_all(*selects).subquery()
    q = select(*[sub.c[name] for name in by], *[func.sum(sub.c[m]).label(m) for m in measures])
    return q.group_by(*[sub.c[name] for name in by]) if by else q


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
        dims = _doc_dims(engine)
        sums = [
            func.count().label("n"),
            func.sum(case((d.c.dup_of.is_(None), 1), else_=0)).label("n_unique"),
            *[func.coalesce(func.sum(d.c[m]), 0).label(m) for m in MEASURES[2:]],
        ]
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, *_document_conditions(engine, f)]
        conds += _dim_conditions(dims, f)
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
        frame["bucket"] = _to_utc(frame["bucket"])
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
        frame[col] = _to_utc(frame[col])
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


def _activity(engine: Engine, f: QueryFilters, lookback: timedelta, keys: list[str]) -> pd.DataFrame:
    cut = max(f.start, f.end - HOURLY_TAIL)
    parts = [
        aggregate(engine, f.with_period(f.start - lookback, f.start), ["bucket", *keys]),
        aggregate(engine, f.with_period(cut, f.end), ["bucket", *keys]),
    ]
    if f.start < cut:
        early = aggregate(engine, f.with_period(f.start, cut), keys)
        parts.insert(1, early.assign(bucket=pd.Timestamp(f.start)).loc[:, ["bucket", *keys, *MEASURES]])
    return pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)


def topic_activity(engine: Engine, f: QueryFilters, lookback: timedelta) -> pd.DataFrame:
    """Rollup rows of every topic over ``[f.start - lookback, f.end)``: the input of heat ranking.

    Columns ``bucket``, ``topic_id``, ``channel``, ``sentiment`` and the measures. Rows are hourly
    for the lookback and the last :data:`HOURLY_TAIL` of the period (daily for lookback days older
    than that); the part of the period before the tail is summed into one row per topic, channel
    and sentiment with ``bucket = f.start`` (heat ranking and emerging-topic detection only sum it).
    """
    frame = _activity(engine, f, lookback, ["topic_id", "channel", "sentiment"])
    return frame.loc[frame["topic_id"] >= 0].reset_index(drop=True)


def agenda_activity(engine: Engine, f: QueryFilters, lookback: timedelta) -> pd.DataFrame:
    """Rollup rows of every category x province cell over ``[f.start - lookback, f.end)``: the input
    of agenda ranking (``bucket``, ``category``, ``province``, ``channel``, ``sentiment``, measures;
    buckets as in :func:`topic_activity`)."""
    return _activity(engine, f, lookback, ["category", "province", "channel", "sentiment"])


def emotion_mix(engine: Engine, f: QueryFilters, topic_id: int | None = None) -> pd.DataFrame:
    """Documents per emotion (analysts' corrections applied) for the filters, optionally one topic."""
    topics = [int(topic_id)] if topic_id is not None else None
    if f.needs_documents:
        t, d = s.doc_tags, s.documents
        emotion = _tag_dims(engine)["emotion"].label("emotion")
        dims = _doc_dims(engine)
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, *_dim_conditions(dims, f)]
        conds += _document_conditions(engine, f)
        if topics is not None:
            conds.append(t.c.topic_id.in_(topics))
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
        dims = _tag_dims(engine)
        cols = [dims[c].label(c) for c in (*places, "sentiment")]
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, *_dim_conditions(dims, f)]
        conds += _document_conditions(engine, f)
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


# -- alerts ----------------------------------------------------------------------------------
_KEY_FILTERS = {
    "channel": "channels",
    "category": "categories",
    "region": "provinces",
    "province": "provinces",
}


def alert_matches(key: str, f: QueryFilters) -> bool:
    """Whether an alert key (``"category=环境保护"``) passes the dimension filters."""
    dim, sep, value = key.partition("=")
    if not sep or dim not in _KEY_FILTERS:
        return True
    allowed = getattr(f, _KEY_FILTERS[dim])
    return not allowed or value in allowed


def alerts_frame(
    engine: Engine, f: QueryFilters | None = None, *, include_resolved: bool = True, limit: int = 500
) -> pd.DataFrame:
    """Open alerts (any age) and, if asked, alerts last seen in the period; newest first."""
    a = s.alerts
    cond = a.c.status != "resolved"
    if include_resolved and f is not None:
        cond = or_(cond, and_(a.c.last_seen >= f.start, a.c.last_seen < f.end))
    q = select(a).where(cond).order_by(a.c.last_seen.desc(), a.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in a.c])
    if f is not None and not frame.empty:
        frame = frame.loc[[alert_matches(k, f) for k in frame["key"]]].reset_index(drop=True)
    for col in ("first_seen", "last_seen", "last_notified", "acked_at", "resolved_at"):
        frame[col] = _to_utc(frame[col])
    return frame


def alert_events_frame(engine: Engine, alert_id: int) -> pd.DataFrame:
    """The state changes of one alert, oldest first."""
    e = s.alert_events
    q = select(e.c.at, e.c.event, e.c.actor, e.c.note).where(e.c.alert_id == int(alert_id)).order_by(e.c.id)
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=["at", "event", "actor", "note"])
    frame["at"] = _to_utc(frame["at"])
    return frame


def open_alert_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(s.alerts.c.status != "resolved")).scalar_one())


def count_alerts_fired(engine: Engine, f: QueryFilters) -> int:
    """Alerts first seen in the period that pass the dimension filters."""
    a = s.alerts
    q = select(a.c.key).where(a.c.first_seen >= f.start, a.c.first_seen < f.end)
    with engine.connect() as conn:
        return sum(1 for (key,) in conn.execute(q) if alert_matches(key, f))


def active_silences(engine: Engine, now: datetime) -> pd.DataFrame:
    si = s.silences
    q = select(si).where(si.c.until > now).order_by(si.c.until)
    with engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in si.c])


# -- documents -------------------------------------------------------------------------------
DOCUMENT_COLUMNS = (
    "id", "published_at", "channel", "source", "title", "content", "category", "sentiment", "emotion",
    "province", "city", "district", "topic_id", "likes", "reposts", "comments", "reads", "dup_count",
    "dup_of", "simulated", "url",
)  # fmt: skip
ORDERS = ("newest", "representative")


def _document_query(
    engine: Engine, f: QueryFilters, text: str, topic_id: int | None, collapse_duplicates: bool
) -> tuple[Any, list[Any], dict[str, Any]]:
    d, t, src = s.documents, s.doc_tags, s.sources
    dims = _doc_dims(engine)
    conds = [d.c.published_at >= f.start, d.c.published_at < f.end, *_document_conditions(engine, f)]
    if f.channels:
        conds.append(d.c.channel.in_(list(f.channels)))
    conds += _dim_conditions({**dims, "channel": d.c.channel}, replace(f, channels=()))
    if text.strip():
        conds.append(keyword_condition(engine, text.strip()))
    if topic_id is not None:  # the tags' copy of the time lets the (topic_id, published_at) index serve
        conds += [t.c.topic_id == int(topic_id), t.c.published_at >= f.start, t.c.published_at < f.end]
    if collapse_duplicates:
        conds.append(d.c.dup_of.is_(None))
    joined = d.outerjoin(t, t.c.document_id == d.c.id).join(src, src.c.id == d.c.source_id)
    return joined, conds, dims


def search_documents(
    engine: Engine,
    f: QueryFilters,
    text: str = "",
    *,
    topic_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
    collapse_duplicates: bool = False,
    order: str = "newest",
    ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """One page of documents matching the filters and ``text`` (title or content, case-insensitive).

    Args:
        order: "newest" (published, newest first) or "representative" (most copies, then engagement).
        collapse_duplicates: keep first copies only (``dup_of IS NULL``); ``dup_count`` says how many.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    d, t, src = s.documents, s.doc_tags, s.sources
    joined, conds, dims = _document_query(engine, f, text, topic_id, collapse_duplicates)
    if ids is not None:
        conds.append(d.c.id.in_([int(i) for i in ids]))
    cols = [
        d.c.id, d.c.published_at, d.c.channel, src.c.name.label("source"), d.c.title, d.c.content,
        dims["category"].label("category"), dims["sentiment"].label("sentiment"),
        cast(corrected("emotion", func.coalesce(t.c.emotion, "")), String).label("emotion"),
        t.c.province, t.c.city, t.c.district, t.c.topic_id, d.c.likes, d.c.reposts, d.c.comments, d.c.reads,
        d.c.dup_count, d.c.dup_of, d.c.simulated, d.c.url,
    ]  # fmt: skip
    ordering = [d.c.published_at.desc(), d.c.id.desc()] if order == "newest" else representative_order()
    page = max(1, int(page))
    q = select(*cols).select_from(joined).where(*conds).order_by(*ordering)
    q = q.limit(int(page_size)).offset((page - 1) * int(page_size))
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=list(DOCUMENT_COLUMNS))
    frame["published_at"] = _to_utc(frame["published_at"])
    return frame


def documents_by_ids(engine: Engine, ids: Sequence[int]) -> pd.DataFrame:
    """The documents with these ids (alert evidence), newest first, whatever the filters."""
    wide = QueryFilters(start=datetime(1970, 1, 1, tzinfo=UTC), end=datetime(9999, 1, 1, tzinfo=UTC))
    ids = [int(i) for i in ids][:200]
    if not ids:
        return search_documents(engine, wide, page_size=0)
    return search_documents(engine, wide, page_size=len(ids), ids=ids)


def document_count(
    engine: Engine,
    f: QueryFilters,
    text: str = "",
    *,
    topic_id: int | None = None,
    collapse_duplicates: bool = False,
) -> int:
    """How many documents :func:`search_documents` would page through.

    Without search text, source or keyword the count needs no document rows: filtered by a tag
    (category, region, sentiment, topic; only tagged documents can match) it is a rollup sum, and
    otherwise an index-only count of the documents (untagged ones included).
    """
    tag_values = (*f.categories, *f.provinces, *f.sentiments)
    if not text.strip() and not f.needs_documents and (tag_values or topic_id is not None):
        if "" not in tag_values:  # '' also matches untagged documents, which the rollups lack
            measure = "n_unique" if collapse_duplicates else "n"
            topics = [int(topic_id)] if topic_id is not None else None
            with engine.connect() as conn:
                q = rollup_sums(engine, f, [], [measure], topic_ids=topics)
                return int(conn.execute(q).scalar() or 0)
    elif not text.strip() and not f.needs_documents:
        d = s.documents
        conds = [d.c.published_at >= f.start, d.c.published_at < f.end]
        if f.channels:
            conds.append(d.c.channel.in_(list(f.channels)))
        if collapse_duplicates:
            conds.append(d.c.dup_of.is_(None))
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(d).where(*conds)).scalar_one())
    joined, conds, _ = _document_query(engine, f, text, topic_id, collapse_duplicates)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(joined).where(*conds)).scalar_one())


def representative_order() -> list[Any]:
    """Most copies first, then most engagement (the order of the ``ix_documents_representative`` index)."""
    d = s.documents
    return [d.c.dup_count.desc(), (d.c.likes + d.c.reposts + d.c.comments).desc(), d.c.id]


REPRESENTATIVE_INDEX = "ix_documents_representative"


def _representative_ids(engine: Engine, f: QueryFilters, topic_id: int, limit: int) -> list[int] | None:
    """Ids of a topic's first ``limit`` representative documents, read the cheaper of two ways (SQLite).

    A topic with many documents in the period is read by walking the representative index in
    order until ``limit`` match (about ``limit x documents / candidates`` rows); a smaller one by
    sorting its candidates, found with the (topic_id, published_at) index of the tags.
    None when the filters need documents or the index is missing: :func:`search_documents` decides.
    """
    if f.needs_documents or not is_sqlite(engine):
        return None
    with engine.connect() as conn:
        found = conn.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name = '{REPRESENTATIVE_INDEX}'")
        if found.first() is None:
            return None
        sums = rollup_sums(engine, f, [], ["n", "n_unique"], topic_ids=[int(topic_id)])
        n, first = conn.execute(sums).one()
        last_id = conn.execute(select(func.max(s.documents.c.id))).scalar() or 0
    # Sorting reads every candidate (n); the walk about limit x documents / matching first copies.
    walk = bool(first) and limit * int(last_id) / int(first) < int(n or 0)
    d, t = s.documents, s.doc_tags
    dims = _doc_dims(engine)
    tagged = [t.c.document_id == d.c.id, t.c.topic_id == int(topic_id)]
    tagged += _dim_conditions(dims, replace(f, channels=()))
    if walk:
        # Unary + keeps SQLite from using the time, duplicate and channel indexes: it walks the
        # representative one in order (SQLAlchemy renders no SQLite table hints).
        plus = {
            c: literal_column(f"+documents.{c}", d.c[c].type) for c in ("published_at", "dup_of", "channel")
        }
        conds = [plus["published_at"] >= f.start, plus["published_at"] < f.end, plus["dup_of"].is_(None)]
        conds += [plus["channel"].in_(list(f.channels))] if f.channels else []
        q = select(d.c.id).where(*conds, select(t.c.document_id).where(*tagged).exists())
    else:
        # The tags' copy of the time lets the (topic_id, published_at) index bound the candidates.
        conds = [t.c.published_at >= f.start, t.c.published_at < f.end, d.c.dup_of.is_(None)]
        conds += [d.c.channel.in_(list(f.channels))] if f.channels else []
        q = select(d.c.id).select_from(t.join(d, d.c.id == t.c.document_id)).where(*conds, *tagged)
    q = q.order_by(*representative_order()).limit(limit)
    with engine.connect() as conn:
        return [int(i) for (i,) in conn.execute(q)]


def topic_documents(engine: Engine, f: QueryFilters, topic_id: int, limit: int = 5) -> pd.DataFrame:
    """Representative documents of a topic: near-duplicates collapsed, most-copied first."""
    ids = _representative_ids(engine, f, topic_id, limit)
    if ids is not None:  # already filtered and ordered: fetch those rows only
        found = documents_by_ids(engine, ids).set_index("id")
        return found.loc[[i for i in ids if i in found.index]].reset_index()
    return search_documents(
        engine, f, topic_id=topic_id, page_size=limit, collapse_duplicates=True, order="representative"
    )


# -- options, health, reports ----------------------------------------------------------------
def filter_options(engine: Engine) -> dict[str, list[str]]:
    """Values offered by the sidebar filters: channels, sources, categories and provinces seen."""
    src = s.sources
    r: Any = s.rollups
    levels = lv.level_tables() if lv.levels_timezone(engine) else None
    where = []
    if levels is not None:  # the monthly level without topics: a few rows per month
        r = levels[1]
        where = [r.c.grouping == lv.pick_grouping(["channel", "category", "province"])]
    with engine.connect() as conn:
        channels = {c for (c,) in conn.execute(select(src.c.channel).distinct()) if c}
        channels |= {c for (c,) in conn.execute(select(r.c.channel).where(*where).distinct()) if c}
        sources = [n for (n,) in conn.execute(select(src.c.name).order_by(src.c.name))]
        categories = sorted(c for (c,) in conn.execute(select(r.c.category).where(*where).distinct()))
        provinces = sorted(p for (p,) in conn.execute(select(r.c.province).where(*where).distinct()))
    return {
        "channels": sorted(channels),
        "sources": sources,
        "categories": categories,
        "provinces": provinces,
    }


def source_health_frame(engine: Engine, now: datetime) -> pd.DataFrame:
    """:func:`storage.health.source_health` plus runs, errors and items per run over the last 24 hours."""
    from storage.health import source_health

    health = source_health(engine)
    runs = s.ingest_runs
    since = now - timedelta(hours=24)
    failed = func.sum(case((runs.c.status == "failed", 1), else_=0))
    q = (
        select(
            runs.c.source_id,
            func.count().label("runs_24h"),
            failed.label("failed_runs_24h"),
            func.coalesce(func.sum(runs.c.errors), 0).label("errors_24h"),
            func.coalesce(func.avg(runs.c.fetched), 0).label("fetched_per_run"),
            func.coalesce(func.avg(runs.c.new), 0).label("new_per_run"),
        )
        .where(runs.c.started_at >= since)
        .group_by(runs.c.source_id)
    )
    with engine.connect() as conn:
        recent = pd.DataFrame(
            [tuple(r) for r in conn.execute(q)], columns=[c.name for c in q.selected_columns]
        )
    frame = health.merge(recent, how="left", left_on="id", right_on="source_id").drop(columns=["source_id"])
    for col in ("runs_24h", "failed_runs_24h", "errors_24h"):
        frame[col] = pd.to_numeric(frame[col]).fillna(0).astype("int64")
    for col in ("fetched_per_run", "new_per_run"):
        frame[col] = pd.to_numeric(frame[col]).fillna(0.0).astype(float).round(1)
    for col in ("last_success", "last_run", "last_error_at", "newest"):
        frame[col] = _to_utc(frame[col])
    frame["minutes_since_success"] = ((now - frame["last_success"]).dt.total_seconds() / 60).round(0)
    return frame


def tagging_backlog(engine: Engine) -> int:
    """Documents waiting for NLP tags (two index-only counts: every tag row belongs to a document)."""
    from storage.backlog import count_backlog

    return count_backlog(engine)


def audit_frame(engine: Engine, limit: int = 100) -> pd.DataFrame:
    """The newest audit-log entries."""
    a = s.audit_log
    q = select(a).order_by(a.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in a.c])
    frame["at"] = _to_utc(frame["at"])
    return frame


def report_runs_frame(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The newest weekly-report runs."""
    rr = s.report_runs
    q = select(rr).order_by(rr.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in rr.c])


__all__ = [
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
