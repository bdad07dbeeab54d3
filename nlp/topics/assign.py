"""Giving new documents a topic between refits: the nearest centroid of the current state.

This is all the NLP worker imports: no BERTopic, UMAP or HDBSCAN."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.topics.state import (
    CURRENT_FILE,
    OUTLIER_TOPIC,
    TopicModelState,
    load_current_state,
    topic_state_root,
)


def assign_topics(state: TopicModelState, texts: Sequence[str]) -> list[tuple[int, float]]:
    """Nearest topic centroid (cosine, in the window's LSA space) for each text.

    Returns ``(stable_id, cosine)`` per text, or ``(-1, 0.0)`` when the best cosine is below
    ``state.config.assign_threshold``, the text is empty, or the state has no topics.
    """
    out: list[tuple[int, float]] = [(OUTLIER_TOPIC, 0.0)] * len(texts)
    idx = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    if not idx or state.model is None or not state.centroids:
        return out
    from sklearn.preprocessing import normalize

    ids = sorted(state.centroids)
    centres = normalize(np.stack([state.centroids[t] for t in ids]))
    emb = normalize(np.asarray(state.model.embedding_model.embed([texts[i] for i in idx]), dtype=np.float64))
    sims = emb @ centres.T
    best = sims.argmax(axis=1)
    for row, i in enumerate(idx):
        score = float(sims[row, best[row]])
        if score >= state.config.assign_threshold:
            out[i] = (ids[best[row]], round(score, 4))
    return out


logger = logging.getLogger(__name__)


class StateTopicAssigner:
    """Assigns stable topic ids from the latest saved refit; reloads when a refit lands.

    Implements ``nlp.pipeline.TopicAssigner``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._pointer: str | None = None
        self._state: TopicModelState | None = None

    def _refresh(self) -> None:
        pointer_file = self.root / CURRENT_FILE
        pointer = pointer_file.read_text(encoding="utf-8").strip() if pointer_file.is_file() else None
        if pointer != self._pointer:
            state = load_current_state(self.root) if pointer else None
            self._state = state
            self._pointer = pointer
            logger.info("topic state loaded: %s", pointer)

    @property
    def version(self) -> str:
        """Name of the refit in use (``none`` before the first refit)."""
        self._refresh()
        return f"topics-{self._pointer or 'none'}"

    def assign(self, texts: Sequence[str]) -> list[tuple[int, float]]:
        """Stable topic id and confidence per text; all outliers before the first refit."""
        self._refresh()
        if self._state is None:
            return [(OUTLIER_TOPIC, 0.0)] * len(texts)
        return assign_topics(self._state, texts) if texts else []


def load_topic_assigner(settings: Any) -> StateTopicAssigner:
    """Return the worker's topic assigner reading ``<app.data_dir>/topics`` (see :func:`save_current_state`)."""
    return StateTopicAssigner(topic_state_root(settings))
