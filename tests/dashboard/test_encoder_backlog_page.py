"""数据源健康 shows the encoder tier's backlog per priority class, and its version or why it is idle."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from sqlalchemy import Engine, select, update

from storage import schema as s
from storage.db import write_tx
from storage.encodings import record_encoder_state
from tests.dashboard.conftest import NOW, OpenPage
from tests.dashboard.helpers import metrics, page_text
from tests.seed import SeedFacts

PRIORITY_CHANNELS = ("hotline", "gov")


def expected(seeded: SeedFacts) -> tuple[int, int, int]:
    """(waiting, priority channels, hot topics and alerts) from the seed, in plain Python."""
    tagged = [d for d in seeded.docs if d.tagged]
    since = NOW - timedelta(days=7)
    active = {d.topic_id for d in tagged if since <= d.published_at < NOW and d.topic_id > 0}
    assert len(active) <= 20  # every active topic is among the 20 hottest
    named = set()
    for alert in seeded.alerts:
        if alert["status"] != "resolved":
            named |= set(alert["evidence"]["document_ids"])
    others = [d for d in tagged if d.channel not in PRIORITY_CHANNELS]
    hot = {d.id for d in others if (d.topic_id in active and d.published_at >= since) or d.id in named}
    return len(tagged), len(tagged) - len(others), len(hot)


def test_sources_page_shows_the_encoder_backlog_per_class(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    total, first, hot = expected(seeded)
    assert 0 < first < total and 0 < hot < total - first
    at = open_page("sources", role="official")
    shown = metrics(at)
    assert shown["待语义编码文档"] == f"{total:,}"
    assert shown["其中：优先渠道"] == f"{first:,}"
    assert shown["其中：热点话题与预警"] == f"{hot:,}"
    assert shown["其中：其余"] == f"{total - first - hot:,}"
    assert "编码层尚未运行过" in page_text(at)


def test_sources_page_names_the_encoder_version_or_what_keeps_it_idle(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    record_encoder_state(engine, None, "no encoder-tier sentiment model at nlp/models/encoder/sentiment")
    at = open_page("sources", role="official")
    assert "编码层未运行：no encoder-tier sentiment model" in page_text(at)

    # Ten hotline documents encoded by a version other than the workers' current one: outdated.
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(s.doc_tags.c.document_id, s.doc_tags.c.published_at, s.doc_tags.c.channel)
                .where(s.doc_tags.c.channel == "hotline")
                .limit(10)
            )
        )
    with write_tx(engine) as conn:
        conn.execute(
            s.encoder_tags.insert(),
            [
                {
                    "document_id": i,
                    "published_at": at_,
                    "channel": ch,
                    "embedding": bytes(384),
                    "sentiment": "neutral",
                    "model_version": "e1-old",
                    "encoded_at": NOW,
                }  # fmt: skip
                for i, at_, ch in ids
            ],
        )
        conn.execute(
            update(s.doc_tags)
            .where(s.doc_tags.c.document_id.in_([i for i, _, _ in ids]))
            .values(tier="encoder")
        )
    record_encoder_state(engine, "e1-new")
    st.cache_data.clear()  # the page's figures are cached for a minute
    total, first, _ = expected(seeded)
    at = open_page("sources", role="official")
    shown = metrics(at)
    assert shown["待语义编码文档"] == f"{total:,}"  # ten left the pending set, ten are outdated
    assert shown["其中：优先渠道"] == f"{first:,}"
    text = page_text(at)
    assert "编码层模型版本：e1-new，其中 10 篇由旧版本编码" in text
