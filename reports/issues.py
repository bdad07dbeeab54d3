"""Hot issues, demand categories and agenda priority tables (pure: rankings and frames in, tables out).

Rankings come from :mod:`reports.ranking` (the heat formula the dashboard uses). Their ``c_*``
columns, each component's weighted contribution summing to the score, are the explanation shown
for every issue. Counts, shares and trends come from the week's documents, with their ids as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from reports.model import Column, ReportTable
from reports.ranking import TOP_ISSUES
from reports.tables import (
    change,
    evidence,
    negative_share,
    sql_literal,
)

COMPONENT_LABELS = {
    "volume": "声量",
    "growth": "增长",
    "spread": "跨渠道扩散",
    "engagement": "互动",
    "negativity": "负面",
    "persistence": "持续",
    "regions": "地域覆盖",
}
GROUP_LABELS = {"urgency": "紧迫性", "scope": "广泛性", "impact": "影响力"}
TOP_AGENDA = 10


def components(ranked: pd.DataFrame) -> list[str]:
    """The contribution columns of a heat ranking, in the configured order."""
    known = [f"c_{k}" for k in COMPONENT_LABELS if f"c_{k}" in ranked.columns]
    return known + sorted(c for c in ranked.columns if c.startswith("c_") and c not in known)


def explain(row: Mapping[str, Any], cols: list[str], top: int = 2) -> str:
    """``声量 30.0、增长 20.0``: the largest contributions (points) to one score."""
    parts = {c: float(row.get(c) or 0.0) for c in cols}
    best = [c for c in sorted(parts, key=lambda c: (-parts[c], c)) if parts[c] > 0][:top]
    if not best:
        return "各分项均为 0"
    return "、".join(f"{COMPONENT_LABELS.get(c[2:], c[2:])} {parts[c]:.1f}" for c in best)


def explain_sum(name: str, row: Mapping[str, Any], cols: list[str], score: str = "heat") -> str:
    """``「X」热度 87.3 = 声量 30.0 + 增长 20.0 + …``: every contribution, largest first."""
    parts = sorted(((float(row.get(c) or 0.0), c) for c in cols), key=lambda p: (-p[0], p[1]))
    terms = " + ".join(f"{COMPONENT_LABELS.get(c[2:], c[2:])} {v:.1f}" for v, c in parts)
    return f"「{name}」{float(row[score]):.1f} = {terms}"


def describe_trend(counts: list[int], labels: list[str]) -> str:
    """Peak day and the second half of the week (Fri-Sun) against the first (Mon-Wed)."""
    if not any(counts):
        return "本周无文档"
    peak = max(range(len(counts)), key=lambda i: (counts[i], -i))
    first, second = sum(counts[:3]), sum(counts[4:])
    if first == 0:
        move = "后半周新出现"
    else:
        rate = (second - first) / first
        move = "平稳" if abs(rate) < 0.2 else f"后半周{'升' if rate > 0 else '降'} {abs(rate):.0%}"
    return f"峰值 {labels[peak]}（{counts[peak]}）；{move}"


def _day_counts(sel: pd.DataFrame, days: list[datetime], tz: str) -> list[int]:
    local = sel["published_at"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d")
    return [int((local == f"{d:%Y-%m-%d}").sum()) for d in days]


def hot_issue_tables(
    cur: pd.DataFrame,
    prev: pd.DataFrame,
    ranked: pd.DataFrame,
    topics: Mapping[int, str],
    days: list[datetime],
    tz: str,
) -> tuple[ReportTable, ReportTable, ReportTable]:
    """(hot issues, heat components, daily trend) for the top topics of ``ranked``."""
    cols = components(ranked)
    labels = [f"{d:%m-%d}" for d in days]
    hot = ReportTable(
        "hot_issues",
        "热点议题排行",
        [
            Column("rank", "排名", "int"),
            Column("issue", "议题"),
            Column("topic_id", "话题编号", "int"),
            Column("heat", "热度（0–100）", "float"),
            Column("this_week", "本周", "int"),
            Column("last_week", "上周", "int"),
            Column("growth", "环比", "pct"),
            Column("negative_share", "负面占比", "pct"),
            Column("drivers", "主要驱动"),
            Column("trend", "走势"),
        ],
        note="热度在周末时刻按配置权重计算（数据取自小时汇总表）；本周、上周、负面占比按文档计。",
    )
    parts = ReportTable(
        "heat_components",
        "热度构成（各分项加权贡献）",
        [Column("issue", "议题")]
        + [Column(c, COMPONENT_LABELS.get(c[2:], c[2:]), "float") for c in cols]
        + [Column("heat", "热度", "float")],
    )
    trend = ReportTable(
        "hot_trend",
        "热点议题每日文档数",
        [Column("issue", "议题")]
        + [Column(f"d{i + 1}", lab, "int") for i, lab in enumerate(labels)]
        + [Column("total", "合计", "int")],
    )
    for rank, row in enumerate(ranked.head(TOP_ISSUES).to_dict("records"), start=1):
        tid = int(row["topic_id"])
        name = topics.get(tid) or f"话题#{tid}"
        sel, last = cur[cur["topic_id"] == tid], prev[prev["topic_id"] == tid]
        counts = _day_counts(sel, days, tz)
        ev = evidence(f"topic_id = {tid}", sel, last)
        hot.add(
            [
                rank,
                name,
                tid,
                round(float(row["heat"]), 2),
                len(sel),
                len(last),
                change(len(sel), len(last))[1],
                negative_share(sel),
                explain(row, cols),
                describe_trend(counts, labels),
            ],
            ev,
        )
        parts.add(
            [name, *(round(float(row.get(c) or 0.0), 2) for c in cols), round(float(row["heat"]), 2)], ev
        )
        trend.add([name, *counts, sum(counts)], ev)
    return hot, parts, trend


def category_table(cur: pd.DataFrame, prev: pd.DataFrame) -> ReportTable:
    """Demand categories by volume with change, negativity and spread across regions and channels."""
    table = ReportTable(
        "categories",
        "诉求分类",
        [
            Column("category", "诉求分类"),
            Column("this_week", "本周", "int"),
            Column("last_week", "上周", "int"),
            Column("growth", "环比", "pct"),
            Column("negative_share", "负面占比", "pct"),
            Column("regions", "涉及地域数", "int"),
            Column("channels", "涉及渠道数", "int"),
        ],
        note="只计已完成分类的文档。",
    )
    counts = cur["category"].dropna().value_counts()
    for name in sorted(counts.index, key=lambda k: (-int(counts[k]), str(k))):
        sel, last = cur[cur["category"] == name], prev[prev["category"] == name]
        table.add(
            [
                name,
                len(sel),
                len(last),
                change(len(sel), len(last))[1],
                negative_share(sel),
                int(sel["province"].dropna().nunique()),
                int(sel["channel"].nunique()),
            ],
            evidence(f"category = {sql_literal(name)}", sel, last),
        )
    return table


def agenda_table(cur: pd.DataFrame, ranked: pd.DataFrame) -> ReportTable:
    """Agenda priority: category x region cells by urgency, scope and impact, with their drivers."""
    cols = components(ranked)
    table = ReportTable(
        "agenda",
        "议程优先级（诉求分类 × 地域）",
        [
            Column("rank", "优先级", "int"),
            Column("category", "诉求分类"),
            Column("region", "地域"),
            Column("score", "得分（0–100）", "float"),
            *(Column(g, label, "float") for g, label in GROUP_LABELS.items()),
            Column("this_week", "本周文档", "int"),
            Column("negative_share", "负面占比", "pct"),
            Column("drivers", "主要驱动"),
        ],
        note="得分 = 紧迫性（增长、负面）+ 广泛性（跨渠道、地域覆盖）+ 影响力（声量、互动），各项已按权重折算为分。",
    )
    for rank, row in enumerate(ranked.head(TOP_AGENDA).to_dict("records"), start=1):
        cat, prov = str(row["category"]), str(row["province"])
        sel = cur[(cur["category"] == cat) & (cur["province"] == prov)]
        table.add(
            [
                rank,
                cat,
                prov,
                round(float(row["priority"]), 2),
                *(round(float(row[g]), 2) for g in GROUP_LABELS),
                len(sel),
                negative_share(sel),
                explain(row, cols),
            ],
            evidence(f"category = {sql_literal(cat)} AND province = {sql_literal(prov)}", sel),
        )
    return table
