"""The sidebar's global filters and the SQL conditions every read builds from them.

:class:`QueryFilters` holds the filters; the helpers turn them into conditions on the tags
(analysts' corrections applied) and on the documents (source, keyword via the bigram index).
Periods are half-open ``[start, end)`` of aware UTC datetimes aligned to the hour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, String, and_, cast, func, literal_column, or_, select

from storage import schema as s
from storage import search_index
from storage.corrections import corrected_tag as corrected
from storage.db import is_sqlite, truncate_time

HOUR = timedelta(hours=1)


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
    subject_id: int | None = None  # 专题: only the documents the subject holds
    from_documents: bool = False  # count the documents themselves, not the rollups (checks, audits)

    @property
    def needs_documents(self) -> bool:
        """True when a read must go to the documents: a keyword or a subject (not rollup dimensions),
        or asked to."""
        return bool(self.from_documents or self.keyword.strip() or self.subject_id is not None)

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
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in out.items()
            if v not in ((), "", False, None)
        }


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
    if len(text) >= 2 and search_index.pg_index_exists(engine):
        return and_(search_index.pg_candidates(text), match)
    up_to = search_index.indexed_up_to(engine) if len(text) >= 2 else None
    if up_to is None:
        return match
    return and_(d.c.id.in_(search_index.candidate_ids(text, up_to)), match)


def unindexed(column: Any) -> Any:
    """``column`` behind SQLite's unary ``+``: the same value, but the planner uses no index on it
    (SQLAlchemy renders no SQLite index hints)."""
    return literal_column(f"+{column.table.name}.{column.name}", column.type)


def keyword_leads(engine: Engine, keyword: str) -> bool:
    """Whether a read filtered by ``keyword`` should start from the keyword index's candidates.

    SQLite keeps no statistics here, so its planner takes the ``(topic_id, published_at)`` index
    over the keyword's candidate list even when the topic holds a fifth of the store and the keyword
    matches a few thousand documents (one year, the biggest topic, 小区: 320-580 ms against 13 ms).
    A common pair costs more from its candidates, but no more than the list itself, which both
    plans build (我们, 33 k candidates: 45-65 ms).
    """
    kw = keyword.strip()
    return is_sqlite(engine) and len(kw) >= 2 and search_index.indexed_up_to(engine) is not None


def topic_column(engine: Engine, *keywords: str) -> Any:
    """``doc_tags.topic_id`` for a topic condition in a read also filtered by ``keywords``: as is,
    so its index serves, or unindexed when a keyword leads (:func:`keyword_leads`)."""
    t = s.doc_tags
    return unindexed(t.c.topic_id) if any(keyword_leads(engine, k) for k in keywords) else t.c.topic_id


def doc_dims(engine: Engine) -> dict[str, Any]:
    t = s.doc_tags
    return {
        "bucket": truncate_time(engine, t.c.published_at, "hour"),
        "channel": t.c.channel,
        "category": cast(corrected("category", func.coalesce(t.c.category, "")), String),
        "province": func.coalesce(t.c.province, ""),
        "topic_id": func.coalesce(t.c.topic_id, -1),
        "sentiment": cast(corrected("sentiment", func.coalesce(t.c.sentiment, "")), String),
    }


def dim_conditions(dims: dict[str, Any], f: QueryFilters) -> list[Any]:
    conds = []
    for name, values in (
        ("channel", f.channels),
        ("category", f.categories),
        ("province", f.provinces),
        ("sentiment", f.sentiments),
    ):
        if values:
            conds.append(dims[name].in_(list(values)))
    if f.sources and "source_id" in dims:  # reads of the documents apply it in document_conditions
        conds.append(dims["source_id"].in_(source_ids(f.sources)))
    return conds


def source_ids(names: tuple[str, ...]) -> Any:
    """A select of the ids of the sources named ``names``."""
    return select(s.sources.c.id).where(s.sources.c.name.in_(list(names)))


def document_conditions(engine: Engine, f: QueryFilters) -> list[Any]:
    d = s.documents
    conds: list[Any] = []
    if f.sources:
        conds.append(d.c.source_id.in_(source_ids(f.sources)))
    if f.keyword.strip():
        kw = f.keyword.strip()
        conds.append(keyword_condition(engine, kw))
    if f.subject_id is not None:
        sd = s.subject_documents
        held = select(sd.c.document_id).where(sd.c.subject_id == int(f.subject_id))
        # The matches' copy of the time bounds the list to the period (its index serves).
        conds.append(d.c.id.in_(held.where(sd.c.published_at >= f.start, sd.c.published_at < f.end)))
    return conds


def to_utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)


def filter_dims(f: QueryFilters) -> set[str]:
    named = (("channel", f.channels), ("source_id", f.sources), ("category", f.categories))
    return {
        name for name, values in (*named, ("province", f.provinces), ("sentiment", f.sentiments)) if values
    }


def tag_dims(engine: Engine) -> dict[str, Any]:
    """:func:`doc_dims` plus the tag columns that only the daily and monthly levels keep, and the
    document's source (for reads of the tags alone)."""
    t, d = s.doc_tags, s.documents.alias("tagged_document")
    source_id = select(d.c.source_id).where(d.c.id == t.c.document_id).correlate(t).scalar_subquery()
    return {
        **doc_dims(engine),
        "source_id": source_id,
        "emotion": cast(corrected("emotion", func.coalesce(t.c.emotion, "")), String),
        "city": func.coalesce(t.c.city, ""),
        "district": func.coalesce(t.c.district, ""),
    }
