"""Interfaces shared by every NLP component.

A classifier maps texts to one label each with a confidence score. Two backends implement it:
the shipped default (linear models trained by ``nlp/train.py``) and ``transformers`` (any local
Hugging Face model directory). Callers never care which one they hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class ModelNotFoundError(RuntimeError):
    """A model artifact or directory named in config does not exist locally."""


@dataclass(frozen=True)
class Prediction:
    """One label for one text, with the model's confidence in [0, 1]."""

    label: str
    score: float


class TextClassifier(ABC):
    """A single-label text classifier.

    Attributes:
        task: ``sentiment``, ``emotion`` or ``category``.
        labels: the label set, in a fixed order.
        version: a string that changes whenever the model's predictions may change; it is
            stored next to every tag so that a new model re-tags old documents.
    """

    task: str
    labels: tuple[str, ...]
    version: str

    @abstractmethod
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return one prediction per text, in order."""

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Return a probability per label per text (default: one-hot of ``predict``)."""
        return [{p.label: p.score} for p in self.predict(texts)]


def top_labels(proba: Sequence[dict[str, float]]) -> list[str]:
    """The most probable label of each ``predict_proba`` row."""
    return [max(p, key=p.__getitem__) for p in proba]


def collapse_probabilities(raw: np.ndarray, targets: np.ndarray, n_labels: int) -> np.ndarray:
    """Sum a model's output columns into the task's labels and renormalise each row.

    Column ``j`` of ``raw`` adds to label index ``targets[j]``; ``-1`` drops it (e.g. SMP's
    ``surprise`` for sentiment).
    """
    proba = np.zeros((raw.shape[0], n_labels))
    for j, target in enumerate(targets):
        if target >= 0:
            proba[:, target] += raw[:, j]
    return proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)


class MappedProbabilityClassifier(TextClassifier):
    """A classifier whose model outputs probabilities over its own classes, mapped onto the task's
    labels by ``_targets`` (see :func:`collapse_probabilities`)."""

    _targets: np.ndarray

    @abstractmethod
    def _output_proba(self, texts: Sequence[str]) -> np.ndarray:
        """The model's probabilities, one row per text, one column per model class."""

    def _proba(self, texts: Sequence[str]) -> np.ndarray:
        return collapse_probabilities(self._output_proba(texts), self._targets, len(self.labels))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return the most probable label per text, with its probability as score."""
        if not texts:
            return []
        proba = self._proba(texts)
        best = proba.argmax(axis=1)
        return [Prediction(self.labels[int(i)], float(proba[row, i])) for row, i in enumerate(best)]

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Return a probability for every label of the task, per text."""
        if not texts:
            return []
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in self._proba(texts)]
