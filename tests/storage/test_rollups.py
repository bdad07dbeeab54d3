"""Rollups: correct sums per dimension, incremental refresh, corrections override tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from nlp.jobs import tag_backlog
from storage import schema as s
from storage.db import write_tx
from storage.rollups.hourly import touched_ranges
from storage.rollups.refresh import refresh_rollups
from storage.store import Store
from tests.nlp.test_jobs import T0, seed, tagger


def rollup_total(engine: Engine, **where: str) -> int:
    r = s.rollups
    q = select(func.coalesce(func.sum(r.c.n), 0))
    for k, v in where.items():
        q = q.where(r.c[k] == v)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def test_touched_ranges_split_on_gaps() -> None:
    h = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=3), T0 + timedelta(days=5)]
    assert touched_ranges(h) == [(T0, T0 + timedelta(hours=4)), (h[3], h[3] + timedelta(hours=1))]


def test_rollups_match_documents_and_refresh_incrementally(engine: Engine) -> None:
    seed(engine, 90)  # 90 minutes from 09:00: 60 in hour 09, 30 in hour 10; a third negative
    tag_backlog(engine, tagger())
    refresh_rollups(engine)
    assert rollup_total(engine) == 90
    assert rollup_total(engine, sentiment="negative") == 30
    assert rollup_total(engine, category="环境保护") == 30
    with engine.connect() as conn:
        buckets = conn.execute(select(s.rollups.c.bucket).distinct()).scalars().all()
    assert sorted(buckets) == [T0, T0 + timedelta(hours=1)]
    assert refresh_rollups(engine)["rows"] >= 0  # nothing new: same totals
    assert rollup_total(engine) == 90
    seed(engine, 10, start=500)  # lands in hours 17-18
    tag_backlog(engine, tagger())
    refresh_rollups(engine)
    assert rollup_total(engine) == 100


def test_duplicates_count_once_in_unique(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("s", "rss", "social")
    first = store.write_documents(
        sid,
        [{"external_id": "a", "channel": "social", "content": "x", "published_at": T0, "content_hash": "a"}],
    ).new_ids[0]
    store.write_documents(
        sid,
        [
            {
                "external_id": f"c{i}",
                "channel": "social",
                "content": "x",
                "published_at": T0,
                "content_hash": "a",
                "dup_of": first,
            }
            for i in range(3)
        ],
    )
    tag_backlog(engine, tagger())
    refresh_rollups(engine)
    with engine.connect() as conn:
        n, n_unique = conn.execute(select(func.sum(s.rollups.c.n), func.sum(s.rollups.c.n_unique))).one()
    assert (n, n_unique) == (4, 1)


def test_correction_overrides_tag(engine: Engine) -> None:
    seed(engine, 3)
    tag_backlog(engine, tagger())
    refresh_rollups(engine)
    assert rollup_total(engine, sentiment="positive") == 1
    with engine.connect() as conn:
        neg_id = conn.execute(
            select(s.doc_tags.c.document_id).where(s.doc_tags.c.sentiment == "negative")
        ).scalar_one()
    now = datetime.now(UTC)
    with write_tx(engine) as conn:
        conn.execute(
            s.corrections.insert().values(
                document_id=neg_id, field="sentiment", value="positive", user="ana", created_at=now
            )
        )
        conn.execute(s.doc_tags.update().where(s.doc_tags.c.document_id == neg_id).values(tagged_at=now))
    refresh_rollups(engine)
    assert rollup_total(engine, sentiment="positive") == 2
    assert rollup_total(engine, sentiment="negative") == 0
