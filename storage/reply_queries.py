"""Read queries of the dashboard's 答复质量 page: scored government replies, honouring the global filters.

Replies are selected like every other page selects documents: by when the **message** was
published (``documents.published_at`` in the period), with the channel, source, category, region,
sentiment and keyword filters (analysts' corrections applied to category and sentiment). Only
replies with a score in ``reply_scores`` (filled by :func:`storage.reply_scores.score_pending_replies`) are read.

:func:`summarise_replies` is pure: it ranks handling units, categories or regions from the frame
:func:`load_replies` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from storage import queries as q
from storage import schema as s
from storage.document_queries import document_query

log = logging.getLogger(__name__)

COMPONENTS = ("relevance", "completeness", "policy", "timeliness", "tone")
GROUPS = ("unit", "category", "province")
REPLY_COLUMNS = [
    "id", "published_at", "replied_at", "channel", "source", "category", "province", "sentiment",
    "unit", "total", "delay_days", *COMPONENTS,
]  # fmt: skip
TEXT_COLUMNS = ["title", "content", "reply"]
SLOW_DAYS = 15.0  # a reply later than this counts as slow (the page shows their share)
_PLAIN = len(REPLY_COLUMNS) - len(COMPONENTS)  # selected before the components JSON


def _reply_select(engine: Engine, f: q.QueryFilters, *extra: Any) -> Any:
    """Scored replies of documents matching ``f`` (the same conditions as the search page)."""
    d, t, r, src = s.documents, s.doc_tags, s.reply_scores, s.sources
    # The period applies to the replies' copy of the message time: the few replies are read first.
    joined, conds, dims = document_query(engine, f, "", None, False, period_column=r.c.published_at)
    cols = [
        d.c.id, d.c.published_at, d.c.replied_at, d.c.channel, src.c.name.label("source"),
        dims["category"].label("category"), func.coalesce(t.c.province, "").label("province"),
        dims["sentiment"].label("sentiment"), func.coalesce(r.c.unit, "").label("unit"), r.c.total,
        r.c.delay_days, r.c.components, *extra,
    ]  # fmt: skip
    return select(*cols).select_from(joined.join(r, r.c.document_id == d.c.id)).where(*conds)


def _frame(rows: Sequence[Any], extra: list[str]) -> pd.DataFrame:
    records = []
    for row in rows:
        values = list(row)
        parts = dict(values[_PLAIN] or {})
        scores = (float(parts.get(k, 0.0)) for k in COMPONENTS)
        records.append([*values[:_PLAIN], *scores, *values[_PLAIN + 1 :]])
    frame = pd.DataFrame(records, columns=[*REPLY_COLUMNS, *extra])
    for col in ("published_at", "replied_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in ("total", "delay_days", *COMPONENTS):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    frame["id"] = frame["id"].astype("int64")
    for col in ("category", "province", "sentiment", "unit"):
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def load_replies(engine: Engine, f: q.QueryFilters) -> pd.DataFrame:
    """Every scored reply of the period and filters: :data:`REPLY_COLUMNS` (components in [0, 1])."""
    with engine.connect() as conn:
        rows = conn.execute(_reply_select(engine, f).order_by(s.documents.c.id)).all()
    return _frame(rows, [])


def worst_replies(engine: Engine, f: q.QueryFilters, limit: int = 20) -> pd.DataFrame:
    """The ``limit`` lowest-scored replies with their (masked) title, message and reply text."""
    d, r = s.documents, s.reply_scores
    stmt = _reply_select(engine, f, d.c.title, d.c.content, d.c.reply)
    stmt = stmt.order_by(r.c.total.asc(), d.c.id).limit(int(limit))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    frame = _frame(rows, TEXT_COLUMNS)
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def summarise_replies(
    frame: pd.DataFrame, by: str, min_count: int = 1, slow_days: float = SLOW_DAYS
) -> pd.DataFrame:
    """Per ``by`` (unit, category or province): replies, mean total and delay, component means.

    ``slow_share`` is the share of replies (with a known delay) later than ``slow_days``. Groups
    with fewer than ``min_count`` replies are left out. Sorted by mean total, best first
    (ties: more replies first, then name). Delay means skip replies without a delay.
    """
    if by not in GROUPS:
        raise ValueError(f"by must be one of {GROUPS}, got {by!r}")
    cols = ["n", "total", "delay_days", "slow_share", *COMPONENTS]
    if frame.empty:
        return pd.DataFrame(columns=[by, *cols])
    grouped = frame.assign(
        slow=frame["delay_days"].gt(slow_days).astype(float).where(frame["delay_days"].notna())
    )
    out = grouped.groupby(by, as_index=False).agg(
        n=("id", "size"),
        total=("total", "mean"),
        delay_days=("delay_days", "mean"),
        slow_share=("slow", "mean"),
        **{k: (k, "mean") for k in COMPONENTS},
    )
    out = out.loc[out["n"] >= min_count]
    return out.sort_values(["total", "n", by], ascending=[False, False, True]).reset_index(drop=True)


__all__ = ["COMPONENTS", "GROUPS", "SLOW_DAYS", "load_replies", "summarise_replies", "worst_replies"]
