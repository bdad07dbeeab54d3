"""Small read queries the ingestion pipeline needs beside :class:`storage.store.Store`.

Documents are still written only by ``Store.write_documents`` (one transaction with the cursor).
Here: which external ids a source already has, the recent first copies that warm the
near-duplicate index, and closing health rows left ``running`` by a process that died.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Engine, select, update

from storage import schema as s
from storage.db import write_tx
from storage.types import utcnow

_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))
    for i in range(0, len(unique), _CHUNK):
        yield unique[i : i + _CHUNK]


def ids_by_external_id(engine: Engine, source_id: int, external_ids: Sequence[str]) -> dict[str, int]:
    """Map external id -> document id for those of ``external_ids`` already stored for the source."""
    d = s.documents
    out: dict[str, int] = {}
    if not external_ids:
        return out
    with engine.connect() as conn:
        for chunk in _chunks(external_ids):
            q = select(d.c.external_id, d.c.id).where(d.c.source_id == source_id, d.c.external_id.in_(chunk))
            out.update({ext: int(i) for ext, i in conn.execute(q)})
    return out


def recent_first_copies(engine: Engine, since: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, content) of the newest first copies (``dup_of`` empty) published since ``since``."""
    d = s.documents
    q = (
        select(d.c.id, d.c.content)
        .where(d.c.published_at >= since, d.c.dup_of.is_(None), d.c.archived.is_(False))
        .order_by(d.c.published_at.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [(int(i), c) for i, c in conn.execute(q)]
    rows.reverse()  # oldest first, so the earliest copy is the one the index keeps
    return rows


def first_copies(engine: Engine, ids: Sequence[int]) -> dict[int, int]:
    """Map each stored document id to the first copy of its cluster (itself when it is one)."""
    d = s.documents
    out: dict[int, int] = {}
    unique = list(dict.fromkeys(ids))
    with engine.connect() as conn:
        for i in range(0, len(unique), _CHUNK):
            q = select(d.c.id, d.c.dup_of).where(d.c.id.in_(unique[i : i + _CHUNK]))
            out.update({int(doc): int(dup or doc) for doc, dup in conn.execute(q)})
    return out


def close_stale_runs(engine: Engine, source_id: int) -> int:
    """Mark the source's runs still ``running`` as failed: their process died (a live run that is
    merely slow rewrites its row when it finishes). Returns how many were closed."""
    runs = s.ingest_runs
    with write_tx(engine) as conn:
        result = conn.execute(
            update(runs)
            .where(runs.c.source_id == source_id, runs.c.status == "running")
            .values(
                status="failed",
                finished_at=utcnow(),
                errors=runs.c.errors + 1,
                error="interrupted: the process ended before the run finished",
            )
        )
    return int(result.rowcount or 0)
