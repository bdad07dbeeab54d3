"""Keeping topic ids stable across refits: Hungarian matching of a refit's topics to the previous state's."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from nlp.topics.state import OUTLIER_TOPIC, TopicInfo, TopicModelState


def _term_similarity(a: TopicInfo, b: TopicInfo) -> float:
    va, vb = dict(a.terms), dict(b.terms)
    dot = sum(w * vb[t] for t, w in va.items() if t in vb)
    na = math.sqrt(sum(w * w for w in va.values()))
    nb = math.sqrt(sum(w * w for w in vb.values()))
    return dot / (na * nb) if na and nb else 0.0


def _doc_similarity(old: TopicModelState, new: TopicModelState) -> dict[tuple[int, int], float]:
    """Jaccard of member documents, over the documents present in both windows."""
    old_by_key = dict(zip(old.doc_keys, old.doc_topics, strict=False))
    members_old: dict[int, set[str]] = {}
    members_new: dict[int, set[str]] = {}
    for key, topic in zip(new.doc_keys, new.doc_topics, strict=False):
        if key in old_by_key:
            members_new.setdefault(topic, set()).add(key)
            members_old.setdefault(old_by_key[key], set()).add(key)
    out: dict[tuple[int, int], float] = {}
    for a, keys_a in members_old.items():
        for b, keys_b in members_new.items():
            inter = len(keys_a & keys_b)
            if inter and a != OUTLIER_TOPIC and b != OUTLIER_TOPIC:
                out[(a, b)] = inter / len(keys_a | keys_b)
    return out


def match_topics(
    old_state: TopicModelState | None, new_state: TopicModelState, threshold: float = 0.3
) -> dict[int, int]:
    """Map the topic ids of ``new_state`` to stable ids continuing ``old_state``.

    Args:
        old_state: the previous state, or ``None`` for the first fit.
        new_state: a freshly fitted state (ids as BERTopic numbered them).
        threshold: minimum similarity (0..1) for a new topic to inherit an old id.

    Returns:
        ``{new_state_id: stable_id}`` for every topic of ``new_state`` plus ``-1 -> -1``. Matched
        topics get the old id; the others get fresh ids from ``old_state.next_id`` upwards.
    """
    new_ids = sorted(new_state.topics)
    mapping = {OUTLIER_TOPIC: OUTLIER_TOPIC}
    next_id = 0 if old_state is None else old_state.next_id
    if old_state is not None and old_state.topics and new_ids:
        old_ids = sorted(old_state.topics)
        doc_sim = _doc_similarity(old_state, new_state)
        sim = np.zeros((len(old_ids), len(new_ids)))
        for i, a in enumerate(old_ids):
            for j, b in enumerate(new_ids):
                term = _term_similarity(old_state.topics[a], new_state.topics[b])
                sim[i, j] = max(term, doc_sim.get((a, b), 0.0))
        rows, cols = linear_sum_assignment(-sim)
        for i, j in zip(rows, cols, strict=True):
            if sim[i, j] >= threshold:
                mapping[new_ids[j]] = old_ids[i]
    for b in new_ids:  # unmatched, in size order: fresh ids
        if b not in mapping:
            mapping[b] = next_id
            next_id += 1
    return mapping
