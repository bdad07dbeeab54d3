"""Reproducible training of the shipped classifiers: ``python -m nlp.train {sentiment,emotion,category,all}``.

Data (read in place from the shared corpora, see ``nlp.datasets``):

* sentiment: SMP2020-EWECT usual + virus train, emotions mapped to 3 classes (surprise dropped);
  dev = both ``*_eval_labeled`` files.
* emotion: SMP2020-EWECT usual + virus train, 6 classes; dev = both ``*_eval_labeled`` files.
* category: TipDM 2020 C segmented 问政 messages; a fixed 15 % of near-duplicate groups is held
  out as dev, scored both on its tokens and on "raw-like" text (tokens glued back together and
  re-cut by :func:`nlp.classifiers.cut_message`, as a raw message would be at prediction time).

The dev splits are never trained on, so a new model's dev score can be compared with the current
one's. Single-threaded (n_jobs=1) on purpose: the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from nlp import datasets as ds
from nlp.base import TASK_LABELS
from nlp.classifiers import (
    META_FILE,
    MODEL_FILE,
    MODELS_DIR,
    CompactTfidfVectorizer,
    LinearClassifier,
    PostAnalyzer,
    TokenAnalyzer,
    VocabularyFilter,
    filter_tokens,
)
from nlp.evaluate import compute_metrics

logger = logging.getLogger(__name__)

TASKS = tuple(TASK_LABELS)
SEED = 20261125
CATEGORY_DEV_FRACTION = 0.15
#: The dev score a new model must not fall below (per task); a mean where several dev sets exist.
WEIGHT_GRID = (0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
PRIMARY_DEV = {"sentiment": ("usual", "virus"), "emotion": ("usual",), "category": ("raw",)}


#: Model choice per task (chosen by cross-validation, see nlp/models/MODEL_CARD.md). ``source``
#: "emotion" trains on the six SMP emotions and sums their probabilities into sentiments.
SPECS: dict[str, dict[str, Any]] = {
    "sentiment": {
        "family": "linear",
        "source": "emotion",
        "char": [1, 3],
        "word": [1, 2],
        "min_df": 2,
        "C": 4.0,
        "tune_folds": 3,
    },
    "emotion": {"family": "linear", "char": [1, 3], "word": [1, 2], "min_df": 2, "C": 4.0, "tune_folds": 3},
    "category": {"family": "linear", "char": [1, 3], "word": [1, 2], "min_df": 2, "C": 10.0},
}


def spec_for(task: str) -> dict[str, Any]:
    """Return a copy of the model spec of ``task``."""
    return dict(SPECS[task])


def build_pipeline(task: str, spec: dict[str, Any]) -> Pipeline:
    """Build the unfitted featurizer + classifier pipeline described by ``spec``.

    Posts (sentiment, emotion) go through :class:`PostAnalyzer`; category inputs are
    space-separated tokens (training rows, or raw messages after ``VocabularyFilter``).
    """
    analyzer_cls = TokenAnalyzer if task == "category" else PostAnalyzer
    features = CompactTfidfVectorizer(
        analyzer=analyzer_cls(spec["char"], spec["word"]),
        sublinear_tf=True,
        min_df=spec["min_df"],
        dtype=np.float32,
    )
    clf = LogisticRegression(C=spec["C"], max_iter=3000)
    return Pipeline([("features", features), ("clf", clf)])


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


def load_task_data(task: str) -> TaskData:
    """Load the training rows and dev sets of ``task`` from the shared corpora."""
    if task in ("sentiment", "emotion"):
        train = ds.read_smp("usual", "train") + ds.read_smp("virus", "train")
        dev = {d: ds.read_smp(d, "eval") for d in ds.SMP_DOMAINS}
        if task == "sentiment":
            dev = {d: ds.to_sentiment(rows) for d, rows in dev.items()}
            if SPECS[task].get("source") != "emotion":
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
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def fit_bundle(
    task: str, train: Sequence[ds.Example], prepare: Any = None, tune: bool = False
) -> dict[str, Any]:
    """Fit the task's pipeline on ``train``; return the artifact bundle.

    With ``tune`` (and ``tune_folds`` in the spec) per-class probability weights are tuned for
    macro-F1 on out-of-fold predictions of the training rows (never on dev).
    """
    spec = spec_for(task)
    model = build_pipeline(task, spec)
    model.fit([t for t, _ in train], [lab for _, lab in train])
    model.named_steps["features"].stop_words_ = None  # the pruned-term set is large and unused
    collapse = dict(ds.EMOTION_TO_SENTIMENT) if spec.get("source") == "emotion" else None
    weights = None
    if tune and spec.get("tune_folds"):
        weights = tune_class_weights(task, train, int(spec["tune_folds"]), collapse)
    return {"model": model, "prepare": prepare, "collapse": collapse, "weights": weights, "spec": spec}


def out_of_fold_proba(task: str, rows: Sequence[ds.Example], folds: int) -> tuple[np.ndarray, list[str]]:
    """Class probabilities of every row from a model that did not see it (stratified K folds)."""
    texts = [t for t, _ in rows]
    labels = np.array([lab for _, lab in rows])
    classes = sorted({str(c) for c in labels})
    proba = np.zeros((len(rows), len(classes)))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(texts, labels):
        model = build_pipeline(task, spec_for(task))
        model.fit([texts[i] for i in train_idx], labels[train_idx])
        proba[test_idx] = model.predict_proba([texts[i] for i in test_idx])
    return proba, classes


def tune_class_weights(
    task: str, rows: Sequence[ds.Example], folds: int, collapse: dict[str, str | None] | None
) -> dict[str, float]:
    """Per-class probability multipliers maximising out-of-fold macro-F1 (coordinate ascent)."""
    proba, classes = out_of_fold_proba(task, rows, folds)
    labels = TASK_LABELS[task]
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
            compute_metrics([lab for _, lab in rows], preds, TASK_LABELS[task])["macro_f1"], 4
        )
    if primary:
        scores["primary"] = round(float(np.mean([scores[n] for n in PRIMARY_DEV[task]])), 4)
    return scores


def cross_validate(task: str, folds: int = 3) -> dict[str, Any]:
    """K-fold macro-F1 on the training rows (grouped by near-duplicates for ``category``).

    Sentiment folds trained on emotions are scored after the mapping to sentiments (surprise
    rows left out); category folds are scored on raw-like text as well as on tokens.
    """
    data = load_task_data(task)
    rows = data.train
    labels = [lab for _, lab in rows]
    if task == "category":
        splits = GroupKFold(folds).split(rows, labels, group_near_duplicates([t for t, _ in rows]))
    else:
        splits = StratifiedKFold(folds, shuffle=True, random_state=SEED).split(rows, labels)
    scores: dict[str, list[float]] = {}
    for train_idx, test_idx in splits:
        fold_train = [rows[i] for i in train_idx]
        test = [rows[i] for i in test_idx]
        if task == "sentiment":
            test = ds.to_sentiment(test) if SPECS[task].get("source") == "emotion" else test
        dev = {"cv": test}
        prepare = None
        if task == "category":
            prepare = VocabularyFilter({tok for text, _ in fold_train for tok in text.split()})
            dev = {"tokens": test, "raw": [(t.replace(" ", ""), lab) for t, lab in test]}
        bundle = fit_bundle(task, fold_train, prepare)
        fold_scores = score_bundle(task, bundle, dev, primary=False)
        if task == "emotion":  # the shipped sentiment model is this model summed into sentiments
            as_sentiment = {**bundle, "collapse": dict(ds.EMOTION_TO_SENTIMENT)}
            fold_scores["as_sentiment"] = score_bundle(
                "sentiment", as_sentiment, {"cv": ds.to_sentiment(test)}, primary=False
            )["cv"]
        for name, value in fold_scores.items():
            scores.setdefault(name, []).append(value)
        logger.info("%s fold done: %s", task, {k: v[-1] for k, v in scores.items()})
    return {
        k: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)} for k, v in scores.items()
    }


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
        "labels": list(TASK_LABELS[task]),
        "version": f"{task}-{bundle['spec']['family']}-2026.11-{digest}",
        "sha256_prefix": digest,
        "features_sha": features_sha,
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


@dataclass
class TrainReport:
    """Outcome of one training run."""

    task: str
    dev: dict[str, float]
    previous: float | None
    saved: bool
    meta: dict[str, Any]
    seconds: float


def train_task(
    task: str,
    extra: Sequence[ds.Example] = (),
    out_dir: Path | None = None,
    only_if_better: bool = False,
) -> TrainReport:
    """Train ``task`` (plus ``extra`` rows), score it on dev and save it.

    Args:
        task: one of :data:`TASKS`.
        extra: additional labelled ``(text, label)`` rows (labels must be in the task's set).
        out_dir: artifact directory (default ``nlp/models/<task>``).
        only_if_better: keep the current model when the new one scores lower on dev.
    """
    start = time.perf_counter()
    out_dir = out_dir or MODELS_DIR / task
    data = load_task_data(task)
    bad = sorted({lab for _, lab in extra} - set(TASK_LABELS[task]))
    if bad:
        raise ValueError(f"extra rows have labels outside {TASK_LABELS[task]}: {bad}")
    if task == "sentiment" and SPECS[task].get("source") == "emotion":
        extra = sentiment_rows_as_emotions(extra)
    if data.prepare is not None:  # category: extra rows are raw messages, training rows are tokens
        extra = [(data.prepare(t), lab) for t, lab in extra]
    bundle = fit_bundle(task, data.train + list(extra), data.prepare, tune=True)
    dev = score_bundle(task, bundle, data.dev)
    previous = current_dev_score(task, out_dir, data) if only_if_better else None
    meta: dict[str, Any] = {}
    saved = previous is None or dev["primary"] >= previous
    if saved:
        meta = {"dev_macro_f1": dev, "train_rows": len(data.train), "extra_rows": len(extra), **data.notes}
        meta = save_bundle(task, bundle, meta, out_dir)
    seconds = time.perf_counter() - start
    logger.info("trained %s in %.0f s: dev %s (previous %s, saved %s)", task, seconds, dev, previous, saved)
    return TrainReport(task, dev, previous, saved, meta, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m nlp.train``."""
    parser = argparse.ArgumentParser(prog="python -m nlp.train", description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=[*TASKS, "all"])
    parser.add_argument("--out", type=Path, default=None, help="artifact directory (single task only)")
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="only cross-validate with K folds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for task in TASKS if args.task == "all" else (args.task,):
        if args.cv:
            print(f"{task}: {args.cv}-fold CV macro-F1 {cross_validate(task, args.cv)}")
            continue
        report = train_task(task, out_dir=args.out if args.task != "all" else None)
        print(
            f"{task}: dev macro-F1 {report.dev} version {report.meta.get('version')} ({report.seconds:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
