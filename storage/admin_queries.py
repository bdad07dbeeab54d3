"""Reads behind the sidebar options and the operations pages: source health, backlog, audit log, report runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from storage import schema as s
from storage.filters import to_utc
from storage.rollups import levels as lv


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
        frame[col] = to_utc(frame[col])
    # ``now`` is the page's minute: a success within it is 0 minutes ago, not -1
    since = (now - frame["last_success"]).dt.total_seconds() / 60
    frame["minutes_since_success"] = since.clip(lower=0).round(0)
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
    frame["at"] = to_utc(frame["at"])
    return frame


def report_runs_frame(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The newest weekly-report runs."""
    rr = s.report_runs
    q = select(rr).order_by(rr.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in rr.c])
