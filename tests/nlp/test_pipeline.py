"""Tests for nlp.pipeline: each stage sees a batch's distinct texts once, rows stay in order."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nlp.base import Prediction
from nlp.pipeline import STAGES, DocInput, Tagger, distinct, doc_text
from nlp.regions import Region
from tests.fakes import KeywordClassifier


class RecordingRegions:
    """A region stage that records what it is given and names the hint's province."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str | None]]] = []

    def __call__(self, texts: Sequence[str], hints: Sequence[str | None]) -> list[Region]:
        self.calls.append(list(zip(texts, hints, strict=True)))
        return [Region(h or ("广东省" if "广州" in t else None)) for t, h in zip(texts, hints, strict=True)]


class RecordingKeywords:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        self.calls.append(list(texts))
        return [[t[:2]] for t in texts]


class RecordingTopics:
    version = "topics-test"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def assign(self, texts: Sequence[str]) -> list[tuple[int, float]]:
        self.calls.append(list(texts))
        return [(len(t) % 3 - 1, 0.5) for t in texts]


def make_tagger() -> Tagger:
    return Tagger(
        sentiment=KeywordClassifier("sentiment"),
        emotion=KeywordClassifier("emotion"),
        category=KeywordClassifier("category"),
        regions=RecordingRegions(),
        keywords=RecordingKeywords(),
        topics=RecordingTopics(),
    )


DOCS = [
    DocInput(1, "服务很好"),
    DocInput(2, "路面太差了", region_hint="湖南省"),
    DocInput(3, "服务很好"),  # a repost of 1
    DocInput(4, "路面太差了"),  # same text as 2, no hint
    DocInput(5, "广州河道污染严重"),
    DocInput(6, "服务很好"),
    DocInput(7, "很好", title="服务"),  # title + body: a text of its own
]


def test_each_stage_sees_distinct_texts_once_and_rows_keep_order() -> None:
    tagger = make_tagger()
    rows = tagger.tag(DOCS)
    texts = [doc_text(d) for d in DOCS]
    unique = list(dict.fromkeys(texts))
    assert [r["document_id"] for r in rows] == [d.id for d in DOCS]
    assert tagger.sentiment.calls == len(unique)  # type: ignore[union-attr]
    assert tagger.keywords.calls == [unique]  # type: ignore[union-attr]
    assert tagger.topics.calls == [unique]  # type: ignore[union-attr]
    # the hint takes part in the region: (text, hint) pairs are the distinct unit there
    pairs = list(dict.fromkeys((doc_text(d), d.region_hint) for d in DOCS))
    assert tagger.regions.calls == [pairs]  # type: ignore[union-attr]
    for doc, text, row in zip(DOCS, texts, rows, strict=True):
        assert row["sentiment"] == ("negative" if "差" in text else "positive" if "好" in text else "neutral")
        assert row["keywords"] == [text[:2]]
        assert row["province"] == (doc.region_hint or ("广东省" if "广州" in text else None))
        topic = len(text) % 3 - 1
        assert row["topic_id"] == (topic if topic >= 0 else None)
        assert row["pipeline_version"] == tagger.version
    rows[0]["keywords"].append("x")  # rows do not share mutable lists
    assert rows[2]["keywords"] == ["服务"]


def test_stage_cpu_time_is_added_up() -> None:
    tagger = make_tagger()
    tagger.tag(DOCS)
    first = dict(tagger.cpu_seconds)
    assert set(first) == set(STAGES)
    assert all(v >= 0 for v in first.values())
    tagger.tag(DOCS)
    assert all(tagger.cpu_seconds[k] >= first[k] for k in first)
    bare = Tagger(sentiment=KeywordClassifier("sentiment"), emotion=None, category=None)
    bare.tag(DOCS)
    assert set(bare.cpu_seconds) == {"prepare", "sentiment"}


def test_empty_batch_and_wrong_prediction_count() -> None:
    tagger = make_tagger()
    assert tagger.tag([]) == []

    class Short(KeywordClassifier):
        def predict(self, texts: Sequence[str]) -> list[Prediction]:
            return super().predict(texts)[:-1]

    broken = Tagger(sentiment=Short("sentiment"), emotion=None, category=None)
    with pytest.raises(ValueError, match="sentiment"):
        broken.tag(DOCS)


def test_distinct() -> None:
    assert distinct(["a", "b", "a", "c", "b"]) == (["a", "b", "c"], [0, 1, 0, 2, 1])
    assert distinct([]) == ([], [])
