"""Small deterministic stand-ins for the trained models, for tests about jobs, not accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.labels import CATEGORY_CODES, EMOTION_CODES, SENTIMENT_CODES
from nlp.base import Prediction, TextClassifier


class KeywordClassifier(TextClassifier):
    """Labels by keyword: '差' negative, '好' positive, else neutral (and similar per task)."""

    def __init__(self, task: str, version: str = "fake-1") -> None:
        self.task = task
        self.version = version
        self.labels = {"sentiment": SENTIMENT_CODES, "emotion": EMOTION_CODES, "category": CATEGORY_CODES}[
            task
        ]
        self.calls = 0

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.calls += len(texts)
        out = []
        for t in texts:
            if self.task == "sentiment":
                label = "negative" if "差" in t else "positive" if "好" in t else "neutral"
            elif self.task == "emotion":
                label = "angry" if "差" in t else "happy" if "好" in t else "neutral"
            else:
                label = "环境保护" if "污染" in t else "城乡建设"
            out.append(Prediction(label, 0.9))
        return out
