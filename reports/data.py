"""Read queries the weekly report needs and the UI does not (I/O only; the tables are built elsewhere).

The report counts documents, not rollups: every figure must name the documents behind it, and
documents still waiting for tags are counted in volumes (and reported as a data gap) instead of
silently missing. Analysts' corrections override the model's tags, as in the rollups.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, func, select

from storage import schema as s

log = logging.getLogger(__name__)

DOC_COLUMNS = [
    "id",
    "source_id",
    "channel",
    "published_at",
    "dup_of",
    "likes",
    "reposts",
    "comments",
    "reads",
    "sentiment",
    "emotion",
    "category",
    "province",
    "city",
    "topic_id",
    "pipeline_version",
]
CORRECTED_FIELDS = ("sentiment", "emotion", "category")


def documents_query(start: datetime, end: datetime, subject_id: int | None = None) -> Select[Any]:
    """Documents published in [start, end) with their tags (None when not tagged yet), by id;
    with ``subject_id``, only those the subject (专题) holds."""
    d, t = s.documents, s.doc_tags
    q = (
        select(
            d.c.id,
            d.c.source_id,
            d.c.channel,
            d.c.published_at,
            d.c.dup_of,
            d.c.likes,
            d.c.reposts,
            d.c.comments,
            d.c.reads,
            t.c.sentiment,
            t.c.emotion,
            t.c.category,
            t.c.province,
            t.c.city,
            t.c.topic_id,
            t.c.pipeline_version,
        )
        .select_from(d.outerjoin(t, t.c.document_id == d.c.id))
        .where(d.c.published_at >= start, d.c.published_at < end)
        .order_by(d.c.id)
    )
    if subject_id is not None:
        sd = s.subject_documents
        q = q.where(d.c.id.in_(select(sd.c.document_id).where(sd.c.subject_id == int(subject_id))))
    return q


def query_sql(engine: Engine, query: Select[Any]) -> str:
    """The query as runnable SQL for this engine's dialect, parameters inlined."""
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def load_documents(
    engine: Engine, start: datetime, end: datetime, subject_id: int | None = None
) -> pd.DataFrame:
    """The documents of [start, end) (of one subject, if given) as a frame (:data:`DOC_COLUMNS`),
    corrections applied."""
    d, c = s.documents, s.corrections
    with engine.connect() as conn:
        rows = conn.execute(documents_query(start, end, subject_id)).all()
        corr = conn.execute(
            select(c.c.document_id, c.c.field, c.c.value)
            .select_from(c.join(d, d.c.id == c.c.document_id))
            .where(d.c.published_at >= start, d.c.published_at < end, c.c.field.in_(CORRECTED_FIELDS))
            .order_by(c.c.id)
        ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=DOC_COLUMNS)
    for col in ("likes", "reposts", "comments", "reads"):
        frame[col] = frame[col].fillna(0).astype("int64")
    frame["topic_id"] = frame["topic_id"].astype("Int64")
    frame["dup_of"] = frame["dup_of"].astype("Int64")
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    for name in ("sentiment", "emotion", "category", "province", "city"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        frame.loc[frame[name] == "", name] = None
    if corr:
        latest: dict[str, dict[int, str]] = {f: {} for f in CORRECTED_FIELDS}
        for doc_id, field_name, value in corr:  # ordered by correction id: the last one wins
            latest[field_name][int(doc_id)] = value
        for field_name, fixes in latest.items():
            if fixes:
                frame[field_name] = [
                    fixes.get(i, v) for i, v in zip(frame["id"], frame[field_name], strict=True)
                ]
    return frame


def load_document_texts(engine: Engine, ids: Sequence[int]) -> pd.DataFrame:
    """Title, content (masked at ingestion), URL and source name of the given documents."""
    d, src = s.documents, s.sources
    cols = ["id", "title", "content", "url", "source"]
    if not ids:
        return pd.DataFrame(columns=cols)
    q = (
        select(d.c.id, d.c.title, d.c.content, d.c.url, src.c.name)
        .select_from(d.join(src, src.c.id == d.c.source_id))
        .where(d.c.id.in_(sorted({int(i) for i in ids})))
        .order_by(d.c.id)
    )
    with engine.connect() as conn:
        return pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=cols)


def alerts_query(start: datetime, end: datetime) -> Select[Any]:
    """Alerts first raised in [start, end), oldest first."""
    a = s.alerts
    return select(a).where(a.c.first_seen >= start, a.c.first_seen < end).order_by(a.c.first_seen, a.c.id)


def load_alerts(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Alerts raised in [start, end) with who acknowledged them, from the alert or its events."""
    a, ev = s.alerts, s.alert_events
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(alerts_query(start, end))]
        ids = [r["id"] for r in rows]
        events = (
            conn.execute(
                select(ev.c.alert_id, ev.c.event, ev.c.actor, ev.c.at)
                .where(ev.c.alert_id.in_(ids), ev.c.event.in_(["acknowledged", "resolved"]))
                .order_by(ev.c.at, ev.c.id)
            ).all()
            if ids
            else []
        )
    frame = pd.DataFrame(rows, columns=[c.name for c in a.columns])
    first: dict[tuple[int, str], tuple[str, datetime]] = {}
    for alert_id, event, actor, at in events:
        first.setdefault((alert_id, event), (actor, at))
    for event, who, when in (
        ("acknowledged", "acked_by", "acked_at"),
        ("resolved", "resolved_by", "resolved_at"),
    ):
        for i, row in frame.iterrows():
            if pd.isna(row[when]) and (row["id"], event) in first:
                frame.at[i, who], frame.at[i, when] = first[(row["id"], event)]
    return frame


def load_topics(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Label and top terms of the given topics."""
    t = s.topics
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.label, t.c.terms).where(t.c.id.in_([int(i) for i in ids]))
        ).all()
    return {int(r.id): {"label": r.label, "terms": list(r.terms or [])} for r in rows}


def load_ingest_runs(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Ingestion runs started in [start, end), per source, oldest first."""
    r = s.ingest_runs
    cols = ["source_id", "started_at", "finished_at", "status", "fetched", "new", "errors", "error"]
    q = (
        select(*(r.c[c] for c in cols))
        .where(r.c.started_at >= start, r.c.started_at < end)
        .order_by(r.c.source_id, r.c.started_at, r.c.id)
    )
    with engine.connect() as conn:
        return pd.DataFrame([tuple(x) for x in conn.execute(q)], columns=cols)


def load_sources(engine: Engine) -> pd.DataFrame:
    """Every registered source: id, name, kind, channel."""
    src = s.sources
    with engine.connect() as conn:
        rows = conn.execute(
            select(src.c.id, src.c.name, src.c.kind, src.c.channel).order_by(src.c.name)
        ).all()
    return pd.DataFrame([tuple(x) for x in rows], columns=["id", "name", "kind", "channel"])


def load_pipeline_versions(engine: Engine, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Model versions that tagged the week's documents: one entry per pipeline version with its count."""
    t = s.doc_tags
    with engine.connect() as conn:
        counts = conn.execute(
            select(t.c.pipeline_version, func.count(), func.min(t.c.document_id))
            .where(t.c.published_at >= start, t.c.published_at < end)
            .group_by(t.c.pipeline_version)
            .order_by(t.c.pipeline_version)
        ).all()
        out = []
        for version, n, sample in counts:
            models = conn.execute(select(t.c.model_versions).where(t.c.document_id == sample)).scalar()
            out.append({"pipeline_version": version, "documents": int(n), "models": dict(models or {})})
    return out


def load_model_meta(models_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """``meta.json`` of every shipped model (version, held-out scores) by task; {} when none."""
    if models_dir is None:
        from nlp.classifiers import MODELS_DIR

        models_dir = MODELS_DIR
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(models_dir).glob("*/meta.json")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("unreadable model metadata %s: %s", path, exc)
            continue
        out[str(meta.get("task") or path.parent.name)] = meta
    return out
