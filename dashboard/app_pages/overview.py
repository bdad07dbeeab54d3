"""总览: KPIs against the previous period, trends by channel and sentiment, hot issues, open alerts."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters
from dashboard.context import page_context, page_header, recheck_session
from dashboard.markdown import escape_md
from dashboard.tables import alert_table, briefing_caption, hot_topic_table
from kernel import labels

ctx = page_context()
page_header("总览", ctx)
weights = tuple(ctx.settings.analytics.heat_weights.model_dump().items())


@st.fragment(run_every=ctx.settings.dashboard.auto_refresh_seconds)
def live() -> None:
    recheck_session()
    f = filters.refreshed(ctx.filters)
    k = data.kpis(ctx.url, f)
    c1, c2, c3, c4 = st.columns(4)
    change = k["volume"] - k["volume_prev"]
    rel = f"（{change / k['volume_prev']:+.0%}）" if k["volume_prev"] else ""
    c1.metric("声量（条）", f"{k['volume']:,}", f"{change:+,}{rel}", help=f"上一周期 {k['volume_prev']:,} 条")
    share, prev = k["negative_share"], k["negative_share_prev"]
    delta = f"{(share - prev) * 100:+.1f} 个百分点" if share is not None and prev is not None else None
    c2.metric("负面占比", data.pct(share), delta, delta_color="inverse", help=f"上一周期 {data.pct(prev)}")
    c3.metric(
        "新话题",
        f"{k['new_topics']}",
        f"{k['new_topics'] - k['new_topics_prev']:+d}",
        help="本周期首次出现的话题",
    )
    c4.metric(
        "未处理预警",
        f"{k['open_alerts']}",
        f"本期触发 {k['alerts_fired']}",
        delta_color="off",
        help="未解除的预警（含已确认）",
    )
    open_alerts = data.alerts(ctx.url, f, False)
    st.subheader("未解除的预警")
    if open_alerts.empty:
        st.success("当前没有未解除的预警。")
    else:
        st.dataframe(alert_table(open_alerts, ctx.tz), hide_index=True, width="stretch")


live()

briefing = data.latest_briefing(ctx.url)
if briefing is not None:  # only once an office's model is configured and has written one
    st.subheader(labels.BRIEFING_KINDS.get(briefing.kind, briefing.kind) + "（大模型撰写）")
    st.caption(escape_md(briefing_caption(briefing, ctx.tz)))
    st.text(briefing.text)  # model output is untrusted: plain text, never Markdown or HTML

left, right = st.columns(2)
by_channel = data.trend(ctx.url, ctx.filters, "channel", ctx.tz)
by_channel["渠道"] = by_channel["channel"].map(lambda c: labels.label("channel", c))
left.plotly_chart(
    charts.line(by_channel, "bucket", "n", "渠道", "声量趋势（按渠道）", {"n": "文档数", "bucket": ""}),
    key="trend_channel",
)
by_sentiment = data.trend(ctx.url, ctx.filters, "sentiment", ctx.tz)
by_sentiment["情感"] = by_sentiment["sentiment"].map(lambda s: labels.label("sentiment", s))
right.plotly_chart(
    charts.sentiment_area(by_sentiment, "bucket", "情感趋势", labels.SENTIMENT_COLORS), key="trend_sentiment"
)

st.subheader("热点议题（按热度指数）")
ranked = data.hot_topics(ctx.url, ctx.filters, weights)
if ranked.empty:
    st.info("所选范围内没有可排名的话题。")
else:
    st.dataframe(hot_topic_table(ranked.head(10)), hide_index=True, width="stretch")
    st.caption("热度指数 0–100，由声量、增长、扩散、互动、负面、持续六项加权构成；详见“热点话题”页。")
