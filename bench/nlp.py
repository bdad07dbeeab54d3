"""The full tagging pipeline on one core: docs/s and the worker's peak memory.

Runs ``nlp.jobs.build_tagger`` (sentiment, emotion, category, region, keywords and topic
assignment from the latest refit when one exists) over Weibo-length posts (the first 4,000 SMP2020
usual and virus eval texts, ~49 characters), in batches of 500 as the worker does, single-threaded,
and prints docs/s by CPU time per stage (``Tagger.cpu_seconds``; ``prepare`` is building texts and
rows) and in all, by wall clock, plus the process's peak resident memory.

Usage: python -m bench.nlp [--n 4000]
Last line: ``pipeline_docs_per_s: N docs/s`` (CPU time on one core).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench import machine  # noqa: E402
from bench.corpus import SHARED  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from nlp import classifiers, features  # noqa: E402
from nlp.features import CompactTfidfVectorizer  # noqa: E402
from nlp.jobs import build_tagger  # noqa: E402
from nlp.pipeline import DocInput, Tagger  # noqa: E402
from nlp.tokenize import get_cutter  # noqa: E402

BATCH = 500


def _reset_caches() -> None:
    """Empty every memo the stages keep, so that each run starts cold."""
    for cached in (features._cut, features._analyze_post, features._clean_token):
        cached.cache_clear()
    classifiers._FEATURE_CACHE.clear()
    get_cutter().clear_memo()


def _run(tagger: Tagger, docs: list[DocInput]) -> tuple[float, float]:
    """Tag ``docs`` in worker-sized batches; return (CPU seconds, wall seconds)."""
    _reset_caches()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, len(docs), BATCH):
        tagger.tag(docs[i : i + BATCH])
    return time.process_time() - cpu0, time.perf_counter() - wall0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating baseline/shipped runs")
    args = parser.parse_args()
    texts: list[str] = []
    for name in ("usual_eval_labeled.txt", "virus_eval_labeled.txt"):
        texts += [
            r["content"] for r in json.loads((SHARED / "smp2020_ewect" / name).read_text(encoding="utf-8"))
        ]
    texts = [t for t in texts if t.strip()][: args.n]
    tagger = build_tagger(Settings())
    docs = [DocInput(i, t) for i, t in enumerate(texts)]
    shipped_index = CompactTfidfVectorizer._ngram_index
    baseline_cpu: list[float] = []
    runs: list[tuple[float, float, dict[str, float]]] = []
    for _ in range(args.rounds):
        CompactTfidfVectorizer._ngram_index = lambda self: None  # type: ignore[method-assign]
        get_cutter().compiled = False
        baseline_cpu.append(_run(tagger, docs)[0])
        CompactTfidfVectorizer._ngram_index = shipped_index  # type: ignore[method-assign]
        get_cutter().compiled = True
        tagger.cpu_seconds.clear()
        cpu, wall = _run(tagger, docs)
        runs.append((cpu, wall, dict(tagger.cpu_seconds)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu, wall, stages = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    base = statistics.median(baseline_cpu)
    print(
        f"{machine.describe()}; documents: {len(docs)}, mean {sum(map(len, texts)) / len(texts):.0f} chars;"
        f" median of {args.rounds} cold runs"
    )
    print(f"stages: {', '.join(f'{k}={v}' for k, v in tagger.model_versions.items())}")
    for stage, secs in stages.items():
        rate = f"{len(docs) / secs:>9.0f} docs/s" if secs > 0 else "        - docs/s"
        print(f"  {stage:<10} {rate}  {secs:6.3f} s CPU  {100 * secs / cpu:5.1f} %")
    print(f"wall clock: {len(docs) / wall:.0f} docs/s (shared machine)")
    print(f"peak worker memory: {peak_mb:.0f} MB")
    print(
        f"baseline (n-grams as strings, jieba in Python; same process): {len(docs) / base:.0f} docs/s;"
        f" shipped / baseline: x{base / cpu:.2f}"
    )
    print(f"pipeline_docs_per_s: {len(docs) / cpu:.0f} docs/s")


if __name__ == "__main__":
    main()
