"""NLP workers sharing one PostgreSQL backlog: docs/s for 1 and 2 worker processes.

Each worker is a separate process running the real tagging job (``nlp.jobs.tag_backlog``, which
claims batches with ``FOR UPDATE SKIP LOCKED``). Models are loaded before the clock starts; every
worker records the ids it tagged, and the run fails if any document was tagged twice.

Usage: python -m bench.workers [--docs 6000] [--url postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import uuid

from sqlalchemy import create_engine, func, select, text

from bench.corpus import load_pool
from storage import schema as s
from storage.db import make_engine
from storage.migrate import upgrade_database
from storage.store import Store


def worker(url: str, start_at: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bench.generate import build_tagger
    from nlp.jobs import tag_backlog

    tagger = build_tagger()
    seen: list[int] = []
    original = tagger.tag

    def recording(docs):  # type: ignore[no-untyped-def]
        seen.extend(d.id for d in docs)
        return original(docs)

    tagger.tag = recording  # type: ignore[method-assign]
    engine = make_engine(url)
    while time.time() < start_at:
        time.sleep(0.01)
    tag_backlog(engine, tagger, batch_size=200)
    out.put((time.time(), seen))


def run(url: str, docs: list[dict], workers: int) -> tuple[float, int]:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE doc_tags, documents, sources RESTART IDENTITY CASCADE"))
    store = Store(engine)
    sid = store.ensure_source("bench", "demo", "social")
    for i in range(0, len(docs), 2000):
        store.write_documents(sid, docs[i : i + 2000])
    start_at = time.time() + 25  # after every worker has loaded its models
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=worker, args=(url, start_at, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    ids = [i for _, seen in results for i in seen]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{len(ids) - len(set(ids))} documents were tagged twice")
    with engine.connect() as conn:
        tagged = conn.execute(select(func.count()).select_from(s.doc_tags)).scalar_one()
    elapsed = max(t for t, _ in results) - start_at
    return len(docs) / elapsed, int(tagged)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=6000)
    parser.add_argument(
        "--url",
        default=os.environ.get("SENSING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    name = f"bench_workers_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade_database(make_engine(url))
        pool = load_pool(limit_per_source=args.docs)
        social = pool[pool["channel"] == "social"].head(args.docs)
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        docs = [
            {
                "external_id": str(i),
                "channel": "social",
                "content": c,
                "published_at": now,
                "content_hash": str(i),
            }
            for i, c in enumerate(social["content"])
        ]
        print(
            f"cores: {os.cpu_count()}; documents: {len(docs)} (Weibo posts, mean {social['content'].str.len().mean():.0f} chars)"
        )
        rates = {}
        for n in (1, 2):
            rate, tagged = run(url, docs, n)
            rates[n] = rate
            print(f"{n} worker(s): {rate:.0f} docs/s, {tagged} tagged, none twice")
        print(f"speed-up with 2 workers: {rates[2] / rates[1]:.2f}x")
        print(f"workers_2_docs_per_s: {rates[2]:.0f} docs/s")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
