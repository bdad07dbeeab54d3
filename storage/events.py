"""Events marked on an issue (for effect tracking) and the hourly series around them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from storage import schema as s
from storage.corrections import corrected_tag
from storage.db import truncate_time, write_tx
from storage.types import utcnow


def add_event(
    engine: Engine,
    kind: str,
    at: datetime,
    user: str,
    *,
    topic_id: int | None = None,
    category: str | None = None,
    province: str | None = None,
    subject_id: int | None = None,
    note: str | None = None,
) -> int:
    """Record an event on a topic, a category (x region) or a 专题; returns its id."""
    if topic_id is None and category is None and subject_id is None:
        raise ValueError("an event needs a topic, a category or a subject")
    with write_tx(engine) as conn:
        event_id = conn.execute(
            s.events.insert()
            .values(kind=kind, topic_id=topic_id, category=category, province=province, subject_id=subject_id,
                    at=at, note=note, created_by=user, created_at=utcnow())
            .returning(s.events.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            s.audit_log.insert().values(at=utcnow(), user=user, action="event.add", target=f"event:{event_id}",
                                        detail={"kind": kind, "topic_id": topic_id, "category": category,
                                                "subject_id": subject_id})
        )  # fmt: skip
    return int(event_id)


def list_events(
    engine: Engine, *, topic_id: int | None = None, category: str | None = None, subject_id: int | None = None
) -> list[dict[str, Any]]:
    """Events, newest first, optionally for one topic, category or subject."""
    q = select(s.events).order_by(s.events.c.at.desc())
    if subject_id is not None:
        q = q.where(s.events.c.subject_id == subject_id)
    if topic_id is not None:
        q = q.where(s.events.c.topic_id == topic_id)
    if category is not None:
        q = q.where(s.events.c.category == category)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def get_event(engine: Engine, event_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(s.events).where(s.events.c.id == event_id)).first()
    return dict(row._mapping) if row else None


def issue_series(engine: Engine, event: dict[str, Any], hours: int = 72) -> pd.DataFrame:
    """Hourly ``n`` and ``neg`` (first copies) of the event's issue, ``2 x hours`` either side.

    A topic or category issue reads the rollups; a 专题 reads its matched documents.
    """
    start, end = event["at"] - timedelta(hours=2 * hours), event["at"] + timedelta(hours=2 * hours)
    if event.get("subject_id") is not None:
        q = _subject_series(engine, int(event["subject_id"]), start, end)
    else:
        q = _rollup_series(event, start, end)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=["bucket", "n", "neg"]).astype({"n": int, "neg": int})
    index = pd.to_datetime(frame["bucket"], utc=True)
    return frame.set_index(pd.DatetimeIndex(index))[["n", "neg"]]


def _rollup_series(event: dict[str, Any], start: datetime, end: datetime) -> Any:
    r = s.rollups
    q = (
        select(
            r.c.bucket,
            func.sum(r.c.n_unique).label("n"),
            func.sum(case((r.c.sentiment == "negative", r.c.n_unique), else_=0)).label("neg"),
        )
        .where(r.c.bucket >= start, r.c.bucket < end)
        .group_by(r.c.bucket)
        .order_by(r.c.bucket)
    )
    if event.get("topic_id") is not None:
        return q.where(r.c.topic_id == event["topic_id"])
    q = q.where(r.c.category == event["category"])
    return q.where(r.c.province == event["province"]) if event.get("province") else q


def _subject_series(engine: Engine, subject_id: int, start: datetime, end: datetime) -> Any:
    sd, d, t = s.subject_documents, s.documents, s.doc_tags
    bucket = truncate_time(engine, sd.c.published_at, "hour")
    return (
        select(
            bucket.label("bucket"),
            func.count().label("n"),
            func.sum(case((corrected_tag("sentiment", t.c.sentiment) == "negative", 1), else_=0)).label(
                "neg"
            ),
        )
        .select_from(sd.join(d, d.c.id == sd.c.document_id).outerjoin(t, t.c.document_id == d.c.id))
        .where(sd.c.subject_id == subject_id, sd.c.published_at >= start, sd.c.published_at < end)
        .where(d.c.dup_of.is_(None))
        .group_by(bucket)
        .order_by(bucket)
    )
