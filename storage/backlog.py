"""The tagging backlog, found without scanning the whole store.

A document needs tags when it has none (untagged) or when its tags came from another pipeline
version (outdated). Untagged documents are searched from a per-process low-water mark on the
document id: below it everything was tagged or claimed, so a batch costs the same in a store of
100 k or 10 M documents. A full pass from id 0 runs when a process starts and again every
:data:`SWEEP_SECONDS`, to pick up documents the mark skipped (a crashed worker's batch, an
insert that committed late). Outdated documents are found by index seeks on
``(pipeline_version, document_id)``, newest first, so after a model change the recent documents
the dashboard shows are re-tagged first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Select, exists, func, select

from storage import schema as s
from storage.db import is_sqlite

#: Seconds between full passes over the store for untagged documents behind the mark.
SWEEP_SECONDS = 600.0


@dataclass
class BacklogCursor:
    """Where one worker process is in the backlog (the low-water mark and the last full pass)."""

    untagged_from: int = 0
    last_sweep: float = field(default=float("-inf"))


def _document_columns() -> list[Any]:
    d = s.documents
    return [d.c.id, d.c.title, d.c.content, d.c.region_hint, d.c.channel, d.c.published_at]


def untagged_query(from_id: int, limit: int) -> Select[Any]:
    """Documents with id >= ``from_id`` and no tags, oldest first."""
    d, t = s.documents, s.doc_tags
    has_tags = exists().where(t.c.document_id == d.c.id)
    return select(*_document_columns()).where(d.c.id >= from_id, ~has_tags).order_by(d.c.id).limit(limit)


def outdated_version(conn: Connection, version: str) -> str | None:
    """One pipeline version other than ``version`` that still has tags (two index seeks)."""
    pv = s.doc_tags.c.pipeline_version
    for cond, order in ((pv < version, pv.desc()), (pv > version, pv.asc())):
        found = conn.execute(select(pv).where(cond).order_by(order).limit(1)).scalar()
        if found is not None:
            return str(found)
    return None


def outdated_query(old_version: str, limit: int) -> Select[Any]:
    """Documents tagged by ``old_version``, newest first."""
    d, t = s.documents, s.doc_tags
    return (
        select(*_document_columns())
        .select_from(t.join(d, d.c.id == t.c.document_id))
        .where(t.c.pipeline_version == old_version)
        .order_by(t.c.document_id.desc())
        .limit(limit)
    )


def _run(conn: Connection, engine: Engine, query: Select[Any]) -> list[Any]:
    if not is_sqlite(engine):
        query = query.with_for_update(of=s.documents, skip_locked=True)
    return list(conn.execute(query).all())


def claim_backlog(
    conn: Connection, engine: Engine, version: str, limit: int, cursor: BacklogCursor
) -> list[Any]:
    """Select (and on PostgreSQL lock, skipping rows other workers hold) up to ``limit`` documents
    to tag: untagged ones first, then outdated ones. Moves ``cursor`` forward."""
    now = time.monotonic()
    if now - cursor.last_sweep >= SWEEP_SECONDS:
        cursor.untagged_from, cursor.last_sweep = 0, now
    rows = _run(conn, engine, untagged_query(cursor.untagged_from, limit))
    if rows:
        cursor.untagged_from = int(rows[0].id)
        return rows
    newest = conn.execute(select(func.max(s.documents.c.id))).scalar()
    cursor.untagged_from = int(newest or 0) + 1
    old = outdated_version(conn, version)
    return _run(conn, engine, outdated_query(old, limit)) if old is not None else []


def count_backlog(engine: Engine, version: str | None = None) -> int:
    """Documents with no tags plus (given ``version``) documents tagged by another version."""
    d, t = s.documents, s.doc_tags
    with engine.connect() as conn:
        docs = int(conn.execute(select(func.count()).select_from(d)).scalar_one())
        tagged = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        outdated = 0
        if version is not None:
            pv = t.c.pipeline_version
            cond = (pv < version) | (pv > version)  # two index ranges, not a scan
            outdated = int(conn.execute(select(func.count()).select_from(t).where(cond)).scalar_one())
    return max(docs - tagged, 0) + outdated
