"""Benchmark: how ingest, tagging and dashboard-query cost grow from a 100 k to a 1 M document store.

On each store (built by ``bench.generate``) the script

1. runs every dashboard read of ``bench/queries.py`` without filters for the 30-day and 1-year
   periods, and the naive ``documents JOIN doc_tags`` query of the 1-year sentiment breakdown,
2. ingests fresh items through the real pipeline (``FileImportSource`` + ``Ingestor``: cleaning,
   masking, exact and near-duplicate linking, SQLite writes; the items of ``bench/ingest.py``), and
3. tags part of that new backlog with the real job (``nlp.jobs.tag_backlog``, the models of the
   store generator),

then removes what it added (the ``bench_growth`` source and its documents), so the stores are
left as they were. The table prints each figure per store and the 1 M / 100 k ratio: ingest and
tagging should stay flat per item, and a read's cost far below the store's growth (never near 10).

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.growth [--small var/bench_100k.db] [--large var/bench.db]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select

from bench import machine
from bench.ingest import build_items
from bench.queries import OTHER_MODULES, RANGES, build_cases, make_context, naive_group, prepare_store, timed
from storage import queries as q
from storage import schema as s
from storage.db import make_engine, write_tx

SOURCE = "bench_growth"


def drop_growth_source(engine: Engine) -> None:
    with write_tx(engine) as conn:  # documents, tags and runs go with it (ON DELETE CASCADE)
        conn.execute(delete(s.sources).where(s.sources.c.name == SOURCE))


def measure_ingest(engine: Engine, items: list[dict[str, Any]]) -> float:
    """Items/s of the real import path into this store."""
    from ingest.file_import import FileImportSource
    from ingest.pipeline import Ingestor
    from storage.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        options = FileImportSource.options_model.model_validate({"path": str(path), "batch_size": 1000})
        source = FileImportSource(SOURCE, options)
        ingestor = Ingestor(Store(engine), author_key="bench-key")
        started = time.perf_counter()
        report = ingestor.run(source, kind="file_import")
        elapsed = time.perf_counter() - started
    if report.new < len(items) // 2:
        raise SystemExit(f"ingest stored only {report.new} of {len(items)} items: {report.summary()}")
    return report.fetched / elapsed


def measure_tagging(engine: Engine, tagger: Any, docs: int) -> float:
    """Docs/s of the real backlog job over ``docs`` of the freshly ingested documents."""
    from nlp.jobs import tag_backlog

    started = time.perf_counter()
    done = tag_backlog(engine, tagger, batch_size=200, max_docs=docs)
    return done / (time.perf_counter() - started)


def measure_queries(engine: Engine) -> dict[str, Any]:
    """Ms of every dashboard read without filters for 30 d and 1 y (best of three runs after a warm-up):
    median and p95 of the storage/queries.py reads and of the others, and the naive 1-year query."""
    ctx = make_context(engine)
    per_read: dict[str, float] = {}
    for period in ("30d", "1y"):
        start, end = q.last_hours(ctx.now, RANGES[period])
        f = q.QueryFilters(start=start, end=end)
        for case in build_cases():
            case.run(engine, f, ctx)  # warm
            ms = min(timed(lambda: case.run(engine, f, ctx)) for _ in range(3))  # noqa: B023
            per_read[f"{case.page}: {case.name} {period}"] = ms
    start, end = q.last_hours(ctx.now, RANGES["1y"])
    f = q.QueryFilters(start=start, end=end)
    out: dict[str, Any] = {
        "naive": timed(lambda: naive_group(engine, f, ["sentiment"])),
        "per_read": per_read,
    }
    for label, own in (("", True), ("other_", False)):
        times = sorted(ms for k, ms in per_read.items() if (k.split(":")[0] not in OTHER_MODULES) == own)
        out[f"{label}median"] = statistics.median(times)
        out[f"{label}p95"] = times[int(0.95 * (len(times) - 1))]
    return out


def run_store(path: str, items: list[dict[str, Any]], tag_docs: int, tagger: Any) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{path}")
    prepare_store(engine)
    drop_growth_source(engine)
    with engine.connect() as conn:
        n_docs = int(conn.execute(select(func.count()).select_from(s.documents)).scalar_one())
    queries = measure_queries(engine)  # first, on the store as the dashboard sees it
    try:
        ingest = measure_ingest(engine, items)
        tagging = measure_tagging(engine, tagger, tag_docs)
    finally:
        drop_growth_source(engine)
    engine.dispose()
    return {"docs": n_docs, "ingest": ingest, "tagging": tagging, **queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", default="var/bench_100k.db")
    parser.add_argument("--large", default="var/bench.db")
    parser.add_argument("--items", type=int, default=20_000, help="items ingested into each store")
    parser.add_argument("--tag", type=int, default=2_000, help="documents tagged in each store")
    args = parser.parse_args()
    for path in (args.small, args.large):
        if not os.path.exists(path):
            raise SystemExit(f"{path} not found: build it with python -m bench.generate --n ... --db {path}")
    from bench.generate import build_tagger

    items, origin = build_items(args.items)
    tagger = build_tagger()
    print(f"{machine.describe()}; {len(items):,} items to ingest ({origin}), {args.tag:,} to tag per store")
    small = run_store(args.small, items, args.tag, tagger)
    large = run_store(args.large, items, args.tag, tagger)
    rows = [
        ("ingest (items/s)", "ingest", "{:,.0f}"),
        ("tagging (docs/s)", "tagging", "{:,.0f}"),
        ("queries.py reads, median (ms)", "median", "{:,.1f}"),
        ("queries.py reads, p95 (ms)", "p95", "{:,.1f}"),
        ("other reads, median (ms)", "other_median", "{:,.1f}"),
        ("other reads, p95 (ms)", "other_p95", "{:,.1f}"),
        ("naive 1y query (ms)", "naive", "{:,.0f}"),
    ]
    print(f"\n{'':30}{small['docs']:>12,.0f}{large['docs']:>12,.0f}{'ratio':>8}  (documents in the store)")
    for label, key, fmt in rows:
        ratio = large[key] / small[key] if small[key] else float("nan")
        print(f"{label:30}{fmt.format(small[key]):>12}{fmt.format(large[key]):>12}{ratio:>8.2f}")
    ratios = {k: large["per_read"][k] / max(small["per_read"][k], 0.05) for k in small["per_read"]}
    own = sorted(r for k, r in ratios.items() if k.split(":")[0] not in OTHER_MODULES)
    top = sorted(ratios.items(), key=lambda kv: -kv[1])[:5]
    print("reads that grew most: " + "; ".join(f"{k} {r:.1f}x" for k, r in top))
    growth = statistics.median(own)
    print(
        f"store grew {large['docs'] / small['docs']:.1f}x; a storage/queries.py read's cost grew {growth:.2f}x"
        f" (median over {len(own)} reads; worst {own[-1]:.1f}x)"
    )
    print(f"read_cost_growth_1m_vs_100k: {growth:.2f} x")


if __name__ == "__main__":
    main()
