"""Writes to the store: batched, transactional and idempotent on both backends.

Every write goes through :class:`Store`. A batch of documents and the cursor of the source
that produced it are written in one transaction; inserts use ``ON CONFLICT DO NOTHING`` on
``(source_id, external_id)``, so re-sending a batch is a no-op and a crash leaves nothing
half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update

from kernel.errors import describe_error
from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.documents import write_documents
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class WriteResult:
    """Outcome of one batch write."""

    new_ids: list[int] = field(default_factory=list)
    duplicates: int = 0  # rows already stored (same source + external id)

    @property
    def new(self) -> int:
        return len(self.new_ids)


class Store:
    """The application's write API over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- sources -----------------------------------------------------------------------
    def ensure_source(self, name: str, kind: str, channel: str | None = None) -> int:
        """Return the id of source ``name``, creating it if needed (idempotent)."""
        now = utcnow()
        with write_tx(self.engine) as conn:
            stmt = dialect_insert(self.engine, s.sources).values(
                name=name, kind=kind, channel=channel, cursor={}, created_at=now, updated_at=now
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            return int(conn.execute(select(s.sources.c.id).where(s.sources.c.name == name)).scalar_one())

    def get_cursor(self, source_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            value = conn.execute(select(s.sources.c.cursor).where(s.sources.c.id == source_id)).scalar_one()
        return dict(value or {})

    # -- documents ---------------------------------------------------------------------
    def write_documents(
        self, source_id: int, rows: Sequence[dict[str, Any]], cursor: dict[str, Any] | None = None
    ) -> WriteResult:
        """Insert prepared document rows and persist ``cursor`` (:func:`storage.documents.write_documents`).

        Rows already present (same source and external id) are counted as duplicates.
        """
        new = write_documents(self.engine, source_id, rows, cursor)
        ids = [new[r["external_id"]] for r in rows if r["external_id"] in new]
        return WriteResult(new_ids=list(dict.fromkeys(ids)), duplicates=len(rows) - len(new))

    def find_by_hash(self, hashes: Sequence[str]) -> dict[str, int]:
        """Map content hash -> id of the first stored copy, for exact de-duplication."""
        if not hashes:
            return {}
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(hashes), 500):
                chunk = list(set(hashes[i : i + 500]))
                q = (
                    select(s.documents.c.content_hash, func.min(s.documents.c.id))
                    .where(s.documents.c.content_hash.in_(chunk))
                    .group_by(s.documents.c.content_hash)
                )
                out.update({h: int(i_) for h, i_ in conn.execute(q)})
        return out

    # -- runs and health ---------------------------------------------------------------
    def start_ingest_run(self, source_id: int) -> int:
        with write_tx(self.engine) as conn:
            return int(
                conn.execute(
                    s.ingest_runs.insert()
                    .values(source_id=source_id, started_at=utcnow(), status="running")
                    .returning(s.ingest_runs.c.id)
                ).scalar_one()
            )

    def finish_ingest_run(self, run_id: int, **values: Any) -> None:
        values.setdefault("finished_at", utcnow())
        with write_tx(self.engine) as conn:
            conn.execute(update(s.ingest_runs).where(s.ingest_runs.c.id == run_id).values(**values))

    @contextmanager
    def job_run(self, job: str) -> Iterator[dict[str, Any]]:
        """Record a job run: yields a dict the job fills with counts; errors are recorded, then re-raised."""
        with write_tx(self.engine) as conn:
            run_id = conn.execute(
                s.job_runs.insert()
                .values(job=job, started_at=utcnow(), status="running")
                .returning(s.job_runs.c.id)
            ).scalar_one()
        counts: dict[str, Any] = {}
        try:
            yield counts
        except BaseException as exc:
            with write_tx(self.engine) as conn:
                conn.execute(
                    update(s.job_runs)
                    .where(s.job_runs.c.id == run_id)
                    .values(
                        finished_at=utcnow(),
                        status="failed",
                        counts=counts,
                        error=describe_error(exc),
                    )
                )
            raise
        with write_tx(self.engine) as conn:
            conn.execute(
                update(s.job_runs)
                .where(s.job_runs.c.id == run_id)
                .values(finished_at=utcnow(), status="ok", counts=counts)
            )

    def audit(
        self, user: str, action: str, target: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Append to the audit log."""
        with write_tx(self.engine) as conn:
            conn.execute(
                s.audit_log.insert().values(
                    at=utcnow(), user=user, action=action, target=target, detail=detail or {}
                )
            )


def latest(values: Sequence[datetime | None]) -> datetime | None:
    """The newest non-empty timestamp."""
    present = [v for v in values if v is not None]
    return max(present) if present else None
