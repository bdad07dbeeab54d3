"""Small deterministic stand-ins for the trained models, for tests about jobs, not accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from nlp.base import CATEGORY_LABELS, EMOTION_LABELS, SENTIMENT_LABELS, Prediction, TextClassifier


class KeywordClassifier(TextClassifier):
    """Labels by keyword: '差' negative, '好' positive, else neutral (and similar per task)."""

    def __init__(self, task: str, version: str = "fake-1") -> None:
        self.task = task
        self.version = version
        self.labels = {"sentiment": SENTIMENT_LABELS, "emotion": EMOTION_LABELS, "category": CATEGORY_LABELS}[
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
