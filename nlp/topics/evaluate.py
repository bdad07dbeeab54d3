"""Scoring topic clusters against labels (NMI, ARI): ``sensing eval topics`` and ``bench/topics.py``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from nlp.topics.fitting import TopicModeler
from nlp.topics.state import OUTLIER_TOPIC, TopicModelConfig


def evaluate_topics(
    texts: Sequence[str],
    labels: Sequence[Any],
    config: TopicModelConfig | None = None,
    embeddings: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fit topics on labelled texts and score them against the labels.

    Outliers count as one more cluster, so a model that leaves many outliers is penalised.
    ``embeddings`` (one row per text, e.g. the encoder tier's) replace the LSA embedder.

    Returns:
        ``{"nmi", "ari", "n", "n_topics", "outlier_ratio", "seconds"}``.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    pairs = [(texts[i], str(labels[i])) for i in keep]
    cfg = replace(config or TopicModelConfig(), max_docs=max(len(pairs), 1))
    start = time.perf_counter()
    vectors = np.asarray(embeddings)[keep] if embeddings is not None else None
    state = TopicModeler(cfg).fit([t for t, _ in pairs], embeddings=vectors)
    seconds = time.perf_counter() - start
    gold = [lab for _, lab in pairs]
    pred = state.doc_topics if state.doc_topics else []
    return {
        "nmi": round(float(normalized_mutual_info_score(gold, pred)), 4) if pred else 0.0,
        "ari": round(float(adjusted_rand_score(gold, pred)), 4) if pred else 0.0,
        "n": len(pairs),
        "n_topics": len(state.topics),
        "outlier_ratio": round(pred.count(OUTLIER_TOPIC) / max(1, len(pred)), 4),
        "seconds": round(seconds, 2),
    }
