"""The tagging pipeline: documents in, one tag row per document out (pure, no database).

Components are passed in, so a stage can be swapped (another backend) or left out (``None``),
as in BERTopic's pipeline design. Every stage sees each distinct text of a batch once (reposts
are common), and the tagger adds up the CPU time each stage takes (``Tagger.cpu_seconds``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

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


K = TypeVar("K", bound=Hashable)


def distinct(items: Sequence[K]) -> tuple[list[K], list[int]]:
    """Return the distinct items in first-seen order and, per item, its index among them."""
    first: dict[K, int] = {}
    slots = [first.setdefault(item, len(first)) for item in items]
    return list(first), slots


def doc_text(doc: DocInput) -> str:
    """Title and body as one string (titles carry most of a 问政 message's demand)."""
    if doc.title and doc.title not in doc.content[: len(doc.title) + 5]:
        return f"{doc.title}。{doc.content}"
    return doc.content


STAGES: tuple[str, ...] = ("prepare", "sentiment", "emotion", "category", "regions", "keywords", "topics")


@dataclass
class Tagger:
    """Runs every NLP stage over a batch of documents.

    ``cpu_seconds`` adds up the process CPU time of each stage over every :meth:`tag` call
    (``prepare`` is building the texts and the rows), for benchmarks and worker logs.
    """

    sentiment: TextClassifier | None
    emotion: TextClassifier | None
    category: TextClassifier | None
    regions: Callable[[Sequence[str], Sequence[str | None]], list[Any]] | None = None
    keywords: Callable[[Sequence[str]], list[list[str]]] | None = None
    topics: TopicAssigner | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

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
        return _pipeline_version(self.model_versions)

    def _lap(self, stage: str, start: float) -> float:
        now = time.process_time()
        self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + now - start
        return now

    def tag(self, docs: Sequence[DocInput]) -> list[dict[str, Any]]:
        """Tag a batch; returns one dict per document with the ``doc_tags`` columns."""
        start = time.process_time()
        texts, slots = distinct([doc_text(d) for d in docs])
        rows: list[dict[str, Any]] = [{"document_id": d.id} for d in docs]
        start = self._lap("prepare", start)
        for name in ("sentiment", "emotion", "category"):
            model: TextClassifier | None = getattr(self, name)
            if model is None or not texts:
                continue
            preds = model.predict(texts)
            if len(preds) != len(texts):
                raise ValueError(f"{name} returned {len(preds)} predictions for {len(texts)} texts")
            for row, slot in zip(rows, slots, strict=True):
                pred = preds[slot]
                row[name] = pred.label
                row[f"{name}_score"] = float(pred.score)
            start = self._lap(name, start)
        if self.regions is not None and texts:
            # The hint takes part in the region, so the distinct unit is (text, hint).
            pairs, pair_slots = distinct(
                [(texts[s], d.region_hint) for s, d in zip(slots, docs, strict=True)]
            )
            regions = self.regions([t for t, _ in pairs], [h for _, h in pairs])
            for row, slot in zip(rows, pair_slots, strict=True):
                region = regions[slot]
                row["province"] = getattr(region, "province", None)
                row["city"] = getattr(region, "city", None)
                row["district"] = getattr(region, "district", None)
            start = self._lap("regions", start)
        if self.keywords is not None and texts:
            keywords = self.keywords(texts)
            for row, slot in zip(rows, slots, strict=True):
                row["keywords"] = list(keywords[slot])
            start = self._lap("keywords", start)
        if self.topics is not None and texts:
            topics = self.topics.assign(texts)
            for row, slot in zip(rows, slots, strict=True):
                topic_id, score = topics[slot]
                row["topic_id"] = int(topic_id) if topic_id is not None and topic_id >= 0 else None
                row["topic_score"] = float(score)
            start = self._lap("topics", start)
        versions = self.model_versions
        version = _pipeline_version(versions)
        for row in rows:
            row["pipeline_version"] = version
            row["model_versions"] = versions
        self._lap("prepare", start)
        return rows


def _pipeline_version(model_versions: dict[str, str]) -> str:
    joined = "|".join(f"{k}={v}" for k, v in sorted(model_versions.items()))
    return "p1-" + hashlib.sha1(joined.encode()).hexdigest()[:12]
