"""Training and dev rows of each task, read in place from the shared corpora (see ``nlp.datasets``).

* sentiment / emotion: SMP2020-EWECT usual + virus train; dev = both ``*_eval_labeled`` files
  (mapped to sentiments for ``sentiment``: surprise dropped).
* category: TipDM 2020 C segmented 问政 messages; a fixed 15 % of near-duplicate groups is held
  out as dev, scored both on its tokens and on "raw-like" text (tokens glued back together and
  re-cut by :func:`nlp.features.cut_message`, as a raw message would be at prediction time).

The dev splits are never trained on.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kernel.labels import TASK_CODES
from nlp import datasets as ds
from nlp.classifiers import MODEL_FILE, MODELS_DIR
from nlp.features import VocabularyFilter, filter_tokens

logger = logging.getLogger(__name__)

SEED = 20261125
CATEGORY_DEV_FRACTION = 0.15


@dataclass
class TaskData:
    """Training rows and named dev sets of one task."""

    train: list[ds.Example]
    dev: dict[str, list[ds.Example]]
    prepare: Any = None
    notes: dict[str, Any] = field(default_factory=dict)


def group_near_duplicates(token_rows: Sequence[str], head: int = 8, tail: int = 12) -> list[int]:
    """Group rows sharing their first ``head`` or last ``tail`` tokens (reposts, edited copies)."""
    parent = list(range(len(token_rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple[str, ...], int] = {}
    for i, row in enumerate(token_rows):
        toks = row.split()
        for key in (("h", *toks[:head]), ("t", *toks[-tail:])):
            if len(key) <= 3:  # too short to identify a message
                continue
            if key in seen:
                parent[find(i)] = find(seen[key])
            else:
                seen[key] = i
    return [find(i) for i in range(len(token_rows))]


def category_split(rows: Sequence[ds.Example]) -> tuple[list[int], list[int]]:
    """Deterministic grouped train/dev split of the segmented category rows."""
    groups = group_near_duplicates([t for t, _ in rows])
    unique = sorted(set(groups))
    random.Random(SEED).shuffle(unique)
    dev_groups = set(unique[: int(len(unique) * CATEGORY_DEV_FRACTION)])
    train_idx = [i for i, g in enumerate(groups) if g not in dev_groups]
    dev_idx = [i for i, g in enumerate(groups) if g in dev_groups]
    return train_idx, dev_idx


def read_task_data(task: str, sentiment_from_emotions: bool = True) -> TaskData:
    """Read the training rows and dev sets of ``task`` from the shared corpora.

    Args:
        task: ``sentiment``, ``emotion`` or ``category``.
        sentiment_from_emotions: keep the six SMP emotions as ``sentiment`` training labels (the
            model sums their probabilities into sentiments); otherwise map them to sentiments.
    """
    if task in ("sentiment", "emotion"):
        train = ds.read_smp("usual", "train") + ds.read_smp("virus", "train")
        dev = {d: ds.read_smp(d, "eval") for d in ds.SMP_DOMAINS}
        if task == "sentiment":
            dev = {d: ds.to_sentiment(rows) for d, rows in dev.items()}
            if not sentiment_from_emotions:
                train = ds.to_sentiment(train)
        return TaskData([(t, lab) for t, lab in train if t.strip()], dev)
    if task == "category":
        segmented = ds.read_tipdm_segmented()
        train_idx, dev_idx = category_split(segmented)  # on the file's tokens: stable across featurizers
        rows = [(" ".join(filter_tokens(t.split())), lab) for t, lab in segmented]
        train = [rows[i] for i in train_idx]
        dev_rows = [rows[i] for i in dev_idx]
        vocabulary = {tok for text, _ in train for tok in text.split()}
        prepare = VocabularyFilter(vocabulary)
        raw_like = [(text.replace(" ", ""), lab) for text, lab in dev_rows]
        notes = {"train_rows": len(train), "dev_rows": len(dev_rows), "vocabulary": len(vocabulary)}
        return TaskData(train, {"tokens": dev_rows, "raw": raw_like}, prepare, notes)
    raise ValueError(f"unknown task {task!r}; expected one of {tuple(TASK_CODES)}")


def sentiment_rows_as_emotions(rows: Sequence[ds.Example]) -> list[ds.Example]:
    """Relabel sentiment rows for an emotion-trained sentiment model.

    positive -> happy and neutral -> neutral; a negative row takes the negative emotion (angry,
    sad or fear) that the shipped emotion model finds most likely (angry if there is none).
    """
    negatives = [t for t, lab in rows if lab == "negative"]
    picks: list[str] = ["angry"] * len(negatives)
    if negatives and (MODELS_DIR / "emotion" / MODEL_FILE).is_file():
        from nlp.classifiers import load_classifier

        emotion = load_classifier("emotion")
        picks = [max(("angry", "sad", "fear"), key=p.__getitem__) for p in emotion.predict_proba(negatives)]
    it = iter(picks)
    mapping = {"positive": "happy", "neutral": "neutral"}
    return [(t, mapping[lab] if lab in mapping else next(it)) for t, lab in rows]
