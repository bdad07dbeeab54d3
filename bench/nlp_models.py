"""Benchmark the shipped classifiers: dev macro-F1 per task and tagging throughput on one core.

Usage: ``python -m bench.nlp_models [--baselines]``

* dev macro-F1: sentiment and emotion on SMP2020-EWECT ``usual``/``virus`` eval files; category on
  the held-out 15 % of the TipDM segmented rows, glued back into raw-like text (see nlp/train.py).
* throughput: the three classifiers one after the other on batches of 500 weibo posts (the SMP
  usual eval texts, ~42 characters), as ``nlp.pipeline.Tagger`` calls them; single thread.
* ``--baselines`` also trains the char n-gram logistic-regression baseline and, if ``snownlp`` is
  installed (bench only, never a runtime dependency), scores SnowNLP on sentiment.

Last line: ``classifiers_docs_per_s: N docs/s``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel.labels import TASK_CODES  # noqa: E402
from nlp import classifiers, datasets, features, train  # noqa: E402
from nlp.evaluate import compute_metrics  # noqa: E402

BATCH = 500


def dev_scores() -> dict[str, dict[str, float]]:
    """Macro-F1 of each shipped model on its dev sets."""
    out: dict[str, dict[str, float]] = {}
    for task in TASK_CODES:
        clf = classifiers.load_classifier(task)
        data = train.load_task_data(task)
        out[task] = {}
        for name, rows in data.dev.items():
            if name == "tokens":  # the segmented form; the raw-like form is what matters
                continue
            preds = [p.label for p in clf.predict([t for t, _ in rows])]
            out[task][name] = compute_metrics([lab for _, lab in rows], preds, clf.labels)["macro_f1"]
        print(
            f"{task:<10} {clf.version:<45} dev macro-F1 "
            + "  ".join(f"{k}={v:.4f}" for k, v in out[task].items())
        )
    return out


def clear_caches() -> None:
    """Forget cuts and features so that each batch is tagged from scratch."""
    features._cut.cache_clear()
    features._analyze_post.cache_clear()
    classifiers._FEATURE_CACHE.clear()


def throughput(texts: list[str]) -> float:
    """Docs/s of the three classifiers together (each doc tagged by all three), cold caches."""
    models = [classifiers.load_classifier(task) for task in TASK_CODES]
    for m in models:
        m.predict(texts[:10])
    per_model = dict.fromkeys(TASK_CODES, 0.0)
    total = 0.0
    wall = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        clear_caches()
        for m in models:
            t0 = time.process_time()  # CPU time of this (single-threaded) process: robust on a busy box
            m.predict(batch)
            spent = time.process_time() - t0
            per_model[m.task] += spent
            total += spent
    wall = time.perf_counter() - wall
    for task, spent in per_model.items():
        print(
            f"{task:<10} {len(texts) / spent:8.0f} docs/s CPU (after the models before it, sharing their work)"
        )
    print(
        f"all three: {len(texts) / total:.0f} docs/s per CPU second, {len(texts) / wall:.0f} docs/s wall clock"
    )
    return len(texts) / total


def baselines() -> None:
    """Char n-gram LR baseline (sentiment, emotion) and SnowNLP (sentiment) on the SMP eval files."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    for task in ("sentiment", "emotion"):
        data = train.load_task_data(task)
        rows = datasets.to_sentiment(data.train) if task == "sentiment" else data.train
        model = make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2),
            LogisticRegression(C=4, max_iter=3000),
        ).fit([t for t, _ in rows], [lab for _, lab in rows])
        scores = {
            d: compute_metrics(
                [lab for _, lab in r], list(model.predict([t for t, _ in r])), TASK_CODES[task]
            )["macro_f1"]
            for d, r in data.dev.items()
        }
        print(f"baseline char1-3 LR {task}: " + "  ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    try:
        from snownlp import SnowNLP
    except ImportError:
        print("baseline SnowNLP: not installed (pip install snownlp to measure it)")
        return
    dev = train.load_task_data("sentiment").dev
    for domain, rows in dev.items():
        t0 = time.perf_counter()
        probs = [SnowNLP(t).sentiments if t.strip() else 0.5 for t, _ in rows]
        rate = len(rows) / (time.perf_counter() - t0)
        # SnowNLP gives P(positive); the usual 3-way reading: > 0.6 positive, < 0.4 negative.
        preds = ["positive" if p > 0.6 else "negative" if p < 0.4 else "neutral" for p in probs]
        f1 = compute_metrics([lab for _, lab in rows], preds, TASK_CODES["sentiment"])["macro_f1"]
        print(f"baseline SnowNLP sentiment {domain}: macro-F1 {f1:.4f} ({rate:.0f} docs/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the shipped classifiers.")
    parser.add_argument("--baselines", action="store_true", help="also train/score the baselines (slow)")
    args = parser.parse_args()
    dev_scores()
    if args.baselines:
        baselines()
    texts = [t for t, _ in datasets.read_smp("usual", "eval")] * 2
    print(f"throughput texts: {len(texts)} weibo posts, mean {sum(map(len, texts)) / len(texts):.0f} chars")
    rate = throughput(texts)
    print(f"classifiers_docs_per_s: {rate:.0f} docs/s")


if __name__ == "__main__":
    main()
