"""Reproducible training of the encoder tier's stacked heads: ``python -m nlp.train_encoder [TASK ...]``.

For each task the script

1. embeds the training and dev texts with the bundled e5 encoder (:mod:`nlp.encoder`), through a
   resumable cache (``$SENSING_CACHE_DIR`` or ``~/.cache/minsheng/embeddings``): the first run costs
   about an hour of CPU on one core, later runs read the cache;
2. computes the fast tier's out-of-fold probabilities on the training rows (K folds, the fast
   tier's own specs from :mod:`nlp.train`; grouped by near-duplicates for category), so the head
   learns how far to trust a fast model that has not seen the row;
3. picks the head's regularisation by cross-validation on the training rows only, fits a logistic
   regression on ``[embedding | log fast probabilities]`` and scores it on the dev sets, beside the
   fast tier and the embedding alone;
4. saves ``nlp/models/encoder/<task>/head.joblib`` and ``meta.json``.

Data (``../shared/data`` only): SMP2020-EWECT usual + virus train for sentiment and emotion (dev:
the two ``*_eval_labeled`` files); TipDM 2020 C segmented messages for category, glued back into
text, with the fast tier's grouped 15 % dev split, plus the 165 raw labelled messages
(``fujian2_raw_dev165_labeled.csv``) as the dev set that looks like what citizens write. Dev sets
are never trained on and choose nothing.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from kernel.labels import TASK_CODES
from nlp import datasets as ds
from nlp.base import top_labels
from nlp.classifiers import MODELS_DIR
from nlp.encoder import TextEncoder, embed_cached, encoder_version
from nlp.encoder_tier import HEAD_FILE, HEADS_DIR, TASKS, StackedHead, StackedLogit, head_dir, save_head
from nlp.features import VocabularyFilter, filter_tokens
from nlp.train import fit_bundle
from nlp.train_data import SEED, category_split, group_near_duplicates
from nlp.train_eval import bundle_classifier, tune_class_weights

logger = logging.getLogger(__name__)

FOLDS = 4
#: Tasks whose stacked probabilities get per-label multipliers (measured on training halves).
WEIGHTED = ("emotion",)
#: Regularisation of the embedding model inside the stack (chosen per task by training-row CV).
C_GRID = (0.03, 0.1, 0.3)


def cache_dir() -> Path:
    """Where embeddings and out-of-fold probabilities are cached (never in the repository)."""
    env = os.environ.get("SENSING_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "minsheng" / "embeddings"


@dataclass
class Split:
    """Texts, labels and embeddings of one training or dev set."""

    texts: list[str]
    labels: list[str]
    embeddings: np.ndarray
    groups: list[int] | None = None

    def take(self, keep: Sequence[int]) -> Split:
        groups = [self.groups[i] for i in keep] if self.groups is not None else None
        return Split(
            [self.texts[i] for i in keep], [self.labels[i] for i in keep], self.embeddings[list(keep)], groups
        )


class Embedder:
    """Embeds through the on-disk cache; the encoder is loaded only when something is missing."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._encoder: TextEncoder | None = None

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = TextEncoder(threads=self.threads)
        return self._encoder.embed(texts)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return embed_cached(list(texts), cache_dir(), self._embed)


def _smp(domain: str, split: str, embed: Embedder) -> Split:
    rows = ds.read_smp(domain, split)
    vectors = embed([t for t, _ in rows])  # the file's own list, so the cache key is stable
    keep = [i for i, (t, _) in enumerate(rows) if t.strip()]
    return Split([rows[i][0] for i in keep], [rows[i][1] for i in keep], vectors[keep])


def read_raw_dev() -> list[ds.Example]:
    """The 165 raw labelled 问政 messages: (title + newline + body as written, level-1 label)."""
    path = ds.shared_data_dir() / "tipdm2020_c" / "fujian2_raw_dev165_labeled.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [(f"{r['留言主题']}\n{r['留言详情']}", r["一级分类"]) for r in csv.DictReader(fh)]


def post_data(embed: Embedder, limit: int | None = None) -> tuple[Split, list[int], dict[str, Split]]:
    """SMP train (usual then virus, emotion labels), the rows embedded, and the two eval sets.

    With ``limit`` only the first ``limit`` rows of each training file are embedded (and trained
    on by the head); the fast tier's out-of-fold probabilities still come from every row.
    """
    texts: list[str] = []
    labels: list[str] = []
    vectors: list[np.ndarray] = []
    used: list[int] = []
    for domain in ds.SMP_DOMAINS:
        rows = ds.read_smp(domain, "train")
        n = len(rows) if limit is None else min(limit, len(rows))
        embedded = embed([t for t, _ in rows[:n]])  # the file's own prefix: the cache key is stable
        for i, (text, label) in enumerate(rows):
            if not text.strip():
                continue
            if i < n:
                used.append(len(texts))
                vectors.append(embedded[i])
            texts.append(text)
            labels.append(label)
    full = Split(texts, labels, np.vstack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32))
    return full, used, {d: _smp(d, "eval", embed) for d in ds.SMP_DOMAINS}


def category_data(embed: Embedder, stride: int = 1) -> tuple[Split, list[int], dict[str, Split], list[str]]:
    """TipDM: every training row (glued text, tokens), the rows embedded, and the dev sets.

    The file is sorted by label, so ``stride`` (embed every k-th row of the training and grouped
    dev splits) keeps every label in proportion; the fast tier's out-of-fold probabilities still
    come from every training row. Dev sets: the grouped split (glued text) and the raw 165.
    """
    segmented = ds.read_tipdm_segmented()
    train_idx, dev_idx = category_split(segmented)
    tokens = [" ".join(filter_tokens(t.split())) for t, _ in segmented]
    glued = [t.replace(" ", "") for t, _ in segmented]
    labels = [lab for _, lab in segmented]
    groups = group_near_duplicates([t for t, _ in segmented])
    none = np.zeros((0, 384), dtype=np.float32)
    train = Split(
        [glued[i] for i in train_idx], [labels[i] for i in train_idx], none, [groups[i] for i in train_idx]
    )
    used = list(range(0, len(train_idx), stride))
    train.embeddings = embed([train.texts[i] for i in used])
    dev_rows = dev_idx[::stride]
    raw = read_raw_dev()
    dev = {
        "raw_like": Split(
            [glued[i] for i in dev_rows], [labels[i] for i in dev_rows], embed([glued[i] for i in dev_rows])
        ),
        "raw165": Split([t for t, _ in raw], [lab for _, lab in raw], embed([t for t, _ in raw])),
    }
    return train, used, dev, [tokens[i] for i in train_idx]


def _digest(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def _cached(name: str, key: str, compute: Any) -> Any:
    path = cache_dir() / "oof" / f"{name}-{key}.joblib"
    if path.is_file():
        return joblib.load(path)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(value, path)
    return value


def shipped_weights(task: str) -> dict[str, float] | None:
    """The class weights the shipped fast model applies (the out-of-fold models apply the same)."""
    bundle = joblib.load(MODELS_DIR / task / "model.joblib")
    return bundle.get("weights")


def oof_posts(train: Split, folds: int) -> dict[str, list[dict[str, float]]]:
    """Out-of-fold fast-tier sentiment and emotion probabilities of every SMP training row."""

    def compute() -> dict[str, list[dict[str, float]]]:
        out: dict[str, list[dict[str, float]]] = {
            "sentiment": [{}] * len(train.texts),
            "emotion": [{}] * len(train.texts),
        }
        weights = shipped_weights("emotion")
        split = StratifiedKFold(folds, shuffle=True, random_state=SEED).split(train.texts, train.labels)
        for k, (fit_idx, held_idx) in enumerate(split):
            rows = [(train.texts[i], train.labels[i]) for i in fit_idx]
            bundle = fit_bundle("emotion", rows)
            held = [train.texts[i] for i in held_idx]
            emotion = bundle_classifier("emotion", {**bundle, "weights": weights}).predict_proba(held)
            sentiment = bundle_classifier(
                "sentiment", {**bundle, "collapse": dict(ds.EMOTION_TO_SENTIMENT), "weights": None}
            ).predict_proba(held)
            for j, i in enumerate(held_idx):
                out["emotion"][i], out["sentiment"][i] = emotion[j], sentiment[j]
            logger.info("posts fold %d/%d done", k + 1, folds)
        return out

    return _cached("posts", _digest(train.texts, train.labels, folds, "v1"), compute)


def oof_category(train: Split, tokens: list[str], folds: int) -> list[dict[str, float]]:
    """Out-of-fold fast-tier category probabilities, predicted on the glued text (as raw input)."""

    def compute() -> list[dict[str, float]]:
        out: list[dict[str, float]] = [{}] * len(train.texts)
        split = GroupKFold(folds).split(train.texts, train.labels, train.groups)
        for k, (fit_idx, held_idx) in enumerate(split):
            rows = [(tokens[i], train.labels[i]) for i in fit_idx]
            prepare = VocabularyFilter({tok for text, _ in rows for tok in text.split()})
            bundle = fit_bundle("category", rows, prepare)
            proba = bundle_classifier("category", bundle).predict_proba([train.texts[i] for i in held_idx])
            for j, i in enumerate(held_idx):
                out[i] = proba[j]
            logger.info("category fold %d/%d done", k + 1, folds)
        return out

    return _cached("category", _digest(train.texts, train.labels, folds, "v1"), compute)


def macro_f1(task: str, gold: Sequence[str], pred: Sequence[str] | np.ndarray) -> float:
    labels = [lab for lab in TASK_CODES[task] if lab in set(gold)]
    return round(float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)), 4)


def _head_model(c: float) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(C=c, max_iter=3000))])


def choose_c(
    x: np.ndarray, y: Sequence[str], task: str, groups: Sequence[int] | None
) -> tuple[float, dict[str, float]]:
    """The embedding C with the best 3-fold macro-F1 of the stack on the training rows (dev chooses nothing)."""
    y_arr = np.asarray(y)
    if groups is not None:
        splits = list(GroupKFold(3).split(x, y_arr, groups))
    else:
        splits = list(StratifiedKFold(3, shuffle=True, random_state=SEED).split(x, y_arr))
    scores: dict[str, float] = {}
    for c in C_GRID:
        fold = []
        for fit_idx, held_idx in splits:
            model = StackedLogit(c_embedding=c).fit(x[fit_idx], y_arr[fit_idx])
            fold.append(macro_f1(task, y_arr[held_idx], model.predict(x[held_idx])))
        scores[str(c)] = round(float(np.mean(fold)), 4)
    best = max(C_GRID, key=lambda c: scores[str(c)])
    return best, scores


def train_head(
    task: str,
    train: Split,
    fast_oof: list[dict[str, float]],
    dev: dict[str, Split],
    fast_dev: dict[str, list[dict[str, float]]],
    root: Path | None = None,
    notes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit, score and save one task's stacked head; returns its meta."""
    start = time.perf_counter()
    fast_labels = sorted({lab for p in fast_oof for lab in p})
    probe = StackedHead(task, None, [], fast_labels)
    x = probe.features(train.embeddings, fast_oof)
    c, cv = choose_c(x, train.labels, task, train.groups)
    model = StackedLogit(c_embedding=c).fit(x, np.asarray(train.labels))
    head = StackedHead(task, model, [str(k) for k in model.classes_], fast_labels)
    if task in WEIGHTED:
        # As the fast tier: per-label multipliers for macro-F1, tuned on out-of-fold stack
        # probabilities of the training rows (split-half check: +0.003 for emotion, 0 for sentiment).
        folds = StratifiedKFold(3, shuffle=True, random_state=SEED)
        labels = np.asarray(train.labels)
        oof = cross_val_predict(StackedLogit(c_embedding=c), x, labels, cv=folds, method="predict_proba")
        tuned = tune_class_weights(task, [("", lab) for lab in train.labels], oof, head.labels, None)
        head.weights = [tuned[label] for label in head.labels]
    fast_cv = macro_f1(task, train.labels, top_labels(fast_oof))
    scores: dict[str, dict[str, float]] = {"stacked": {}, "fast": {}, "embedding_only": {}}
    emb_only = _head_model(c).fit(train.embeddings, np.asarray(train.labels))
    for name, split in dev.items():
        gold = split.labels
        proba = head.predict_proba(split.embeddings, fast_dev[name])
        scores["stacked"][name] = macro_f1(task, gold, [head.labels[i] for i in proba.argmax(axis=1)])
        scores["fast"][name] = macro_f1(task, gold, top_labels(fast_dev[name]))
        scores["embedding_only"][name] = macro_f1(task, gold, emb_only.predict(split.embeddings))
    head.meta = {
        "task": task,
        "encoder": encoder_version(),
        "method": "two-level stack: LR on the standardised e5 embedding (out-of-fold probabilities), "
        "then LR on [log fast-tier probabilities | log embedding-model probabilities]",
        "C": c,
        "cv_macro_f1_by_C": cv,
        "fast_out_of_fold_macro_f1": fast_cv,
        "train_rows": len(train.texts),
        **(notes or {}),
        "oof_folds": FOLDS,
        "dev_macro_f1": scores,
        "seconds": round(time.perf_counter() - start, 1),
    }
    # Shipped only when the stack beats the fast tier on the training rows' cross-validation: the
    # dev sets decide nothing. A task without a head keeps the fast tier's label in the encoder tier.
    head.meta["shipped"] = cv[str(c)] > fast_cv
    if head.meta["shipped"]:
        save_head(head, root)
    else:
        stale = head_dir(task, root) / HEAD_FILE
        stale.unlink(missing_ok=True)
        logger.warning(
            "%s: the stack (CV %.4f) does not beat the fast tier (%.4f): not shipped",
            task,
            cv[str(c)],
            fast_cv,
        )
    logger.info("%s: C %s, dev %s", task, c, scores)
    return head.meta


def _fast_dev(task: str, splits: dict[str, Split]) -> dict[str, list[dict[str, float]]]:
    from nlp.classifiers import load_classifier

    model = load_classifier(task)
    return {name: model.predict_proba(split.texts) for name, split in splits.items()}


def train(
    tasks: Sequence[str],
    threads: int | None = None,
    root: Path | None = None,
    limit: int | None = None,
    stride: int = 1,
) -> dict[str, Any]:
    """Train the heads of ``tasks``; returns their metas (``limit``: see :func:`post_data`)."""
    embed = Embedder(threads)
    metas: dict[str, Any] = {}
    notes = {"limit_per_file": limit}
    if {"sentiment", "emotion"} & set(tasks):
        full, used, dev_posts = post_data(embed, limit)
        oof_all = oof_posts(full, FOLDS)  # every training row, embedded or not
        oof = {task: [oof_all[task][i] for i in used] for task in oof_all}
        train_posts = Split([full.texts[i] for i in used], [full.labels[i] for i in used], full.embeddings)
        if "emotion" in tasks:
            metas["emotion"] = train_head(
                "emotion",
                train_posts,
                oof["emotion"],
                dev_posts,
                _fast_dev("emotion", dev_posts),
                root,
                notes,
            )
        if "sentiment" in tasks:
            keep = [i for i, lab in enumerate(train_posts.labels) if ds.EMOTION_TO_SENTIMENT[lab] is not None]
            sent = train_posts.take(keep)
            sent.labels = [str(ds.EMOTION_TO_SENTIMENT[lab]) for lab in sent.labels]
            dev = {}
            for name, split in dev_posts.items():
                keep_dev = [
                    i for i, lab in enumerate(split.labels) if ds.EMOTION_TO_SENTIMENT[lab] is not None
                ]
                dev[name] = split.take(keep_dev)
                dev[name].labels = [str(ds.EMOTION_TO_SENTIMENT[lab]) for lab in dev[name].labels]
            metas["sentiment"] = train_head(
                "sentiment",
                sent,
                [oof["sentiment"][i] for i in keep],
                dev,
                _fast_dev("sentiment", dev),
                root,
                notes,
            )
    if "category" in tasks:
        full_cat, used_cat, dev_cat, tokens = category_data(embed, stride)
        oof_cat = oof_category(full_cat, tokens, FOLDS)
        train_cat = Split(
            [full_cat.texts[i] for i in used_cat],
            [full_cat.labels[i] for i in used_cat],
            full_cat.embeddings,
            [full_cat.groups[i] for i in used_cat] if full_cat.groups is not None else None,
        )
        metas["category"] = train_head(
            "category",
            train_cat,
            [oof_cat[i] for i in used_cat],
            dev_cat,
            _fast_dev("category", dev_cat),
            root,
            {"stride": stride},
        )
    return metas


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m nlp.train_encoder``."""
    parser = argparse.ArgumentParser(prog="python -m nlp.train_encoder", description=__doc__.splitlines()[0])
    parser.add_argument("task", nargs="*", choices=[*TASKS, "all"], default=["all"])
    parser.add_argument("--threads", type=int, default=None, help="encoder threads (default: all cores)")
    parser.add_argument(
        "--limit", type=int, default=None, help="embed only the first N posts of each SMP training file"
    )
    parser.add_argument("--stride", type=int, default=1, help="embed every k-th TipDM row (category)")
    parser.add_argument("--out", type=Path, default=None, help=f"heads directory (default {HEADS_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tasks = TASKS if "all" in args.task else tuple(dict.fromkeys(args.task))
    for task, meta in train(tasks, args.threads, args.out, args.limit, args.stride).items():
        scores = json.dumps(meta["dev_macro_f1"], ensure_ascii=False)
        print(f"{task}: dev macro-F1 {scores} C {meta['C']} shipped {meta['shipped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
