"""The 智能问答 query tools: typed parameters validated, results equal to the seed's own counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from storage.ask_tools import ToolError, period_bounds, run_tool, tool_specs
from tests.seed import SeedFacts, seed_database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TZ = "Asia/Shanghai"


@pytest.fixture
def seed(engine: Engine) -> SeedFacts:
    return seed_database(engine, NOW)


def test_breakdown_by_region_matches_the_seed(engine: Engine, seed: SeedFacts) -> None:
    start, end = period_bounds("last_7_days", NOW, TZ)
    result = run_tool(
        engine, "breakdown", {"period": "last_7_days", "by": "province", "category": "城乡建设"}, NOW, TZ
    )
    expected = seed.counts("province", start, end, category="城乡建设")
    shown = dict(zip(result.table["地域"], result.table["文档数"], strict=True))
    assert shown == {(p or "未识别"): n for p, n in expected.items()}
    top = result.table.iloc[0]
    docs = seed.select(start, end, category="城乡建设", province=top["地域"])
    assert top["负面占比"] == f"{sum(d.sentiment == 'negative' for d in docs) / len(docs) * 100:.2f}%"
    assert result.facts[0].startswith("近7天（2026-11-15 至 2026-11-21）") and "第1位" in result.facts[0]


def test_count_with_channel_and_sentiment(engine: Engine, seed: SeedFacts) -> None:
    start, end = period_bounds("last_week", NOW, TZ)
    args = {"period": "last_week", "channel": "hotline", "sentiment": "negative"}
    result = run_tool(engine, "count_documents", args, NOW, TZ)
    assert int(result.table["文档数"].iloc[0]) == seed.volume(
        start, end, channel="hotline", sentiment="negative"
    )


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("run_sql", {"sql": "select 1"}, "unknown tool 'run_sql'"),
        ("count_documents", {"period": "forever"}, "count_documents: period"),
        ("count_documents", {"period": "today", "sql": "drop table x"}, "count_documents: sql"),
        ("breakdown", {"period": "today", "by": "author"}, "breakdown: by"),
        ("breakdown", {"period": "today", "by": "channel", "top": 500}, "breakdown: top"),
        ("count_documents", {"period": "today", "region": "广" * 100}, "count_documents: region"),
    ],
)
def test_bad_calls_are_refused(
    sqlite_engine: Engine, name: str, args: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        run_tool(sqlite_engine, name, args, NOW, TZ)


def test_tool_specs_are_openai_functions() -> None:
    specs = {t["function"]["name"]: t["function"] for t in tool_specs()}
    assert set(specs) == {"count_documents", "breakdown"}
    assert specs["breakdown"]["parameters"]["required"] == ["period", "by"]
