"""Retention archives old raw text, keeps recent text and rollups, and is safe to repeat."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from nlp.jobs import tag_backlog
from storage import schema as s
from storage.retention import archive_old_text
from storage.rollups.refresh import refresh_rollups
from tests.nlp.test_jobs import T0, seed, tagger


def test_archive_old_text_keeps_rollups(engine: Engine, tmp_path: Path) -> None:
    seed(engine, 90)  # 90 documents, one a minute from T0
    tag_backlog(engine, tagger())
    refresh_rollups(engine)
    now = T0 + timedelta(days=30, minutes=60)  # the first 60 minutes are older than 30 days
    n = archive_old_text(engine, 30, tmp_path, now=now, batch=25)
    assert n == 60
    with engine.connect() as conn:
        blank = conn.execute(
            select(func.count()).where(s.documents.c.archived.is_(True), s.documents.c.content == "")
        ).scalar()
        kept = conn.execute(
            select(func.count()).where(s.documents.c.archived.is_(False), s.documents.c.content != "")
        ).scalar()
    assert (blank, kept) == (60, 30)
    records = [
        json.loads(line)
        for f in sorted(tmp_path.glob("*.jsonl.gz"))
        for line in gzip.decompress(f.read_bytes()).decode("utf-8").splitlines()
    ]
    assert len(records) == 60 and len({r["id"] for r in records}) == 60
    assert all(r["content"] for r in records)
    assert archive_old_text(engine, 30, tmp_path, now=now) == 0  # repeat: nothing more
    refresh_rollups(engine, full=True)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(s.rollups.c.n))).scalar() == 90
