"""Reads behind a subject's page (专题) and its spread view (传播分析).

Each takes the sidebar's :class:`~storage.filters.QueryFilters` with ``subject_id`` set, so every
other filter applies too; volume, sentiment and breakdowns come from ``storage.queries.aggregate``
(which reads the documents path for a subject). Reach is ``reads + likes + reposts + comments``.
Accounts are only ever the stored hash (``author_hash``), shortened for display: never a name.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from storage import schema as s
from storage.document_queries import document_query
from storage.filters import QueryFilters, to_utc

ACCOUNT_CHARS = 12  # shown of an account's hash


def reach_of(d: Any) -> Any:
    """The reach of a document row: reads, likes, reposts and comments."""
    return d.c.reads + d.c.likes + d.c.reposts + d.c.comments


def _base(engine: Engine, f: QueryFilters) -> tuple[Any, list[Any]]:
    if f.subject_id is None:
        raise ValueError("subject reads need filters with a subject_id")
    joined, conds, _dims = document_query(engine, f, "", None, False)
    return joined, conds


def _frame(engine: Engine, q: Any, columns: list[str], times: tuple[str, ...] = ()) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=columns)
    for col in times:
        frame[col] = to_utc(frame[col])
    return frame


def top_documents(engine: Engine, f: QueryFilters, limit: int = 10) -> pd.DataFrame:
    """The subject's documents with the most reach in the period."""
    d, src = s.documents, s.sources
    joined, conds = _base(engine, f)
    reach = reach_of(d)
    q = (
        select(d.c.id, d.c.published_at, d.c.channel, src.c.name, d.c.title, d.c.content, reach)
        .select_from(joined)
        .where(*conds)
        .order_by(reach.desc(), d.c.id)
        .limit(limit)
    )
    cols = ["id", "published_at", "channel", "source", "title", "content", "reach"]
    return _frame(engine, q, cols, ("published_at",))


def first_appearance(engine: Engine, f: QueryFilters) -> dict[str, Any] | None:
    """The subject's earliest document under the filters (any time before ``f.end``): where and
    when it first appeared."""
    d, src = s.documents, s.sources
    joined, conds = _base(engine, f.with_period(f.start.replace(year=1970), f.end))
    q = (
        select(d.c.id, d.c.published_at, d.c.channel, src.c.name.label("source"), d.c.title, d.c.content)
        .select_from(joined)
        .where(*conds)
        .order_by(d.c.published_at, d.c.id)
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def source_spread(engine: Engine, f: QueryFilters) -> pd.DataFrame:
    """Per source: its channel, documents, reach and first document time, most reach first."""
    d, src = s.documents, s.sources
    joined, conds = _base(engine, f)
    reach = func.sum(reach_of(d))
    q = (
        select(src.c.name, d.c.channel, func.count(), reach, func.min(d.c.published_at))
        .select_from(joined)
        .where(*conds)
        .group_by(src.c.name, d.c.channel)
        .order_by(reach.desc(), src.c.name)
    )
    frame = _frame(engine, q, ["source", "channel", "n", "reach", "first_at"], ("first_at",))
    return frame.astype({"n": "int64", "reach": "int64"})


def duplicate_clusters(engine: Engine, f: QueryFilters, limit: int = 10) -> pd.DataFrame:
    """Near-duplicate clusters carrying the subject (a first copy and its copies among the
    subject's documents): size, reach, channels reached, first time, the first copy's title."""
    d = s.documents
    joined, conds = _base(engine, f)
    root = func.coalesce(d.c.dup_of, d.c.id)
    reach = func.sum(reach_of(d))
    q = (
        select(
            root.label("root"),
            func.count(),
            func.count(d.c.channel.distinct()),
            reach,
            func.min(d.c.published_at),
        )
        .select_from(joined)
        .where(*conds)
        .group_by(root)
        .having(func.count() > 1)
        .order_by(func.count().desc(), reach.desc(), root)
        .limit(limit)
    )
    frame = _frame(engine, q, ["root", "copies", "channels", "reach", "first_at"], ("first_at",))
    if frame.empty:
        return frame.assign(title=pd.Series(dtype=object))
    with engine.connect() as conn:
        ids = [int(i) for i in frame["root"]]
        title = func.coalesce(d.c.title, func.substr(d.c.content, 1, 40))
        titles = {int(i): str(t) for i, t in conn.execute(select(d.c.id, title).where(d.c.id.in_(ids)))}
    frame["title"] = [titles.get(int(i), "") for i in frame["root"]]
    return frame.astype({"root": "int64", "copies": "int64", "channels": "int64", "reach": "int64"})


def top_accounts(engine: Engine, f: QueryFilters, limit: int = 10) -> pd.DataFrame:
    """The (hashed) accounts that carried most of the subject's reach: ``account`` is the start of
    the hash, never a name."""
    d = s.documents
    joined, conds = _base(engine, f)
    reach = func.sum(reach_of(d))
    q = (
        select(d.c.author_hash, func.count(), reach, func.min(d.c.channel))
        .select_from(joined)
        .where(*conds, d.c.author_hash.is_not(None))
        .group_by(d.c.author_hash)
        .order_by(reach.desc(), d.c.author_hash)
        .limit(limit)
    )
    frame = _frame(engine, q, ["author_hash", "n", "reach", "channel"])
    frame["account"] = [f"#{h[:ACCOUNT_CHARS]}" for h in frame["author_hash"]]
    return frame.drop(columns="author_hash").astype({"n": "int64", "reach": "int64"})
