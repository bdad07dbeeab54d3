"""数据源健康: per-source last success, items per run, errors, dead letters, silence (a source switched
off in config shows 停用 instead), the tagging backlog, the encoder tier's backlog per priority class,
and model drift.

Drift: per source and ISO week, the share of low-confidence tags and the change of the label mix
from the week before (:func:`storage.corrections.label_shift`); changes above 0.3 are highlighted.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import page_context
from dashboard.tables import local_time
from kernel import labels

DEFAULT_SILENCE_MINUTES = 120
SHIFT_ALERT = 0.3  # a label-mix change from the week before larger than this is highlighted
HIGHLIGHT = "background-color: #fde2e1"
DRIFT_SPANS = {"最近 12 周": 12, "最近 26 周": 26, "全部": None}

ctx = page_context()
st.title("数据源健康")
rules = [r for r in ctx.settings.alerts.rules if r.kind == "source_silence" and r.enabled]
silence_minutes = min((r.silence_minutes for r in rules), default=DEFAULT_SILENCE_MINUTES)

health = data.source_health(ctx.url, data.minute_of(ctx.now))
if ctx.filters.sources:  # the sidebar's source and channel filters apply here too
    health = health.loc[health["name"].isin(ctx.filters.sources)].reset_index(drop=True)
if ctx.filters.channels:
    health = health.loc[health["channel"].isin(ctx.filters.channels)].reset_index(drop=True)
backlog = data.backlog(ctx.url)
# a source switched off in config is not collected on purpose: shown as 停用, never counted silent
switched_off = {src.name for src in ctx.settings.sources if not src.enabled}
disabled = health["name"].isin(switched_off)
silent = ~disabled & (
    health["minutes_since_success"].isna() | (health["minutes_since_success"] > silence_minutes)
)
failing = health["last_status"].eq("failed")
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("数据源", len(health))
c2.metric("最近一次运行失败", int(failing.sum()))
c3.metric(f"超过 {silence_minutes} 分钟无成功采集", int(silent.sum()))
c4.metric("待打标签文档", f"{backlog:,}", help="已入库但尚未完成情感、类别等标注的文档")
c5.metric(
    "死信（待处理）",
    int(health["dead_letters"].sum()) if not health.empty else 0,
    help="无法入库的条目与无法打标签的文档；用 sensing deadletter list / retry / drop 处理",
)

encoder = data.encoder_backlog(ctx.url, data.minute_of(ctx.now))
e1, e2, e3, e4 = st.columns(4)
e1.metric(
    "待语义编码文档",
    f"{encoder['total']:,}",
    help="已有快速标签、尚待编码层（e5 编码器 + 叠加模型）重新标注的文档；不受侧栏筛选影响",
)
e2.metric("其中：优先渠道", f"{encoder['priority']:,}", help="问政 / 12345 热线与政府渠道，最先编码")
e3.metric(
    "其中：热点话题与预警", f"{encoder['hot']:,}", help="当前热点话题和未关闭预警范围内的文档，其次编码"
)
e4.metric("其中：其余", f"{encoder['rest']:,}")
if encoder["version"]:
    outdated = f"，其中 {encoder['outdated']:,} 篇由旧版本编码、正在重新编码" if encoder["outdated"] else ""
    st.caption(f"编码层模型版本：{encoder['version']}{outdated}。各类内按发布时间由新到旧处理。")
elif encoder["problem"]:
    st.warning(f"编码层未运行：{encoder['problem']}。在此之前各图表使用快速模型的标签。")
else:
    st.caption("编码层尚未运行过：各图表暂用快速模型的标签。")
if not encoder["enabled"]:
    st.caption("编码层已在配置中关闭（nlp.encoder.enabled）。")


# the first that holds: 停用, 失败, 静默 (the masks counted above), else 正常
status = pd.Series("正常", index=health.index, dtype=object)
status = status.mask(silent, "静默").mask(failing, "失败").mask(disabled, "停用")

st.dataframe(
    pd.DataFrame(
        {
            "数据源": health["name"].astype(str),
            "类型": health["kind"].astype(str),
            "渠道": health["channel"].map(lambda c: labels.label("channel", c)),
            "状态": status,
            "最近成功": local_time(health["last_success"], ctx.tz),
            "距今（分钟）": health["minutes_since_success"],
            "最近运行": local_time(health["last_run"], ctx.tz),
            "最近运行结果": health["last_status"].map(
                lambda v: labels.RUN_STATUS.get(v, v) if isinstance(v, str) else ""
            ),
            "24小时运行次数": health["runs_24h"],
            "每次新增（均值）": health["new_per_run"],
            "每次抓取（均值）": health["fetched_per_run"],
            "24小时错误": health["errors_24h"],
            "死信（待处理）": health["dead_letters"].astype("int64"),
            "最近错误": health["last_error"].fillna("").astype(str),
            "累计文档": health["documents"].astype("int64"),
        }
    ),
    hide_index=True,
    width="stretch",
)

crawl = data.web_crawl(ctx.url, data.minute_of(ctx.now))
crawl = crawl.loc[crawl["name"].isin(health["name"])]  # the sidebar's source and channel filters
if not crawl.empty:
    st.subheader("网页采集（最近一次运行）")
    st.dataframe(
        pd.DataFrame(
            {
                "数据源": crawl["name"].astype(str),
                "运行时间": local_time(crawl["at"], ctx.tz),
                "列表页": crawl["pages"],
                "列表未变化": crawl["lists_not_modified"],
                "新文章": crawl["articles_new"],
                "已采集（未变化）": crawl["articles_unchanged"],
                "跳过": crawl["articles_skipped"],
                "跳过原因": crawl["skipped"].map(
                    lambda d: (
                        "，".join(f"{labels.WEB_SKIP_REASONS.get(k, k)} {v}" for k, v in d.items())
                        if isinstance(d, dict)
                        else ""
                    )
                ),
                "robots 拒绝": crawl["robots_refused"],
                "最近错误": crawl["last_error"].fillna("").astype(str),
            }
        ),
        hide_index=True,
        width="stretch",
    )

runs = data.job_runs(ctx.url)
if not runs.empty:
    st.subheader("后台任务")
    st.dataframe(
        pd.DataFrame(
            {
                "任务": runs["job"].astype(str),
                "开始": local_time(runs["started_at"], ctx.tz),
                "结束": local_time(runs["finished_at"], ctx.tz),
                "结果": runs["status"].map(lambda v: labels.RUN_STATUS.get(v, v)),
                "错误": runs["error"].fillna("").astype(str),
            }
        ),
        hide_index=True,
        width="stretch",
    )

st.subheader("模型漂移（按数据源和周）")
c1, c2 = st.columns([3, 1])
field = c1.radio(
    "标签", list(labels.FIELDS), format_func=labels.FIELDS.__getitem__, horizontal=True, key="drift_field"
)
span = c2.selectbox("范围", list(DRIFT_SPANS), key="drift_span")
since = data.drift_since(ctx.now, DRIFT_SPANS[span])
low = ctx.settings.nlp.low_confidence
drift = data.drift(ctx.url, field, low, since)
drift = drift.loc[drift["source"].isin(health["name"])]  # the sidebar's source and channel filters
if drift.empty:
    st.info("暂无已打标签的文档。")
    st.stop()
drift = drift.sort_values(["week", "source"], ascending=[False, True]).reset_index(drop=True)
large = drift["shift"] > SHIFT_ALERT
d1, d2, d3 = st.columns(3)
d1.metric("数据源 × 周", len(drift))
d2.metric(
    "低置信度占比（全部）",
    data.pct(float((drift["low_confidence_share"] * drift["n"]).sum() / drift["n"].sum())),
)
d3.metric(f"标签分布显著变化（>{SHIFT_ALERT:g}）", int(large.sum()))
shares = [c for c in drift.columns if c.startswith("share_")]
table = pd.DataFrame(
    {
        "数据源": drift["source"].astype(str),
        "周": drift["week"].astype(str),
        "文档数": drift["n"].astype("int64"),
        "低置信度占比(%)": (drift["low_confidence_share"].astype(float) * 100).round(1),
        "较上周分布变化": drift["shift"].astype(float).round(3),
        "状态": ["显著变化" if v else "" for v in large],
        **{
            f"{labels.tag(field, c.removeprefix('share_'))}(%)": (drift[c].fillna(0) * 100).round(1)
            for c in shares
        },
    }
)
percents = [c for c in table.columns if c.endswith("(%)")]
styled = (
    table.style.apply(lambda r: [HIGHLIGHT if r["状态"] else ""] * len(r), axis=1)
    .format("{:.1f}", subset=percents)
    .format("{:.3f}", subset=["较上周分布变化"])  # empty (None) in a source's first week: no week before
)
st.dataframe(styled, hide_index=True, width="stretch")
st.caption(
    f"低置信度：模型置信度低于 {low:g}。分布变化：本周与该数据源上一周的标签构成之差（总变差距离，0–1），"
    f"超过 {SHIFT_ALERT:g} 标为显著变化，可能是数据源内容变了或模型需要复核、再训练。"
)
trend = drift.assign(数据源=drift["source"].astype(str), share=drift["low_confidence_share"].astype(float))
fig = charts.line(
    trend.sort_values("week"),
    "week",
    "share",
    "数据源",
    "低置信度占比（按周）",
    {"share": "占比", "week": "周"},
)
st.plotly_chart(fig.update_yaxes(range=[0, 1.02], tickformat=".0%"), key="drift_trend")
