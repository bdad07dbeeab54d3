"""Analysts' corrections of a document's tags, the review queue and drift figures.

A correction is stored with who and when, overrides the model's tag in every chart at once
(the rollups read the newest correction first, and the document is re-queued for the rollup
refresh), and feeds ``sensing train``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, case, func, literal_column, select, update

from kernel.labels import TASK_CODES
from storage import schema as s
from storage.db import is_sqlite, truncate_time, write_tx
from storage.state import get_state
from storage.types import iso_week, utcnow

#: app_state key: the low-confidence threshold ``tag_quality_daily`` counts were built for.
TAG_QUALITY_THRESHOLD = "tag_quality.low_confidence"


def corrected_tag(field: str, fallback: Any) -> Any:
    """SQL: the newest analyst correction of ``field`` for the tagged document, else ``fallback``."""
    c = s.corrections
    latest = (
        select(c.c.value)
        .where(and_(c.c.document_id == s.doc_tags.c.document_id, c.c.field == field))
        .order_by(c.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, fallback)


class CorrectionError(ValueError):
    """The correction names an unknown field, label or document."""


def add_correction(engine: Engine, document_id: int, field: str, value: str, user: str) -> int:
    """Store a correction and make every chart pick it up; returns the correction id."""
    if field not in TASK_CODES:
        raise CorrectionError(f"field {field!r}: expected one of {sorted(TASK_CODES)}")
    if value not in TASK_CODES[field]:
        raise CorrectionError(f"{field} label {value!r}: expected one of {list(TASK_CODES[field])}")
    now = utcnow()
    with write_tx(engine) as conn:
        exists = conn.execute(select(s.documents.c.id).where(s.documents.c.id == document_id)).first()
        if exists is None:
            raise CorrectionError(f"document {document_id} does not exist")
        cid = conn.execute(
            s.corrections.insert()
            .values(document_id=document_id, field=field, value=value, user=user, created_at=now)
            .returning(s.corrections.c.id)
        ).scalar_one()
        # Re-stamp the tags so the incremental rollup refresh rebuilds this document's hour.
        conn.execute(update(s.doc_tags).where(s.doc_tags.c.document_id == document_id).values(tagged_at=now))
        conn.execute(
            s.audit_log.insert().values(
                at=now, user=user, action="tag.correct", target=f"document:{document_id}",
                detail={"field": field, "value": value},
            )
        )  # fmt: skip
    return int(cid)


def corrections_for_training(engine: Engine, field: str) -> pd.DataFrame:
    """The newest correction per document for ``field`` with the document text: columns text, label."""
    c, d = s.corrections, s.documents
    newest = (
        select(c.c.document_id, func.max(c.c.id).label("cid"))
        .where(c.c.field == field)
        .group_by(c.c.document_id)
        .subquery()
    )
    q = (
        select(d.c.title, d.c.content, c.c.value)
        .select_from(newest.join(c, c.c.id == newest.c.cid).join(d, d.c.id == c.c.document_id))
        .where(d.c.archived.is_(False))
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    texts = [f"{t}。{body}" if t else body for t, body, _ in rows]
    return pd.DataFrame({"text": texts, "label": [r[2] for r in rows]})


def review_queue_query(engine: Engine, limit: int = 50, field: str = "category") -> Any:
    """The select behind :func:`review_queue`."""
    t, d, c = s.doc_tags, s.documents, s.corrections
    score = t.c[f"{field}_score"]
    corrected = select(c.c.id).where(and_(c.c.document_id == t.c.document_id, c.c.field == field)).exists()
    # SQLite: unary + keeps the planner off the dup_of index, so it walks the score index in order
    # and stops at ``limit`` instead of sorting every first copy.
    dup_of = literal_column("+documents.dup_of") if is_sqlite(engine) else d.c.dup_of
    first_copy = dup_of.is_(None)
    q = (
        select(
            d.c.id,
            d.c.title,
            d.c.content,
            d.c.channel,
            d.c.published_at,
            t.c[field].label("label"),
            score.label("score"),
            t.c.tier,
        )
        .select_from(t.join(d, d.c.id == t.c.document_id))
        .where(score.is_not(None), ~corrected, first_copy)
        .order_by(score.asc(), t.c.document_id)
        .limit(limit)
    )
    return q


def review_queue(engine: Engine, limit: int = 50, field: str = "category") -> list[dict[str, Any]]:
    """Uncorrected documents the model is least sure about for ``field``, least sure first."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(review_queue_query(engine, limit, field))]


def drift_by_source_week(
    engine: Engine, field: str = "sentiment", low_confidence: float = 0.55, since: datetime | None = None
) -> pd.DataFrame:
    """Per source and ISO week (UTC): documents, share of low-confidence tags, and the label mix.

    Reads the per-day counts of ``tag_quality_daily`` (as fresh as the rollups) when they were
    built for ``low_confidence``, else groups the tags themselves; ``since`` is then rounded down
    to its UTC day. Model tags, not corrections: this watches the models.
    """
    built = get_state(engine, TAG_QUALITY_THRESHOLD)
    if built is not None and abs(float(built) - low_confidence) < 1e-9:
        frame = _quality_days(engine, field, since)
    else:
        frame = _tag_days(engine, field, low_confidence, since)
    if frame.empty:
        return pd.DataFrame(columns=["source", "week", "n", "low_confidence_share"])
    frame["week"] = pd.to_datetime(frame["day"], utc=True).dt.date.map(iso_week)
    frame[["n", "low"]] = frame[["n", "low"]].astype("int64")
    by_label = frame.groupby(["source", "week", "label"])["n"].sum().unstack("label", fill_value=0)
    out = frame.groupby(["source", "week"])[["n", "low"]].sum()
    out["low_confidence_share"] = out.pop("low") / out["n"]
    mix = by_label.div(by_label.sum(axis=1), axis=0).add_prefix("share_")
    mix.columns.name = None
    return out.join(mix).reset_index()


_DAY_COLUMNS = ["source", "day", "label", "n", "low"]


def _quality_days(engine: Engine, field: str, since: datetime | None) -> pd.DataFrame:
    q, src = s.tag_quality_daily, s.sources
    stmt = (
        select(src.c.name, q.c.day, q.c.label, q.c.n, q.c.n_low)
        .select_from(q.join(src, src.c.id == q.c.source_id))
        .where(q.c.field == field)
    )
    if since is not None:
        stmt = stmt.where(q.c.day >= since.replace(hour=0, minute=0, second=0, microsecond=0))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=_DAY_COLUMNS)


def _tag_days(engine: Engine, field: str, low_confidence: float, since: datetime | None) -> pd.DataFrame:
    t, d, src = s.doc_tags, s.documents, s.sources
    day = truncate_time(engine, t.c.published_at, "day").label("day")
    low = func.sum(case((t.c[f"{field}_score"] < low_confidence, 1), else_=0))
    q = (
        select(src.c.name, day, t.c[field], func.count(), low)
        .select_from(t.join(d, d.c.id == t.c.document_id).join(src, src.c.id == d.c.source_id))
        .where(t.c[field].is_not(None))
        .group_by(src.c.name, day, t.c[field])
    )
    if since is not None:
        q = q.where(t.c.published_at >= since.replace(hour=0, minute=0, second=0, microsecond=0))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).all(), columns=_DAY_COLUMNS)


def label_shift(drift: pd.DataFrame) -> pd.DataFrame:
    """Total-variation distance of each source-week's label mix from that source's previous week."""
    share_cols = [c for c in drift.columns if c.startswith("share_")]
    rows = []
    for source, part in drift.sort_values("week").groupby("source"):
        values = part[share_cols].fillna(0).to_numpy()
        for i in range(1, len(part)):
            rows.append(
                {
                    "source": source,
                    "week": part["week"].iloc[i],
                    "shift": 0.5 * abs(values[i] - values[i - 1]).sum(),
                }
            )
    return pd.DataFrame(rows, columns=["source", "week", "shift"])
