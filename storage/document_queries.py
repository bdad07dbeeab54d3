"""Document reads of the dashboard: search pages, counts, evidence by id, a topic's representative documents.

Documents are selected by their publication time with every global filter (tags with analysts'
corrections, source, keyword through the bigram index); text is returned masked, as stored.
``tier`` says which tier's models gave the tags ("fast" n-gram or "encoder"; None: not tagged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, String, cast, func, select

from storage import schema as s
from storage.corrections import corrected_tag as corrected
from storage.db import is_sqlite
from storage.filters import (
    QueryFilters,
    dim_conditions,
    doc_dims,
    document_conditions,
    keyword_condition,
    to_utc,
    topic_column,
    unindexed,
)
from storage.rollups.reads import rollup_sums

DOCUMENT_COLUMNS = (
    "id", "published_at", "channel", "source", "title", "content", "category", "sentiment", "emotion",
    "province", "city", "district", "topic_id", "likes", "reposts", "comments", "reads", "dup_count",
    "dup_of", "simulated", "url", "tier",
)  # fmt: skip
ORDERS = ("newest", "representative")


def document_query(
    engine: Engine,
    f: QueryFilters,
    text: str,
    topic_id: int | None,
    collapse_duplicates: bool,
    period_column: Any = None,
) -> tuple[Any, list[Any], dict[str, Any]]:
    """The join, conditions and tag dimensions of a filtered document read.

    ``period_column`` is a copy of ``documents.published_at`` in a smaller joined table (the
    caller joins it) that the period is applied to instead, so that table is read first.
    """
    d, t, src = s.documents, s.doc_tags, s.sources
    dims = doc_dims(engine)
    when = d.c.published_at if period_column is None else period_column
    conds = [when >= f.start, when < f.end, *document_conditions(engine, f)]
    if f.channels:
        conds.append(d.c.channel.in_(list(f.channels)))
    conds += dim_conditions({**dims, "channel": d.c.channel}, replace(f, channels=()))
    if text.strip():
        conds.append(keyword_condition(engine, text.strip()))
    if topic_id is not None:  # the tags' copy of the time lets the (topic_id, published_at) index serve
        topic = topic_column(engine, f.keyword, text)
        conds += [topic == int(topic_id), t.c.published_at >= f.start, t.c.published_at < f.end]
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
    joined, conds, dims = document_query(engine, f, text, topic_id, collapse_duplicates)
    if ids is not None:
        conds.append(d.c.id.in_([int(i) for i in ids]))
    cols = [
        d.c.id, d.c.published_at, d.c.channel, src.c.name.label("source"), d.c.title, d.c.content,
        dims["category"].label("category"), dims["sentiment"].label("sentiment"),
        cast(corrected("emotion", func.coalesce(t.c.emotion, "")), String).label("emotion"),
        t.c.province, t.c.city, t.c.district, t.c.topic_id, d.c.likes, d.c.reposts, d.c.comments, d.c.reads,
        d.c.dup_count, d.c.dup_of, d.c.simulated, d.c.url, t.c.tier,
    ]  # fmt: skip
    ordering = [d.c.published_at.desc(), d.c.id.desc()] if order == "newest" else representative_order()
    page = max(1, int(page))
    q = select(*cols).select_from(joined).where(*conds).order_by(*ordering)
    q = q.limit(int(page_size)).offset((page - 1) * int(page_size))
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=list(DOCUMENT_COLUMNS))
    frame["published_at"] = to_utc(frame["published_at"])
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
    joined, conds, _ = document_query(engine, f, text, topic_id, collapse_duplicates)
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
    dims = doc_dims(engine)
    tagged = [t.c.document_id == d.c.id, t.c.topic_id == int(topic_id)]
    tagged += dim_conditions(dims, replace(f, channels=()))
    if walk:
        # Unary + keeps SQLite from using the time, duplicate and channel indexes: it walks the
        # representative one in order (SQLAlchemy renders no SQLite table hints).
        plus = {c: unindexed(d.c[c]) for c in ("published_at", "dup_of", "channel")}
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
