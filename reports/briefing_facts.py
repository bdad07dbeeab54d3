"""The numbered facts a briefing is written from: the report's own figures as sentences (pure).

:func:`build_facts` turns a period's :class:`~reports.model.WeeklyReport` (KPIs against the last
period, hot issues with their heat components and trend, demand categories, sentiment by channel
and region, agenda priorities by category × region, alerts and their handling, reply quality,
effects of government actions) into ``[F1] …`` sentences with explicit units, and its
representative (masked) documents into ``[D4711] …``. The model sees only these; the verifier
checks its text against exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ingest.pii import mask_pii
from kernel import labels
from reports.model import ReportTable, WeeklyReport

PERIOD_FACT = "F1"
# (table key, rows kept) in the order the facts are numbered (and cut when the prompt is too long).
FACT_TABLES: tuple[tuple[str, int], ...] = (
    ("kpi", 40),
    ("hot_issues", 5),
    ("heat_components", 5),
    ("categories", 12),
    ("agenda", 10),
    ("alerts", 20),
    ("sentiment_channel", 8),
    ("sentiment_province", 16),
    ("reply_summary", 20),
    ("reply_unit", 5),
    ("effects", 10),
)
UNIT_BY_KEY = {
    "this_week": "条",
    "last_week": "条",
    "tagged": "条",
    "positive": "条",
    "neutral": "条",
    "negative": "条",
    "regions": "个",
    "channels": "个",
    "replies": "条",
    "n_before": "条",
    "n_after": "条",
    "heat": "分",
    "score": "分",
    "urgency": "分",
    "scope": "分",
    "impact": "分",
    "mean_total": "分",
    "median_delay": "天",
    "max_delay": "天",
    "delta_pp": "个百分点",
    "change_pp": "个百分点",
    "volume_ratio": "倍",
    "window": "小时",
    "hours_to_ack": "小时",
}
# Staff names and free-text notes stay in the building: the model gets figures, not who handled what.
SKIP_KEYS = {"topic_id", "trend", "ci_pp", "acked_by", "resolved_by", "note", "created_by"}
MISSING = "无"
DOC_CHARS = 160


@dataclass
class BriefingFacts:
    """What the model is given for one period, and what its text is checked against."""

    kind: str
    period: str
    start: datetime
    end: datetime
    facts: dict[str, str] = field(default_factory=dict)
    documents: dict[int, str] = field(default_factory=dict)
    entities: list[str] = field(default_factory=list)

    @property
    def period_fact(self) -> str:
        return self.facts[PERIOD_FACT]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON, stored with the briefing so it can be audited and regenerated."""
        return {
            "kind": self.kind,
            "period": self.period,
            "facts": self.facts,
            "documents": {str(k): v for k, v in self.documents.items()},
            "entities": self.entities,
        }


def period_words(text: str) -> str:
    """Column and table labels say 本周 / 上周; a briefing's facts say 本期 / 上期."""
    return text.replace("本周", "本期").replace("上周", "上期")


def _number(value: float, decimals: int = 2) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{decimals}f}"


def format_cell(key: str, kind: str, value: Any, unit: str | None = None) -> str:
    """A value with an explicit unit, so that a figure's kind can be checked (条, %, 个百分点, 分 …)."""
    if _missing(value):
        return MISSING
    if kind == "text":
        return str(value)
    if kind == "datetime":
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)
    if key == "rank":
        return f"第{int(value)}位"
    if kind == "pct":
        return (
            f"{float(value) * 100:+.2f}%"
            if key in ("growth", "change_rate")
            else f"{float(value) * 100:.2f}%"
        )
    suffix = unit if unit is not None else UNIT_BY_KEY.get(key, "")
    text = _number(float(value))
    if key in ("change", "delta_pp", "change_pp") and float(value) > 0:
        text = "+" + text
    return f"{text} {suffix}".rstrip()


def _kpi_sentence(table: ReportTable, row: list[Any]) -> str:
    """``文档总量：本期 1,234 条；上期 1,100 条；变化 +134 条；变化率 +12.18%``."""
    keys = [c.key for c in table.columns]
    cells = dict(zip(keys, row, strict=True))
    unit = str(cells.get("unit") or "")
    value_unit = "" if unit.startswith("0–") else unit  # 0–1 scores: a plain number
    if unit == "%":
        value_unit = "%"
    parts = []
    for col in table.columns[2:]:
        this_unit = "个百分点" if col.key == "change" and unit == "%" else value_unit
        if this_unit == "%":
            value = cells[col.key]
            text = MISSING if _missing(value) else f"{_number(float(value))}%"
            if col.key == "change" and text != MISSING:
                text = f"{float(value):+.2f} 个百分点"
        else:
            text = format_cell(col.key, col.kind, cells[col.key], this_unit)
        parts.append(f"{period_words(col.label)} {text}")
    return f"{cells['metric']}：" + "；".join(parts)


def _row_sentence(table: ReportTable, row: list[Any]) -> str:
    first, *rest = list(zip(table.columns, row, strict=True))
    head = format_cell(first[0].key, first[0].kind, first[1])
    parts = [
        f"{period_words(col.label)} {format_cell(col.key, col.kind, value)}"
        for col, value in rest
        if col.key not in SKIP_KEYS
    ]
    return f"{period_words(table.title)}·{head}：" + "；".join(parts)


def table_facts(table: ReportTable, limit: int) -> list[str]:
    """One sentence per row (at most ``limit``), each figure with its unit."""
    shape = _kpi_sentence if table.columns[0].key == "metric" else _row_sentence
    start = 2 if table.columns[0].key == "metric" else 1
    known = [
        r for r in table.rows if any(not _missing(v) for v in r[start:])
    ]  # an all-empty row says nothing
    return [shape(table, row) + "。" for row in known[:limit]]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def _entities(report: WeeklyReport) -> list[str]:
    names: set[str] = set(labels.CHANNELS.values()) | set(labels.CATEGORY_CODES)
    for key, col in (
        ("categories", "category"),
        ("agenda", "category"),
        ("agenda", "region"),
        ("sentiment_province", "group"),
    ):
        table = report.tables.get(key)
        if table is not None and table.rows:
            names.update(str(v) for v in table.frame()[col].dropna())
    return sorted(n for n in names if n)


def build_facts(report: WeeklyReport, kind: str) -> BriefingFacts:
    """Number the report's figures as facts and its representative documents as documents."""
    last = report.end - pd.Timedelta(days=1)
    prev_start = report.start - (report.end - report.start)
    prev_last = report.start - pd.Timedelta(days=1)
    out = BriefingFacts(kind=kind, period=report.week, start=report.start, end=report.end)
    out.facts[PERIOD_FACT] = (
        f"报告期：{report.start:%Y-%m-%d} 至 {last:%Y-%m-%d}（{report.week}，{report.timezone} 时间）；"
        f"对比的上期：{prev_start:%Y-%m-%d} 至 {prev_last:%Y-%m-%d}（{report.previous_week}）。"
    )
    for key, limit in FACT_TABLES:
        table = report.tables.get(key)
        if table is None:
            continue
        for sentence in table_facts(table, limit):
            out.facts[f"F{len(out.facts) + 1}"] = sentence
    examples = report.tables.get("examples")
    if examples is not None:
        for row in examples.frame().to_dict("records"):
            text = mask_pii(str(row["excerpt"]))[
                :DOC_CHARS
            ]  # stored text is masked; masking again is harmless
            out.documents[int(row["document_id"])] = (
                f"议题「{row['issue']}」；{row['channel']}；{format_cell('', 'datetime', row['published_at'])}；{text}"
            )
    out.entities = _entities(report)
    return out
