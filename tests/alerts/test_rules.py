"""Rule evaluation: pure functions on synthetic series, then seeded rollups on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sqlalchemy import Engine, select

from alerts.engine import evaluate_rules
from alerts.rules import SourceActivity, evaluate_negative_share, evaluate_source_silence, evaluate_volume
from analytics.chance import describe_count, describe_evidence
from kernel.settings import AlertRuleSettings
from storage import schema as s
from storage.db import write_tx
from storage.store import Store
from tests.alerts.conftest import NOW, make_app
from tests.conftest import HttpReceiver

HOUR = timedelta(hours=1)
CURRENT = NOW.replace(minute=0)  # the (partial) hour being evaluated


def rule(**kw: Any) -> AlertRuleSettings:
    return AlertRuleSettings.model_validate(
        {"name": "r", "kind": "volume_spike", "dimension": "category", **kw}
    )


def hourly_frame(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """Rows bucket/value/sentiment/n ending at the current hour, one series per (value, sentiment)."""
    rows = []
    for (value, sentiment), counts in values.items():
        start = CURRENT - (len(counts) - 1) * HOUR
        rows += [(start + i * HOUR, value, sentiment, float(n)) for i, n in enumerate(counts) if n]
    return pd.DataFrame(rows, columns=["bucket", "value", "sentiment", "n"])


def daily_pattern(days: int, seed: int, level: float = 6.0) -> list[float]:
    """Poisson counts with a day/night cycle (quiet at night, busy by day in Beijing)."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(CURRENT - (days * 24 - 1) * HOUR, CURRENT, freq="h")
    mean = level * (1.2 + np.sin((hours.hour.to_numpy() + 8 - 9) / 24 * 2 * np.pi))
    return [float(x) for x in rng.poisson(mean)]


def test_volume_spike_fires_with_numbers_in_plain_chinese() -> None:
    env, build = daily_pattern(14, 1), daily_pattern(14, 2)
    usual = env[-1]
    env[-1] = usual + 45  # a burst in the current hour
    cands = evaluate_volume(
        rule(min_count=8), hourly_frame({("环境保护", "neutral"): env, ("城乡建设", "neutral"): build}), NOW
    )
    assert [c.key for c in cands] == ["category=环境保护"]
    c = cands[0]
    assert c.value == usual + 45 and c.baseline is not None and c.value / max(c.baseline, 1) > 3
    assert c.since == CURRENT and c.severity == "warning"
    assert f"诉求类别「环境保护」本小时 {c.value:.0f} 条，按近 14 天同时段预计" in c.summary
    # how unusual, in words, from the tail probability of the detector's own statistic
    ev = c.evidence
    assert ev["p_value"] == pytest.approx(norm.sf(ev["z"]), rel=1e-2, abs=1e-12)
    assert describe_count(c.value, ev["expected"], 1, 14, ev["p_value"]) in c.summary
    assert "偶然出现的概率" in c.summary and describe_evidence(ev) in c.summary
    assert "倍" in c.summary and "自 11月20日 14:00 起" in c.summary  # 06:00 UTC shown in Beijing time
    assert c.scope is not None and (c.scope.dimension, c.scope.value) == ("category", "环境保护")


def test_volume_spike_is_quiet_on_normal_traffic_and_small_counts() -> None:
    normal = {("环境保护", "neutral"): daily_pattern(14, 3), ("城乡建设", "neutral"): daily_pattern(14, 4)}
    assert evaluate_volume(rule(min_count=8), hourly_frame(normal), NOW) == []
    quiet = [0.0] * (14 * 24)
    quiet[-1] = 6  # far above a zero baseline, but under min_count
    assert evaluate_volume(rule(min_count=8), hourly_frame({("交通运输", "neutral"): quiet}), NOW) == []


@pytest.mark.parametrize("window_hours", [1, 2])
def test_volume_spike_reports_the_hours_its_value_sums(window_hours: int) -> None:
    counts = daily_pattern(14, 5)
    for i in range(1, 2 * window_hours + 1):
        counts[-i] += 30  # a burst over the last two windows
    cands = evaluate_volume(
        rule(min_count=8, window_hours=window_hours), hourly_frame({("环境保护", "neutral"): counts}), NOW
    )
    assert len(cands) == 1
    c = cands[0]
    hours = c.evidence["window_hours"]
    assert hours in (window_hours, 2 * window_hours)
    assert c.value == sum(counts[-hours:])  # the reported value sums exactly the reported hours
    assert ("本小时" if hours == 1 else f"最近 {hours} 小时") in c.summary


def test_volume_spike_needs_history_not_zeros_before_the_data() -> None:
    short = [2.0] * 30 + [40.0]  # 31 hours of data: no same-hour history yet
    frame = hourly_frame({("total", "neutral"): short})
    assert evaluate_volume(rule(dimension="total"), frame, NOW, data_start=frame["bucket"].min()) == []


def test_negative_share_spike() -> None:
    rng = np.random.default_rng(5)
    total = [30.0] * (14 * 24)
    neg = [float(x) for x in rng.binomial(30, 0.2, size=14 * 24)]
    neg[-1] = 24.0
    other = [n_ for n_ in total]
    frame = hourly_frame(
        {
            ("城乡建设", "negative"): neg,
            ("城乡建设", "neutral"): [t - n_ for t, n_ in zip(total, neg, strict=True)],
            ("环境保护", "neutral"): other,
        }
    )
    cands = evaluate_negative_share(rule(kind="negative_share", min_count=20), frame, NOW)
    assert [c.key for c in cands] == ["category=城乡建设"]
    c = cands[0]
    assert c.value == 24 / 30 and c.baseline is not None and 0.15 < c.baseline < 0.25
    assert "负面占比 80%（24/30 条）" in c.summary and "个百分点" in c.summary


def test_source_silence_ignores_disabled_and_never_delivered_sources() -> None:
    r = rule(kind="source_silence", silence_minutes=120)
    sources = [
        SourceActivity(
            "quiet", True, NOW - timedelta(minutes=200), NOW - timedelta(minutes=5), "failed", "HTTP 503"
        ),
        SourceActivity("fresh", True, NOW - timedelta(minutes=30)),
        SourceActivity("off", False, NOW - timedelta(days=3)),
        SourceActivity("new", True, None),
    ]
    (c,) = evaluate_source_silence(r, sources, NOW)
    assert c.key == "source=quiet" and c.value == 200 and c.baseline == 120
    assert "已 200 分钟没有新数据" in c.summary and "失败" in c.summary and "HTTP 503" in c.summary


# -- seeded rollups, both backends --------------------------------------------------------------
def seed_rollups(engine: Engine, series: dict[tuple[str, str], list[float]]) -> None:
    rows = []
    for (category, sentiment), counts in series.items():
        start = CURRENT - (len(counts) - 1) * HOUR
        for i, n in enumerate(counts):
            if n:
                rows.append(
                    {"bucket": start + i * HOUR, "channel": "social", "source_id": 1, "category": category, "province": "湖南省",
                     "topic_id": -1, "sentiment": sentiment, "n": int(n) + 1, "n_unique": int(n), "likes": 0,
                     "reposts": 0, "comments": 0, "reads": 0}
                )  # fmt: skip
    with write_tx(engine) as conn:
        conn.execute(s.rollups.insert(), rows)


def seed_documents(engine: Engine, category: str, texts: list[tuple[str, int]], at: datetime) -> list[int]:
    """Tagged first copies in ``category`` with the given engagement, plus one repost of the first."""
    store = Store(engine)
    sid = store.ensure_source("weibo", "rss", "social")
    rows = [
        {"external_id": f"{category}{i}", "channel": "social", "title": "", "content": text, "published_at": at,
         "content_hash": f"{category}{i}", "likes": likes}
        for i, (text, likes) in enumerate(texts)
    ]  # fmt: skip
    ids = store.write_documents(sid, rows).new_ids
    copy = {"external_id": f"{category}-copy", "channel": "social", "content": texts[0][0], "published_at": at,
            "content_hash": f"{category}0", "dup_of": ids[0], "likes": 10_000}  # fmt: skip
    ids.append(store.write_documents(sid, [copy]).new_ids[0])
    with write_tx(engine) as conn:
        for i in ids:
            conn.execute(
                s.doc_tags.insert().values(
                    document_id=i, published_at=at, channel="social", sentiment="negative", category=category,
                    province="湖南省", pipeline_version="t", model_versions={}, tagged_at=at,
                )
            )  # fmt: skip
    return ids


def test_rules_on_seeded_rollups_store_alerts_with_examples(engine: Engine, receiver: HttpReceiver) -> None:
    env = daily_pattern(14, 11)
    env[-1] += 50
    seed_rollups(engine, {("环境保护", "neutral"): env, ("城乡建设", "neutral"): daily_pattern(14, 12)})
    texts = [
        ("河道污染严重，鱼大量死亡", 5),
        ("化工厂排污，气味刺鼻，电话138****0000", 50),
        ("污水直排", 1),
        ("垃圾焚烧冒黑烟", 20),
    ]
    ids = seed_documents(engine, "环境保护", texts, NOW - timedelta(minutes=10))
    alerts = {
        "rules": [
            {
                "name": "category_spike",
                "kind": "volume_spike",
                "dimension": "category",
                "min_count": 8,
                "notify": ["hook"],
            },
            {"name": "region_spike", "kind": "volume_spike", "dimension": "region", "min_count": 8},
            {"name": "negative_share", "kind": "negative_share", "dimension": "category", "min_count": 20},
        ],
        "notifiers": [{"name": "hook", "kind": "webhook", "url": receiver.url}],
    }
    app = make_app(engine, alerts, dashboard={"base_url": "https://yq.gov.local/"})
    counts = evaluate_rules(app.engine, app.settings, now=NOW)
    assert counts["errors"] == 0
    with engine.connect() as conn:
        stored = {(r.rule, r.key): r for r in conn.execute(select(s.alerts))}
    assert set(stored) == {("category_spike", "category=环境保护"), ("region_spike", "region=湖南省")}
    alert = stored[("category_spike", "category=环境保护")]
    docs = alert.evidence["documents"]
    assert [d["id"] for d in docs] == [ids[1], ids[3], ids[0]]  # by engagement; the repost is not an example
    assert alert.evidence["document_ids"] == [ids[1], ids[3], ids[0]]
    assert "138****0000" in docs[0]["excerpt"]  # the stored (masked) text
    assert alert.evidence["since"] == CURRENT.isoformat() and alert.value == env[-1]
    from alerts.engine import deliver_outbox

    deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)
    text = receiver.requests[0].json()["text"]
    assert f"https://yq.gov.local/alerts?alert={alert.id}" in text
    assert "化工厂排污" in text and "开始时间：11月20日 14:00（北京时间）" in text


def test_emerging_topics_new_and_rising() -> None:
    from alerts.content_rules import evaluate_emerging

    days = 14 * 24
    steady = [2.0] * days
    rising = [2.0] * (days - 1) + [30.0]
    new = [0.0] * (days - 1) + [20.0]
    frame = hourly_frame(
        {("5", "neutral"): steady, ("3", "neutral"): rising, ("7", "neutral"): new, ("-1", "neutral"): new}
    )
    r = rule(kind="emerging_topic", dimension="topic", min_count=15)
    cands = evaluate_emerging(r, frame, NOW, labels={"7": "小区停水"})
    assert [(c.key, c.evidence["reason"]) for c in cands] == [("topic=7", "new"), ("topic=3", "rising")]
    new_c, rising_c = cands
    assert new_c.title == "出现新话题「小区停水」" and "最近1小时 20 条" in new_c.summary
    assert new_c.since == CURRENT and new_c.scope is not None and new_c.scope.value == "7"
    assert (
        rising_c.value == 30
        and rising_c.baseline == pytest.approx(2.0, abs=0.05)
        and "是常态的" in rising_c.summary
    )
    assert evaluate_emerging(r.model_copy(update={"min_count": 40}), frame, NOW) == []


def test_keyword_watchlist_counts_events_not_reposts() -> None:
    from alerts.content_rules import WindowDocument, evaluate_keyword
    from analytics.watchlist import compile_expression

    at = NOW - timedelta(minutes=20)
    docs = [
        WindowDocument(1, "", "某小区燃气泄漏，已疏散", at, "social", None, 3),
        WindowDocument(2, "", "某小区燃气泄漏，已疏散", at, "social", 1, 0),  # a repost of 1
        WindowDocument(3, "突发", "仓库发生火灾", at + timedelta(minutes=5), "news", None, 40),
        WindowDocument(4, "", "消防演练：模拟火灾", at, "gov", None, 99),  # excluded by NOT 演练
        WindowDocument(5, "", "今天天气很好", at, "social", None, 0),
    ]
    r = rule(
        kind="keyword",
        expression='(爆炸 OR 火灾 OR "燃气泄漏") AND NOT 演练',
        min_count=2,
        severity="critical",
    )
    (c,) = evaluate_keyword(r, docs, NOW, compile_expression(r.expression or ""))
    assert (c.key, c.value, c.severity, c.since) == ("watchlist", 2.0, "critical", at)
    assert c.scope is not None and c.scope.document_ids == (3, 1)
    assert "命中 2 起（共 3 条内容" in c.summary and "燃气泄漏（2）" in c.summary and "火灾（1）" in c.summary
    assert (
        evaluate_keyword(
            r.model_copy(update={"min_count": 3}), docs, NOW, compile_expression(r.expression or "")
        )
        == []
    )


def test_shipped_config_rules_evaluate_cleanly(engine: Engine) -> None:
    from pathlib import Path

    from kernel.settings import load_settings
    from sensing.app import App

    repo = Path(__file__).resolve().parents[2]
    settings = load_settings(repo / "config.yaml", environ={"SENSING_DATABASE__URL": "sqlite://"})
    kinds = {r.kind for r in settings.alerts.rules}
    assert kinds == {
        "volume_spike",
        "negative_share",
        "keyword",
        "emerging_topic",
        "source_silence",
        "model_drift",
    }
    env = daily_pattern(14, 21)
    env[-1] += 60
    seed_rollups(engine, {("环境保护", "negative"): env, ("城乡建设", "neutral"): daily_pattern(14, 22)})
    seed_documents(
        engine, "环境保护", [("化工厂爆炸，浓烟滚滚", 9), ("爆炸声后起火", 3)], NOW - timedelta(minutes=5)
    )
    app = App(settings=settings, _engine=engine)
    counts = evaluate_rules(app.engine, app.settings, now=NOW)
    assert counts["errors"] == 0 and counts["rules"] == len(settings.alerts.rules)
    with engine.connect() as conn:
        fired = {r.rule for r in conn.execute(select(s.alerts.c.rule))}
    assert {"volume_total", "category_spike", "public_safety"} <= fired


def test_rule_detector_setting_reaches_the_detector() -> None:
    from pydantic import ValidationError

    from alerts.rules import spike_params

    assert spike_params(AlertRuleSettings(name="v", kind="volume_spike")).detector == "scan"
    rule = AlertRuleSettings(name="v", kind="volume_spike", detector="zscore")
    assert spike_params(rule).detector == "zscore"
    with pytest.raises(ValidationError, match="detector"):
        AlertRuleSettings(name="v", kind="volume_spike", detector="magic")  # type: ignore[arg-type]
