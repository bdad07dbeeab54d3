"""Closing the loop on a seeded database (SQLite and PostgreSQL): reply quality, corrections, the review
queue, events with their effect, drift, and alert links; every figure checked against the seed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select, update

from analytics.effect import estimate_effect
from storage import schema as s
from storage.db import write_tx
from storage.rollups.refresh import refresh_rollups
from storage.types import utcnow
from tests.dashboard.conftest import NOW, OpenPage
from tests.dashboard.followup_seed import COMPONENTS, HTML_REPLY, SeededReply
from tests.dashboard.helpers import chart_titled, decode, metrics, page_text, table_with, total_of
from tests.seed import SeedDoc, SeedFacts

TZ = ZoneInfo("Asia/Shanghai")
SENTIMENT = {"negative": "负面", "neutral": "中性", "positive": "正面"}


def place(value: str) -> str:
    return value or "未知"


def in_period(replies: list[SeededReply], facts: SeedFacts, days: float = 7) -> list[SeededReply]:
    start, end = facts.period(days)
    return [r for r in replies if start <= r.published_at < end]


def test_reply_quality_page(open_page: OpenPage, seeded: SeedFacts, replies: list[SeededReply]) -> None:
    at = open_page("replies", role="official")
    shown = in_period(replies, seeded)
    assert len(shown) >= 10  # enough to rank
    m = metrics(at)
    assert m["已评分答复（条）"] == f"{len(shown):,}"
    assert m["平均得分"] == f"{mean(r.total for r in shown):.1f}"
    assert m["平均答复用时（天）"] == f"{mean(r.delay_days for r in shown):.1f}"
    assert m["超过 15 天答复"] == f"{sum(r.delay_days > 15 for r in shown) / len(shown):.1%}"

    def expected(key: Any, name: Any, min_count: int = 3) -> dict[str, tuple[int, float, float]]:
        groups: dict[str, list[SeededReply]] = defaultdict(list)
        for r in shown:
            groups[name(key(r))].append(r)
        return {
            g: (len(rs), round(mean(r.total for r in rs), 1), round(mean(r.delay_days for r in rs), 1))
            for g, rs in groups.items()
            if len(rs) >= min_count
        }

    def ranking(column: str) -> dict[str, tuple[int, float, float]]:
        table = table_with(at, "答复数")
        assert list(table["平均得分"]) == sorted(table["平均得分"], reverse=True)
        return {
            str(r[column]): (int(r["答复数"]), float(r["平均得分"]), float(r["平均用时（天）"]))
            for _, r in table.iterrows()
        }

    assert ranking("承办单位") == expected(lambda r: r.unit, lambda u: u or "未识别")
    at.radio(key="rq_by").set_value("category").run()
    assert ranking("诉求类别") == expected(lambda r: r.category, place)
    at.number_input(key="rq_min").set_value(1).run()
    at.radio(key="rq_by").set_value("province").run()
    assert ranking("地区") == expected(lambda r: r.province, place, 1)
    at.radio(key="rq_order").set_value("用时从长到短").run()
    delays = list(table_with(at, "答复数")["平均用时（天）"])
    assert delays == sorted(delays, reverse=True)

    parts = chart_titled(at, "各分项平均得分率")
    assert decode(parts["data"][0]["y"]) == pytest.approx(
        [mean(r.components[k] for r in shown) for k in COMPONENTS]
    )
    worst = table_with(at, "答复（已脱敏）")
    lowest = sorted(shown, key=lambda r: (r.total, r.id))[:20]
    assert list(worst["编号"]) == [r.id for r in lowest]
    assert list(worst["总分"]) == [r.total for r in lowest]
    assert list(worst["相关性"]) == [r.components["relevance"] for r in lowest]
    # filters apply: one category only
    cat = next(r.category for r in shown if r.category)
    at.sidebar.multiselect(key="f_categories").set_value([cat]).run()
    assert metrics(at)["已评分答复（条）"] == str(sum(r.category == cat for r in shown))
    # untrusted reply text is shown only as plain text
    at.sidebar.multiselect(key="f_categories").set_value([]).run()
    hostile = next(r for r in replies if r.reply == HTML_REPLY)
    assert lowest[0] == hostile
    at.selectbox(key="rq_doc").select(hostile.id).run()
    assert f"答复：{HTML_REPLY}" in [t.value for t in at.text]
    assert "<b>" not in page_text(at) and "**请知悉**" not in page_text(at)


def test_reply_quality_page_without_scores(open_page: OpenPage) -> None:
    at = open_page("replies")
    assert "没有已评分的答复" in page_text(at)


def first_negative_on_search_page(facts: SeedFacts) -> SeedDoc:
    start, end = facts.period(7)
    firsts = [d for d in facts.select(start, end, tagged_only=False) if d.dup_of is None]
    newest = sorted(firsts, key=lambda d: (d.published_at, d.id), reverse=True)[:50]
    return next(d for d in newest if d.tagged and d.sentiment == "negative")


def test_correction_in_search_changes_every_chart(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    at = open_page("search", role="analyst")
    start, end = seeded.period(7)
    counts = seeded.counts("sentiment", start, end)
    doc = first_negative_on_search_page(seeded)
    at.selectbox(key="q_doc").select(doc.id).run()
    assert at.selectbox(key="q_fix_field").value == "sentiment"
    at.selectbox(key=f"q_fix_value_{doc.id}_sentiment").select("neutral").run()
    at.button(key="q_fix_save").click().run()
    assert not at.exception
    assert any(f"文档 #{doc.id}" in str(e.value).replace("\\", "") for e in at.success), [
        e.value for e in (*at.error, *at.warning)
    ]
    shown = table_with(at, "内容（已脱敏）")
    assert shown.loc[shown["编号"] == doc.id, "情感"].tolist() == ["中性"]
    with engine.connect() as conn:
        stored = conn.execute(select(s.corrections.c.document_id, s.corrections.c.field, s.corrections.c.value,
                                     s.corrections.c.user)).all()  # fmt: skip
        audit = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action, s.audit_log.c.target)).all()
    assert stored == [(doc.id, "sentiment", "neutral", "analyst")]
    assert ("analyst", "tag.correct", f"document:{doc.id}") in audit
    at.switch_page("app_pages/sentiment.py").run()  # same session: the rollups and the cache are fresh
    m = metrics(at)
    assert m["负面（条）"] == f"{counts['negative'] - 1:,}"
    assert m["中性（条）"] == f"{counts['neutral'] + 1:,}"
    assert m["文档总数"] == f"{seeded.volume(start, end):,}"


def test_corrections_need_an_analyst(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("search", role="official")
    at.selectbox(key="q_doc").select(first_negative_on_search_page(seeded).id).run()
    assert not [b for b in at.button if b.key == "q_fix_save"]
    assert "分析员或管理员" in page_text(at)
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("app_pages/review.py")


def test_review_queue_order_and_one_click(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    firsts = sorted(d.id for d in seeded.docs if d.tagged and d.dup_of is None)
    copy = next(d.id for d in seeded.docs if d.dup_of is not None)
    unsure = {firsts[40]: 0.31, firsts[3]: 0.42, firsts[100]: 0.37, copy: 0.2, firsts[7]: 0.55}
    with write_tx(engine) as conn:
        for doc_id, score in unsure.items():
            conn.execute(
                update(s.doc_tags).where(s.doc_tags.c.document_id == doc_id).values(sentiment_score=score)
            )
    at = open_page("review", role="analyst")
    queue = table_with(at, "置信度")
    expected = [firsts[40], firsts[100], firsts[3], firsts[7]]  # the copy is not queued
    rest = [i for i in firsts if i not in expected][:6]  # equal scores: by id
    assert list(queue["编号"]) == expected + rest
    assert list(queue["置信度"][:4]) == [0.31, 0.37, 0.42, 0.55]
    model = next(d.sentiment for d in seeded.docs if d.id == firsts[40])
    value = "positive" if model != "positive" else "negative"
    at.button(key=f"rv_sentiment_{firsts[40]}_{value}").click().run()
    assert not at.exception
    assert list(table_with(at, "置信度")["编号"])[:3] == [firsts[100], firsts[3], firsts[7]]
    with engine.connect() as conn:
        stored = conn.execute(
            select(s.corrections.c.document_id, s.corrections.c.value, s.corrections.c.user)
        ).all()
    assert stored == [(firsts[40], value, "analyst")]
    at.radio(key="rv_field").set_value("category").run()
    assert list(table_with(at, "置信度")["编号"]) == firsts[:10]  # no category scores were changed


def hourly_issue(docs: list[SeedDoc]) -> pd.DataFrame:
    """What the rollups' ``n_unique`` hold for an issue: tagged first copies per UTC hour."""
    rows = [
        (d.published_at.replace(minute=0, second=0, microsecond=0), int(d.sentiment == "negative"))
        for d in docs
        if d.tagged and d.dup_of is None
    ]
    frame = pd.DataFrame(rows, columns=["bucket", "neg"]).assign(n=1)
    frame = frame.groupby("bucket")[["n", "neg"]].sum()
    frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    return frame


def test_mark_event_on_topic_and_see_effect(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    at = open_page("topics", role="analyst")
    topic_id = at.selectbox(key="topic_pick").value
    assert "该议题尚未标记事件" in page_text(at)
    local = datetime(2026, 11, 19, 18, 0)  # 24.5 hours before NOW: compared over 24 hours each side
    at.selectbox(key="topic_event_kind").select("官方回应")
    at.datetime_input(key="topic_event_at").set_value(local)
    at.text_input(key="topic_event_note").input("<b>区政府</b>召开通气会")
    at.button(key="topic_event_submit").click().run()
    assert not at.exception
    assert any("已标记事件" in str(e.value) for e in at.success)
    with engine.connect() as conn:
        (event,) = conn.execute(select(s.events)).mappings().all()
        audit = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action)).all()
    at_utc = local.replace(tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    assert (event["kind"], event["topic_id"], event["created_by"]) == ("官方回应", topic_id, "analyst")
    assert pd.Timestamp(event["at"]) == pd.Timestamp(at_utc)
    assert ("analyst", "event.add") in audit
    listed = table_with(at, "记录人")
    assert list(listed["类型"]) == ["官方回应"] and list(listed["说明"]) == ["<b>区政府</b>召开通气会"]
    series = hourly_issue([d for d in seeded.docs if d.topic_id == topic_id])
    expected = estimate_effect(series, at_utc, "官方回应", 24)
    assert expected.n_before > 0 and expected.n_after > 0
    assert expected.summary in [t.value for t in at.text]
    assert metrics(at)["事件前 24 小时（条）"] == f"{expected.n_before:,}"
    chart = chart_titled(at, "事件前后声量与负面占比（前后各 72 小时）")
    window = series[(series.index >= at_utc - timedelta(hours=72)) & (series.index < NOW)]
    assert total_of({"data": chart["data"][:1]}) == window["n"].sum()
    assert "<b>" not in page_text(at)


def test_mark_event_on_category_region(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    at = open_page("categories", role="official")
    at.selectbox(key="ev_category").select("环境保护").run()
    at.selectbox(key="ev_region").select("广东省").run()
    local = datetime(2026, 11, 16, 12, 0)  # more than 72 hours before NOW: full windows
    at.selectbox(key="cat_event_kind").select("现场处置")
    at.datetime_input(key="cat_event_at").set_value(local)
    at.button(key="cat_event_submit").click().run()
    assert not at.exception
    with engine.connect() as conn:
        (event,) = conn.execute(select(s.events)).mappings().all()
    assert (event["category"], event["province"], event["topic_id"]) == ("环境保护", "广东省", None)
    at_utc = local.replace(tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    docs = [d for d in seeded.docs if d.category == "环境保护" and d.province == "广东省"]
    expected = estimate_effect(hourly_issue(docs), at_utc, "现场处置", 72)
    assert expected.summary in [t.value for t in at.text]
    at.selectbox(key="ev_region").select("全部地区").run()  # the whole category is another issue
    assert "该议题尚未标记事件" in page_text(at)


def test_marking_events_needs_a_role(open_page: OpenPage) -> None:
    at = open_page("topics", role="duty")
    assert not [b for b in at.button if b.key == "topic_event_submit"]
    assert "领导、分析员或管理员" in page_text(at)


def iso_week(ts: datetime) -> str:
    year, week, _ = ts.isocalendar()
    return f"{year}-W{week:02d}"


def test_drift_on_source_health(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    latest = max(iso_week(d.published_at) for d in seeded.docs if d.tagged)
    changed = [
        d
        for d in seeded.docs
        if d.tagged and d.source == "hotline_sim" and iso_week(d.published_at) == latest
    ]
    with write_tx(engine) as conn:  # the hotline's model suddenly says "negative", unsure, in the last week
        conn.execute(
            update(s.doc_tags)
            .where(s.doc_tags.c.document_id.in_([d.id for d in changed]))
            .values(sentiment="negative", sentiment_score=0.3, tagged_at=utcnow())
        )
    refresh_rollups(engine)  # as the scheduler's rollup job does after re-tagging
    ids = {d.id for d in changed}
    groups: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for d in seeded.docs:
        if d.tagged:
            low = d.id in ids
            groups[(d.source, iso_week(d.published_at))].append(
                ("negative" if low else d.sentiment, 0.3 if low else 0.9)
            )
    mix = {k: {lbl: sum(v == lbl for v, _ in vs) / len(vs) for lbl in SENTIMENT} for k, vs in groups.items()}
    shifts = {}
    for source, week in groups:
        before = [w for (src, w) in groups if src == source and w < week]
        if before:
            prev = mix[(source, max(before))]
            shifts[(source, week)] = 0.5 * sum(abs(mix[(source, week)][lbl] - prev[lbl]) for lbl in SENTIMENT)
    at = open_page("sources", role="analyst")
    table = table_with(at, "较上周分布变化")
    rows = {(r["数据源"], r["周"]): r for _, r in table.iterrows()}
    assert set(rows) == set(groups)
    for key, vs in groups.items():
        row = rows[key]
        assert row["文档数"] == len(vs)
        assert row["低置信度占比(%)"] == round(100 * sum(sc < 0.55 for _, sc in vs) / len(vs), 1)
        assert row["负面(%)"] == round(100 * mix[key]["negative"], 1)
        if key in shifts:
            assert row["较上周分布变化"] == pytest.approx(round(shifts[key], 3))
            assert (row["状态"] == "显著变化") == (shifts[key] > 0.3)
        else:
            assert pd.isna(row["较上周分布变化"])
    assert shifts[("hotline_sim", latest)] > 0.3
    assert metrics(at)["标签分布显著变化（>0.3）"] == str(sum(v > 0.3 for v in shifts.values()))


def test_alert_link_opens_the_alert(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    resolved = next(a for a in seeded.alerts if a["status"] == "resolved")
    with write_tx(engine) as conn:
        conn.execute(insert(s.alert_events).values(alert_id=resolved["id"], event="delivered", actor="system",
                                                   note="第 1 次尝试送达", at=resolved["first_seen"]))  # fmt: skip
        conn.execute(insert(s.alert_events).values(alert_id=resolved["id"], event="delivery_expired",
                                                   actor="system", note=None, at=resolved["first_seen"]))  # fmt: skip
    at = open_page("alerts", role="official", query={"alert": str(resolved["id"])})
    assert at.selectbox(key="alert_pick").value == resolved["id"]
    assert metrics(at)["状态"] == "已解除"
    history = table_with(at, "操作人")
    assert {"通知已送达", "通知送达失败", "触发", "解除"} <= set(history["事件"])
    at.sidebar.selectbox(key="f_range").select("最近24小时").run()  # resolved 3 days ago: outside the period
    assert at.selectbox(key="alert_pick").value == resolved["id"]
    other = next(a for a in seeded.alerts if a["status"] == "open")
    at.selectbox(key="alert_pick").select(other["id"]).run()
    assert at.query_params["alert"] == str(other["id"])  # the address names the alert shown
    at = open_page("alerts", role="official", query={"alert": "999999"})
    assert "不存在" in page_text(at)
