"""NLP workers sharing one PostgreSQL backlog: docs/s for 1 and 2 worker processes.

Each worker is a separate process running the real tagging job (``nlp.jobs.tag_backlog``, which
claims batches with ``FOR UPDATE SKIP LOCKED``). Models are loaded before the clock starts; every
worker records the ids it tagged, and the run fails if any document was tagged twice.

Besides docs/s by wall clock, it prints the CPU each document costs: in the workers (their own
process CPU time) and in PostgreSQL (the server processes' CPU time, from /proc). On a machine
with fewer cores than workers + PostgreSQL the wall-clock speed-up is capped by the cores; a CPU
cost per document that does not grow with the number of workers is what makes it near-linear
where the cores are there.

Usage: python -m bench.workers [--docs 6000] [--url postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from bench import machine
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
    cpu0 = time.process_time()
    tag_backlog(engine, tagger, batch_size=200)
    out.put((time.time(), seen, time.process_time() - cpu0))


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every process named ``postgres`` (server and backends)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
        except OSError:  # the process ended meanwhile
            continue
        if head.endswith("(postgres"):
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(url: str, docs: list[dict], workers: int) -> tuple[float, int, float, float]:
    """Tag ``docs`` with ``workers`` processes: docs/s, rows tagged, worker and PostgreSQL CPU seconds."""
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
    pg0 = postgres_cpu_seconds()
    results = [out.get() for _ in procs]
    pg_cpu = postgres_cpu_seconds() - pg0
    for p in procs:
        p.join()
    ids = [i for _, seen, _ in results for i in seen]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{len(ids) - len(set(ids))} documents were tagged twice")
    with engine.connect() as conn:
        tagged = conn.execute(select(func.count()).select_from(s.doc_tags)).scalar_one()
    elapsed = max(t for t, _, _ in results) - start_at
    return len(docs) / elapsed, int(tagged), sum(cpu for _, _, cpu in results), pg_cpu


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
            f"{machine.describe()}; documents: {len(docs)} (Weibo posts, mean {social['content'].str.len().mean():.0f} chars)"
        )
        rates = {}
        for n in (1, 2):
            rate, tagged, cpu, pg_cpu = run(url, docs, n)
            rates[n] = rate
            print(
                f"{n} worker(s): {rate:.0f} docs/s, {tagged} tagged, none twice;"
                f" per document {1e6 * cpu / len(docs):.0f} us worker CPU ({len(docs) / cpu:.0f} docs per"
                f" worker CPU-second) + {1e6 * pg_cpu / len(docs):.0f} us PostgreSQL CPU"
            )
        print(f"speed-up with 2 workers: {rates[2] / rates[1]:.2f}x")
        print(f"workers_2_docs_per_s: {rates[2]:.0f} docs/s")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
