"""Pure builders of the methods section: sources covered, data gaps and model versions with scores.

Everything is bounded to the report week (ingestion runs started in it, documents published in it),
so generating the same week again gives the same figures however the sources behave today.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from reports.model import Column, Evidence, ReportTable
from reports.tables import channel_label, evidence

TASK_LABELS = {
    "sentiment": "情感",
    "emotion": "情绪",
    "category": "诉求分类",
    "topics": "话题",
    "regions": "地域",
}
OK_STATUSES = ("ok", "partial")


def longest_gap_hours(successes: list[datetime], start: datetime, end: datetime) -> float:
    """Longest stretch of [start, end) without a successful run, in hours."""
    points = [start, *sorted(t for t in successes if start <= t < end), end]
    return max((b - a).total_seconds() for a, b in zip(points, points[1:], strict=False)) / 3600.0


def sources_table(
    sources: pd.DataFrame, docs: pd.DataFrame, runs: pd.DataFrame, start: datetime, end: datetime, tz: str
) -> tuple[ReportTable, ReportTable]:
    """(sources covered, data gaps): per source, its documents, runs, failures and silences."""
    covered = ReportTable(
        "sources",
        "数据来源",
        [
            Column("source", "来源"),
            Column("kind", "类型"),
            Column("channel", "渠道"),
            Column("documents", "本周文档", "int"),
            Column("runs", "采集次数", "int"),
            Column("fetched", "抓取条目", "int"),
        ],
    )
    gaps = ReportTable(
        "gaps",
        "数据缺口",
        [
            Column("source", "来源"),
            Column("failed_runs", "失败次数", "int"),
            Column("errors", "错误条目", "int"),
            Column("longest_gap_hours", "最长无成功采集", "hours"),
            Column("empty_days", "无数据天数", "int"),
            Column("last_error", "最近错误"),
        ],
        note="最长无成功采集：本周内相邻两次成功采集（含周首、周末）之间的最长间隔。",
    )
    days = pd.date_range(start, end, freq="D", inclusive="left").strftime("%Y-%m-%d")
    local_day = docs["published_at"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d")
    for src in sources.itertuples():
        sel = docs[docs["source_id"] == src.id]
        mine = runs[runs["source_id"] == src.id]
        ok = mine[mine["status"].isin(OK_STATUSES)]
        ends = [t.to_pydatetime() for t in pd.to_datetime(ok["finished_at"].dropna(), utc=True)]
        covered.add(
            [
                src.name,
                src.kind,
                channel_label(src.channel or ""),
                len(sel),
                len(mine),
                int(mine["fetched"].sum()),
            ],
            evidence(f"source_id = {src.id}", sel),
        )
        failed = mine[mine["status"] == "failed"]
        errors = mine["error"].dropna()
        gaps.add(
            [
                src.name,
                len(failed),
                int(mine["errors"].sum()),
                round(longest_gap_hours(ends, start, end), 2),
                int(sum(1 for d in days if not (local_day[docs["source_id"] == src.id] == d).any())),
                str(errors.iloc[-1])[:200] if len(errors) else None,
            ],
            Evidence(f"ingest_runs.source_id = {src.id}，本周开始的采集"),
        )
    return covered, gaps


def tier_note(tiers: dict[str, int]) -> str:
    """One sentence: what share of the week's tagged documents carry the encoder tier's tags."""
    total = sum(tiers.values())
    if not total:
        return ""
    enc = int(tiers.get("encoder", 0))
    return (
        f"本周已标注的 {total:,} 条文档中，{enc:,} 条（{enc / total:.1%}）的情感、情绪与诉求类别来自编码模型"
        "（encoder），其余来自快速模型（n-gram）。"
    )


def models_table(
    versions: list[dict[str, Any]], meta: dict[str, dict[str, Any]], tiers: dict[str, int] | None = None
) -> ReportTable:
    """Model versions that tagged the week's documents, with the shipped models' held-out scores;
    ``tiers`` (tagged documents per ``doc_tags.tier``) adds the encoder tier's share to the note."""
    table = ReportTable(
        "models",
        "模型版本与留出集评分",
        [
            Column("task", "任务"),
            Column("version", "模型版本"),
            Column("documents", "本周标注文档", "int"),
            Column("dev_macro_f1", "留出集 Macro-F1", "score"),
            Column("dev_rows", "留出集样本", "int"),
            Column("train_rows", "训练样本", "int"),
        ],
        note="评分取自模型随附的 meta.json（训练时未参与拟合的开发集）；版本不一致时不显示评分。",
    )
    if tiers:
        table.note += tier_note(tiers)
    per_task: dict[tuple[str, str], int] = {}
    for entry in versions:
        for task, version in sorted(entry["models"].items()):
            key = (str(task), str(version))
            per_task[key] = per_task.get(key, 0) + int(entry["documents"])
    for task, m in sorted(meta.items()):
        per_task.setdefault((task, str(m.get("version"))), 0)
    for (task, version), n in sorted(per_task.items()):
        m = meta.get(task, {})
        same = str(m.get("version")) == version
        f1 = m.get("dev_macro_f1")
        score = f1.get("primary") if isinstance(f1, dict) else f1
        table.add(
            [
                TASK_LABELS.get(task, task),
                version,
                n,
                float(score) if same and score is not None else None,
                int(m["dev_rows"]) if same and m.get("dev_rows") is not None else None,
                int(m["train_rows"]) if same and m.get("train_rows") is not None else None,
            ],
            Evidence(f"doc_tags.model_versions ->> '{task}' = '{version}'；nlp/models/{task}/meta.json"),
        )
    return table
