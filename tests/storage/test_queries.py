"""The dashboard's read queries on both backends, checked against the seed computed in plain Python."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from storage import queries as q
from tests.seed import SeedFacts, seed_database

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


@pytest.fixture
def facts(engine: Engine) -> SeedFacts:
    return seed_database(engine, NOW)


def filters(facts: SeedFacts, days: float = 7, **kw: object) -> q.QueryFilters:
    start, end = facts.period(days)
    return q.QueryFilters(start=start, end=end, **kw)  # type: ignore[arg-type]


def test_period_helpers() -> None:
    start, end = q.last_hours(datetime(2026, 11, 20, 10, 30, 5, tzinfo=UTC), 24)
    assert (start, end) == (datetime(2026, 11, 19, 11, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
    f = q.QueryFilters(start=start, end=end, channels=("news",))
    assert f.previous() == q.QueryFilters(start=start - timedelta(hours=24), end=start, channels=("news",))
    assert q.like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
    assert f.describe() == {"start": start.isoformat(), "end": end.isoformat(), "channels": ["news"]}


def test_kpis_match_the_seed(engine: Engine, facts: SeedFacts) -> None:
    f = filters(facts)
    start, end = facts.period(7)
    k = q.kpi_summary(engine, f)
    prev = (start - timedelta(days=7), start)
    assert k["volume"] == facts.volume(start, end)
    assert k["volume_prev"] == facts.volume(*prev)
    assert k["negative_share"] == pytest.approx(facts.negative_share(start, end))
    assert k["new_topics"] == facts.new_topics(start, end) and k["new_topics_prev"] == facts.new_topics(*prev)
    assert k["open_alerts"] == facts.open_alerts


@pytest.mark.parametrize("dims", [("channel",), ("category", "province"), ("topic_id", "sentiment")])
def test_rollup_and_document_paths_agree(engine: Engine, facts: SeedFacts, dims: tuple[str, ...]) -> None:
    f = filters(facts, categories=("城乡建设", "环境保护", ""))
    every_source = filters(facts, categories=f.categories, sources=tuple(facts.sources), from_documents=True)
    assert every_source.needs_documents and not f.needs_documents
    from_rollups = q.aggregate(engine, f, list(dims)).sort_values(list(dims)).reset_index(drop=True)
    from_docs = q.aggregate(engine, every_source, list(dims)).sort_values(list(dims)).reset_index(drop=True)
    assert from_rollups.equals(from_docs)
    start, end = facts.period(7)
    docs = facts.select(start, end, category=("城乡建设", "环境保护", ""))
    expected = Counter(tuple(getattr(d, k) for k in dims) for d in docs)
    assert dict(
        zip(from_rollups[list(dims)].itertuples(index=False, name=None), from_rollups["n"], strict=True)
    ) == {k: v for k, v in expected.items()}
    assert from_rollups["n_unique"].sum() == sum(d.dup_of is None for d in docs)


def test_search_is_literal_case_insensitive_and_paged(engine: Engine, facts: SeedFacts) -> None:
    f = filters(facts, days=14)
    start, end = facts.period(14)
    assert q.document_count(engine, f, "%") == 0 and q.document_count(engine, f, "_") == 0
    assert q.document_count(engine, f, "SCRIPT") == len(facts.containing("<script>", start, end))
    total = q.document_count(engine, f)
    assert total == len(facts.select(start, end, tagged_only=False))
    seen: list[int] = []
    for page in range(1, total // 100 + 2):
        seen += list(q.search_documents(engine, f, page=page, page_size=100)["id"])
    assert len(seen) == len(set(seen)) == total
    times = list(q.search_documents(engine, f, page_size=total)["published_at"])
    assert times == sorted(times, reverse=True)
    news = filters(facts, days=14, channels=("news",), sentiments=("negative",), keyword="电梯")
    expected = [
        d for d in facts.containing("电梯", start, end) if d.channel == "news" and d.sentiment == "negative"
    ]
    assert sorted(q.search_documents(engine, news, page_size=500)["id"]) == sorted(d.id for d in expected)
    assert q.document_count(engine, news, collapse_duplicates=True) == sum(d.dup_of is None for d in expected)


def test_topic_documents_collapse_near_duplicates(engine: Engine, facts: SeedFacts) -> None:
    f = filters(facts, days=14)
    start, end = facts.period(14)
    reps = q.topic_documents(engine, f, 1, limit=10)
    members = facts.select(start, end, topic_id=1)
    copies = Counter(d.dup_of for d in facts.docs if d.dup_of)
    assert set(reps["id"]) <= {d.id for d in members if d.dup_of is None}
    assert list(reps["dup_count"]) == sorted(reps["dup_count"], reverse=True)
    assert reps["dup_count"].iloc[0] == max(copies.get(d.id, 0) for d in members if d.dup_of is None)


def test_alerts_emotions_regions_health(engine: Engine, facts: SeedFacts) -> None:
    f = filters(facts)
    start, end = facts.period(7)
    assert sorted(q.alerts_frame(engine, f)["id"]) == sorted(a["id"] for a in facts.alerts)
    assert sorted(q.alerts_frame(engine, f, include_resolved=False)["status"]) == [
        "acknowledged",
        "open",
        "open",
    ]
    only_env = q.alerts_frame(engine, filters(facts, categories=("环境保护",)))
    assert "category=城乡建设" not in set(only_env["key"]) and "category=环境保护" in set(only_env["key"])
    events = q.alert_events_frame(engine, facts.alerts[3]["id"])
    assert list(events["event"]) == ["fired", "acknowledged", "resolved"]
    emotions = q.emotion_mix(engine, f)
    assert dict(zip(emotions["emotion"], emotions["n"], strict=True)) == dict(
        facts.counts("emotion", start, end)
    )
    regions = q.region_table(engine, f)
    assert regions["n"].sum() == facts.volume(start, end)
    assert regions["negative"].sum() == facts.counts("sentiment", start, end)["negative"]
    health = q.source_health_frame(engine, NOW).set_index("name")
    assert (
        health.loc["news_sim", "last_status"] == "failed" and health.loc["news_sim", "failed_runs_24h"] == 1
    )
    assert health.loc["gov_sim", "minutes_since_success"] == 360
    earlier = q.source_health_frame(engine, NOW - timedelta(hours=24)).set_index("name")
    assert (earlier["minutes_since_success"].dropna() >= 0).all()  # successes after "now" read as 0
    assert dict(health["documents"]) == dict(Counter(d.source for d in facts.docs))
    assert q.tagging_backlog(engine) == facts.untagged
    evidence = facts.alerts[0]["evidence"]["document_ids"]
    assert sorted(q.documents_by_ids(engine, evidence)["id"]) == sorted(evidence)
    options = q.filter_options(engine)
    assert options["sources"] == sorted(facts.sources) and "" in options["provinces"]
