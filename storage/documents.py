"""Writing documents: one function, multi-row, with the source's cursor in the same transaction.

A crash mid-batch leaves nothing half-written: rows, copies, dead letters and the cursor commit
together, and a re-run re-inserts nothing (``ON CONFLICT DO NOTHING`` on source and external id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.dead_letters import DeadLetter, write_dead_letters
from storage.types import utcnow

DOCUMENT_COLUMNS = tuple(c.name for c in s.documents.columns if c.name != "id")


def _document_values(source_id: int, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    values = {k: row.get(k) for k in DOCUMENT_COLUMNS}
    values["source_id"] = source_id
    values["fetched_at"] = values["fetched_at"] or now
    for k in ("likes", "reposts", "comments", "reads", "dup_count"):
        values[k] = int(values[k] or 0)
    values["simulated"] = bool(values["simulated"])
    values["archived"] = bool(values["archived"])
    return values


def write_documents(
    engine: Engine,
    source_id: int,
    rows: Sequence[dict[str, Any]],
    cursor: dict[str, Any] | None = None,
    copies: Sequence[tuple[dict[str, Any], str]] = (),
    dead: Sequence[DeadLetter] = (),
) -> dict[str, int]:
    """The one write path for documents: production, the dead-letter retry, tests and seeders use it.

    ``rows`` (their ``dup_of`` already known), then ``copies`` (each with the external id of its
    first copy among ``rows``) and the cursor are written in one transaction. Rows already stored
    (same source and external id) are skipped by ``ON CONFLICT DO NOTHING``; each new copy bumps
    its first copy's ``dup_count``. Multi-row statements (SQLAlchemy's "insertmanyvalues" batching,
    on both backends) keep bulk imports fast. ``dead`` (items set aside) are written in the same transaction.
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
