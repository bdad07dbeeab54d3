"""Where the data is: the publication times of the oldest and newest tagged documents.

An imported archive (2017-2020 messages, say) has nothing in "the last 7 days"; the dashboard and
the reports ask this to open on the newest period that has data instead of an empty one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select

from storage import schema as s


def data_extent(engine: Engine) -> tuple[datetime | None, datetime | None]:
    """(oldest, newest) ``published_at`` of the tagged documents, ``(None, None)`` for an empty store."""
    t = s.doc_tags
    with engine.connect() as conn:
        oldest, newest = conn.execute(select(func.min(t.c.published_at), func.max(t.c.published_at))).one()
    return oldest, newest
