"""Shipped text classifiers (sentiment, emotion, demand category) and their loader.

The default backend is a scikit-learn pipeline per task, trained by ``nlp/train.py`` and shipped in
``nlp/models/<task>/`` as ``model.joblib`` plus ``meta.json`` (version, labels, dev scores). The
featurizers below are referenced by those pickles, so their behaviour must only change together
with a retrained artifact (which changes the version).

Loading never touches the network. A missing artifact raises
:class:`~nlp.base.ModelNotFoundError` naming the path.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jieba
import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.base import TASK_LABELS, ModelNotFoundError, Prediction, TextClassifier

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
BACKENDS = ("default", "transformers")

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_MENTION_RE = re.compile(r"@[\w\-]{1,30}")
_REPEAT_RE = re.compile(r"(.)\1{3,}")
_SPACE_RE = re.compile(r"\s+")
_SEP = "\x00"  # joins pickled vocabularies; normalize_text removes it from texts
#: Masked place names of the 问政 data: 西地省, A市, A1区, K9县 ... (kept private so models stay frozen).
_MASKED_PLACE_RE = re.compile(r"西地省|(?<![A-Za-z0-9])[A-Z]\d{0,2}(?:省|市|区|县|镇|乡|街道)")
_NOISE_TOKEN_RE = re.compile(r"^[\W\d_]+$|^[a-z]\d*$|^[省市区县镇乡]$")

#: features_sha -> (batch of texts, feature matrix): the last batch per featurizer.
_FEATURE_CACHE: dict[str, tuple[tuple[str, ...], Any]] = {}
_feature_lock = threading.Lock()
_jieba_lock = threading.Lock()
_jieba: jieba.Tokenizer | None = None


def _tokenizer() -> jieba.Tokenizer:
    """A private jieba tokenizer on jieba's stock dictionary (no user words: features stay frozen)."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                _jieba = tok
    return _jieba


def normalize_text(text: str) -> str:
    """Normalise a social-media post: NFKC, lower case, no URLs/@names, long repeats shortened."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace(_SEP, " ")
    text = _URL_RE.sub(" ", text)
    text = _MENTION_RE.sub("@", text)
    text = _REPEAT_RE.sub(r"\1\1\1", text)
    return _SPACE_RE.sub(" ", text).strip()


def _ngrams(items: Sequence[str], low: int, high: int, sep: str = "") -> list[str]:
    out: list[str] = []
    for n in range(low, high + 1):
        out.extend(sep.join(items[i : i + n]) for i in range(len(items) - n + 1))
    return out


@lru_cache(maxsize=4096)
def _cut(text: str) -> tuple[str, ...]:
    # Cached: the three models see the same batch one after the other, and jieba dominates the cost.
    return tuple(w for w in _tokenizer().lcut(text, HMM=False) if not w.isspace())


def cut_post(text: str) -> list[str]:
    """Cut a normalised post into jieba words (no HMM guessing: twice as fast, as accurate here)."""
    return list(_cut(text))


@lru_cache(maxsize=2048)
def _analyze_post(text: str, char: tuple[int, int], word: tuple[int, int]) -> tuple[str, ...]:
    # Cached: the sentiment and emotion models analyse the same batch one after the other.
    norm = normalize_text(text)
    feats = _ngrams(norm, *char)
    feats.extend("w:" + g for g in _ngrams(_cut(norm), *word, sep=" "))
    return tuple(feats)


class PostAnalyzer:
    """Feature strings of a social-media post: character n-grams plus jieba word n-grams.

    Args:
        char: character n-gram range on the normalised text.
        word: word n-gram range (words prefixed ``w:``).
    """

    def __init__(self, char: Sequence[int] = (1, 3), word: Sequence[int] = (1, 2)) -> None:
        self.char = (int(char[0]), int(char[1]))
        self.word = (int(word[0]), int(word[1]))

    def __call__(self, text: str) -> tuple[str, ...]:
        return _analyze_post(text or "", self.char, self.word)


class TokenAnalyzer:
    """Feature strings of space-separated tokens: word n-grams plus character n-grams.

    Args:
        char: character n-gram range on the token string (spaces kept as boundaries).
        word: token n-gram range (prefixed ``w:``).
    """

    def __init__(self, char: Sequence[int] = (1, 3), word: Sequence[int] = (1, 2)) -> None:
        self.char = (int(char[0]), int(char[1]))
        self.word = (int(word[0]), int(word[1]))

    def __call__(self, text: str) -> list[str]:
        feats = _ngrams(text, *self.char)
        feats.extend("w:" + g for g in _ngrams(text.split(), *self.word, sep=" "))
        return feats


def cut_message(text: str) -> list[str]:
    """Cut a raw 问政 message (title + body) the way the category training tokens were made.

    Masked place names ("A市", "A1区"), whitespace, punctuation, numbers and single Latin letters
    are dropped; stop words are dropped later by the vocabulary filter (:class:`VocabularyFilter`).
    """
    return filter_tokens(_cut(normalize_text(_MASKED_PLACE_RE.sub(" ", text or ""))))


def split_tokens(text: str) -> list[str]:
    """Split space-separated tokens."""
    return text.split()


def filter_tokens(tokens: Iterable[str]) -> list[str]:
    """Lower-case tokens; drop whitespace, punctuation, numbers and masked-place remains ("a1", "区")."""
    cleaned = (unicodedata.normalize("NFKC", tok).strip().lower() for tok in tokens)
    return [t for t in cleaned if t and not _NOISE_TOKEN_RE.match(t)]


class CompactTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` whose vocabulary pickles as one string.

    joblib unpickles with the pure-Python unpickler, which takes seconds over a dict of 400k
    terms; one string plus a dict rebuild takes a tenth of that.
    """

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            if any(_SEP in t for t in terms):
                raise ValueError("a vocabulary term contains NUL; normalise texts before fitting")
            state["_terms"] = _SEP.join(terms)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("_terms", None)
        super().__setstate__(state)
        if terms is not None:
            self.vocabulary_ = {t: i for i, t in enumerate(terms.split(_SEP))} if terms else {}


class VocabularyFilter:
    """Keep only tokens seen in training; mirrors the stop-word removal applied to training tokens.

    Args:
        vocabulary: the token set of the training corpus.
    """

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = frozenset(vocabulary)

    def __getstate__(self) -> dict[str, Any]:
        return {"terms": _SEP.join(sorted(self.vocabulary))}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.vocabulary = frozenset(state["terms"].split(_SEP)) if state["terms"] else frozenset()

    def __call__(self, text: str) -> str:
        return " ".join(t for t in cut_message(text) if t in self.vocabulary)


class LinearClassifier(TextClassifier):
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
        self.labels = TASK_LABELS[task]
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

    def _proba(self, texts: Sequence[str]) -> np.ndarray:
        inputs = [self.prepare(t) for t in texts] if self.prepare is not None else list(texts)
        raw = np.asarray(self.model[-1].predict_proba(self._features(inputs)), dtype=np.float64)
        raw = raw * self._weights
        proba = np.zeros((raw.shape[0], len(self.labels)))
        for j, target in enumerate(self._targets):
            if target >= 0:
                proba[:, target] += raw[:, j]
        return proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return the most probable label per text, with its probability as score."""
        if not texts:
            return []
        proba = self._proba(texts)
        best = proba.argmax(axis=1)
        return [Prediction(self.labels[i], float(proba[row, i])) for row, i in enumerate(best)]

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Return a probability for every label of the task, per text."""
        if not texts:
            return []
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in self._proba(texts)]


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
    if task not in TASK_LABELS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_LABELS)}")
    if backend == "default":
        return load_linear(task, path)
    if backend == "transformers":
        from nlp.hf_backend import load_hf_classifier

        if path is None:
            raise ModelNotFoundError(f"the transformers backend needs a local model directory for {task}")
        return load_hf_classifier(task, path)
    raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
