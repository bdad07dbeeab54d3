"""The tagging pipeline: documents in, one tag row per document out (pure, no database).

Components are passed in, so a stage can be swapped (another backend) or left out (``None``),
as in BERTopic's pipeline design.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nlp.base import TextClassifier


@dataclass(frozen=True)
class DocInput:
    """What the taggers read of a stored document."""

    id: int
    content: str
    title: str | None = None
    region_hint: str | None = None


class TopicAssigner(Protocol):
    """Assigns documents to the topics of the latest refit."""

    @property
    def version(self) -> str: ...

    def assign(self, texts: Sequence[str]) -> list[tuple[int, float]]: ...


def doc_text(doc: DocInput) -> str:
    """Title and body as one string (titles carry most of a 问政 message's demand)."""
    if doc.title and doc.title not in doc.content[: len(doc.title) + 5]:
        return f"{doc.title}。{doc.content}"
    return doc.content


@dataclass
class Tagger:
    """Runs every NLP stage over a batch of documents."""

    sentiment: TextClassifier | None
    emotion: TextClassifier | None
    category: TextClassifier | None
    regions: Callable[[Sequence[str], Sequence[str | None]], list[Any]] | None = None
    keywords: Callable[[Sequence[str]], list[list[str]]] | None = None
    topics: TopicAssigner | None = None

    @property
    def model_versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in ("sentiment", "emotion", "category"):
            model = getattr(self, name)
            out[name] = model.version if model is not None else "none"
        out["regions"] = getattr(self.regions, "version", "regions-1") if self.regions else "none"
        out["keywords"] = getattr(self.keywords, "version", "keywords-1") if self.keywords else "none"
        return out

    @property
    def version(self) -> str:
        """One string naming every model; a change in any re-tags documents in the background."""
        joined = "|".join(f"{k}={v}" for k, v in sorted(self.model_versions.items()))
        return "p1-" + hashlib.sha1(joined.encode()).hexdigest()[:12]

    def tag(self, docs: Sequence[DocInput]) -> list[dict[str, Any]]:
        """Tag a batch; returns one dict per document with the ``doc_tags`` columns."""
        texts = [doc_text(d) for d in docs]
        rows: list[dict[str, Any]] = [{"document_id": d.id} for d in docs]
        for name in ("sentiment", "emotion", "category"):
            model: TextClassifier | None = getattr(self, name)
            if model is None or not texts:
                continue
            for row, pred in zip(rows, model.predict(texts), strict=True):
                row[name] = pred.label
                row[f"{name}_score"] = float(pred.score)
        if self.regions is not None and texts:
            for row, region in zip(rows, self.regions(texts, [d.region_hint for d in docs]), strict=True):
                row["province"] = getattr(region, "province", None)
                row["city"] = getattr(region, "city", None)
                row["district"] = getattr(region, "district", None)
        if self.keywords is not None and texts:
            for row, words in zip(rows, self.keywords(texts), strict=True):
                row["keywords"] = list(words)
        if self.topics is not None and texts:
            for row, (topic_id, score) in zip(rows, self.topics.assign(texts), strict=True):
                row["topic_id"] = int(topic_id) if topic_id is not None and topic_id >= 0 else None
                row["topic_score"] = float(score)
        versions = self.model_versions
        for row in rows:
            row["pipeline_version"] = self.version
            row["model_versions"] = versions
        return rows
