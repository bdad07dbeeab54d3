"""答复质量: how well and how fast hotline / 问政 messages are answered, by unit, category and region.

Reads the scores of ``reply_scores`` (rules in analytics/reply_quality.py, weights in the
configuration's ``reply_quality`` section) for the messages published in the period that match
the global filters. Reply text is masked at ingestion and shown only in dataframes and st.text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import page_context, page_header
from dashboard.similar_panel import case_hints, duplicate_hint, hint_column
from dashboard.tables import local_time
from kernel import labels
from storage.reply_queries import COMPONENTS, SLOW_DAYS, summarise_replies

WORST = 20
PARTS = {k: labels.REPLY_COMPONENTS[k] for k in COMPONENTS}

ctx = page_context()
page_header("答复质量", ctx, "按留言发布时间统计")
frame = data.replies(ctx.url, ctx.filters)
if frame.empty:
    st.info("所选范围内没有已评分的答复（评分由后台任务 reply_quality 完成）。")
    st.stop()

delays = frame["delay_days"].dropna()
m1, m2, m3, m4 = st.columns(4)
m1.metric("已评分答复（条）", f"{len(frame):,}")
m2.metric("平均得分", f"{frame['total'].mean():.1f}", help="0–100 分，各分项加权平均")
m3.metric("平均答复用时（天）", "—" if delays.empty else f"{delays.mean():.1f}")
m4.metric(f"超过 {SLOW_DAYS:g} 天答复", data.pct(float((delays > SLOW_DAYS).mean()) if len(delays) else None))

st.subheader("排名")
c1, c2, c3 = st.columns([2, 2, 1])
by = c1.radio(
    "排名维度",
    list(labels.REPLY_GROUPS),
    format_func=labels.REPLY_GROUPS.__getitem__,
    horizontal=True,
    key="rq_by",
)
order = c2.radio("排序", ["得分从高到低", "得分从低到高", "用时从长到短"], horizontal=True, key="rq_order")
min_count = int(c3.number_input("最少答复数", min_value=1, max_value=1000, value=3, step=1, key="rq_min"))
ranked = summarise_replies(frame, by, min_count)
if order == "得分从低到高":
    ranked = ranked.sort_values(["total", "n"], ascending=[True, False], kind="stable")
elif order == "用时从长到短":
    ranked = ranked.sort_values(
        ["delay_days", "n"], ascending=[False, False], kind="stable", na_position="last"
    )
name = labels.REPLY_GROUPS[by]
names = ranked[by].map(lambda v: "未识别" if by == "unit" and not v else labels.place(v))
if ranked.empty:
    st.info(f"没有答复数不少于 {min_count} 条的{name}。")
else:
    table = pd.DataFrame(
        {
            "排名": range(1, len(ranked) + 1),
            name: names,
            "答复数": ranked["n"].astype("int64"),
            "平均得分": ranked["total"].round(1),
            "平均用时（天）": ranked["delay_days"].round(1),
            f"超过 {SLOW_DAYS:g} 天(%)": (ranked["slow_share"] * 100).round(1),
            **{f"{v}(%)": (ranked[k] * 100).round(1) for k, v in PARTS.items()},
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    shown = ranked.head(15).assign(
        名称=names.head(15),
        total=ranked["total"].head(15).round(1),
        delay_days=ranked["delay_days"].head(15).round(1),
    )
    left, right = st.columns(2)
    left.plotly_chart(
        charts.bars(
            shown, "名称", "total", f"平均得分（按{name}，前 15）", {"total": "平均得分"}, horizontal=True
        ),
        key="rq_score_bars",
    )
    right.plotly_chart(
        charts.bars(
            shown,
            "名称",
            "delay_days",
            f"平均答复用时（按{name}，前 15）",
            {"delay_days": "天"},
            horizontal=True,
        ),
        key="rq_delay_bars",
    )

st.subheader("各分项得分")
means = pd.DataFrame({"分项": list(PARTS.values()), "得分率": [float(frame[k].mean()) for k in PARTS]})
weights = ctx.settings.reply_quality
st.plotly_chart(
    charts.bars(means, "分项", "得分率", "各分项平均得分率", {"得分率": "得分率"}, percent=True),
    key="rq_parts",
)
st.caption(
    "总分 = 100 ×（"
    + " + ".join(f"{getattr(weights, k):g}×{v}" for k, v in PARTS.items())
    + "）÷ 权重之和；相关性看内容相似度、地点与诉求是否回应，完整性看承办单位、具体措施、联系途径和日期。"
)

st.subheader(f"得分最低的 {WORST} 条答复")
worst = data.worst_replies(ctx.url, ctx.filters, WORST)
hints = case_hints(ctx, worst)
st.dataframe(
    pd.DataFrame(
        {
            "编号": worst["id"],
            "留言时间": local_time(worst["published_at"], ctx.tz),
            "答复时间": local_time(worst["replied_at"], ctx.tz),
            "承办单位": worst["unit"].map(lambda v: v or "未识别"),
            "诉求类别": worst["category"].map(labels.place),
            "地区": worst["province"].map(labels.place),
            "总分": worst["total"].round(1),
            **{v: worst[k].round(2) for k, v in PARTS.items()},
            "用时（天）": worst["delay_days"].round(1),
            "留言（已脱敏）": worst["content"],
            "答复（已脱敏）": worst["reply"],
            **({"可能为同一诉求": hint_column(worst["id"], hints)} if hints else {}),
        }
    ),
    hide_index=True,
    width="stretch",
)
pick = st.selectbox(
    "查看答复全文",
    list(worst["id"]),
    format_func=lambda i: f"#{i}",
    index=None,
    key="rq_doc",
    placeholder="选择编号",
)
if pick is not None:
    row = worst.loc[worst["id"] == pick].iloc[0]
    st.text(f"留言：{row['title']}\n{row['content']}")  # plain text: never Markdown or HTML
    if int(pick) in hints:
        st.text(duplicate_hint(hints[int(pick)]))
    st.text(f"答复：{row['reply']}")
