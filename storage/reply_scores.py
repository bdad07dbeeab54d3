"""Storing reply-quality scores: every reply without a score from the current scorer gets one.

The scorer is passed in (the pure :func:`analytics.reply_quality.score_reply`, configured by the
caller), so this module only reads the replies and writes ``reply_scores``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, or_, select

from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.types import utcnow

log = logging.getLogger(__name__)


class ScoredReply(Protocol):
    """What a reply scorer returns (:class:`analytics.reply_quality.ReplyScore`)."""

    @property
    def total(self) -> float: ...

    @property
    def delay_days(self) -> float | None: ...

    @property
    def unit(self) -> str | None: ...

    def components(self) -> dict[str, float]: ...


ReplyScorer = Callable[[str, str, str, datetime | None, datetime | None], ScoredReply]


def score_pending_replies(engine: Engine, scorer: ReplyScorer, version: str, batch: int = 1000) -> int:
    """Score every document with a reply and no score from scorer ``version``; returns how many.

    ``scorer(message, reply, title, asked_at, replied_at)`` scores one reply.
    """
    d, r = s.documents, s.reply_scores
    done = 0
    while True:
        q = (
            select(d.c.id, d.c.title, d.c.content, d.c.reply, d.c.published_at, d.c.replied_at)
            .select_from(d.outerjoin(r, r.c.document_id == d.c.id))
            .where(d.c.reply.is_not(None), d.c.reply != "")
            .where(or_(r.c.document_id.is_(None), r.c.scorer_version != version))
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
            sc = scorer(row.content or "", row.reply or "", row.title or "", row.published_at, row.replied_at)
            values.append(
                {
                    "document_id": row.id,
                    "total": sc.total,
                    "components": sc.components(),
                    "delay_days": sc.delay_days,
                    "unit": sc.unit[:100] if sc.unit else None,
                    "scorer_version": version,
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
