"""专题监测: an analyst creates a subject on the page (backfilled), its charts and spread view fill,
the 专题 sidebar filter narrows other pages to it, and a read with it equals a recount."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update

from storage import queries as q
from storage import schema as s
from storage.db import write_tx
from tests.dashboard.conftest import OpenPage
from tests.dashboard.helpers import chart_titled, metrics, table_with, total_of
from tests.seed import SeedFacts

GAS = "燃气 AND (泄漏 OR 检查)"


def gas_docs(seeded: SeedFacts) -> list:
    return [
        d
        for d in seeded.docs
        if "燃气" in d.title + d.content and ("泄漏" in d.content or "检查" in d.content)
    ]


def test_create_subject_on_the_page_and_see_it(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    mine = gas_docs(seeded)
    with write_tx(engine) as conn:  # two accounts (stored hashed) carry the subject
        for i, d in enumerate(mine[:6]):
            conn.execute(
                update(s.documents).where(s.documents.c.id == d.id).values(author_hash=f"{i % 2:064x}")
            )
    at = open_page("subjects", role="analyst")
    assert "还没有专题" in " ".join(str(i.value) for i in at.info)
    at.text_input(key="new_name").input("燃气安全")
    at.text_input(key="new_expr").input("燃气 AND (泄漏")
    at.button(key="btn_subject_create").click().run()
    assert any("第 11 个字符" in str(e.value) for e in at.error)  # refused, naming the position
    at.text_input(key="new_expr").input(GAS)
    at.button(key="btn_subject_create").click().run()
    assert not at.exception, at.exception
    assert any(f"{len(mine):,} 条文档匹配" in str(m.value) for m in at.success), [m.value for m in at.success]

    start, end = seeded.period(7)
    in_period = [d for d in mine if d.tagged and start <= d.published_at < end]
    assert metrics(at)["本期声量（条）"] == f"{len(in_period):,}" and in_period
    assert total_of(chart_titled(at, "声量趋势与预测")) >= len(in_period)
    assert total_of(chart_titled(at, "情感趋势")) == len(in_period)
    assert total_of(chart_titled(at, "渠道分布")) == len(in_period)
    assert total_of(chart_titled(at, "主要地区"), "x") == sum(1 for d in in_period if d.province)
    assert chart_titled(at, "专题地域分布") is not None  # the same regions on the province map
    spread = chart_titled(at, "各渠道逐时传播（最近72小时）")
    recent = [d for d in in_period if d.published_at >= end - timedelta(hours=72)]
    assert total_of(spread) == len(recent) > 0
    reach = {d.id: d.reads + d.likes + d.reposts + d.comments for d in in_period}
    top = table_with(at, "传播量")
    assert list(top["文档ID"])[:3] == sorted(reach, key=lambda i: (-reach[i], i))[:3]
    accounts = table_with(at, "账号（哈希）")
    assert len(accounts) == 2 and all(a.startswith("#0000") for a in accounts["账号（哈希）"])
    assert not table_with(at, "副本数").empty  # near-duplicate copies carried it
    assert any("首次出现" in str(t.value) for t in at.text)

    with engine.connect() as conn:
        sid = conn.execute(select(s.subjects.c.id).where(s.subjects.c.name == "燃气安全")).scalar_one()
        audit = conn.execute(
            select(s.audit_log.c.action).where(s.audit_log.c.target == "subject:燃气安全")
        ).all()
    assert [a for (a,) in audit] == ["subject.create"]
    f = q.QueryFilters(start=start, end=end, subject_id=sid)
    assert q.total(engine, f)["n"] == len(in_period)  # a read with the subject equals a recount


def test_sidebar_subject_filter_narrows_other_pages(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    at = open_page("subjects", role="admin")
    at.text_input(key="new_name").input("燃气安全")
    at.text_input(key="new_expr").input(GAS)
    at.button(key="btn_subject_create").click().run()
    at.switch_page("app_pages/sentiment.py").run()
    at.selectbox(key="f_subject").select_index(1).run()
    assert not at.exception, at.exception
    start, end = seeded.period(7)
    in_period = [d for d in gas_docs(seeded) if d.tagged and start <= d.published_at < end]
    assert metrics(at)["文档总数"] == f"{len(in_period):,}"
    assert any("专题：燃气安全" in str(t.value) for t in at.text)


def test_officials_see_subjects_but_cannot_define_them(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("subjects", role="official")
    assert not [b for b in at.button if b.key == "btn_subject_create"]


def test_subject_documents_open_in_search(open_page: OpenPage, seeded: SeedFacts) -> None:
    at = open_page("subjects", role="analyst")
    at.text_input(key="new_name").input("燃气安全")
    at.text_input(key="new_expr").input(GAS)
    at.button(key="btn_subject_create").click().run()
    assert table_with(at, "本专题文档数")["本专题文档数"].sum() > 0
    at.button(key="btn_subject_search").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "检索"
    assert any("专题：燃气安全" in str(t.value) for t in at.text)


def test_mark_an_event_on_a_subject_and_see_its_effect(
    open_page: OpenPage, seeded: SeedFacts, engine: Engine
) -> None:
    from datetime import datetime

    from analytics.effect import estimate_effect
    from storage.events import issue_series

    at = open_page("subjects", role="analyst")
    at.text_input(key="new_name").input("燃气安全")
    at.text_input(key="new_expr").input(GAS)
    at.button(key="btn_subject_create").click().run()
    assert any("尚未标记事件" in str(i.value) for i in at.info)
    at.selectbox(key="subject_event_kind").select("现场处置")
    at.datetime_input(key="subject_event_at").set_value(datetime(2026, 11, 19, 18, 0))
    at.button(key="subject_event_submit").click().run()
    assert not at.exception, at.exception
    with engine.connect() as conn:
        (event,) = conn.execute(select(s.events)).mappings().all()
        subject_id = conn.execute(select(s.subjects.c.id)).scalar_one()
    assert (event["kind"], event["subject_id"], event["topic_id"]) == ("现场处置", subject_id, None)
    assert list(table_with(at, "记录人")["类型"]) == ["现场处置"]
    shown = estimate_effect(issue_series(engine, dict(event), 24), event["at"], "现场处置", 24)
    assert shown.summary in [t.value for t in at.text]  # the effect on the subject's own series
