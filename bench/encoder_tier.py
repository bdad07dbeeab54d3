"""The encoder tier on one core, and its workers on PostgreSQL: docs/s, cores for 1 M a day, catch-up.

1. **One core**: the encoder tier's tagger (e5-small, its fine-tuned top layers and heads, and the
   fast models blended in) over real posts, single-threaded, in batches of ``nlp.encoder.batch_size``
   (32): SMP2020-EWECT usual eval posts (social) and TipDM 问政 messages (hotline, title + body),
   cut to the 160 characters the encoder reads. Docs/s by the process's CPU time, per stage.
2. **Cores for 1,000,000 new documents a day** (11.6 docs/s): from that rate alone, and from the
   whole cost per document measured in step 3 (the worker's claims and writes and PostgreSQL's own
   CPU included).
3. **Workers on PostgreSQL**: a fresh database holding ``--docs`` fast-tagged documents (a quarter
   hotline, the rest social), drained by 1 and then 2 worker processes running the real job
   (``nlp.encoder_jobs.encode_backlog``: priority claims with ``FOR UPDATE SKIP LOCKED``) after
   each has loaded its models; every worker records what it encoded and the run fails if a
   document was encoded twice. The catch-up time of a 100,000-document backlog is these runs'
   rate extrapolated linearly (the claim reads only the backlog's indexes, so a batch costs the
   same in a bigger backlog), and the output says so.

The committed models (``nlp/models/encoder``) are used when present; without any, stand-in stacked
heads are fitted on a few dozen real posts (logistic regression over the embedding and the fast
probabilities). This machine's cores are shared: compare runs by the machine
line, and read the 2-worker speed-up against the cores actually free.

Usage: python -m bench.encoder_tier [--docs 600] [--texts 320] [--url postgresql+psycopg://...]
Last line: ``encoder_docs_per_core_second: X docs/s`` (CPU time, one thread).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench import machine  # noqa: E402
from bench.corpus import SHARED  # noqa: E402

DOCS_PER_DAY = 1_000_000
BACKLOG = 100_000
BATCH = 32


def real_posts(n: int) -> list[tuple[str, str | None, str]]:
    """(channel, title, content): three quarters SMP2020 usual eval posts, a quarter TipDM messages,
    repeated when ``n`` is larger than the files."""
    smp = json.loads((SHARED / "smp2020_ewect" / "usual_eval_labeled.txt").read_text(encoding="utf-8"))
    Post = tuple[str, str | None, str]
    social: list[Post] = [("social", None, str(r["content"])) for r in smp]
    path = SHARED / "tipdm2020_c" / "fujian2_raw_dev165_labeled.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        hotline: list[Post] = [
            ("hotline", str(r["留言主题"]).strip(), " ".join(str(r["留言详情"]).split()))
            for r in csv.DictReader(fh)
        ]
    n_hot = n // 4
    out: list[Post] = [hotline[i % len(hotline)] for i in range(n_hot)]
    out += [social[i % len(social)] for i in range(n - n_hot)]
    return out


def heads_root() -> tuple[Path | None, str]:
    """The committed models' folder (None: the default), or stand-in heads fitted here."""
    from nlp.encoder_tier import TASKS, has_head

    shipped = [t for t in TASKS if has_head(t)]
    if shipped:  # a task without a head keeps the fast label (nlp.encoder_tier.load_encoder_tagger)
        return None, f"committed models (nlp/models/encoder: {', '.join(shipped)})"
    from sklearn.linear_model import LogisticRegression

    from nlp.base import top_labels
    from nlp.classifiers import load_classifier
    from nlp.encoder import shared_encoder
    from nlp.encoder_tier import StackedHead, save_head
    from nlp.pipeline import DocInput, doc_text

    posts = real_posts(64)[::-1]
    texts = [doc_text(DocInput(i, c, t)) for i, (_, t, c) in enumerate(posts)]
    embeddings = shared_encoder().embed(texts)
    root = Path(tempfile.mkdtemp(prefix="encoder_heads_"))
    for task in TASKS:
        fast = load_classifier(task)
        proba = fast.predict_proba(texts)
        y = top_labels(proba)
        head = StackedHead(task, None, [], list(fast.labels))
        model = LogisticRegression(max_iter=2000).fit(head.features(embeddings, proba), y)
        head.model, head.labels = model, [str(c) for c in model.classes_]
        save_head(head, root=root)
    return root, "stand-in heads fitted on 64 real posts (no committed encoder-tier model)"


def one_core(texts: int, root: Path | None) -> tuple[float, float, dict[str, float], float]:
    """Tag ``texts`` real posts in batches: (docs/s by CPU, docs/s by wall, CPU share per stage, mean chars)."""
    from nlp.encoder import MAX_CHARS
    from nlp.encoder_tier import load_encoder_tagger
    from nlp.pipeline import DocInput, doc_text

    tagger = load_encoder_tagger(None, root=root)
    docs = [DocInput(i, c, t) for i, (_, t, c) in enumerate(real_posts(texts))]
    tagger.tag(docs[:4])  # warm up: first call builds the fast models' tables
    tagger.cpu_seconds.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(docs), BATCH):
        tagger.tag(docs[start : start + BATCH])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stages = {k: v / cpu for k, v in tagger.cpu_seconds.items()}
    chars = sum(min(len(doc_text(d)), MAX_CHARS) for d in docs) / len(docs)
    return len(docs) / cpu, len(docs) / wall, stages, chars


def worker(url: str, root: str | None, ready: Any, go: Any, out: Any, done: Any) -> None:
    """One encoder worker process: load, connect, wait for the start, drain the backlog, report, and
    keep its connection (its PostgreSQL backend's CPU is read) until told to go."""
    from sqlalchemy import text

    from nlp.encoder_jobs import encode_backlog
    from nlp.encoder_tier import EncoderTagger, load_encoder_tagger
    from storage.db import make_engine
    from storage.encoder_backlog import Priority

    base = load_encoder_tagger(None, root=Path(root) if root else None)
    seen: list[int] = []

    class Recording(EncoderTagger):
        def tag(self, docs: Any) -> list[dict[str, Any]]:
            seen.extend(d.id for d in docs)
            return super().tag(docs)

    tagger = Recording(base.encoder, base.fast, base.heads, base.tuned, base.backbone)
    tagger.tag([])  # nothing to encode, but the same code path is loaded
    engine = make_engine(url)
    with engine.connect() as conn:  # the backend exists before the PostgreSQL CPU is first read
        conn.execute(text("SELECT 1"))
    ready.put(os.getpid())
    go.wait()
    cpu0 = time.process_time()
    encode_backlog(engine, tagger, BATCH, priority=Priority(channels=("hotline", "gov")))
    out.put((time.time(), seen, time.process_time() - cpu0))
    done.wait()
    engine.dispose()


def seed(url: str, n: int) -> None:
    """``n`` documents with fast-tier tag rows (a quarter hotline), none encoded."""
    from sqlalchemy import select, text

    from storage import schema as s
    from storage.db import make_engine, write_tx
    from storage.store import Store

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE encoder_tags, doc_tags, dead_letters, documents, sources RESTART IDENTITY CASCADE")
        )
    store = Store(engine)
    now = datetime.now(UTC)
    posts = real_posts(n)
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for i, (channel, title, content) in enumerate(posts):
        by_channel.setdefault(channel, []).append(
            {
                "external_id": str(i), "channel": channel, "title": title, "content": content,
                "published_at": now - timedelta(minutes=i), "content_hash": f"h{i}",
            }
        )  # fmt: skip
    for channel, rows in by_channel.items():
        sid = store.ensure_source(f"bench_{channel}", "demo", channel)
        for i in range(0, len(rows), 2000):
            store.write_documents(sid, rows[i : i + 2000])
    d = s.documents
    with engine.connect() as conn:
        docs = conn.execute(select(d.c.id, d.c.published_at, d.c.channel)).all()
    with write_tx(engine) as conn:
        conn.execute(
            s.doc_tags.insert(),
            [
                {
                    "document_id": i,
                    "published_at": at,
                    "channel": ch,
                    "sentiment": "neutral",
                    "pipeline_version": "bench-fast",
                    "model_versions": {"sentiment": "bench"},
                    "tagged_at": now,
                    "tier": "fast",
                }  # fmt: skip
                for i, at, ch in docs
            ],
        )
    engine.dispose()


def run_workers(url: str, root: Path | None, n_docs: int, workers: int) -> tuple[float, float, float]:
    """Drain ``n_docs`` with ``workers`` processes: (docs/s by wall clock, worker CPU s, PostgreSQL CPU s)."""
    from sqlalchemy import func, select

    from bench.workers import postgres_cpu_seconds
    from storage import schema as s
    from storage.db import make_engine

    seed(url, n_docs)
    ctx = mp.get_context("spawn")  # the encoder's OpenMP runtime must not be forked
    ready, out, go, done = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(target=worker, args=(url, str(root) if root else None, ready, go, out, done))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    pg0 = postgres_cpu_seconds()
    start = time.time()
    go.set()
    results = [out.get(timeout=3600) for _ in procs]
    # Other clients' backends that end during the run take their CPU out of the sum: never below 0.
    pg_cpu = max(postgres_cpu_seconds() - pg0, 0.0)
    done.set()
    for p in procs:
        p.join()
    ids = [i for _, seen, _ in results for i in seen]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{len(ids) - len(set(ids))} documents were encoded twice")
    engine = make_engine(url)
    with engine.connect() as conn:
        encoded = conn.execute(select(func.count()).select_from(s.encoder_tags)).scalar_one()
    engine.dispose()
    if encoded != n_docs or len(ids) != n_docs:
        raise SystemExit(f"{encoded} of {n_docs} documents encoded ({len(ids)} by the workers)")
    elapsed = max(t for t, _, _ in results) - start
    return n_docs / elapsed, sum(cpu for _, _, cpu in results), pg_cpu


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=600, help="backlog drained by the worker runs")
    parser.add_argument("--texts", type=int, default=320, help="posts tagged for the one-core figure")
    parser.add_argument(
        "--url",
        default=os.environ.get("SENSING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server where a fresh database may be created (and dropped)",
    )
    args = parser.parse_args()
    print(f"{machine.describe()}; load average {os.getloadavg()[0]:.1f}")
    root, heads = heads_root()
    print(f"heads: {heads}")
    rate, wall_rate, stages, chars = one_core(args.texts, root)
    print(
        f"one core: {args.texts} real posts (a quarter TipDM 问政 messages, the rest SMP2020 Weibo posts;"
        f" the encoder reads {chars:.0f} characters on average), batches of {BATCH}"
    )
    print(
        "  CPU by stage: "
        + ", ".join(f"{k} {v:.1%}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
    )
    print(f"  {rate:.1f} docs/s by CPU time ({wall_rate:.1f} docs/s by wall clock)")
    per_s = DOCS_PER_DAY / 86400

    from sqlalchemy import create_engine, text

    from storage.db import make_engine
    from storage.migrate import upgrade_database

    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    name = f"bench_encoder_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.url.rsplit("/", 1)[0] + "/" + name
    runs = {}
    try:
        engine = make_engine(url)
        upgrade_database(engine)
        engine.dispose()
        for n in (1, 2):
            runs[n] = run_workers(url, root, args.docs, n)
            wrate, wcpu, pgcpu = runs[n]
            print(
                f"PostgreSQL, {args.docs} documents, {n} worker(s): {wrate:.1f} docs/s by wall clock, none twice;"
                f" per document {1000 * wcpu / args.docs:.0f} ms worker CPU + {1000 * pgcpu / args.docs:.1f} ms"
                f" PostgreSQL CPU"
            )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    whole = sum(runs[1][1:]) / args.docs  # CPU seconds per document: worker + PostgreSQL, 1 worker
    print(
        f"1,000,000 new documents a day = {per_s:.1f} docs/s: {per_s / rate:.2f} cores for the tagging alone,"
        f" {per_s * whole:.2f} cores with the worker's claims and writes and PostgreSQL"
    )
    print(
        f"catch-up of a {BACKLOG:,}-document backlog, extrapolated linearly from the {args.docs}-document runs"
        f" above: 1 worker {hours(BACKLOG / runs[1][0])}, 2 workers {hours(BACKLOG / runs[2][0])}"
        f" (speed-up {runs[2][0] / runs[1][0]:.2f}x on {os.cpu_count()} shared cores)"
    )
    cpu_per_doc = (runs[2][1] + runs[2][2]) / args.docs
    print(
        f"  where 2 cores are free for the workers (their CPU per document does not grow with their"
        f" number): 2 workers {hours(BACKLOG * cpu_per_doc / 2)}"
    )
    print(f"encoder_docs_per_core_second: {rate:.1f} docs/s")


if __name__ == "__main__":
    main()
