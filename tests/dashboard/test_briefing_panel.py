"""总览 shows the latest model-written briefing as plain text, labelled with the figures checked."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from sqlalchemy import Engine

from storage.briefings import save_briefing
from tests.dashboard.conftest import NOW, OpenPage
from tests.seed import SeedFacts

TEXT = "【态势概述】\n本期文档 330 条[F2]。<script>alert(1)</script> **加粗** [链接](http://example.invalid)"


def test_overview_shows_no_briefing_until_one_is_written(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    at = open_page("overview")
    assert not [h for h in at.subheader if "大模型" in h.value]
    save_briefing(
        engine, kind="weekly", period="2026-W47", period_start=NOW - timedelta(days=7), period_end=NOW,
        requested_by="cli", model="qwen-office", status="verified", text=TEXT, draft=TEXT,
        facts={"facts": {"F2": "文档总量：本期 330 条。"}},
        verification={"checked_figures": 1, "removed": [{"sentence": "x", "reason": "y"}]}, llm_call_id=None,
    )  # fmt: skip
    st.cache_data.clear()  # the page caches for data.TTL seconds
    at = open_page("overview")
    assert [h.value for h in at.subheader if "大模型" in h.value] == ["每周舆情要报（大模型撰写）"]
    assert TEXT in [t.value for t in at.text]  # shown as written: no HTML, no Markdown
    (caption,) = [c.value for c in at.caption if "大模型" in c.value]
    assert "qwen\\-office" in caption and "核对 1 个数字" in caption and "1 句未通过核验已删除" in caption
