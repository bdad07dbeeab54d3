"""The tagging backlog: untagged first, outdated newest first, a low-water mark with periodic sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text

from storage import backlog as b
from storage import schema as s
from storage.db import make_engine, write_tx
from storage.migrate import upgrade_database
from storage.store import Store
from storage.types import utcnow

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def seed(engine: Engine, n: int, start: int = 0) -> list[int]:
    store = Store(engine)
    sid = store.ensure_source("s", "rss", "social")
    rows = [
        {
            "external_id": str(i),
            "channel": "social",
            "content": f"文本 {i}",
            "published_at": T0 + timedelta(minutes=i),
            "content_hash": f"h{i}",
        }
        for i in range(start, start + n)
    ]
    store.write_documents(sid, rows)
    with engine.connect() as conn:
        return list(conn.execute(select(s.documents.c.id).order_by(s.documents.c.id)).scalars())


def tag(engine: Engine, ids: list[int], version: str) -> None:
    with write_tx(engine) as conn:
        conn.execute(
            s.doc_tags.insert(),
            [
                {
                    "document_id": i,
                    "published_at": T0,
                    "channel": "social",
                    "pipeline_version": version,
                    "model_versions": {},
                    "tagged_at": utcnow(),
                }
                for i in ids
            ],
        )


def claim(engine: Engine, version: str, limit: int, cursor: b.BacklogCursor) -> list[int]:
    with write_tx(engine) as conn:
        return [r.id for r in b.claim_backlog(conn, engine, version, limit, cursor)]


def test_untagged_first_then_outdated_newest_first(engine: Engine) -> None:
    ids = seed(engine, 10)
    tag(engine, ids[:6], "v1")
    tag(engine, ids[6:8], "v2")
    cursor = b.BacklogCursor()
    assert claim(engine, "v2", 5, cursor) == ids[8:10]  # untagged ones first
    tag(engine, ids[8:10], "v2")
    assert claim(engine, "v2", 4, cursor) == ids[5:1:-1]  # then v1's, newest first
    assert b.count_backlog(engine, "v2") == 6
    assert b.count_backlog(engine) == 0
    assert claim(engine, "v1", 10, cursor) == ids[9:5:-1]  # another version sees v2's as outdated


def test_mark_skips_tagged_prefix_and_sweep_finds_what_it_skipped(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = seed(engine, 8)
    cursor = b.BacklogCursor()
    assert claim(engine, "v1", 3, cursor) == ids[:3]
    assert cursor.untagged_from == ids[0]
    tag(engine, ids, "v1")
    assert claim(engine, "v1", 3, cursor) == []
    assert cursor.untagged_from == ids[-1] + 1  # nothing left: the mark jumps past the newest
    with write_tx(engine) as conn:  # a document behind the mark loses its tags (a crashed batch)
        conn.execute(delete(s.doc_tags).where(s.doc_tags.c.document_id == ids[2]))
    assert claim(engine, "v1", 3, cursor) == []  # not seen until the next sweep
    new = seed(engine, 2, start=100)[-2:]
    assert claim(engine, "v1", 5, cursor) == new  # new documents are still found from the mark
    monkeypatch.setattr(b, "SWEEP_SECONDS", 0.0)
    assert claim(engine, "v1", 5, cursor) == [ids[2], *new]


def test_backlog_reads_seek_indexes(tmp_path: Path) -> None:
    """The claim never scans doc_tags or documents in full (SQLite's query plans say so)."""
    engine = make_engine(f"sqlite:///{tmp_path}/plan.db")
    upgrade_database(engine)
    statements = [b.untagged_query(10, 5), b.outdated_query("v1", 5)]
    with engine.connect() as conn:
        for stmt in statements:
            sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "SCAN documents" not in plan and "SCAN doc_tags" not in plan, plan
            assert "TEMP B-TREE" not in plan, plan
    engine.dispose()
