"""复核队列 (analysts, admins): the documents the models are least sure about, corrected in one click.

The queue (:func:`storage.corrections.review_queue`) holds uncorrected first copies ordered by the
model's confidence for the chosen tag, least sure first; it covers every document, whatever the
sidebar filters. One click on a label stores it as the analyst's correction (the model's own
label confirms it), refreshes the charts and feeds ``sensing train``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.context import page_context
from dashboard.correction_panel import save_correction, show_flash
from dashboard.tables import local_time, tier_label
from kernel import labels
from kernel.labels import TASK_CODES

SIZES = (10, 20, 50)

ctx = page_context()
st.title("复核队列")
if not auth.require(ctx.user, "correct", "复核队列"):
    st.stop()
low = ctx.settings.nlp.low_confidence
st.text(f"模型最没把握的文档排在最前（置信度低于 {low:g} 视为低置信度）；队列不受侧栏筛选条件限制。")
show_flash()

c1, c2 = st.columns([3, 1])
field = c1.radio(
    "复核标签", list(labels.FIELDS), format_func=labels.FIELDS.__getitem__, horizontal=True, key="rv_field"
)
size = int(c2.selectbox("显示条数", SIZES, key="rv_size"))
queue = data.review_queue(ctx.url, field, size)
if queue.empty:
    st.success("没有待复核的文档。")
    st.stop()

st.dataframe(
    pd.DataFrame(
        {
            "序号": range(1, len(queue) + 1),
            "编号": queue["id"].astype("int64"),
            "发布时间": local_time(queue["published_at"], ctx.tz),
            "渠道": queue["channel"].map(lambda v: labels.label("channel", v)),
            "标题": queue["title"].fillna("").astype(str),
            "内容（已脱敏）": queue["content"].fillna("").astype(str),
            "模型标签": queue["label"].map(lambda v: labels.tag(field, v)),
            "置信度": queue["score"].astype(float).round(3),
            "标注来源": queue["tier"].map(tier_label),
        }
    ),
    hide_index=True,
    width="stretch",
)

st.subheader("逐条复核")
st.caption("点击正确的标签即保存为人工更正（高亮的是模型给出的标签，点击即确认）。")
options = TASK_CODES[field]
for row in queue.itertuples():
    with st.container(border=True):
        st.text(
            f"#{row.id}　{row.title or ''}　（模型：{labels.tag(field, row.label)}，置信度 {row.score:.2f}，"
            f"标注来源：{tier_label(row.tier)}）"
        )
        st.text(str(row.content or "")[:300])  # plain text: never Markdown or HTML
        for col, value in zip(st.columns(len(options)), options, strict=True):
            col.button(
                labels.tag(field, value),
                key=f"rv_{field}_{row.id}_{value}",
                type="primary" if value == row.label else "secondary",
                on_click=save_correction,
                args=(int(row.id), field, value),
                width="stretch",
            )
