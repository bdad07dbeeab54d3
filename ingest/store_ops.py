"""Small read queries the ingestion pipeline needs beside :class:`storage.store.Store`.

Documents are still written only by ``Store.write_documents`` (one transaction with the cursor).
Here: which external ids a source already has, the recent first copies that warm the
near-duplicate index, and closing health rows left ``running`` by a process that died.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from storage import schema as s
from storage.db import write_tx
from storage.dead_letters import DeadLetter, write_dead_letters
from storage.store import DOCUMENT_COLUMNS, dialect_insert
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


def _document_values(source_id: int, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    values = {k: row.get(k) for k in DOCUMENT_COLUMNS}
    values["source_id"] = source_id
    values["fetched_at"] = values["fetched_at"] or now
    for k in ("likes", "reposts", "comments", "reads", "dup_count"):
        values[k] = int(values[k] or 0)
    values["simulated"] = bool(values["simulated"])
    values["archived"] = bool(values["archived"])
    return values


def write_documents_bulk(
    engine: Engine,
    source_id: int,
    rows: Sequence[dict[str, Any]],
    cursor: dict[str, Any] | None = None,
    copies: Sequence[tuple[dict[str, Any], str]] = (),
    dead: Sequence[DeadLetter] = (),
) -> dict[str, int]:
    """Same contract as :meth:`storage.store.Store.write_documents`, with multi-row statements.

    ``rows`` (their ``dup_of`` already known), then ``copies`` (each with the external id of its
    first copy among ``rows``) and the cursor are written in one transaction. Rows already stored
    (same source and external id) are skipped by ``ON CONFLICT DO NOTHING``; each new copy bumps
    its first copy's ``dup_count``. ``Store.write_documents`` compiles one INSERT per row, which
    caps bulk imports at a few hundred rows a second; this uses SQLAlchemy's "insertmanyvalues"
    batching on both backends. ``dead`` (items set aside) are written in the same transaction.
    Returns external id -> id of every row inserted.
    """
    d = s.documents
    now = utcnow()
    stmt = (
        dialect_insert(engine, d)
        .on_conflict_do_nothing(index_elements=["source_id", "external_id"])
        .returning(d.c.id, d.c.external_id)
    )
    new_ids: dict[str, int] = {}
    with write_tx(engine) as conn:

        def insert(batch: list[dict[str, Any]]) -> None:
            if not batch:
                return
            inserted = {ext: int(i) for i, ext in conn.execute(stmt, batch)}
            new_ids.update(inserted)
            bumps = Counter(r["dup_of"] for r in batch if r["dup_of"] and r["external_id"] in inserted)
            if bumps:
                conn.execute(
                    update(d)
                    .where(d.c.id == bindparam("first_id"))
                    .values(dup_count=d.c.dup_count + bindparam("n")),
                    [{"first_id": k, "n": n} for k, n in bumps.items()],
                )

        insert([_document_values(source_id, r, now) for r in rows])
        if copies:
            missing = [ext for _, ext in copies if ext not in new_ids]
            known = dict(new_ids)
            if missing:  # the first copy was stored earlier (a concurrent writer): look it up
                q = select(d.c.external_id, d.c.id).where(
                    d.c.source_id == source_id, d.c.external_id.in_(missing)
                )
                known.update({ext: int(i) for ext, i in conn.execute(q)})
            insert(
                [_document_values(source_id, {**row, "dup_of": known.get(ext)}, now) for row, ext in copies]
            )
        write_dead_letters(conn, source_id, dead)
        if cursor is not None:
            conn.execute(
                update(s.sources).where(s.sources.c.id == source_id).values(cursor=cursor, updated_at=now)
            )
    return new_ids
