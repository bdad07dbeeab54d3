"""数据源健康: per-source last success, items per run, errors, silence, and the tagging backlog."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, labels
from dashboard.context import page_context
from dashboard.tables import local_time

DEFAULT_SILENCE_MINUTES = 120

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
silent = health["minutes_since_success"].isna() | (health["minutes_since_success"] > silence_minutes)
failing = health["last_status"].eq("failed")
c1, c2, c3, c4 = st.columns(4)
c1.metric("数据源", len(health))
c2.metric("最近一次运行失败", int(failing.sum()))
c3.metric(f"超过 {silence_minutes} 分钟无成功采集", int(silent.sum()))
c4.metric("待打标签文档", f"{backlog:,}", help="已入库但尚未完成情感、类别等标注的文档")


def state(row: pd.Series) -> str:
    if row["last_status"] == "failed":
        return "失败"
    if pd.isna(row["minutes_since_success"]) or row["minutes_since_success"] > silence_minutes:
        return "静默"
    return "正常"


st.dataframe(
    pd.DataFrame(
        {
            "数据源": health["name"].astype(str),
            "类型": health["kind"].astype(str),
            "渠道": health["channel"].map(lambda c: labels.label("channel", c)),
            "状态": health.apply(state, axis=1) if not health.empty else pd.Series(dtype=str),
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
            "最近错误": health["last_error"].fillna("").astype(str),
            "累计文档": health["documents"].astype("int64"),
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
