"""专题监测: subjects analysts define (create, edit, archive) and, per subject, its trend with the
forecast, sentiment and emotion, regions, channels and sources, top documents by reach, and the
spread view (传播分析): first appearance, hour-by-hour by channel, near-duplicate clusters,
the (hashed) accounts and sources that carried its reach.

Every number here is read with the sidebar's filters plus the subject, so it equals the other
pages with the 专题 filter set to it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from analytics.subjects import WatchlistSyntaxError, compile_subject, spec_from
from dashboard import auth, charts, data
from dashboard.context import PageContext, page_context, page_header
from dashboard.event_panel import Issue, render_events
from dashboard.markdown import escape_md
from dashboard.tables import local_time
from kernel import labels
from storage.subjects import (
    Subject,
    SubjectError,
    backfill_subject,
    create_subject,
    set_active,
    update_subject,
)

FLASH = "subject_flash"
TO_SEARCH = "subject_to_search"  # set by the button's callback: open 检索 filtered by the subject
SPREAD_HOURS = timedelta(hours=72)
PICK = "subject_pick"

ctx = page_context()
page_header("专题监测", ctx)


def _words(value: Any) -> list[str]:
    text = str(value or "").replace("，", ",").replace("、", ",")
    return [w.strip() for w in text.split(",") if w.strip()]


def _backfill(subject: Subject) -> str:
    matcher = compile_subject(spec_from(subject))
    bar = st.progress(0.0, text=f"正在回溯匹配「{subject.name}」…")

    def step(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"已检查 {done:,} / {total:,} 条候选文档")

    result = backfill_subject(data.engine(), subject, matcher.matches, matcher.prefilter(), progress=step)
    bar.empty()
    return f"{result.matched:,} 条文档匹配（候选 {result.candidates:,} 条，用时 {result.seconds:.1f} 秒）"


def _fields(prefix: str) -> dict[str, Any]:
    state = st.session_state
    return {
        "expression": str(state.get(f"{prefix}_expr") or "").strip(),
        "exclude": _words(state.get(f"{prefix}_exclude")),
        "channels": list(state.get(f"{prefix}_channels") or []),
        "sources": list(state.get(f"{prefix}_sources") or []),
        "regions": _words(state.get(f"{prefix}_regions")),
        "categories": list(state.get(f"{prefix}_categories") or []),
        "subscribers": _words(state.get(f"{prefix}_subscribers")),
    }


def _checked(expression: str) -> str | None:
    """None when the expression parses, else the message (with the position of the fault)."""
    if not expression:
        return "请填写关键词表达式。"
    try:
        compile_subject(spec_from(Subject(id=0, name="", owner="", expression=expression)))
    except WatchlistSyntaxError as exc:
        return f"表达式有误（第 {exc.position + 1} 个字符）：{exc}"
    return None


def _save(mode: str) -> None:
    """Create (``new``) or edit (``edit``) the subject from the form's values, then backfill it."""
    state = st.session_state
    user = auth.authorize(data.engine(), "subjects")
    if user is None:
        state[FLASH] = ("error", auth.DENIED)
        return
    fields = _fields(mode)
    problem = _checked(fields["expression"])
    if problem:
        state[FLASH] = ("error", problem)
        return
    try:
        if mode == "new":
            name = str(state.get("new_name") or "").strip()
            subject = create_subject(data.engine(), name, fields.pop("expression"), user.username, **fields)
        else:
            name = str(state.get(PICK) or "")
            subject = update_subject(data.engine(), name, user.username, **fields)
    except SubjectError as exc:
        state[FLASH] = ("error", f"未保存：{exc}")
        return
    summary = _backfill(subject)
    data.clear_caches()
    state[PICK] = subject.name
    state[FLASH] = ("ok", f"专题「{subject.name}」已保存：{summary}。")


def _archive(name: str, active: bool) -> None:
    state = st.session_state
    user = auth.authorize(data.engine(), "subjects")
    if user is None:
        state[FLASH] = ("error", auth.DENIED)
        return
    set_active(data.engine(), name, user.username, active)
    data.clear_caches()
    state[FLASH] = ("ok", f"专题「{name}」已{'恢复' if active else '归档'}。")


def _to_search(subject_id: int) -> None:
    """Set the sidebar's 专题 filter (callbacks run before the sidebar is drawn) and go to 检索."""
    st.session_state["f_subject"] = subject_id
    st.session_state[TO_SEARCH] = True


def _filter_inputs(prefix: str, current: dict[str, Any] | None) -> None:
    opts = data.options(ctx.url)
    cur = current or {}
    st.text_input(
        "关键词表达式", value=cur.get("expression", ""), key=f"{prefix}_expr",
        placeholder='例：燃气 AND (泄漏 OR "爆炸") NOT 演习', max_chars=1000,
    )  # fmt: skip
    st.text_input("排除词（逗号分隔）", value="，".join(cur.get("exclude", ())), key=f"{prefix}_exclude")
    c1, c2 = st.columns(2)
    c1.multiselect(
        "渠道", opts["channels"], default=[c for c in cur.get("channels", ()) if c in opts["channels"]],
        key=f"{prefix}_channels", format_func=lambda c: labels.label("channel", c), placeholder="全部",
    )  # fmt: skip
    c2.multiselect(
        "数据源", opts["sources"], default=[c for c in cur.get("sources", ()) if c in opts["sources"]],
        key=f"{prefix}_sources", placeholder="全部",
    )  # fmt: skip
    c1.text_input(
        "地区（省、市或区县，逗号分隔）", value="，".join(cur.get("regions", ())), key=f"{prefix}_regions"
    )
    cats = [c for c in opts["categories"] if c]
    c2.multiselect(
        "诉求类别", cats, default=[c for c in cur.get("categories", ()) if c in cats],
        key=f"{prefix}_categories", placeholder="全部",
    )  # fmt: skip
    st.text_input(
        "订阅邮箱（按月发送专题报告，逗号分隔）",
        value="，".join(cur.get("subscribers", ())),
        key=f"{prefix}_subscribers",
    )


if st.session_state.pop(TO_SEARCH, False):
    st.switch_page("app_pages/search.py")
flash = st.session_state.pop(FLASH, None)
if flash:
    (st.success if flash[0] == "ok" else st.error)(escape_md(flash[1]))

subjects = data.subjects(ctx.url)
by_name = {str(r["name"]): r for r in subjects}
if ctx.can("subjects"):
    with st.expander("新建专题", expanded=not subjects):
        st.text_input("专题名称", key="new_name", max_chars=100)
        _filter_inputs("new", None)
        st.button("创建并回溯匹配", key="btn_subject_create", on_click=_save, args=("new",))

if not subjects:
    st.info("还没有专题。分析员或管理员可在上方新建。")
    st.stop()

names = list(by_name)
if st.session_state.get(PICK) not in by_name:
    st.session_state[PICK] = names[0]
picked = st.selectbox(
    "专题", names, key=PICK, format_func=lambda n: n if by_name[n]["active"] else f"{n}（已归档）"
)
subject = by_name[picked]
st.text(f"表达式：{subject['expression']}　负责人：{subject['owner']}　累计匹配：{subject['matched']:,} 条")
if ctx.can("subjects"):
    with st.expander("编辑或归档"):
        _filter_inputs("edit", subject)
        b1, b2 = st.columns(2)
        b1.button("保存并重新回溯", key="btn_subject_edit", on_click=_save, args=("edit",))
        if subject["active"]:
            b2.button("归档", key="btn_subject_archive", on_click=_archive, args=(picked, False))
        else:
            b2.button("恢复", key="btn_subject_restore", on_click=_archive, args=(picked, True))


def render_subject(c: PageContext, subject_id: int) -> None:
    f = replace(c.filters, subject_id=subject_id)
    totals = data.breakdown(c.url, f, ("sentiment",))
    volume = int(totals["n"].sum())
    neg = int(totals.loc[totals["sentiment"] == "negative", "n"].sum())
    m1, m2, m3 = st.columns(3)
    m1.metric("本期声量（条）", f"{volume:,}")
    m2.metric("负面占比", data.pct(neg / volume if volume else None))
    m3.metric("首发至今累计（条）", f"{subject['matched']:,}")

    left, right = st.columns([3, 2])
    history, predicted = data.subject_forecast(c.url, f, c.tz)
    left.plotly_chart(charts.forecast(history, predicted, "声量趋势与预测"), key="subj_trend")
    emo = data.emotions(c.url, f)
    emo = emo.assign(情绪=emo["emotion"].map(lambda v: labels.label("emotion", v)))
    right.plotly_chart(charts.donut(emo, "情绪", "n", "情绪构成"), key="subj_emotion")
    trend = data.trend(c.url, f, "sentiment", c.tz)
    trend["情感"] = trend["sentiment"].map(lambda v: labels.label("sentiment", v))
    st.plotly_chart(
        charts.sentiment_area(trend, "bucket", "情感趋势", labels.SENTIMENT_COLORS), key="subj_sent"
    )

    c1, c2, c3 = st.columns(3)
    regions = data.breakdown(c.url, f, ("province",)).sort_values("n", ascending=False)
    regions = regions.loc[regions["province"] != ""].assign(地区=lambda x: x["province"].map(labels.place))
    c1.plotly_chart(
        charts.bars(regions.head(10), "地区", "n", "主要地区", {"n": "文档数"}, horizontal=True),
        key="subj_regions",
    )
    chans = data.breakdown(c.url, f, ("channel",)).sort_values("n", ascending=False)
    chans = chans.assign(渠道=chans["channel"].map(lambda v: labels.label("channel", v)))
    c2.plotly_chart(charts.bars(chans, "渠道", "n", "渠道分布", {"n": "文档数"}), key="subj_channels")
    spread = data.subject_spread(c.url, f)
    sources = spread["sources"]
    c3.plotly_chart(
        charts.bars(sources.head(10), "source", "reach", "主要数据源（按传播量）", {"reach": "传播量", "source": "数据源"},
                    horizontal=True),
        key="subj_sources",
    )  # fmt: skip

    if not regions.empty:
        geo = data.china_geojson()
        on_map = {feat["properties"]["name"] for feat in geo["features"]}
        located = regions.loc[regions["province"].isin(on_map)]
        st.plotly_chart(charts.province_map(located, geo, "n", "专题地域分布", "文档数"), key="subj_map")

    topics = data.breakdown(c.url, f, ("topic_id",))
    topics = topics.loc[topics["topic_id"] >= 0].sort_values("n", ascending=False).head(8)
    names = data.topics(c.url).set_index("id")["label"].to_dict()
    st.subheader("重叠的话题")
    st.dataframe(
        pd.DataFrame({
            "话题": [str(names.get(int(t), f"话题 {t}")) for t in topics["topic_id"]],
            "本专题文档数": topics["n"].astype("int64"),
            "占本期声量": [data.pct(n / volume if volume else None) for n in topics["n"]],
        }),
        hide_index=True, width="stretch",
    )  # fmt: skip

    st.subheader("传播量最高的文档")
    docs = spread["documents"]
    st.dataframe(
        pd.DataFrame({
            "文档ID": docs["id"], "时间": local_time(docs["published_at"], c.tz),
            "渠道": docs["channel"].map(lambda v: labels.label("channel", v)), "数据源": docs["source"],
            "标题": docs["title"].fillna("").astype(str), "传播量": docs["reach"],
        }),
        hide_index=True, width="stretch",
    )  # fmt: skip

    st.header("传播分析")
    first = spread["first"]
    if first is not None:
        when = local_time(pd.Series([first["published_at"]]), c.tz).iloc[0]
        st.text(
            f"首次出现：{when}　{labels.label('channel', first['channel'])} · {first['source']}"
            f"　文档 {first['id']}：{(first['title'] or first['content'] or '')[:40]}"
        )
    recent = f.with_period(max(f.start, f.end - SPREAD_HOURS), f.end)  # up to 3 days: hourly points
    hourly = data.trend(c.url, recent, "channel", c.tz)
    hourly["渠道"] = hourly["channel"].map(lambda v: labels.label("channel", v))
    st.plotly_chart(
        charts.line(
            hourly, "bucket", "n", "渠道", "各渠道逐时传播（最近72小时）", {"n": "文档数", "bucket": ""}
        ),
        key="subj_spread_channels",
    )
    a, b = st.columns(2)
    clusters = spread["clusters"]
    a.caption("承载传播的相似文档簇")
    a.dataframe(
        pd.DataFrame({
            "首发文档": clusters["root"], "标题": clusters["title"].astype(str), "副本数": clusters["copies"],
            "渠道数": clusters["channels"], "传播量": clusters["reach"],
            "首次": local_time(clusters["first_at"], c.tz),
        }),
        hide_index=True, width="stretch",
    )  # fmt: skip
    accounts = spread["accounts"]
    b.caption("传播量最高的账号（仅显示哈希）")
    b.dataframe(
        pd.DataFrame({
            "账号（哈希）": accounts["account"], "文档数": accounts["n"], "传播量": accounts["reach"],
            "渠道": accounts["channel"].map(lambda v: labels.label("channel", v)),
        }),
        hide_index=True, width="stretch",
    )  # fmt: skip
    st.caption("传播量 = 阅读 + 点赞 + 转发 + 评论；账号只显示其哈希的前 12 位。")
    st.button(
        "在「检索」页查看本专题的全部文档", key="btn_subject_search", on_click=_to_search, args=(subject_id,)
    )


render_subject(ctx, int(subject["id"]))

st.subheader("事件与效果")
render_events(ctx, Issue(name=picked, subject_id=int(subject["id"])), "subject_event")
