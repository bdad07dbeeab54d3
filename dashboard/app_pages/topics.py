"""热点话题: topics ranked by heat; one topic's trend, forecast, mix, representative documents and heat explanation."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import page_context, page_header
from dashboard.correction_panel import correction_form
from dashboard.event_panel import Issue, render_events
from dashboard.markdown import escape_md
from dashboard.tables import document_table, hot_topic_table
from kernel import labels

ctx = page_context()
page_header("热点话题", ctx)
weights = ctx.settings.analytics.heat_weights.model_dump()
ranked = data.hot_topics(ctx.url, ctx.filters, tuple(weights.items()))

if ranked.empty:
    st.info("所选范围内没有可排名的话题。")
    st.stop()

st.dataframe(hot_topic_table(ranked), hide_index=True, width="stretch")
parts = {f"c_{k}": v for k, v in labels.HEAT_COMPONENTS.items()}
top = ranked.head(10).assign(话题=ranked["label"].head(10).astype(str))
st.plotly_chart(charts.contributions(top, "话题", parts, "热度构成（前 10 个话题）"), key="heat_parts")

emerging = data.emerging_topics(ctx.url, ctx.filters)
if not emerging.empty:
    hours = emerging.attrs.get("hours", 24)
    st.subheader(f"新出现与快速上升的话题（最近 {hours} 小时）")
    st.dataframe(
        pd.DataFrame(
            {
                "话题": emerging["label"],
                "类型": emerging["reason"].map({"new": "新出现", "rising": "快速上升"}),
                f"最近 {hours} 小时（条）": emerging["recent"].astype("int64"),
                "按历史预期（条）": emerging["expected"].astype(float).round(1),
                "倍数": emerging["ratio"].astype(float).round(1),
            }
        ),
        hide_index=True,
        width="stretch",
    )

st.divider()
choices = {int(t): str(lbl) for t, lbl in zip(ranked["topic_id"], ranked["label"], strict=True)}
topic_id = st.selectbox(
    "查看话题详情", list(choices), format_func=lambda t: f"{choices[t]}（#{t}）", key="topic_pick"
)
row = ranked.loc[ranked["topic_id"] == topic_id].iloc[0]
st.subheader(escape_md(choices[topic_id]))
info = data.topics(ctx.url)
meta = info.loc[info["id"] == topic_id]

m1, m2, m3, m4 = st.columns(4)
m1.metric("热度", f"{float(row['heat']):.1f}")
m2.metric("声量（条）", f"{int(row['n']):,}")
m3.metric("负面占比", data.pct(float(row["neg_ratio"])))
m4.metric(
    "增长倍数", f"{float(row['growth_ratio']):.2f}", help="本期声量 ÷ 按过去 7 天速率的预期声量（各加 1）"
)
if not meta.empty:
    terms = meta.iloc[0]["terms"] or []
    st.text("关键词：" + "、".join(str(t) for t in terms))
    first = meta.iloc[0]["first_seen"].tz_convert(ctx.tz)
    st.text(f"首次出现：{first:%Y-%m-%d %H:%M}")

total = sum(weights.values())
formula = " + ".join(f"{weights[k] / total:.0%}×{v}" for k, v in labels.HEAT_COMPONENTS.items())
with st.expander("热度指数说明", expanded=True):
    st.text(f"热度 = 100 × ({formula})，各分项归一化到 0–1，权重来自配置 analytics.heat_weights。")
    explain = pd.DataFrame(
        {
            "分项": list(labels.HEAT_COMPONENTS.values()),
            "得分（0–1）": [round(float(row[k]), 3) for k in labels.HEAT_COMPONENTS],
            "权重": [round(weights[k] / total, 3) for k in labels.HEAT_COMPONENTS],
            "贡献（分）": [round(float(row[f"c_{k}"]), 1) for k in labels.HEAT_COMPONENTS],
        }
    )
    st.dataframe(explain, hide_index=True, width="stretch")
    st.text(
        "声量：本期条数（对数归一）；增长：相对自身过去 7 天速率的增幅；扩散：出现的渠道数；"
        "互动：点赞转发评论阅读；负面：负面占比（小样本收缩）；持续：有声量的小时数占比。"
    )

left, right = st.columns(2)
history, predicted = data.topic_forecast(ctx.url, ctx.filters, topic_id, ctx.tz)
left.plotly_chart(charts.forecast(history, predicted, "声量趋势与预测"), key="topic_trend")
if predicted is None:
    left.caption("暂无预测（预测模块未安装或数据不足）：仅显示实际声量。")
else:
    left.caption(f"虚线为预测均值，阴影为 90% 预测区间（模型：{predicted.attrs.get('model', '—')}）。")
one = ctx.filters
mix = data.breakdown(ctx.url, one, ("topic_id", "sentiment"))
mix = mix.loc[mix["topic_id"] == topic_id].assign(
    情感=lambda d: d["sentiment"].map(lambda v: labels.label("sentiment", v))
)
right.plotly_chart(charts.donut(mix, "情感", "n", "情感构成", labels.SENTIMENT_COLORS), key="topic_sentiment")

c1, c2, c3 = st.columns(3)
emo = data.emotions(ctx.url, ctx.filters, topic_id)
emo = emo.assign(情绪=emo["emotion"].map(lambda v: labels.label("emotion", v)))
c1.plotly_chart(charts.bars(emo, "情绪", "n", "情绪构成", {"n": "文档数"}), key="topic_emotion")
ch = data.breakdown(ctx.url, one, ("topic_id", "channel"))
ch = ch.loc[ch["topic_id"] == topic_id].assign(
    渠道=lambda d: d["channel"].map(lambda v: labels.label("channel", v))
)
c2.plotly_chart(charts.bars(ch, "渠道", "n", "渠道分布", {"n": "文档数"}), key="topic_channels")
rg = data.breakdown(ctx.url, one, ("topic_id", "province"))
rg = rg.loc[rg["topic_id"] == topic_id].assign(地区=lambda d: d["province"].map(labels.place))
c3.plotly_chart(
    charts.bars(charts.top_n(rg, "n", 10), "地区", "n", "地区分布（前 10）", {"n": "文档数"}),
    key="topic_regions",
)

st.subheader("代表性文档（已合并近似重复）")
docs = data.topic_documents(ctx.url, ctx.filters, topic_id, 5)
if docs.empty:
    st.info("暂无文档。")
else:
    st.dataframe(document_table(docs, ctx.tz), hide_index=True, width="stretch")
    correction_form(ctx, docs, "topic_fix")

st.subheader("事件与效果")
render_events(ctx, Issue(name=choices[topic_id], topic_id=topic_id), "topic_event")
