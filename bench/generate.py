"""Build a realistic store of N documents (default 1,000,000) for the scale benchmarks.

Texts are real (Weibo posts and hot-search events, 新闻联播 items, 问政 messages; see
bench/corpus.py), tagged once per distinct text by the shipped models; each generated document
draws a text (Zipf-like, so some issues are hot), a time over two years with a diurnal rhythm and
injected bursts, a region, engagement counts, and is linked to an earlier copy when it is a
repost. Writes go through bulk inserts, then the rollups are built.

Usage: python -m bench.generate [--n 1000000] [--db var/bench.db] [--pool 60000]
Prints the core count, tagging docs/s on the pool, insert docs/s and rollup seconds.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bench import machine
from bench.corpus import load_pool
from ingest.clean import content_hash
from nlp.pipeline import DocInput, Tagger
from storage import schema as s
from storage.db import make_engine, write_tx
from storage.migrate import upgrade_database
from storage.rollups.refresh import refresh_rollups
from storage.store import Store

PROVINCES = [
    "广东省", "江苏省", "山东省", "浙江省", "河南省", "四川省", "湖北省", "湖南省", "福建省", "安徽省",
    "河北省", "上海市", "北京市", "陕西省", "江西省", "重庆市", "辽宁省", "云南省", "广西壮族自治区", "山西省",
]  # fmt: skip
END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
CHUNK = 20_000


def build_tagger() -> Tagger:
    """The worker's tagger without topics (the generated store has no refit), settled like it."""
    from nlp.classifiers import load_classifier
    from nlp.jobs import settle_tagger
    from nlp.keywords import extract_keywords_batch
    from nlp.regions import tag_regions

    return settle_tagger(
        Tagger(
            sentiment=load_classifier("sentiment"),
            emotion=load_classifier("emotion"),
            category=load_classifier("category"),
            regions=tag_regions,
            keywords=extract_keywords_batch,
        )
    )


def tag_pool(pool: pd.DataFrame, tagger: Tagger) -> tuple[list[dict], float]:
    """Tag every pool text once; returns the tags and docs/s."""
    docs = [DocInput(i, r.content, r.title) for i, r in enumerate(pool.itertuples())]
    start = time.perf_counter()
    tags: list[dict] = []
    for i in range(0, len(docs), 1000):
        tags.extend(tagger.tag(docs[i : i + 1000]))
    return tags, len(docs) / (time.perf_counter() - start)


def draw_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds since the start: uniform days, diurnal hours (busy 9-22h CST), 2% in bursts."""
    days = rng.integers(0, SPAN.days, n)
    hour_weights = np.array(
        [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4, 4, 3.5, 3.5, 4, 4, 4, 4, 4, 4.5, 5, 5, 4, 2]
    )
    hours = rng.choice(24, n, p=hour_weights / hour_weights.sum())
    secs = days * 86400 + ((hours - 8) % 24) * 3600 + rng.integers(0, 3600, n)  # CST hour -> UTC
    burst = rng.random(n) < 0.02
    centres = rng.integers(0, SPAN.days * 86400, 200)
    secs[burst] = rng.choice(centres, burst.sum()) + rng.integers(0, 6 * 3600, burst.sum())
    return np.clip(secs, 0, SPAN.days * 86400 - 1)


def generate(engine: Engine, n: int, pool_size: int, seed: int = 1) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    pool = load_pool(limit_per_source=max(1000, pool_size // 8), seed=seed).head(pool_size)
    tags, tag_rate = tag_pool(pool, build_tagger())
    store = Store(engine)
    source_ids = {
        ch: store.ensure_source(f"bench_{ch}", "demo", ch) for ch in ("social", "news", "gov", "hotline")
    }
    zipf = rng.zipf(1.3, n) % len(pool)
    times = draw_times(rng, n)
    provinces = rng.choice(len(PROVINCES), n)
    topics = rng.zipf(1.5, n) % 300
    hashes = [content_hash(c) for c in pool["content"]]
    first_copy: dict[int, int] = {}
    start = time.perf_counter()
    now = datetime.now(UTC)
    next_id = 1
    with engine.connect() as conn:
        from sqlalchemy import func, select

        next_id = int(conn.execute(select(func.coalesce(func.max(s.documents.c.id), 0))).scalar_one()) + 1
    with write_tx(engine) as conn:
        conn.execute(s.topics.delete())
        conn.execute(
            s.topics.insert(),
            [{"id": t, "label": f"话题{t}", "terms": [], "size": 0, "first_seen": END - SPAN, "last_seen": END,
              "model_version": "bench"} for t in range(300)],
        )  # fmt: skip
    for lo in range(0, n, CHUNK):
        docs, tag_rows = [], []
        for j in range(lo, min(n, lo + CHUNK)):
            k = int(zipf[j])
            row = pool.iloc[k]
            doc_id = next_id + j
            published = END - SPAN + timedelta(seconds=int(times[j]))
            dup = first_copy.get(k)
            if dup is None:
                first_copy[k] = doc_id
            t = tags[k]
            docs.append({
                "id": doc_id, "source_id": source_ids[row.channel], "channel": row.channel, "external_id": f"g{doc_id}",
                "url": None, "title": row.title, "content": row.content, "author_hash": None,
                "published_at": published, "fetched_at": now, "region_hint": None,
                "likes": int(rng.poisson(5)), "reposts": int(rng.poisson(2)), "comments": int(rng.poisson(3)),
                "reads": int(rng.poisson(200)), "content_hash": hashes[k], "dup_of": dup, "dup_count": 0,
                "reply": None, "replied_at": None, "simulated": True, "archived": False, "extra": None,
            })  # fmt: skip
            tag_rows.append({
                **{c: t.get(c) for c in ("sentiment", "sentiment_score", "emotion", "emotion_score", "category",
                                          "category_score", "city", "district", "keywords", "pipeline_version",
                                          "model_versions")},
                "document_id": doc_id, "published_at": published, "channel": row.channel,
                "province": t.get("province") or PROVINCES[int(provinces[j])],
                "topic_id": int(topics[j]), "topic_score": 0.8, "tagged_at": now,
            })  # fmt: skip
        with write_tx(engine) as conn:
            conn.execute(s.documents.insert(), docs)
            conn.execute(s.doc_tags.insert(), tag_rows)
    insert_rate = n / (time.perf_counter() - start)
    t0 = time.perf_counter()
    refresh_rollups(engine, full=True, tz="Asia/Shanghai")
    return {
        "tag_docs_per_s": tag_rate,
        "insert_docs_per_s": insert_rate,
        "rollup_s": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", default="var/bench.db")
    parser.add_argument("--url", default=None, help="database URL (default: sqlite file --db)")
    parser.add_argument("--pool", type=int, default=60_000)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{args.db}"
    if args.url is None and os.path.exists(args.db):
        os.remove(args.db)
    engine = make_engine(url)
    upgrade_database(engine)
    print(machine.describe())
    figures = generate(engine, args.n, args.pool)
    print(f"pool tagging: {figures['tag_docs_per_s']:.0f} docs/s (one process)")
    print(f"rollups built in {figures['rollup_s']:.1f} s")
    print(f"generated_docs_per_s: {figures['insert_docs_per_s']:.0f} docs/s")


if __name__ == "__main__":
    main()
