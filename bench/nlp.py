"""The full tagging pipeline on one core: docs/s and the worker's peak memory.

Runs ``nlp.jobs.build_tagger`` (sentiment, emotion, category, region, keywords and topic
assignment from the latest refit when one exists) over Weibo-length posts (the first 4,000 SMP2020
usual and virus eval texts, ~49 characters), in batches of 500 as the worker does, single-threaded,
and prints docs/s by CPU time per stage (``Tagger.cpu_seconds``; ``prepare`` is building texts and
rows) and in all, by wall clock, plus the process's peak resident memory. The worker also checks
every tagged document against the active subjects (专题): stage ``subjects`` matches each batch
against ``--subjects`` (default 50) compiled expressions with exclusion words and filters, as
``sensing.subject_matching`` does (its few database rows per batch are not part of this figure).

Usage: python -m bench.nlp [--n 4000] [--subjects 50]
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

from analytics.subjects import SubjectMatcher, SubjectSpec, compile_subject, match_documents  # noqa: E402
from bench import machine  # noqa: E402
from bench.corpus import SHARED  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from nlp import classifiers, features  # noqa: E402
from nlp.features import CompactTfidfVectorizer  # noqa: E402
from nlp.jobs import build_tagger  # noqa: E402
from nlp.pipeline import DocInput, Tagger  # noqa: E402
from nlp.tokenize import get_cutter  # noqa: E402

BATCH = 500
_TOPICS = [
    ("燃气", "天然气", "泄漏"), ("电梯", "加装", "故障"), ("学位", "划片", "入学"), ("噪音", "施工", "扰民"),
    ("公交", "地铁", "线路"), ("医保", "报销", "医院"), ("物业", "小区", "收费"), ("疫情", "隔离", "核酸"),
    ("工资", "拖欠", "讨薪"), ("垃圾", "分类", "清运"),
]  # fmt: skip


def subject_matchers(n: int) -> list[SubjectMatcher]:
    """``n`` subjects in the shapes analysts write: OR groups, AND, NOT, phrases, exclusions, filters."""
    shapes = [
        "({a} OR {b}) AND {c}", "{a} AND NOT {c}", '"{a} {b}" OR {c}', "{a} {b}", "{a} OR {b} OR {c}",
    ]  # fmt: skip
    out = []
    for i in range(n):
        a, b, c = _TOPICS[i % len(_TOPICS)]
        expr = shapes[(i // len(_TOPICS)) % len(shapes)].format(a=a, b=b, c=c)
        regions = ("北京市",) if i % 7 == 3 else ()
        out.append(compile_subject(SubjectSpec(i, expr, exclude=("广告", "演习")[: i % 3], regions=regions)))
    return out


def _reset_caches() -> None:
    """Empty every memo the stages keep, so that each run starts cold."""
    for cached in (features._cut, features._analyze_post, features._clean_token):
        cached.cache_clear()
    classifiers._FEATURE_CACHE.clear()
    get_cutter().clear_memo()


def _run(
    tagger: Tagger, docs: list[DocInput], subjects: list[SubjectMatcher] | None = None
) -> tuple[float, float]:
    """Tag ``docs`` in worker-sized batches (and match them against ``subjects``, timed as the
    stage ``subjects``); return (CPU seconds, wall seconds)."""
    _reset_caches()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, len(docs), BATCH):
        batch = docs[i : i + BATCH]
        rows = tagger.tag(batch)
        if subjects:
            t0 = time.process_time()
            items = [
                {"id": d.id, "title": d.title, "content": d.content, "channel": "social"}
                | {k: r.get(k) for k in ("province", "city", "district", "category")}
                for d, r in zip(batch, rows, strict=True)
            ]
            _MATCHES[0] += len(match_documents(subjects, items))
            tagger.cpu_seconds["subjects"] = (
                tagger.cpu_seconds.get("subjects", 0.0) + time.process_time() - t0
            )
    return time.process_time() - cpu0, time.perf_counter() - wall0


_MATCHES = [0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating baseline/shipped runs")
    parser.add_argument("--subjects", type=int, default=50, help="active subjects matched per batch")
    args = parser.parse_args()
    texts: list[str] = []
    for name in ("usual_eval_labeled.txt", "virus_eval_labeled.txt"):
        texts += [
            r["content"] for r in json.loads((SHARED / "smp2020_ewect" / name).read_text(encoding="utf-8"))
        ]
    texts = [t for t in texts if t.strip()][: args.n]
    tagger = build_tagger(Settings())
    docs = [DocInput(i, t) for i, t in enumerate(texts)]
    subjects = subject_matchers(args.subjects)
    shipped_index = CompactTfidfVectorizer._ngram_index
    baseline_cpu: list[float] = []
    runs: list[tuple[float, float, dict[str, float]]] = []
    for _ in range(args.rounds):
        CompactTfidfVectorizer._ngram_index = lambda self: None  # type: ignore[method-assign]
        get_cutter().compiled = False
        baseline_cpu.append(_run(tagger, docs, subjects)[0])
        CompactTfidfVectorizer._ngram_index = shipped_index  # type: ignore[method-assign]
        get_cutter().compiled = True
        tagger.cpu_seconds.clear()
        _MATCHES[0] = 0
        cpu, wall = _run(tagger, docs, subjects)
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
    subject_cpu = stages.get("subjects", 0.0)
    print(
        f"subjects: {len(subjects)} active, {_MATCHES[0]} matches, {100 * subject_cpu / cpu:.1f} % of CPU;"
        f" without them {len(docs) / (cpu - subject_cpu):.0f} docs/s"
    )
    print(f"peak worker memory: {peak_mb:.0f} MB")
    print(
        f"baseline (n-grams as strings, jieba in Python; same process): {len(docs) / base:.0f} docs/s;"
        f" shipped / baseline: x{base / cpu:.2f}"
    )
    print(f"pipeline_docs_per_s: {len(docs) / cpu:.0f} docs/s")


if __name__ == "__main__":
    main()
