"""Plain-Chinese sentences for each section, written from the report's own tables (pure).

Every number in a sentence is read from a table, so the text can never disagree with the figures
(and carries the same evidence).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.issues import COMPONENT_LABELS, explain_sum
from reports.model import WeeklyReport
from reports.ranking import BASELINE_DAYS
from reports.tables import EMOTION_LABELS, UNKNOWN_CATEGORY


def _pct(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{value * 100:.1f}%"


def _trend(rate: float | None) -> str:
    if rate is None or pd.isna(rate):
        return "上周无可比数据"
    return f"较上周{'增加' if rate >= 0 else '减少'} {abs(rate) * 100:.1f}%"


def _overview(report: WeeklyReport) -> None:
    kpi = report.tables["kpi"]
    total, last = kpi.lookup("文档总量", "this_week"), kpi.lookup("文档总量", "last_week")
    parts = [f"{r[0].split('·', 1)[1]} {int(r[2]):,} 条" for r in kpi.rows if str(r[0]).startswith("声量·")]
    report.say(
        "overview",
        f"本周（{report.period_label}）共收集文档 {int(total):,} 条，{_trend(kpi.lookup('文档总量', 'change_rate'))}"
        f"（上周 {int(last):,} 条）" + (f"；其中{'、'.join(parts)}。" if parts else "。"),
    )
    share, delta = kpi.lookup("负面占比", "this_week"), kpi.lookup("负面占比", "change")
    if share is not None:
        moved = (
            "" if delta is None else f"，较上周{'上升' if delta >= 0 else '下降'} {abs(delta):.1f} 个百分点"
        )
        report.say("overview", f"已标注文档中负面占比 {share:.1f}%{moved}。")
    alerts = report.tables["alerts"].frame()
    n_alerts = len(alerts)
    acked = int(alerts["acked_by"].notna().sum()) if n_alerts else 0
    median = kpi.lookup("确认用时（中位数）", "this_week")
    text = f"本周触发预警 {n_alerts} 条（严重 {int(kpi.lookup('其中严重预警', 'this_week'))} 条），已确认 {acked} 条"
    text += f"，确认用时中位数 {median:.1f} 小时" if median is not None else ""
    report.say("overview", text + (f"；仍有 {n_alerts - acked} 条未确认。" if n_alerts - acked else "。"))
    hot = report.tables["hot_issues"]
    if hot.rows:
        top = hot.frame().iloc[0]
        report.say(
            "overview",
            f"热度最高的议题为「{top['issue']}」（热度 {top['heat']:.1f}），贡献最大的分项为{top['drivers']}。",
        )


def _issues(report: WeeklyReport, settings: Any) -> None:
    weights = settings.analytics.heat_weights.model_dump()
    formula = "、".join(f"{COMPONENT_LABELS.get(k, k)} {v:.2f}" for k, v in weights.items())
    report.say(
        "issues",
        f"热度指数（0–100）= 100 × Σ 权重 × 分项 / Σ 权重，分项均归一化到 0–1；权重取自配置 "
        f"analytics.heat_weights：{formula}。统计窗口为本周全周，「增长」以此前 {BASELINE_DAYS} 天的小时均值为基线。"
        "「主要驱动」列出贡献最大的两个分项（分）；「热度构成」表列出各分项折算后的分数，合计即热度。",
    )
    parts = report.tables["heat_components"]
    cols = [c.key for c in parts.columns if c.key.startswith("c_")]
    for row in parts.frame().head(3).to_dict("records"):
        report.say("issues", "热度分解：" + explain_sum(str(row["issue"]), row, cols) + "。")
    if not report.tables["hot_issues"].rows:
        report.say("issues", "本周没有可排名的话题（话题模型尚未产生结果或本周无文档）。")


def _sentiment(report: WeeklyReport) -> None:
    for key, what in (("sentiment_channel", "渠道"), ("sentiment_category", "诉求分类")):
        frame = report.tables[key].frame()
        frame = frame[(frame["tagged"] >= 5) & ~frame["group"].isin([UNKNOWN_CATEGORY])].dropna(
            subset=["negative_share"]
        )
        if not frame.empty:
            worst = frame.sort_values(["negative_share", "group"], ascending=[False, True]).iloc[0]
            report.say(
                "sentiment",
                f"负面占比最高的{what}为「{worst['group']}」：{_pct(worst['negative_share'])}"
                f"（{int(worst['negative'])}/{int(worst['tagged'])} 条）。",
            )
    emo = report.tables["emotion_channel"].frame()
    if not emo.empty:
        totals = {k: int(emo[k].sum()) for k in ("angry", "sad", "fear")}
        if any(totals.values()):
            name = max(sorted(totals), key=lambda k: totals[k])
            report.say("sentiment", f"负面情绪以「{EMOTION_LABELS[name]}」为主（{totals[name]:,} 条）。")


def _categories(report: WeeklyReport) -> None:
    cats = report.tables["categories"].frame()
    if not cats.empty:
        top = cats.iloc[0]
        report.say(
            "categories",
            f"声量最大的诉求分类为「{top['category']}」：{int(top['this_week']):,} 条，{_trend(top['growth'])}。",
        )
    agenda = report.tables["agenda"].frame()
    if not agenda.empty:
        first = agenda.iloc[0]
        report.say(
            "categories",
            f"议程优先级第一位为「{first['category']} × {first['region']}」（得分 {first['score']:.1f}），"
            f"紧迫性 {first['urgency']:.1f}、广泛性 {first['scope']:.1f}、影响力 {first['impact']:.1f}。",
        )


def narrate(report: WeeklyReport, docs: pd.DataFrame, settings: Any, rollup_volume: int) -> None:
    """Fill ``report.narrative`` from its tables.

    Args:
        report: the report, tables built.
        docs: the week's document frame.
        settings: application settings (heat weights).
        rollup_volume: documents the rollups count for the week (heat is computed from them).
    """
    _overview(report)
    _issues(report, settings)
    _sentiment(report)
    _categories(report)
    if not report.tables["alerts"].rows:
        report.say("alerts", "本周未触发预警。")
    report.say(
        "examples",
        "代表性文档按互动量（点赞 + 转发 + 评论）从各热点议题的首发文档中选出；文本在入库前已脱敏。",
    )
    untagged = int(docs["pipeline_version"].isna().sum())
    report.say(
        "methods",
        f"统计口径：时段为 {report.timezone} 时区的自然周；声量含转载副本，「去重后事件数」只计首发；"
        "情感、情绪、分类以分析员的人工更正优先于模型结果；占比以已标注文档为分母。",
    )
    report.say("methods", f"本周有 {untagged:,} 条文档尚未完成模型标注，计入声量但不计入情感与分类统计。")
    tagged = len(docs) - untagged
    if rollup_volume != tagged:
        report.say(
            "methods",
            f"注意：小时汇总表本周计 {rollup_volume:,} 条，已标注文档 {tagged:,} 条，汇总尚未刷新完毕，"
            "热度与议程优先级可能滞后；其余数字按文档统计，不受影响。",
        )
    report.say(
        "methods",
        "证据：每个表行带证据编号，Excel 版「证据附录」列出其筛选条件与文档 ID；"
        "筛选条件作用于 Excel「说明」页中的基础查询，同一数据重复生成得到相同数字。",
    )
