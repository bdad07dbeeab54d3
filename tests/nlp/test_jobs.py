"""Tagging jobs: incremental, idempotent, re-tag on model change, no double tagging across workers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from nlp.jobs import tag_backlog, tag_batch
from nlp.pipeline import Tagger
from storage import schema as s
from storage.backlog import count_backlog
from storage.store import Store
from tests.fakes import KeywordClassifier

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def seed(engine: Engine, n: int, start: int = 0) -> None:
    store = Store(engine)
    sid = store.ensure_source("s", "rss", "social")
    rows = [
        {
            "external_id": str(i),
            "channel": "social",
            "content": ["服务很好", "路面太差了", "河道污染严重"][i % 3] + f" {i}",
            "published_at": T0 + timedelta(minutes=i),
            "content_hash": f"h{i}",
        }
        for i in range(start, start + n)
    ]
    store.write_documents(sid, rows)


def tagger(version: str = "fake-1") -> Tagger:
    return Tagger(
        sentiment=KeywordClassifier("sentiment", version),
        emotion=KeywordClassifier("emotion", version),
        category=KeywordClassifier("category", version),
    )


def tags(engine: Engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.doc_tags.c.document_id, s.doc_tags.c.sentiment, s.doc_tags.c.pipeline_version)
        )
        return {r[0]: (r[1], r[2]) for r in rows}


def test_tags_everything_once_then_nothing(engine: Engine) -> None:
    seed(engine, 25)
    t = tagger()
    assert tag_backlog(engine, t, batch_size=10) == 25
    assert tag_backlog(engine, t, batch_size=10) == 0  # idempotent
    got = tags(engine)
    assert len(got) == 25
    with engine.connect() as conn:
        first = conn.execute(select(s.documents.c.id).order_by(s.documents.c.id)).scalars().first()
    assert got[first][0] == "positive" and got[first + 1][0] == "negative"
    seed(engine, 5, start=100)  # only the new ones are tagged
    assert tag_backlog(engine, t, batch_size=10) == 5
    assert count_backlog(engine, t.version) == 0


def test_model_change_retags_old_documents(engine: Engine) -> None:
    seed(engine, 12)
    old = tagger("fake-1")
    tag_backlog(engine, old)
    new = tagger("fake-2")
    assert new.version != old.version
    assert count_backlog(engine, new.version) == 12
    assert tag_batch(engine, new, 5) == 5
    assert count_backlog(engine, new.version) == 7
    tag_backlog(engine, new)
    assert {v for _, v in tags(engine).values()} == {new.version}


def test_workers_share_backlog_without_double_tagging(engine: Engine) -> None:
    """Two concurrent workers: every document tagged exactly once (SKIP LOCKED on PostgreSQL)."""
    seed(engine, 300)
    taggers = [tagger(), tagger()]
    done = [0, 0]

    def work(i: int) -> None:
        done[i] = tag_backlog(engine, taggers[i], batch_size=20)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.doc_tags)).scalar_one() == 300
    calls = sum(t.sentiment.calls for t in taggers)  # type: ignore[union-attr]
    if engine.dialect.name == "postgresql":
        assert calls == 300, "a document was tagged twice"
        assert sum(done) == 300
    else:
        assert calls >= 300  # one SQLite writer at a time; upsert keeps it idempotent


def test_stored_tag_rows_read_back_as_written(engine: Engine) -> None:
    """The batch upsert (one unnest statement on PostgreSQL) stores every column as given, then updates."""
    from nlp.jobs import TAG_COLUMNS, _upsert_tags
    from storage.db import write_tx

    seed(engine, 3)
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(s.documents.c.id)).scalars())
    when = datetime(2026, 11, 2, 17, 30, tzinfo=UTC)

    def row(doc_id: int, n: int) -> dict:
        out = dict.fromkeys(TAG_COLUMNS)
        out.update(
            document_id=doc_id,
            published_at=when + timedelta(minutes=doc_id),
            channel="social",
            sentiment="negative" if n else "neutral",
            sentiment_score=0.25 * (n + 1),
            keywords=["停水", "物业", f"“引号”{n}"] if doc_id != ids[1] else None,
            topic_id=7 if doc_id == ids[0] else None,
            province="湖南省",
            pipeline_version=f"p-{n}",
            model_versions={"sentiment": f"s-{n}", "regions": "regions-2"},
            tagged_at=when,
            tier="encoder" if n else "fast",
        )
        return out

    for n in (0, 1):  # insert, then update every column of the same documents
        with write_tx(engine) as conn:
            _upsert_tags(engine, conn, [row(i, n) for i in ids])
        with engine.connect() as conn:
            stored = {r.document_id: r._asdict() for r in conn.execute(select(s.doc_tags))}
        assert stored == {i: row(i, n) for i in ids}
