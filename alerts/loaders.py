"""Reads the alert rules need: rollup frames, documents in a window, source activity, examples.

Every function is a plain query over the store returning frames or dataclasses, so that
``alerts/rules.py`` stays pure and ``alerts/engine.py`` stays short.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, func, literal, select

from alerts.content_rules import WindowDocument
from alerts.message import EVENT_DAYS, excerpt
from alerts.rules import DIMENSION_COLUMNS, DocScope, SourceActivity
from storage import schema as s
from storage.events import list_events

log = logging.getLogger(__name__)


def data_start(engine: Engine) -> datetime | None:
    """The first hour with any rollup (hours before it are unobserved, not zero)."""
    with engine.connect() as conn:
        return conn.execute(select(func.min(s.rollups.c.bucket))).scalar()


def load_rollup_frame(engine: Engine, dimension: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Events (``n_unique``) per hour x dimension value x sentiment in [start, end].

    Returns:
        DataFrame with columns bucket (UTC), value (text), sentiment, n.
    """
    r = s.rollups
    column = DIMENSION_COLUMNS[dimension]
    value = literal("total") if column is None else r.c[column]
    q = (
        select(r.c.bucket, value.label("value"), r.c.sentiment, func.sum(r.c.n_unique).label("n"))
        .where(r.c.bucket >= start, r.c.bucket <= end)
        .group_by(r.c.bucket, value, r.c.sentiment)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=["bucket", "value", "sentiment", "n"])
    if not frame.empty:
        frame["value"] = frame["value"].astype(str)
        frame["n"] = frame["n"].astype("float64")
    return frame


def recent_events(engine: Engine, now: datetime, days: int = EVENT_DAYS) -> list[dict[str, Any]]:
    """Events marked in the ``days`` before ``now`` (through ``storage.events``), newest first."""
    since = now - timedelta(days=days)
    return [e for e in list_events(engine) if since <= e["at"] <= now]


def topic_labels(engine: Engine) -> dict[str, str]:
    """Topic id (as text) -> label."""
    with engine.connect() as conn:
        return {str(i): label for i, label in conn.execute(select(s.topics.c.id, s.topics.c.label))}


def _weight() -> Any:
    d = s.documents
    return d.c.dup_count + d.c.likes + d.c.reposts + d.c.comments


def load_window_documents(engine: Engine, start: datetime, end: datetime) -> list[WindowDocument]:
    """Documents published in [start, end] whose text is still stored."""
    d = s.documents
    q = (
        select(
            d.c.id, d.c.title, d.c.content, d.c.published_at, d.c.channel, d.c.dup_of, _weight().label("w")
        )
        .where(d.c.published_at >= start, d.c.published_at <= end, d.c.archived.is_(False))
        .order_by(d.c.published_at)
    )
    with engine.connect() as conn:
        return [
            WindowDocument(
                int(r.id), r.title or "", r.content or "", r.published_at, r.channel, r.dup_of, int(r.w or 0)
            )
            for r in conn.execute(q)
        ]


def source_activity(engine: Engine, sources: Sequence[Any]) -> list[SourceActivity]:
    """Last delivery (successful run with new items) and last run of each configured source."""
    src, runs = s.sources, s.ingest_runs
    delivered = (
        select(runs.c.source_id, func.max(func.coalesce(runs.c.finished_at, runs.c.started_at)).label("at"))
        .where(runs.c.status.in_(["ok", "partial"]), runs.c.new > 0)
        .group_by(runs.c.source_id)
        .subquery()
    )
    last_id = (
        select(runs.c.source_id, func.max(runs.c.id).label("run_id")).group_by(runs.c.source_id).subquery()
    )
    lr = runs.alias("lr")
    q = (
        select(src.c.name, delivered.c.at, lr.c.started_at, lr.c.status, lr.c.error)
        .select_from(src)
        .outerjoin(delivered, delivered.c.source_id == src.c.id)
        .outerjoin(last_id, last_id.c.source_id == src.c.id)
        .outerjoin(lr, lr.c.id == last_id.c.run_id)
    )
    with engine.connect() as conn:
        known = {r.name: r for r in conn.execute(q)}
    out = []
    for cfg in sources:
        row = known.get(cfg.name)
        out.append(
            SourceActivity(
                name=cfg.name,
                enabled=bool(cfg.enabled),
                last_delivery=row.at if row else None,
                last_run_at=row.started_at if row else None,
                last_status=row.status if row else None,
                last_error=row.error if row else None,
            )
        )
    return out


def representative_documents(
    engine: Engine, scope: DocScope, end: datetime, limit: int = 3
) -> list[dict[str, Any]]:
    """Up to ``limit`` first copies illustrating ``scope``: most copied and most engaged first.

    The text is returned as stored, i.e. already masked by the ingestion pipeline.
    """
    d, t = s.documents, s.doc_tags
    cols = [d.c.id, d.c.title, d.c.content, d.c.channel, d.c.published_at]
    if scope.document_ids:
        q = select(*cols).where(d.c.id.in_(list(scope.document_ids)))
    else:
        conds = [d.c.dup_of.is_(None), d.c.archived.is_(False), d.c.published_at <= end]
        if scope.start is not None:
            conds.append(d.c.published_at >= scope.start)
        q = select(*cols)
        column = DIMENSION_COLUMNS.get(scope.dimension)
        if column is not None or scope.sentiment is not None:
            q = q.select_from(d.join(t, t.c.document_id == d.c.id))
        if column == "channel":
            conds.append(d.c.channel == scope.value)
        elif column == "topic_id":
            conds.append(t.c.topic_id == int(scope.value or -1))
        elif column is not None:
            conds.append(t.c[column] == scope.value)
        if scope.sentiment is not None:
            conds.append(t.c.sentiment == scope.sentiment)
        q = q.where(and_(*conds))
    q = q.order_by(_weight().desc(), d.c.published_at.desc(), d.c.id).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    if scope.document_ids:  # keep the rule's own ranking
        order = {i: n for n, i in enumerate(scope.document_ids)}
        rows = sorted(rows, key=lambda r: order.get(r.id, len(order)))
    return [
        {
            "id": int(r.id),
            "title": r.title or "",
            "excerpt": excerpt({"title": r.title, "content": r.content}),
            "channel": r.channel,
            "published_at": r.published_at.isoformat(),
        }
        for r in rows
    ]
