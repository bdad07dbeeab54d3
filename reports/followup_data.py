"""Read queries of the report's follow-up sections: reply quality and events with their effect (I/O only).

* Replies are selected by **when they were answered** (``documents.replied_at`` in the week), not by
  when the message was posted, so the section reports the government's work of the week. Scores
  come from ``reply_scores`` (filled by ``storage.reply_scores.score_pending_replies``); a reply without a score is
  still listed (the report counts it as waiting), never silently dropped.
* Events are the ``events`` rows marked in the week (``storage.events``); each one's before/after
  series is read with :func:`storage.events.issue_series` (from the rollups, as the CLI does), and
  the documents behind it from the documents themselves, so the evidence names them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, func, select

from analytics.effect import EffectEstimate, estimate_effect
from reports.data import load_documents
from storage import schema as s
from storage.events import issue_series, list_events
from storage.rollups.hourly import WATERMARK
from storage.state import get_state

log = logging.getLogger(__name__)

COMPONENTS = ("relevance", "completeness", "policy", "timeliness", "tone")
REPLY_COLUMNS = [
    "id",
    "channel",
    "published_at",
    "replied_at",
    "category",
    "province",
    "unit",
    "total",
    "delay_days",
    "scorer_version",
    *COMPONENTS,
]
EFFECT_HOURS = 72


def replies_query(start: datetime, end: datetime) -> Select[Any]:
    """Documents answered in [start, end) with their tags and reply score (None when not scored), by id."""
    d, t, r = s.documents, s.doc_tags, s.reply_scores
    return (
        select(
            d.c.id,
            d.c.channel,
            d.c.published_at,
            d.c.replied_at,
            t.c.category,
            t.c.province,
            r.c.unit,
            r.c.total,
            r.c.delay_days,
            r.c.scorer_version,
            r.c.components,
        )
        .select_from(d.outerjoin(t, t.c.document_id == d.c.id).outerjoin(r, r.c.document_id == d.c.id))
        .where(d.c.reply.is_not(None), d.c.reply != "")
        .where(d.c.replied_at >= start, d.c.replied_at < end)
        .order_by(d.c.id)
    )


def load_replies(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Replies of [start, end) as a frame (:data:`REPLY_COLUMNS`), analysts' category corrections applied."""
    c = s.corrections
    with engine.connect() as conn:
        rows = conn.execute(replies_query(start, end)).all()
        ids = [int(r.id) for r in rows]
        corr = (
            conn.execute(
                select(c.c.document_id, c.c.value)
                .where(c.c.document_id.in_(ids), c.c.field == "category")
                .order_by(c.c.id)
            ).all()
            if ids
            else []
        )
    fixes = {int(doc_id): value for doc_id, value in corr}  # ordered by id: the last correction wins
    records = []
    for r in rows:
        parts = dict(r.components or {})
        records.append(
            [
                int(r.id),
                r.channel,
                r.published_at,
                r.replied_at,
                fixes.get(int(r.id), r.category) or None,
                r.province or None,
                r.unit or None,
                None if r.total is None else float(r.total),
                None if r.delay_days is None else float(r.delay_days),
                r.scorer_version,
                *(None if r.total is None else float(parts.get(k, 0.0)) for k in COMPONENTS),
            ]
        )
    frame = pd.DataFrame(records, columns=REPLY_COLUMNS)
    for col in ("published_at", "replied_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in ("total", "delay_days", *COMPONENTS):
        frame[col] = frame[col].astype("float64")
    return frame


def load_reply_texts(engine: Engine, ids: Sequence[int]) -> pd.DataFrame:
    """Title, message and reply text (all masked at ingestion) of the given documents."""
    d = s.documents
    cols = ["id", "title", "content", "reply"]
    if not ids:
        return pd.DataFrame(columns=cols)
    q = select(d.c.id, d.c.title, d.c.content, d.c.reply).where(d.c.id.in_(sorted({int(i) for i in ids})))
    with engine.connect() as conn:
        return pd.DataFrame([tuple(r) for r in conn.execute(q.order_by(d.c.id))], columns=cols)


@dataclass(frozen=True)
class EventEffect:
    """One event of the week with its before/after estimate and the documents behind it.

    Attributes:
        event: the ``events`` row.
        estimate: :func:`analytics.effect.estimate_effect` over the rollup series.
        before_ids, after_ids: first copies of the issue in the window before / after the event.
        hours: the window compared on each side: the one asked for, or shorter when the data do not
            reach that far past the event yet (a like-for-like comparison of what was observed).
        observed_hours: hours after the event the data cover, at most the window asked for.
    """

    event: dict[str, Any]
    estimate: EffectEstimate
    before_ids: tuple[int, ...]
    after_ids: tuple[int, ...]
    hours: int
    observed_hours: float


def data_until(engine: Engine) -> datetime | None:
    """Up to when the rollups hold the tagged documents (their watermark, else the last hour bucket)."""
    mark = get_state(engine, WATERMARK)
    if mark:
        return pd.Timestamp(mark).tz_convert("UTC").to_pydatetime()
    with engine.connect() as conn:
        last = conn.execute(select(func.max(s.rollups.c.bucket))).scalar()
    return None if last is None else pd.Timestamp(last).tz_convert("UTC").to_pydatetime() + timedelta(hours=1)


def issue_documents(docs: pd.DataFrame, event: dict[str, Any]) -> pd.DataFrame:
    """The tagged first copies of an event's issue (what the rollups' ``n_unique`` counts)."""
    sel = docs[docs["dup_of"].isna() & docs["pipeline_version"].notna()]
    if event.get("topic_id") is not None:
        return sel[sel["topic_id"] == int(event["topic_id"])]
    sel = sel[sel["category"] == event["category"]]
    return sel[sel["province"] == event["province"]] if event.get("province") else sel


def load_event_effects(
    engine: Engine, start: datetime, end: datetime, hours: int = EFFECT_HOURS
) -> list[EventEffect]:
    """Events marked in [start, end), oldest first, each with its effect over ``hours`` either side."""
    events = sorted(
        (e for e in list_events(engine) if start <= e["at"] < end), key=lambda e: (e["at"], e["id"])
    )
    until = data_until(engine) if events else None
    out = []
    for event in events:
        at = event["at"]
        seen = 0.0 if until is None else (min(until, at + timedelta(hours=hours)) - at).total_seconds() / 3600
        seen = max(0.0, seen)
        window = (
            hours if seen >= hours else max(1, int(seen))
        )  # never compare a partial window with a full one
        estimate = estimate_effect(issue_series(engine, event, hours), at, event["kind"], window)
        docs = issue_documents(
            load_documents(engine, at - timedelta(hours=window), at + timedelta(hours=window)), event
        )
        before = docs[docs["published_at"] < at]
        after = docs[docs["published_at"] >= at]
        out.append(
            EventEffect(
                event,
                estimate,
                tuple(sorted(int(i) for i in before["id"])),
                tuple(sorted(int(i) for i in after["id"])),
                window,
                seen,
            )
        )
    log.debug("event effects loaded", extra={"events": len(out)})
    return out
