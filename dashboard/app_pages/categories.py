"""诉求分类: volume and negativity per demand category over time, category x region matrix, agenda priority."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import page_context, page_header
from dashboard.event_panel import Issue, render_events
from kernel import labels

AGENDA_PARTS = {
    "c_growth": "增长",
    "c_negativity": "负面",
    "c_spread": "扩散",
    "c_regions": "覆盖地区",
    "c_volume": "声量",
    "c_engagement": "互动",
}

ALL_REGIONS = "全部地区"

ctx = page_context()
page_header("诉求分类", ctx)

by_cat = data.breakdown(ctx.url, ctx.filters, ("category", "sentiment"))
prev = data.breakdown(ctx.url, ctx.filters.previous(), ("category",))
if by_cat.empty:
    st.info("所选范围内暂无数据。")
    st.stop()
summary = (
    by_cat.assign(negative=by_cat["n"].where(by_cat["sentiment"] == "negative", 0))
    .groupby("category", as_index=False)[["n", "negative"]]
    .sum()
    .merge(prev[["category", "n"]].rename(columns={"n": "prev"}), on="category", how="left")
    .fillna({"prev": 0})
    .sort_values("n", ascending=False)
)
table = pd.DataFrame(
    {
        "诉求类别": summary["category"].map(labels.place),
        "声量（条）": summary["n"].astype("int64"),
        "上一周期（条）": summary["prev"].astype("int64"),
        "环比": [
            f"{(n - p) / p:+.0%}" if p else "—" for n, p in zip(summary["n"], summary["prev"], strict=True)
        ],
        "负面占比(%)": (summary["negative"] / summary["n"] * 100).round(1),
    }
)
st.dataframe(table, hide_index=True, width="stretch")

trend = data.trend(ctx.url, ctx.filters, "category", ctx.tz)
trend["诉求类别"] = trend["category"].map(labels.place)
left, right = st.columns([3, 2])
left.plotly_chart(
    charts.line(trend, "bucket", "n", "诉求类别", "各类诉求声量趋势", {"n": "文档数", "bucket": ""}),
    key="cat_trend",
)
neg = summary.assign(名称=summary["category"].map(labels.place), share=summary["negative"] / summary["n"])
right.plotly_chart(
    charts.bars(
        neg, "名称", "share", "各类诉求负面占比", {"share": "负面占比"}, horizontal=True, percent=True
    ),
    key="cat_neg",
)

st.subheader("诉求类别 × 地区")
cells = data.breakdown(ctx.url, ctx.filters, ("category", "province"))
pivot = cells.pivot_table(index="category", columns="province", values="n", aggfunc="sum", fill_value=0)
pivot.index = [labels.place(i) for i in pivot.index]
pivot.columns = [labels.place(c) for c in pivot.columns]
st.plotly_chart(charts.matrix(pivot, "文档数（类别 × 省级地区）", "文档数"), key="cat_matrix")

st.subheader("议程优先级（类别 × 地区）")
ranked = data.agenda(ctx.url, ctx.filters)
ranked = ranked.loc[(ranked["category"] != "") & (ranked["region"] != "")]  # unknown is not actionable
if ranked.empty:
    st.info("所选范围内暂无数据。")
else:
    top = ranked.head(15)
    shown = pd.DataFrame(
        {
            "排名": range(1, len(top) + 1),
            "诉求类别": top["category"].map(labels.place),
            "地区": top["region"].map(labels.place),
            "优先级": top["priority"].astype(float).round(1),
            "声量（条）": top["n"].astype("int64"),
        }
    )
    shown["紧迫性"] = top["urgency"].astype(float).round(1)
    shown["影响范围"] = top["scope"].astype(float).round(1)
    shown["影响力"] = top["impact"].astype(float).round(1)
    st.dataframe(shown, hide_index=True, width="stretch")
    named = top.assign(
        议题=[
            f"{labels.place(c)}·{labels.place(r)}"
            for c, r in zip(top["category"], top["region"], strict=True)
        ]
    )
    st.plotly_chart(
        charts.contributions(named.head(10), "议题", AGENDA_PARTS, "优先级构成（前 10）"),
        key="agenda_parts",
    )
    st.caption(
        "优先级 = 紧迫性（增长、负面）+ 影响范围（渠道扩散、覆盖地区）+ 影响力（声量、互动），0–100 分；"
        "类别或地区未知的文档不参与排序。"
    )

st.subheader("事件与效果（类别 × 地区）")
known = data.options(ctx.url)
categories = [c for c in known["categories"] if c]
regions = [ALL_REGIONS, *(p for p in known["provinces"] if p)]
if not categories:
    st.info("暂无可标记事件的诉求类别。")
    st.stop()
top = ranked.iloc[0] if not ranked.empty else None  # default: the top agenda item
e1, e2 = st.columns(2)
category = e1.selectbox(
    "诉求类别",
    categories,
    index=categories.index(top["category"]) if top is not None and top["category"] in categories else 0,
    key="ev_category",
)
region = e2.selectbox(
    "地区",
    regions,
    index=regions.index(top["region"]) if top is not None and top["region"] in regions else 0,
    key="ev_region",
)
province = None if region == ALL_REGIONS else region
render_events(ctx, Issue(name=f"{category}·{region}", category=category, province=province), "cat_event")
