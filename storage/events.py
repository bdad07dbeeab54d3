"""Events marked on an issue (for effect tracking) and the hourly series around them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from storage import schema as s
from storage.db import write_tx
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
    note: str | None = None,
) -> int:
    """Record an event on a topic or on a category (x region); returns its id."""
    if topic_id is None and category is None:
        raise ValueError("an event needs a topic or a category")
    with write_tx(engine) as conn:
        event_id = conn.execute(
            s.events.insert()
            .values(kind=kind, topic_id=topic_id, category=category, province=province, at=at, note=note,
                    created_by=user, created_at=utcnow())
            .returning(s.events.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            s.audit_log.insert().values(at=utcnow(), user=user, action="event.add", target=f"event:{event_id}",
                                        detail={"kind": kind, "topic_id": topic_id, "category": category})
        )  # fmt: skip
    return int(event_id)


def list_events(
    engine: Engine, *, topic_id: int | None = None, category: str | None = None
) -> list[dict[str, Any]]:
    """Events, newest first, optionally for one topic or category."""
    q = select(s.events).order_by(s.events.c.at.desc())
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
    """Hourly ``n`` and ``neg`` of the event's issue, ``2 x hours`` either side, from the rollups."""
    r = s.rollups
    start, end = event["at"] - timedelta(hours=2 * hours), event["at"] + timedelta(hours=2 * hours)
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
        q = q.where(r.c.topic_id == event["topic_id"])
    else:
        q = q.where(r.c.category == event["category"])
        if event.get("province"):
            q = q.where(r.c.province == event["province"])
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=["bucket", "n", "neg"]).astype({"n": int, "neg": int})
    return frame.set_index(pd.DatetimeIndex(frame["bucket"], tz="UTC"))[["n", "neg"]]
