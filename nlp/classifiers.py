"""Shipped text classifiers (sentiment, emotion, demand category), their estimators and loader.

The default backend is a scikit-learn pipeline per task, trained by ``nlp/train.py`` and shipped in
``nlp/models/<task>/`` as ``model.joblib`` plus ``meta.json`` (version, labels, dev scores). The
pipelines pickle the featurizers of :mod:`nlp.features` (re-exported here: older artifacts name
them under this module) and the estimators below, so the behaviour of both must only change
together with a retrained artifact (which changes the version).

Loading never touches the network. A missing artifact raises
:class:`~nlp.base.ModelNotFoundError` naming the path.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from kernel.labels import TASK_CODES
from nlp.base import MappedProbabilityClassifier, ModelNotFoundError, TextClassifier
from nlp.features import (  # noqa: F401  (re-exported: older pickles name them under nlp.classifiers)
    CompactTfidfVectorizer,
    PostAnalyzer,
    TokenAnalyzer,
    VocabularyFilter,
    cut_message,
    cut_post,
    filter_tokens,
    normalize_text,
    split_tokens,
)
from nlp.tokenize import userdict_sha

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
BACKENDS = ("default", "transformers")

#: features_sha -> (batch of texts, feature matrix): the last batch per featurizer.
_FEATURE_CACHE: dict[str, tuple[tuple[str, ...], Any]] = {}
_feature_lock = threading.Lock()


def _half(coef: np.ndarray) -> np.ndarray:
    """Round coefficients to float16 precision (kept as float32): they pickle losslessly at half size."""
    return np.asarray(coef, dtype=np.float16).astype(np.float32)


class _HalfCoefMixin:
    """Pickles ``coef_`` as float16; fitted coefficients are already rounded, so nothing is lost."""

    coef_: np.ndarray

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(super().__getstate__())  # type: ignore[call-overload]
        if "coef_" in state:
            state["coef_"] = np.asarray(state["coef_"], dtype=np.float16)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "coef_" in state:
            state["coef_"] = np.asarray(state["coef_"], dtype=np.float32)
        super().__setstate__(state)  # type: ignore[misc]


class CompactLogisticRegression(_HalfCoefMixin, LogisticRegression):
    """``LogisticRegression`` with coefficients rounded to float16 precision (half the artifact)."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CompactLogisticRegression:
        """Fit as ``LogisticRegression`` does, then round the coefficients."""
        super().fit(X, y, sample_weight=sample_weight)
        self.coef_ = _half(self.coef_)
        return self


class NbLogisticRegression(_HalfCoefMixin, ClassifierMixin, BaseEstimator):
    """One-vs-rest logistic regression on naive-Bayes log-count-ratio scaled features (NB-LR).

    Wang & Manning (2012), "Baselines and bigrams": per class, every feature is scaled by the
    log ratio of its (smoothed, binarised) frequency in the class and outside it, and a binary
    logistic regression is fitted on the scaled features. The ratio is folded into ``coef_``, so
    prediction is one sparse product; per-class probabilities are normalised to sum to one.

    Args:
        C: inverse L2 regularisation strength of each binary model.
        alpha: additive smoothing of the feature counts.
        max_iter: lbfgs iterations per binary model.
    """

    def __init__(self, C: float = 4.0, alpha: float = 1.0, max_iter: int = 3000) -> None:
        self.C = C
        self.alpha = alpha
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any) -> NbLogisticRegression:
        """Fit one scaled binary logistic regression per class."""
        X = sp.csr_matrix(X, dtype=np.float32)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        present = X.copy()
        present.data[:] = 1.0
        onehot = sp.csr_matrix((y[:, None] == self.classes_[None, :]).astype(np.float32))
        counts = np.asarray((onehot.T @ present).todense(), dtype=np.float64)  # classes x features
        outside = counts.sum(axis=0) - counts
        coef = np.zeros((len(self.classes_), X.shape[1]), dtype=np.float32)
        intercept = np.zeros(len(self.classes_))
        for j, label in enumerate(self.classes_):
            p = counts[j] + self.alpha
            q = outside[j] + self.alpha
            ratio = (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)
            binary = LogisticRegression(C=self.C, max_iter=self.max_iter)
            binary.fit(X @ sp.diags(ratio), y == label)
            coef[j] = binary.coef_[0] * ratio
            intercept[j] = binary.intercept_[0]
        self.coef_ = _half(coef)
        self.intercept_ = intercept
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Per-class log-odds of the one-vs-rest models."""
        return np.asarray(X @ self.coef_.T, dtype=np.float64) + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """One-vs-rest probabilities, normalised per row."""
        proba = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class per row."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]


class LinearClassifier(MappedProbabilityClassifier):
    """A shipped scikit-learn pipeline (featurizer + probabilistic linear model).

    Args:
        task: ``sentiment``, ``emotion`` or ``category``.
        model: the fitted pipeline; must have ``predict_proba`` and ``classes_``.
        version: the artifact version string.
        prepare: optional text transform applied before the pipeline (e.g. :class:`VocabularyFilter`).
        collapse: optional map from the model's classes to task labels (``None`` drops a class and
            renormalises), e.g. the six SMP emotions summed into three sentiments.
        weights: optional per-class multipliers of the model's probabilities (tuned on
            out-of-fold training predictions for macro-F1); scores are renormalised after them.
        meta: the artifact's ``meta.json`` content.
    """

    def __init__(
        self,
        task: str,
        model: Any,
        version: str,
        prepare: Any = None,
        collapse: dict[str, str | None] | None = None,
        weights: dict[str, float] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.task = task
        self.labels = TASK_CODES[task]
        self.version = version
        self.model = model
        self.prepare = prepare
        self.meta = meta or {}
        classes = [str(c) for c in model.classes_]
        outputs = [collapse.get(c) for c in classes] if collapse else classes
        unknown = sorted({o for o in outputs if o is not None} - set(self.labels))
        if unknown:
            raise ValueError(f"model for {task!r} has labels outside {self.labels}: {unknown}")
        # Column j of the model's probabilities adds to task label index _targets[j] (-1: dropped).
        self._targets = np.array([self.labels.index(o) if o is not None else -1 for o in outputs])
        self._weights = np.array([float((weights or {}).get(c, 1.0)) for c in classes])

    def _features(self, inputs: list[str]) -> Any:
        # Models with the same featurizer (sentiment is the emotion model summed into three labels)
        # share the features of the batch they both tag, one after the other.
        key = self.meta.get("features_sha")
        batch = tuple(inputs)
        if key:
            cached = _FEATURE_CACHE.get(key)
            if cached is not None and cached[0] == batch:
                return cached[1]
        features = self.model[:-1].transform(inputs)
        if key:
            with _feature_lock:
                _FEATURE_CACHE.pop(key, None)
                _FEATURE_CACHE[key] = (batch, features)
                while len(_FEATURE_CACHE) > 4:
                    _FEATURE_CACHE.pop(next(iter(_FEATURE_CACHE)))
        return features

    def _output_proba(self, texts: Sequence[str]) -> np.ndarray:
        inputs = [self.prepare(t) for t in texts] if self.prepare is not None else list(texts)
        raw = np.asarray(self.model[-1].predict_proba(self._features(inputs)), dtype=np.float64)
        return raw * self._weights


def model_dir(task: str, path: str | Path | None = None) -> Path:
    """Return the artifact directory of ``task`` (``path`` if given, else the shipped one)."""
    return Path(path) if path is not None else MODELS_DIR / task


def read_meta(directory: Path) -> dict[str, Any]:
    """Read ``meta.json`` of an artifact directory (empty dict if absent)."""
    meta_path = directory / META_FILE
    return json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}


def load_linear(task: str, path: str | Path | None = None) -> LinearClassifier:
    """Load the shipped (or given) scikit-learn artifact for ``task``."""
    location = model_dir(task, path)
    artifact = location if location.suffix == ".joblib" else location / MODEL_FILE
    if not artifact.is_file():
        raise ModelNotFoundError(f"{task} model artifact not found: {artifact}")
    bundle = joblib.load(artifact)
    meta = read_meta(artifact.parent)
    if meta.get("task", task) != task:
        raise ValueError(f"artifact {artifact} is a {meta['task']!r} model, not {task!r}")
    version = str(meta.get("version") or f"{task}-linear-unversioned")
    logger.info("loaded %s model %s from %s", task, version, artifact)
    trained_with = meta.get("userdict_sha")
    if trained_with and trained_with != userdict_sha():
        logger.warning(
            "%s model %s was trained with another user dictionary (nlp/resources/userdict.txt changed): "
            "its word features shift; retrain with `sensing train %s`",
            task,
            version,
            task,
        )
    parts = (bundle.get("prepare"), bundle.get("collapse"), bundle.get("weights"))
    return LinearClassifier(task, bundle["model"], version, *parts, meta=meta)


def load_classifier(task: str, backend: str = "default", path: str | None = None) -> TextClassifier:
    """Load the classifier for ``task`` from local files only.

    Args:
        task: ``sentiment``, ``emotion`` or ``category``.
        backend: ``default`` (shipped linear model) or ``transformers`` (local HF model directory).
        path: artifact directory (or ``model.joblib``) for ``default``; model directory for
            ``transformers``. ``None`` uses the shipped artifact (``default`` only).

    Raises:
        ModelNotFoundError: the artifact or directory does not exist.
        ValueError: unknown task or backend, or a model whose labels do not fit the task.
    """
    if task not in TASK_CODES:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_CODES)}")
    if backend == "default":
        return load_linear(task, path)
    if backend == "transformers":
        from nlp.hf_backend import load_hf_classifier

        if path is None:
            raise ModelNotFoundError(f"the transformers backend needs a local model directory for {task}")
        return load_hf_classifier(task, path)
    raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
