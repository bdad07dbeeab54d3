"""Retention: archive the raw text of documents older than N days; rollups and tags are kept.

Each run exports the text it is about to drop to ``<data_dir>/archive/`` as gzip JSON Lines
(one file per batch, named after the id range, written atomically), then blanks the text in
the same order, so a crash between the two leaves the text in the database and re-running
rewrites the same file rather than duplicating it.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from storage import schema as s
from storage.db import write_tx
from storage.permissions import make_private_dir, open_private
from storage.types import utcnow

log = logging.getLogger(__name__)


def archive_old_text(
    engine: Engine, days: int, archive_dir: Path, *, now: datetime | None = None, batch: int = 5000
) -> int:
    """Archive and blank the text of documents published more than ``days`` ago; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    make_private_dir(archive_dir)  # archived text is personal data: owner-only
    d = s.documents
    total = 0
    while True:
        q = (
            select(
                d.c.id, d.c.source_id, d.c.external_id, d.c.title, d.c.content, d.c.reply, d.c.published_at
            )
            .where(d.c.published_at < cutoff, d.c.archived.is_(False))
            .order_by(d.c.id)
            .limit(batch)
        )
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return total
        path = archive_dir / f"documents-{rows[0].id:012d}-{rows[-1].id:012d}.jsonl.gz"
        tmp = path.with_suffix(".tmp")
        with open_private(tmp, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
            for r in rows:
                rec: dict[str, Any] = dict(r._mapping)
                rec["published_at"] = r.published_at.isoformat()
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        ids = [r.id for r in rows]
        with write_tx(engine) as conn:
            conn.execute(update(d).where(d.c.id.in_(ids)).values(content="", reply=None, archived=True))
        total += len(ids)
        log.info("archived document text", extra={"documents": len(ids), "file": str(path)})
