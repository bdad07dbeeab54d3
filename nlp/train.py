"""Reproducible training of the shipped classifiers: ``python -m nlp.train {sentiment,emotion,category,all}``.

Data and dev splits: :mod:`nlp.train_data`; scoring, class weights, saving: :mod:`nlp.train_eval`.
The dev splits are never trained on, so a new model's dev score can be compared with the current
one's; every choice in :data:`SPECS` was made by cross-validation on the training rows
(``--cv K``), see nlp/models/MODEL_CARD.md. Single-threaded (n_jobs=1) on purpose: the machine
is shared. Fitting is deterministic: the same data and code give the same artifact.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from kernel.labels import TASK_CODES
from nlp import datasets as ds
from nlp.classifiers import MODELS_DIR, CompactLogisticRegression, NbLogisticRegression
from nlp.features import CompactTfidfVectorizer, PostAnalyzer, TokenAnalyzer, VocabularyFilter
from nlp.train_data import SEED, TaskData, group_near_duplicates, read_task_data, sentiment_rows_as_emotions
from nlp.train_eval import current_dev_score, out_of_fold_proba, save_bundle, score_bundle, tune_class_weights

logger = logging.getLogger(__name__)

TASKS = tuple(TASK_CODES)
__all__ = [
    "SEED",
    "SPECS",
    "TASKS",
    "TaskData",
    "cross_validate",
    "fit_bundle",
    "load_task_data",
    "train_task",
]

#: Posts: TF-IDF over char 1-3 + word 1-2 grams (min_df 5), then a soft vote of multinomial
#: logistic regression and NB-LR (``nb_C``); per-class weights tuned on out-of-fold rows (``tune_folds``).
_POSTS: dict[str, Any] = {
    "family": "linear",
    "char": [1, 3],
    "word": [1, 2],
    "min_df": 5,
    "C": 4.0,
    "nb_C": 4.0,
    "vote": [0.5, 0.5],
    "tune_folds": 3,
}
#: Model choice per task (chosen by cross-validation, see nlp/models/MODEL_CARD.md). ``source``
#: "emotion" trains on the six SMP emotions and sums their probabilities into sentiments.
SPECS: dict[str, dict[str, Any]] = {
    # No class weights for sentiment: tuned on one half of the out-of-fold rows they lowered the
    # other half's mean macro-F1 over the two domains (0.816 -> 0.813); for emotion they raised it.
    "sentiment": {**_POSTS, "source": "emotion", "tune_folds": 0},
    "emotion": dict(_POSTS),
    "category": {"family": "linear", "char": [1, 3], "word": [1, 2], "min_df": 2, "C": 10.0},
}

#: ("fit" | "oof", model key, [folds,] rows digest) -> fitted pipeline | out-of-fold (proba, classes):
#: sentiment and emotion fit the same model on the same rows, so ``all`` fits it once.
_FIT_MEMO: dict[tuple[str, ...], Any] = {}


def spec_for(task: str) -> dict[str, Any]:
    """Return a copy of the model spec of ``task``."""
    return dict(SPECS[task])


def load_task_data(task: str) -> TaskData:
    """Training rows and dev sets of ``task`` (sentiment rows keep emotions if its spec says so)."""
    return read_task_data(task, sentiment_from_emotions=SPECS.get(task, {}).get("source") == "emotion")


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
    clf: Any = LogisticRegression(C=spec["C"], max_iter=3000)
    if spec.get("nb_C"):
        members = [
            ("lr", CompactLogisticRegression(C=spec["C"], max_iter=3000)),
            ("nblr", NbLogisticRegression(C=spec["nb_C"])),
        ]
        clf = VotingClassifier(members, voting="soft", weights=list(spec.get("vote", [1.0, 1.0])))
    return Pipeline([("features", features), ("clf", clf)])


def _memoised(key: tuple[str, ...], compute: Any) -> Any:
    """``compute()`` once per key; the two newest results are kept (a fit and its out-of-fold run)."""
    if key not in _FIT_MEMO:
        while len(_FIT_MEMO) >= 2:
            _FIT_MEMO.pop(next(iter(_FIT_MEMO)))
        _FIT_MEMO[key] = compute()
    return _FIT_MEMO[key]


def _fit_and_oof(task: str, spec: dict[str, Any], train: Sequence[ds.Example], folds: int) -> Any:
    """The pipeline fitted on ``train`` and (with ``folds``) out-of-fold probabilities, memoised."""
    fitted = {k: v for k, v in spec.items() if k not in ("family", "source", "tune_folds")}
    model_key = json.dumps({**fitted, "tokens": task == "category"}, sort_keys=True)
    digest = hashlib.sha256(json.dumps(list(train), ensure_ascii=False).encode()).hexdigest()

    def fit() -> Pipeline:
        model = build_pipeline(task, spec)
        model.fit([t for t, _ in train], [lab for _, lab in train])
        model.named_steps["features"].stop_words_ = None  # the pruned-term set is large and unused
        return model

    model = _memoised(("fit", model_key, digest), fit)
    if not folds:
        return model, None
    oof = _memoised(
        ("oof", model_key, str(folds), digest),
        lambda: out_of_fold_proba(lambda: build_pipeline(task, spec), train, folds),
    )
    return model, oof


def fit_bundle(
    task: str, train: Sequence[ds.Example], prepare: Any = None, tune: bool = False
) -> dict[str, Any]:
    """Fit the task's pipeline on ``train``; return the artifact bundle.

    With ``tune`` (and ``tune_folds`` in the spec) per-class probability weights are tuned for
    macro-F1 on out-of-fold predictions of the training rows (never on dev).
    """
    spec = spec_for(task)
    folds = int(spec.get("tune_folds") or 0) if tune else 0
    model, oof = _fit_and_oof(task, spec, train, folds)
    collapse = dict(ds.EMOTION_TO_SENTIMENT) if spec.get("source") == "emotion" else None
    weights = None
    if oof is not None:
        proba, classes = oof
        weights = tune_class_weights(task, train, proba, classes, collapse)
    return {"model": model, "prepare": prepare, "collapse": collapse, "weights": weights, "spec": spec}


def cross_validate(task: str, folds: int = 3) -> dict[str, Any]:
    """K-fold macro-F1 on the training rows (grouped by near-duplicates for ``category``).

    Sentiment folds trained on emotions are scored after the mapping to sentiments (surprise
    rows left out); category folds are scored on raw-like text as well as on tokens. Emotion
    folds are also scored per SMP domain and as sentiments (what the sentiment model does).
    """
    data = load_task_data(task)
    rows = data.train
    labels = [lab for _, lab in rows]
    usual = sum(1 for t, _ in ds.read_smp("usual", "train") if t.strip()) if task != "category" else 0
    domain = np.array(["usual" if i < usual else "virus" for i in range(len(rows))])  # rows: usual, virus
    if task == "category":
        splits = GroupKFold(folds).split(rows, labels, group_near_duplicates([t for t, _ in rows]))
    else:
        splits = StratifiedKFold(folds, shuffle=True, random_state=SEED).split(rows, labels)
    scores: dict[str, list[float]] = {}
    for train_idx, test_idx in splits:
        fold_train = [rows[i] for i in train_idx]
        test = [rows[i] for i in test_idx]
        dev = {"cv": test}
        if task != "category":
            dev.update({d: [rows[i] for i in test_idx if domain[i] == d] for d in ds.SMP_DOMAINS})
        if task == "sentiment" and SPECS[task].get("source") == "emotion":
            dev = {k: ds.to_sentiment(v) for k, v in dev.items()}
        prepare = None
        if task == "category":
            prepare = VocabularyFilter({tok for text, _ in fold_train for tok in text.split()})
            dev = {"tokens": test, "raw": [(t.replace(" ", ""), lab) for t, lab in test]}
        bundle = fit_bundle(task, fold_train, prepare)
        fold_scores = score_bundle(task, bundle, dev, primary=False)
        if task == "emotion":  # the shipped sentiment model is this model summed into sentiments
            as_sentiment = {**bundle, "collapse": dict(ds.EMOTION_TO_SENTIMENT)}
            sentiment_dev = {f"as_sentiment_{k}": ds.to_sentiment(v) for k, v in dev.items()}
            fold_scores.update(score_bundle("sentiment", as_sentiment, sentiment_dev, primary=False))
        for name, value in fold_scores.items():
            scores.setdefault(name, []).append(value)
        logger.info("%s fold done: %s", task, {k: v[-1] for k, v in scores.items()})
    return {
        k: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)} for k, v in scores.items()
    }


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
    bad = sorted({lab for _, lab in extra} - set(TASK_CODES[task]))
    if bad:
        raise ValueError(f"extra rows have labels outside {TASK_CODES[task]}: {bad}")
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
    parser.add_argument("task", nargs="+", choices=[*TASKS, "all"], help="one or more tasks, or all")
    parser.add_argument("--out", type=Path, default=None, help="artifact directory (single task only)")
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="only cross-validate with K folds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tasks = TASKS if "all" in args.task else tuple(dict.fromkeys(args.task))
    if args.out is not None and len(tasks) > 1:
        parser.error("--out needs a single task")
    for task in tasks:
        if args.cv:
            print(f"{task}: {args.cv}-fold CV macro-F1 {cross_validate(task, args.cv)}")
            continue
        report = train_task(task, out_dir=args.out)
        print(
            f"{task}: dev macro-F1 {report.dev} version {report.meta.get('version')} ({report.seconds:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
