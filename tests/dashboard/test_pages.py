"""Every page on a seeded database (SQLite and PostgreSQL): the numbers shown equal the seed's."""

from __future__ import annotations

import importlib.util
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine, select

from dashboard import auth
from storage import schema as s
from storage.store import Store
from tests.dashboard.conftest import OpenPage
from tests.dashboard.helpers import chart_titled, charts, decode, metrics, page_text, table_with, total_of
from tests.seed import SeedFacts

CHANNEL = {"social": "社交媒体", "news": "新闻", "hotline": "12345热线", "gov": "政务平台"}


def place(value: str) -> str:
    return value or "未知"


def test_overview_kpis_trends_and_alerts(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("overview", role="official")
    start, end = seeded.period(7)
    prev = (start - (end - start), start)
    shown = metrics(at)
    volume, before = seeded.volume(start, end), seeded.volume(*prev)
    assert shown["声量（条）"] == f"{volume:,}"
    assert shown["负面占比"] == f"{seeded.negative_share(start, end):.1%}"
    assert shown["新话题"] == str(seeded.new_topics(start, end))
    assert shown["未处理预警"] == str(seeded.open_alerts)
    delta = {m.label: m.delta for m in at.metric}
    assert delta["声量（条）"].startswith(f"{volume - before:+,}")
    trend = chart_titled(at, "声量趋势（按渠道）")
    assert total_of(trend) == volume
    by_trace = {t["name"]: total_of({"data": [t]}) for t in trend["data"]}
    assert by_trace == {CHANNEL[c]: n for c, n in seeded.counts("channel", start, end).items()}
    assert total_of(chart_titled(at, "情感趋势")) == volume
    alerts = table_with(at, "级别")
    assert sorted(alerts["编号"]) == sorted(a["id"] for a in seeded.alerts if a["status"] != "resolved")
    hot = table_with(at, "热度")
    per_topic = seeded.counts("topic_id", start, end)
    assert {int(t): int(n) for t, n in zip(hot["话题编号"], hot["声量"], strict=True)} == {
        t: n for t, n in per_topic.items() if t > 0
    }
    assert list(hot["热度"]) == sorted(hot["热度"], reverse=True)


def test_filters_narrow_every_figure(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("overview")
    start, end = seeded.period(7)
    at.sidebar.multiselect(key="f_channels").set_value(["news"]).run()
    assert metrics(at)["声量（条）"] == f"{seeded.volume(start, end, channel='news'):,}"
    # source and keyword are not rollup dimensions: the documents are counted instead
    at.sidebar.multiselect(key="f_channels").set_value([]).run()
    at.sidebar.multiselect(key="f_sources").set_value(["hotline_sim"]).run()
    assert metrics(at)["声量（条）"] == f"{seeded.volume(start, end, source='hotline_sim'):,}"
    at.sidebar.multiselect(key="f_sources").set_value([]).run()
    at.sidebar.text_input(key="f_keyword").input("电梯").run()
    expected = len(seeded.containing("电梯", start, end, tagged_only=True))
    assert metrics(at)["声量（条）"] == f"{expected:,}"
    at.sidebar.text_input(key="f_keyword").input("").run()
    at.sidebar.selectbox(key="f_range").select("最近24小时").run()
    day = seeded.period(1)
    assert metrics(at)["声量（条）"] == f"{seeded.volume(*day):,}"
    at.sidebar.selectbox(key="f_range").select("自定义日期").run()
    at.sidebar.date_input(key="f_dates").set_value((date(2026, 11, 14), date(2026, 11, 16))).run()
    zone = ZoneInfo("Asia/Shanghai")  # whole local days
    lo, hi = datetime(2026, 11, 14, tzinfo=zone), datetime(2026, 11, 17, tzinfo=zone)
    assert metrics(at)["声量（条）"] == f"{seeded.volume(lo, hi):,}"
    assert not at.exception


def test_secrets_in_the_environment_are_not_config_keys(
    open_page: OpenPage, seeded: SeedFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENSING_ADMIN_PASSWORD", "set-by-sensing-demo")  # `sensing demo` does this
    monkeypatch.setenv("SENSING_DASHBOARD__AUTO_REFRESH_SECONDS", "30")  # a real override still applies
    at = open_page("overview")
    start, end = seeded.period(7)
    assert metrics(at)["声量（条）"] == f"{seeded.volume(start, end):,}"


def test_topics_ranking_detail_and_heat_explanation(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("topics", role="analyst")
    start, end = seeded.period(7)
    ranked = table_with(at, "热度")
    per_topic = seeded.counts("topic_id", start, end)
    assert {int(t): int(n) for t, n in zip(ranked["话题编号"], ranked["声量"], strict=True)} == {
        t: n for t, n in per_topic.items() if t > 0
    }
    top = int(ranked["话题编号"].iloc[0])
    shown = metrics(at)
    assert shown["声量（条）"] == f"{per_topic[top]:,}"
    docs = seeded.select(start, end, topic_id=top)
    assert shown["负面占比"] == f"{sum(d.sentiment == 'negative' for d in docs) / len(docs):.1%}"
    explain = table_with(at, "贡献（分）")
    assert abs(explain["贡献（分）"].sum() - float(shown["热度"])) < 0.3  # contributions add up to heat
    reps = table_with(at, "重复条数")
    first_copies = {d.id for d in docs if d.dup_of is None}
    assert set(reps["编号"]) <= first_copies and len(reps) == min(5, len(first_copies))
    assert total_of(chart_titled(at, "情感构成"), "values") == len(docs)
    trend = chart_titled(at, "声量趋势与预测")
    assert trend["data"][0]["name"] == "实际" and total_of({"data": trend["data"][:1]}) == len(docs)
    if importlib.util.find_spec("analytics.forecast"):
        assert [t["name"] for t in trend["data"]] == ["实际", "预测区间", "预测"]
        assert min(decode(trend["data"][2]["y"])) >= 0
    # another topic from the picker
    other = int(ranked["话题编号"].iloc[-1])
    at.selectbox(key="topic_pick").select(other).run()
    assert metrics(at)["声量（条）"] == f"{per_topic[other]:,}"


def test_sentiment_page(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("sentiment")
    start, end = seeded.period(7)
    shown = metrics(at)
    counts = seeded.counts("sentiment", start, end)
    assert shown["文档总数"] == f"{seeded.volume(start, end):,}"
    assert shown["负面（条）"] == f"{counts['negative']:,}"
    assert shown["中性（条）"] == f"{counts['neutral']:,}"
    assert shown["正面（条）"] == f"{counts['positive']:,}"
    emotions = chart_titled(at, "情绪构成")
    assert total_of(emotions, "values") == seeded.volume(start, end)
    worst = table_with(at, "负面占比(%)")
    labels = {t: v["label"] for t, v in seeded.topics.items()}
    for name, negative, volume in zip(worst["话题"], worst["负面（条）"], worst["声量（条）"], strict=True):
        tid = next(t for t, lbl in labels.items() if lbl == name)
        docs = seeded.select(start, end, topic_id=tid)
        assert (negative, volume) == (sum(d.sentiment == "negative" for d in docs), len(docs))


def test_categories_page(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("categories")
    start, end = seeded.period(7)
    prev = (start - (end - start), start)
    table = table_with(at, "上一周期（条）")
    now_counts, prev_counts = seeded.counts("category", start, end), seeded.counts("category", *prev)
    shown = {r["诉求类别"]: (r["声量（条）"], r["上一周期（条）"]) for _, r in table.iterrows()}
    assert shown == {place(c): (n, prev_counts.get(c, 0)) for c, n in now_counts.items()}
    matrix = chart_titled(at, "文档数（类别 × 省级地区）")
    assert total_of(matrix, "z") == seeded.volume(start, end)
    agenda = table_with(at, "优先级")
    assert list(agenda["优先级"]) == sorted(agenda["优先级"], reverse=True)
    cells = Counter((d.category, d.province) for d in seeded.select(start, end))
    for cat, region, n in zip(agenda["诉求类别"], agenda["地区"], agenda["声量（条）"], strict=True):
        match = [v for (c, p), v in cells.items() if place(c) == cat and place(p) == region]
        assert match and n <= match[0]  # the window of the ranking is inside the period


def test_regions_page(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("regions", role="duty")
    start, end = seeded.period(7)
    provinces = table_with(at, "负面占比(%)")
    counts = seeded.counts("province", start, end)
    assert dict(zip(provinces["地区"], provinces["声量（条）"], strict=True)) == {
        place(p): n for p, n in counts.items()
    }
    detail = table_with(at, "区县")
    places = Counter((d.province, d.city, d.district) for d in seeded.select(start, end))
    shown = {(r["省份"], r["城市"], r["区县"]): r["声量（条）"] for _, r in detail.iterrows()}
    assert shown == {(place(p), place(c), place(d)): n for (p, c, d), n in places.items()}
    fig = charts(at)[0]
    hover = {t.get("name"): t.get("text") for t in fig["data"] if t.get("name")}
    assert hover["广东省"] == f"广东省：{counts['广东省']:,}"
    assert hover["西藏自治区"] == "西藏自治区：无数据"
    at.radio(key="map_measure").set_value("负面占比").run()
    share = seeded.negative_share(start, end, province="北京市")
    hover = {t.get("name"): t.get("text") for t in charts(at)[0]["data"] if t.get("name")}
    assert hover["北京市"] == f"北京市：{share:.1%}"


def test_alerts_page_acknowledge_by_duty(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    at = open_page("alerts", role="duty")
    shown = metrics(at)
    statuses = Counter(a["status"] for a in seeded.alerts)
    assert shown["未处理"] == str(statuses["open"])
    assert shown["已确认待解除"] == str(statuses["acknowledged"])
    target = next(a for a in seeded.alerts if a["status"] == "open")
    at.selectbox(key="alert_pick").select(target["id"]).run()
    evidence = table_with(at, "内容（已脱敏）")
    assert sorted(evidence["编号"]) == sorted(target["evidence"]["document_ids"])
    at.text_input(key="alert_note").input("已通知属地处置").run()
    at.button(key="btn_ack").click().run()
    assert not at.exception
    assert any("已确认" in str(e.value) for e in at.success)
    with engine.connect() as conn:
        row = conn.execute(select(s.alerts).where(s.alerts.c.id == target["id"])).mappings().one()
        events = conn.execute(select(s.alert_events.c.event, s.alert_events.c.actor).where(
            s.alert_events.c.alert_id == target["id"])).all()  # fmt: skip
        audit = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action, s.audit_log.c.target)).all()
    assert (row["status"], row["acked_by"], row["note"]) == ("acknowledged", "duty", "已通知属地处置")
    assert ("acknowledged", "duty") in events
    assert ("duty", "alert.acknowledge", str(target["id"])) in audit
    assert metrics(at)["未处理"] == str(statuses["open"] - 1)
    at.button(key="btn_silence").click().run()
    with engine.connect() as conn:
        silences = conn.execute(select(s.silences.c.rule, s.silences.c.key, s.silences.c.created_by)).all()
    assert silences == [(target["rule"], target["key"], "duty")]


def test_alerts_page_says_how_unusual_a_volume_alert_is(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    """A volume alert's evidence carries the detector's tail probability: the page says it in words."""
    target = next(a for a in seeded.alerts if a["rule"] == "category_spike")
    evidence = {
        **target["evidence"],
        **{"value": 9.0, "expected": 3.0, "window_hours": 1, "lookback_days": 14, "p_value": 0.0011},
    }
    with engine.begin() as conn:
        conn.execute(s.alerts.update().where(s.alerts.c.id == target["id"]).values(evidence=evidence))
    at = open_page("alerts", role="official")
    at.selectbox(key="alert_pick").select(target["id"]).run()
    shown = [str(e.value) for e in at.text]  # plain text, never Markdown or HTML
    assert "异常程度：本小时 9 条，按近 14 天同时段预计 3 条，偶然出现的概率约千分之一" in shown
    other = next(a for a in seeded.alerts if a["rule"] == "public_safety")  # no tail probability stored
    at.selectbox(key="alert_pick").select(other["id"]).run()
    assert not [e for e in at.text if "异常程度" in str(e.value)]


def test_alerts_page_is_read_only_for_officials(open_page: OpenPage) -> None:
    at = open_page("alerts", role="official")
    assert not [b for b in at.button if b.key in ("btn_ack", "btn_resolve", "btn_silence")]
    assert "值班员或管理员" in page_text(at)


def test_search_page_counts_pages_and_never_renders_html(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    at = open_page("search", role="analyst")
    start, end = seeded.period(7)
    everything = seeded.select(start, end, tagged_only=False)
    assert metrics(at)["匹配文档（条）"] == f"{sum(d.dup_of is None for d in everything):,}"
    at.checkbox(key="q_collapse").uncheck().run()
    assert metrics(at)["匹配文档（条）"] == f"{len(everything):,}"
    assert len(table_with(at, "内容（已脱敏）")) == 50
    at.text_input(key="q_text").input("燃气").run()
    gas = seeded.containing("燃气", start, end)
    assert metrics(at)["匹配文档（条）"] == f"{len(gas):,}"
    hostile = [d for d in seeded.docs if "<script>" in d.content][0]
    wide = seeded.period(14)
    at.sidebar.selectbox(key="f_range").select("最近14天").run()
    at.text_input(key="q_text").input("<script>").run()
    assert metrics(at)["匹配文档（条）"] == f"{len(seeded.containing('<script>', *wide)):,}"
    shown = table_with(at, "内容（已脱敏）")
    assert hostile.content in list(shown["内容（已脱敏）"])
    at.selectbox(key="q_doc").select(hostile.id).run()
    assert hostile.content in [t.value for t in at.text]  # shown as plain text
    assert "<script>" not in page_text(at) and "**加粗**" not in page_text(at)
    # export: audit-logged when the files are prepared (they are in the browser's reach from then on)
    assert not at.download_button  # nothing to download before the export is prepared
    at.button(key="q_prepare").click().run()
    assert not at.exception and at.download_button(key="q_download_csv")

    def exports() -> list[Any]:
        with engine.connect() as conn:
            audit = conn.execute(
                select(s.audit_log.c.user, s.audit_log.c.action, s.audit_log.c.target, s.audit_log.c.detail)
            ).all()
        return [a for a in audit if a[1] == "export.search"]

    assert len(exports()) == 1
    user, _, target, detail = exports()[0]
    assert (user, target, detail["rows"], detail["formats"], detail["query"]["text"]) == (
        "analyst",
        "documents",
        1,
        ["csv", "xlsx"],
        "<script>",
    )
    at.download_button(key="q_download_csv").click().run()
    at.download_button(key="q_download_xlsx").click().run()
    assert not at.exception and len(exports()) == 1  # the clicks add nothing: the preparation was logged


def test_search_export_needs_analyst(open_page: OpenPage) -> None:
    at = open_page("search", role="duty")
    assert not [b for b in at.button if b.key == "q_prepare"]
    assert "分析员或管理员" in page_text(at)


def test_sources_page(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("sources", role="official")
    shown = metrics(at)
    assert shown["数据源"] == str(len(seeded.sources))
    assert shown["最近一次运行失败"] == "1"  # news_sim's last run failed
    assert shown["超过 120 分钟无成功采集"] == "1"  # gov_sim: last success 6 hours ago
    assert shown["待打标签文档"] == str(seeded.untagged)
    table = table_with(at, "累计文档")
    assert dict(zip(table["数据源"], table["状态"], strict=True)) == {
        "gov_sim": "静默", "hotline_sim": "正常", "news_sim": "失败", "weibo_sim": "正常",
    }  # fmt: skip
    per_source = Counter(d.source for d in seeded.docs)
    assert dict(zip(table["数据源"], table["累计文档"], strict=True)) == dict(per_source)
    at.sidebar.multiselect(key="f_channels").set_value(["news", "gov"]).run()
    assert sorted(table_with(at, "累计文档")["数据源"]) == ["gov_sim", "news_sim"]
    assert metrics(at)["数据源"] == "2"


def test_sources_page_does_not_count_a_switched_off_source_as_silent(
    open_page: OpenPage, seeded: SeedFacts, app_config: Path
) -> None:
    cfg = yaml.safe_load(app_config.read_text(encoding="utf-8"))
    cfg["sources"] = [{"name": "gov_sim", "kind": "demo", "channel": "gov", "enabled": False}]
    app_config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    at = open_page("sources", role="official")
    assert metrics(at)["超过 120 分钟无成功采集"] == "0"  # gov_sim is silent because it is off
    table = table_with(at, "累计文档")
    assert dict(zip(table["数据源"], table["状态"], strict=True))["gov_sim"] == "停用"


def test_sources_page_shows_open_dead_letters(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    from sqlalchemy import select

    from storage import schema as s
    from storage.db import write_tx
    from storage.dead_letters import DeadLetter, write_dead_letters

    with write_tx(engine) as conn:
        weibo = conn.execute(select(s.sources.c.id).where(s.sources.c.name == "weibo_sim")).scalar_one()
        write_dead_letters(conn, weibo, [DeadLetter(f"a.csv:{n}", "RowError", "bad") for n in (2, 3)])
    at = open_page("sources", role="official")
    assert metrics(at)["死信（待处理）"] == "2"
    table = table_with(at, "累计文档")
    assert dict(zip(table["数据源"], table["死信（待处理）"], strict=True))["weibo_sim"] == 2


def test_user_management_is_admin_only(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("users", role="admin")
    users = table_with(at, "用户名")
    assert set(users["用户名"]) == {"admin", "analyst", "duty", "official"}
    at.text_input(key="u_new_name").input("zhao")
    at.selectbox(key="u_new_role").select("duty")
    at.text_input(key="u_new_password").input("zhao-password-1")
    at.button(key="u_add").click().run()
    assert set(table_with(at, "用户名")["用户名"]) == {"admin", "analyst", "duty", "official", "zhao"}
    at.selectbox(key="u_who").select("zhao").run()
    at.button(key="u_disable").click().run()
    assert not at.exception
    assert (
        auth.active_user(engine, "zhao") is None
        and auth.authenticate(engine, "zhao", "zhao-password-1") is None
    )
    with engine.connect() as conn:
        actions = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action, s.audit_log.c.target)).all()
    assert actions == [("admin", "user.add", "zhao"), ("admin", "user.disable", "zhao")]
    at = open_page("overview", role="analyst")
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("app_pages/users.py")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # once is enough: reports' own tests cover both
def test_reports_page_generates_and_downloads(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine, app_config: Path
) -> None:
    at = open_page("reports", role="analyst", timeout=120)
    week = at.selectbox(key="r_week").value
    at.multiselect(key="r_formats").set_value(["xlsx"])
    at.button(key="r_generate").click().run(timeout=120)
    assert not at.exception
    assert any(week in str(e.value).replace("\\", "") for e in at.success), [e.value for e in at.error]
    out = Path(yaml.safe_load(app_config.read_text(encoding="utf-8"))["reports"]["out_dir"])
    assert (out / f"minsheng-weekly-{week}.xlsx").exists()
    assert not at.download_button  # a file is handed out only once prepared
    at.button(key="r_prep_0").click().run()
    with engine.connect() as conn:
        audit = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action, s.audit_log.c.target)).all()
    assert audit == [
        ("analyst", "report.generate", week),
        ("analyst", "export.report", f"minsheng-weekly-{week}.xlsx"),
    ]
    assert at.download_button(key="r_dl_0").proto.label == "下载"
    at.download_button(key="r_dl_0").click().run()
    with engine.connect() as conn:
        assert len(conn.execute(select(s.audit_log.c.id)).all()) == 2  # the click adds nothing
    runs = table_with(at, "周次")
    assert list(runs["周次"]) == [week] and list(runs["状态"]) == ["成功"]


def test_reports_page_generation_needs_analyst(open_page: OpenPage) -> None:
    at = open_page("reports", role="official")
    assert not [b for b in at.button if b.key == "r_generate"]


def test_sources_page_shows_the_last_run_of_web_sources(open_page: OpenPage, engine: Engine) -> None:
    store = Store(engine)
    crawl = {
        "at": "2026-11-20T05:30:00+00:00",
        "pages": 3,
        "lists_not_modified": 1,
        "articles_new": 6,
        "articles_unchanged": 5,
        "articles_skipped": 2,
        "skipped": {"robots": 1, "fetch_failed": 1},
        "robots_refused": 1,
        "last_error": "http://gov.example.cn/news/slow.html: time-out (ReadTimeout) after 2 attempts",
    }
    store.write_documents(
        store.ensure_source("city_web", "web", "gov"), [], cursor={"seen": [], "crawl": crawl}
    )
    table = table_with(open_page("sources", role="official"), "新文章")
    (row,) = table.to_dict("records")
    assert (row["数据源"], row["列表页"], row["新文章"], row["已采集（未变化）"], row["robots 拒绝"]) == (
        "city_web", 3, 6, 5, 1,
    )  # fmt: skip
    assert row["跳过原因"] == "robots.txt 禁止 1，抓取失败（将重试） 1" and "slow.html" in row["最近错误"]
    assert row["运行时间"] == "2026-11-20 13:30"
