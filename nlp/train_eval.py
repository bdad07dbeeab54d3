"""Helpers of ``nlp.train``: dev scores of a bundle, out-of-fold class weights, saving artifacts.

A *bundle* is what ``model.joblib`` holds: the fitted pipeline (``model``), an optional raw-text
``prepare`` step, an optional ``collapse`` map (six emotions summed into three sentiments) and
optional per-class probability ``weights``; ``spec`` is kept alongside in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.model_selection import StratifiedKFold

from kernel.labels import TASK_CODES
from nlp import datasets as ds
from nlp.classifiers import META_FILE, MODEL_FILE, LinearClassifier
from nlp.evaluate import compute_metrics
from nlp.tokenize import userdict_sha
from nlp.train_data import SEED, TaskData

logger = logging.getLogger(__name__)

#: Candidate multipliers of one class's probability (coordinate ascent, two sweeps).
WEIGHT_GRID = (0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
#: The dev sets whose mean macro-F1 is a task's comparison score (``primary``).
PRIMARY_DEV = {"sentiment": ("usual", "virus"), "emotion": ("usual",), "category": ("raw",)}


def bundle_classifier(task: str, bundle: dict[str, Any], version: str = "unsaved") -> LinearClassifier:
    """Wrap a bundle as the classifier that ``load_classifier`` would return."""
    parts = (bundle.get("prepare"), bundle.get("collapse"), bundle.get("weights"))
    return LinearClassifier(task, bundle["model"], version, *parts)


def score_bundle(
    task: str, bundle: dict[str, Any], dev: dict[str, list[ds.Example]], primary: bool = True
) -> dict[str, float]:
    """Macro-F1 of a bundle on each dev set, plus ``primary`` (the comparison score).

    The ``tokens`` dev set (already segmented) bypasses the raw-text ``prepare`` step.
    """
    scores: dict[str, float] = {}
    for name, rows in dev.items():
        classifier = bundle_classifier(task, {**bundle, "prepare": None} if name == "tokens" else bundle)
        preds = [p.label for p in classifier.predict([t for t, _ in rows])]
        scores[name] = round(
            compute_metrics([lab for _, lab in rows], preds, TASK_CODES[task])["macro_f1"], 4
        )
    if primary:
        scores["primary"] = round(float(np.mean([scores[n] for n in PRIMARY_DEV[task]])), 4)
    return scores


def out_of_fold_proba(
    build: Callable[[], Any], rows: Sequence[ds.Example], folds: int
) -> tuple[np.ndarray, list[str]]:
    """Class probabilities of every row from a model that did not see it (stratified K folds).

    Args:
        build: returns a fresh unfitted pipeline.
        rows: ``(text, label)`` training rows.
        folds: number of folds.
    """
    texts = [t for t, _ in rows]
    labels = np.array([lab for _, lab in rows])
    classes = sorted({str(c) for c in labels})
    proba = np.zeros((len(rows), len(classes)))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(texts, labels):
        model = build()
        model.fit([texts[i] for i in train_idx], labels[train_idx])
        proba[test_idx] = model.predict_proba([texts[i] for i in test_idx])
    return proba, classes


def tune_class_weights(
    task: str,
    rows: Sequence[ds.Example],
    proba: np.ndarray,
    classes: Sequence[str],
    collapse: dict[str, str | None] | None,
) -> dict[str, float]:
    """Per-class probability multipliers maximising out-of-fold macro-F1 (coordinate ascent).

    Args:
        task: the task whose labels are scored (``sentiment`` scores after ``collapse``).
        rows: the training rows that ``proba`` was predicted for (out of fold).
        proba: out-of-fold probabilities, one column per class of ``classes``.
        classes: the model's classes.
        collapse: map from the model's classes to the task's labels, or None.
    """
    labels = TASK_CODES[task]
    truth = [collapse[lab] or "" for _, lab in rows] if collapse else [lab for _, lab in rows]
    keep = np.array([bool(lab) for lab in truth])  # surprise rows have no sentiment
    truth = [lab for lab in truth if lab]
    target = np.array([labels.index(collapse[c]) if collapse and collapse[c] else -1 for c in classes])

    def score(w: np.ndarray) -> float:
        adjusted = proba[keep] * w
        if collapse:
            summed = np.zeros((adjusted.shape[0], len(labels)))
            for j, t in enumerate(target):
                if t >= 0:
                    summed[:, t] += adjusted[:, j]
            pred = [labels[i] for i in summed.argmax(axis=1)]
        else:
            pred = [classes[i] for i in adjusted.argmax(axis=1)]
        return float(compute_metrics(truth, pred, labels)["macro_f1"])

    weights = np.ones(len(classes))
    base = best = score(weights)
    for _ in range(2):
        for j in range(len(classes)):
            for value in WEIGHT_GRID:
                trial = weights.copy()
                trial[j] = value
                trial_score = score(trial)
                if trial_score > best + 1e-4:
                    best, weights = trial_score, trial
    logger.info("%s class weights %s: out-of-fold macro-F1 %.4f -> %.4f", task, weights, base, best)
    return {c: round(float(w), 3) for c, w in zip(classes, weights, strict=True)}


def save_bundle(task: str, bundle: dict[str, Any], meta: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write ``model.joblib`` and ``meta.json``; the version ends with the artifact's hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / MODEL_FILE
    keep = ("model", "prepare", "collapse", "weights")
    joblib.dump({k: bundle.get(k) for k in keep}, artifact, compress=3)
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()[:10]
    buffer = io.BytesIO()
    joblib.dump((bundle["model"][:-1], bundle.get("prepare")), buffer)
    features_sha = hashlib.sha256(buffer.getvalue()).hexdigest()[:16]
    meta = {
        **meta,
        "task": task,
        "labels": list(TASK_CODES[task]),
        "version": f"{task}-{bundle['spec']['family']}-2026.11-{digest}",
        "sha256_prefix": digest,
        "features_sha": features_sha,
        "userdict_sha": userdict_sha(),
        "artifact_bytes": artifact.stat().st_size,
        "sklearn_version": sklearn.__version__,
        "spec": bundle["spec"],
        "class_weights": bundle.get("weights"),
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta


def current_dev_score(task: str, out_dir: Path, data: TaskData) -> float | None:
    """Dev score of the model currently in ``out_dir`` (None if there is none)."""
    if not (out_dir / MODEL_FILE).is_file():
        return None
    bundle = joblib.load(out_dir / MODEL_FILE)
    return score_bundle(task, {**bundle, "prepare": bundle.get("prepare") or data.prepare}, data.dev)[
        "primary"
    ]
