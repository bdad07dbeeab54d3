"""Which tier's models tagged the documents (``doc_tags.tier``), counted per tier.

The fast n-gram tier tags every document first; the encoder tier follows, embedding each document
(``encoder_tags``) and replacing its sentiment, emotion and category with its own models' (the backlog
count is :func:`storage.encoder_backlog.count_encoder_backlog`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select

from storage import schema as s


def tier_counts(engine: Engine, start: datetime, end: datetime) -> dict[str, int]:
    """Tagged documents published in ``[start, end)`` per tier (``fast``, ``encoder``)."""
    t = s.doc_tags
    q = (
        select(t.c.tier, func.count())
        .where(t.c.published_at >= start, t.c.published_at < end)
        .group_by(t.c.tier)
    )
    with engine.connect() as conn:
        return {str(tier): int(n) for tier, n in conn.execute(q)}
