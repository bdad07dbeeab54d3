"""情感与情绪: sentiment trend, negative share by channel / category / region, emotions, most negative topics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import page_context, page_header
from kernel import labels

MIN_TOPIC_SIZE = 5

ctx = page_context()
page_header("情感与情绪", ctx)


def negative_by(dim: str) -> pd.DataFrame:
    """Documents, negative documents and negative share per value of ``dim``."""
    frame = data.breakdown(ctx.url, ctx.filters, (dim, "sentiment"))
    if frame.empty:
        return pd.DataFrame(columns=[dim, "n", "negative", "share"])
    frame = frame.assign(negative=frame["n"].where(frame["sentiment"] == "negative", 0))
    out = frame.groupby(dim, as_index=False)[["n", "negative"]].sum()
    out["share"] = out["negative"] / out["n"]
    return out.sort_values("share", ascending=False)


totals = data.breakdown(ctx.url, ctx.filters, ("sentiment",))
volume = int(totals["n"].sum())
counts = {s: int(totals.loc[totals["sentiment"] == s, "n"].sum()) for s in labels.SENTIMENT_ORDER}
cols = st.columns(4)
cols[0].metric("文档总数", f"{volume:,}")
for col, s in zip(cols[1:], labels.SENTIMENT_ORDER, strict=True):
    col.metric(
        f"{labels.label('sentiment', s)}（条）",
        f"{counts[s]:,}",
        data.pct(counts[s] / volume if volume else None),
        delta_color="off",
    )

trend = data.trend(ctx.url, ctx.filters, "sentiment", ctx.tz)
trend["情感"] = trend["sentiment"].map(lambda v: labels.label("sentiment", v))
left, right = st.columns([3, 2])
left.plotly_chart(
    charts.sentiment_area(trend, "bucket", "情感趋势", labels.SENTIMENT_COLORS), key="sent_trend"
)
emo = data.emotions(ctx.url, ctx.filters)
emo = emo.assign(情绪=emo["emotion"].map(lambda v: labels.label("emotion", v)))
right.plotly_chart(charts.donut(emo, "情绪", "n", "情绪构成"), key="sent_emotion")

c1, c2, c3 = st.columns(3)
for col, dim, title, fmt in (
    (c1, "channel", "负面占比（按渠道）", lambda v: labels.label("channel", v)),
    (c2, "category", "负面占比（按诉求类别）", labels.place),
    (c3, "province", "负面占比（按地区）", labels.place),
):
    frame = negative_by(dim)
    frame = frame.assign(名称=frame[dim].map(fmt))
    col.plotly_chart(
        charts.bars(
            frame.head(12), "名称", "share", title, {"share": "负面占比"}, horizontal=True, percent=True
        ),
        key=f"neg_{dim}",
    )

st.subheader("负面最集中的话题")
by_topic = negative_by("topic_id")
by_topic = by_topic.loc[(by_topic["topic_id"] >= 0) & (by_topic["n"] >= MIN_TOPIC_SIZE)]
names = data.topics(ctx.url).set_index("id")["label"].to_dict()
if by_topic.empty:
    st.info(f"没有声量不少于 {MIN_TOPIC_SIZE} 条的话题。")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "话题": [str(names.get(int(t), f"话题 {t}")) for t in by_topic["topic_id"]],
                "负面占比(%)": (by_topic["share"] * 100).round(1),
                "负面（条）": by_topic["negative"].astype("int64"),
                "声量（条）": by_topic["n"].astype("int64"),
            }
        ).head(10),
        hide_index=True,
        width="stretch",
    )
