"""Benchmark: items/s for ``sensing import`` of 100k items through cleaning, masking and
de-duplication into SQLite, on one core.

The input is a JSON Lines file (gzip) built from real text in the shared data folder, in the mix
a public-opinion feed has: 62 % Weibo-style posts (SMP2020-EWECT, CLUE emotion, weibo_senti),
8 % 问政 messages (TIPDM), 10 % news titles (THUCNews), 5 % news paragraphs (新闻联播), and
copies of earlier items: 8 % reposts (``转发微博//@x:`` + text), 5 % lightly edited copies, 2 %
verbatim copies; 3 % of items get a phone number or ID-card number to mask. Without the shared
folder, the built-in demo simulator supplies the text (the figure is then not comparable).

Timed: reading the file, mapping, normalising, masking, author hashing, exact and near-duplicate
linking and the SQLite writes (WAL, one transaction per 1,000-item batch) — the whole
``FileImportSource`` + :class:`ingest.pipeline.Ingestor` path that ``sensing import`` runs.

The headline is items per CPU-second of this (single-threaded) process, i.e. the rate on one
dedicated core; the wall-clock rate is printed too and is lower when the machine is busy.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/ingest.py [--items 100000]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine  # noqa: E402
from ingest.file_import import FileImportSource  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade_database  # noqa: E402
from storage.store import Store  # noqa: E402

SHARED = Path(os.environ.get("SENSING_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_pools(root: Path) -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {"social": [], "hotline": [], "title": [], "news": []}
    for name in ("usual_train.txt", "virus_train.txt", "usual_eval_labeled.txt", "virus_eval_labeled.txt"):
        path = root / "smp2020_ewect" / name
        if path.exists():
            pools["social"] += [r["content"] for r in json.loads(path.read_text(encoding="utf-8"))]
    clue = root / "clue_emotion2020" / "valid.txt"
    if clue.exists():
        pools["social"] += [
            json.loads(line)["content"] for line in clue.read_text(encoding="utf-8").splitlines()
        ]
    senti = root / "weibo_senti_100k_sample2400" / "weibo_senti_100k_sample2400.csv"
    if senti.exists():
        with senti.open(encoding="utf-8-sig") as fh:
            pools["social"] += [r["review"] for r in csv.DictReader(fh)]
    for name in ("fujian3_messages_votes.xlsx", "fujian4_messages_replies.xlsx"):
        path = root / "tipdm2020_c" / name
        if path.exists():
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True)
            rows = book.worksheets[0].iter_rows(values_only=True)
            header = [str(h) for h in next(rows)]
            t, b = header.index("留言主题"), header.index("留言详情")
            pools["hotline"] += [f"{r[t]}\n{r[b]}" for r in rows if r[t] and r[b]]
            book.close()
    thuc = root / "thucnews_titles_10cls" / "dev.txt"
    if thuc.exists():
        pools["title"] = [line.rpartition("\t")[0] for line in thuc.read_text(encoding="utf-8").splitlines()]
    xwlb = root / "xinwenlianbo_news" / "items.csv.gz"
    if xwlb.exists():
        with gzip.open(xwlb, "rt", encoding="utf-8") as fh:
            pools["news"] = [r["content"][:400] for r in csv.DictReader(fh)]
    return {k: [t for t in v if t and t.strip()] for k, v in pools.items()}


def demo_pools() -> dict[str, list[str]]:
    from ingest.sources.demo import DemoOptions, DemoSource

    src = DemoSource("bench", DemoOptions(use_corpora=False, rate_per_hour=2000, bursts=False))
    texts = [i.content for h in range(480_000, 480_040) for i in src.hour_items(h, 480_000)]
    return {"social": texts, "hotline": texts[::3], "title": [t[:20] for t in texts], "news": texts[::5]}


def edit(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 40)):
        i = rng.randrange(len(chars))
        chars[i] = rng.choice("的了是在有和也就都而及与着或")
    return "".join(chars)


def build_items(n: int, seed: int = 7) -> tuple[list[dict[str, object]], str]:
    rng = random.Random(seed)
    pools, origin = (
        (load_pools(SHARED), "shared corpora") if SHARED.is_dir() else (demo_pools(), "demo simulator")
    )
    if not pools["social"]:
        pools, origin = demo_pools(), "demo simulator"
    cursors = {k: 0 for k in pools}
    for v in pools.values():
        rng.shuffle(v)
    kinds = (
        ["social"] * 62
        + ["hotline"] * 8
        + ["title"] * 10
        + ["news"] * 5
        + ["repost"] * 8
        + ["edit"] * 5
        + ["copy"] * 2
    )
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    out: list[dict[str, object]] = []
    for i in range(n):
        kind = rng.choice(kinds)
        if kind in pools and pools[kind]:
            pool = pools[kind]
            text = pool[cursors[kind] % len(pool)]
            cursors[kind] += 1
        elif out:
            base = str(out[rng.randrange(len(out))]["content"])
            text = {
                "repost": lambda b: f"转发微博//@用户{rng.randrange(10**6)}: {b}",
                "edit": lambda b: edit(b, rng),
                "copy": lambda b: b,
            }[kind](base)
        else:
            text = pools["social"][0]
        if rng.random() < 0.03:
            text += rng.choice(
                [
                    f" 联系电话13{rng.randrange(3, 10)}{rng.randrange(10**7, 10**8)}",
                    " 身份证110101199003071234",
                ]
            )
        out.append(
            {
                "id": f"b{i}",
                "content": text,
                "author": f"user{rng.randrange(50_000)}",
                "published_at": (t0 + timedelta(seconds=i * 3)).isoformat(),
                "likes": rng.randrange(100),
            }
        )
    return out, origin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    items, origin = build_items(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "items.jsonl.gz"
        with gzip.open(data, "wt", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade_database(engine)
        store = Store(engine)
        source = FileImportSource(
            "bench", FileImportSource.options_model.model_validate({"path": str(data), "batch_size": 1000})
        )
        ingestor = Ingestor(store, author_key="bench-key")
        chars = sum(len(str(i["content"])) for i in items)
        print(machine.describe())
        print(f"input: {len(items)} items from {origin}, mean {chars / len(items):.0f} characters")
        started, cpu_started = time.perf_counter(), time.process_time()
        report = ingestor.run(source, kind="file_import")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        engine.dispose()
    print(report.summary())
    print(f"copies linked: {report.exact_copies} exact, {report.near_copies} near; new rows {report.new}")
    print(
        f"wall clock: {elapsed:.1f} s = {report.fetched / elapsed:.0f} items/s (shared machine: other load counts)"
    )
    print(f"CPU time of this process: {cpu:.1f} s = {report.fetched / cpu:.0f} items/s on one core")
    # Headline: throughput per core-second of work. The machine is shared, so wall clock also counts
    # other people's load; both figures are printed above.
    print(f"ingest_items_per_s: {report.fetched / cpu:.0f} items/s")


if __name__ == "__main__":
    main()
