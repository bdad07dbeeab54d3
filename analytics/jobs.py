"""I/O edge of the analytics that store results: reply-quality scores."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, or_, select

from analytics.reply_quality import SCORER_VERSION, score_reply
from storage import schema as s
from storage.db import write_tx
from storage.store import dialect_insert
from storage.types import utcnow

log = logging.getLogger(__name__)


def score_replies(engine: Engine, settings: Any, batch: int = 1000) -> int:
    """Score every document with a reply that has no score from the current scorer; returns how many."""
    cfg = settings.reply_quality
    weights = {k: getattr(cfg, k) for k in ("relevance", "completeness", "policy", "timeliness", "tone")}
    d, r = s.documents, s.reply_scores
    done = 0
    while True:
        q = (
            select(d.c.id, d.c.title, d.c.content, d.c.reply, d.c.published_at, d.c.replied_at)
            .select_from(d.outerjoin(r, r.c.document_id == d.c.id))
            .where(d.c.reply.is_not(None), d.c.reply != "")
            .where(or_(r.c.document_id.is_(None), r.c.scorer_version != SCORER_VERSION))
            .order_by(d.c.id)
            .limit(batch)
        )
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return done
        now = utcnow()
        values = []
        for row in rows:
            sc = score_reply(
                row.content or "",
                row.reply or "",
                title=row.title or "",
                asked_at=row.published_at,
                replied_at=row.replied_at,
                weights=weights,
                bands=list(cfg.delay_bands_days),
            )
            values.append(
                {
                    "document_id": row.id,
                    "total": sc.total,
                    "components": sc.components(),
                    "delay_days": sc.delay_days,
                    "unit": sc.unit[:100] if sc.unit else None,
                    "scorer_version": SCORER_VERSION,
                    "scored_at": now,
                    "published_at": row.published_at,
                }
            )
        stmt = dialect_insert(engine, r)
        update = {
            c: stmt.excluded[c]
            for c in (
                "total",
                "components",
                "delay_days",
                "unit",
                "scorer_version",
                "scored_at",
                "published_at",
            )
        }
        with write_tx(engine) as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["document_id"], set_=update), values)
        done += len(values)


def job_reply_quality(app: Any) -> dict[str, int]:
    """Scheduler job: score new replies."""
    return {"scored": score_replies(app.engine, app.settings)}
