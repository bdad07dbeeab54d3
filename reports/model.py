"""The weekly report as pure data: tables of real numbers, each row with the evidence behind it.

A :class:`WeeklyReport` is what :func:`reports.weekly.build_weekly_report` returns and what every
renderer (DOCX, XLSX, PDF) reads, so the three files always hold the same content. Nothing here
does I/O. Every :class:`ReportTable` row carries an :class:`Evidence`: the filter that selects
its documents from the report's base query and the document (or alert) ids themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd

ColumnKind = Literal["text", "int", "num", "float", "score", "pct", "hours", "datetime"]


@dataclass(frozen=True)
class Column:
    """One table column: a stable key, a Chinese label and how to format its numbers."""

    key: str
    label: str
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Evidence:
    """What a figure rests on.

    Attributes:
        filter: condition on the report's base query (or the table it names) selecting the rows.
        document_ids: ids of the documents counted this week (sorted).
        alert_ids: ids of the alerts counted (sorted).
        previous_ids: ids of the documents counted in the previous week, where a row compares.
    """

    filter: str
    document_ids: tuple[int, ...] = ()
    alert_ids: tuple[int, ...] = ()
    previous_ids: tuple[int, ...] = ()


@dataclass
class ReportTable:
    """A titled table; ``rows`` hold raw values (numbers stay numbers), one evidence per row."""

    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    evidence: list[Evidence | None] = field(default_factory=list)
    note: str = ""

    def add(self, values: list[Any], evidence: Evidence | None = None) -> None:
        """Append a row (its values in column order) with its evidence."""
        if len(values) != len(self.columns):
            raise ValueError(f"{self.key}: row has {len(values)} values for {len(self.columns)} columns")
        self.rows.append(values)
        self.evidence.append(evidence)

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame keyed by column key."""
        return pd.DataFrame(self.rows, columns=[c.key for c in self.columns])

    def lookup(self, label: Any, key: str) -> Any:
        """The value in column ``key`` of the row whose first cell is ``label`` (KeyError if none)."""
        idx = [c.key for c in self.columns].index(key)
        for row in self.rows:
            if row[0] == label:
                return row[idx]
        raise KeyError(f"{self.key}: no row {label!r}")

    def figures(self) -> list[list[Any]]:
        """Rows without evidence, for comparing two builds."""
        return [list(r) for r in self.rows]


@dataclass
class WeeklyReport:
    """Everything the weekly report says, for one ISO week in the app time zone.

    Attributes:
        week: ISO week, e.g. ``2026-W47``; ``previous_week`` is the week compared with.
        start, end: the week as [start, end) in the app time zone.
        base_query: SQL of the week's documents, the set every document filter refers to.
        previous_query: the same for the previous week.
        narrative: sentences per section key (see :data:`SECTIONS`), built from the tables.
        tables: every table by key, in report order.
        queries: further base queries by name (e.g. :data:`REPLY_QUERY`); an evidence filter that
            starts with ``〔name〕`` applies to that query instead of the documents base query.
    """

    week: str
    previous_week: str
    timezone: str
    start: datetime
    end: datetime
    base_query: str
    previous_query: str = ""
    narrative: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, ReportTable] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    heading: str = ""  # the title of a report other than the weekly one (a subject's, any period)

    def add(self, table: ReportTable) -> ReportTable:
        self.tables[table.key] = table
        return table

    def say(self, section: str, sentence: str) -> None:
        self.narrative.setdefault(section, []).append(sentence)

    def figures(self) -> dict[str, list[list[Any]]]:
        """Every number of the report by table, for reproducibility checks."""
        return {k: t.figures() for k, t in self.tables.items()}

    @property
    def sections(self) -> tuple[Section, ...]:
        """:data:`SECTIONS`, plus :data:`BRIEFING_SECTION` when a verified model briefing was added."""
        return SECTIONS + ((BRIEFING_SECTION,) if self.narrative.get(BRIEFING_SECTION.key) else ())

    def numbered_tables(self) -> dict[str, int]:
        """Table key -> its number in the documents (表1, 表2 ...), in section order."""
        keys = [k for sec in SECTIONS for k in sec.tables if k in self.tables]
        return {k: i for i, k in enumerate(keys, start=1)}

    @property
    def title(self) -> str:
        return self.heading or f"民声舆情周报（{self.week}）"

    @property
    def period_label(self) -> str:
        """``2026-11-16 至 2026-11-22``, the week's first and last day."""
        last = self.end - pd.Timedelta(days=1)
        return f"{self.start:%Y-%m-%d} 至 {last:%Y-%m-%d}"


@dataclass(frozen=True)
class Section:
    """A heading with its narrative, charts and tables, in the order the documents show them."""

    key: str
    title: str
    charts: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()


SECTIONS: tuple[Section, ...] = (
    Section("overview", "一、总览", ("daily",), ("kpi", "daily")),
    Section("issues", "二、热点议题", ("heat", "trend"), ("hot_issues", "heat_components", "hot_trend")),
    Section(
        "sentiment",
        "三、情感与情绪",
        ("sentiment_channel", "sentiment_category"),
        (
            "sentiment_channel",
            "sentiment_category",
            "sentiment_province",
            "emotion_channel",
            "emotion_category",
            "emotion_province",
        ),
    ),
    Section("categories", "四、诉求分类与议程优先级", ("categories",), ("categories", "agenda")),
    Section("alerts", "五、预警与处置", (), ("alerts",)),
    Section(
        "replies",
        "六、答复质量",
        ("reply_components",),
        (
            "reply_summary",
            "reply_unit",
            "reply_category",
            "reply_province",
            "reply_worst",
            "reply_worst_text",
        ),
    ),
    Section("effects", "七、处置与成效", ("effects",), ("events", "effects")),
    Section("examples", "八、代表性文档", (), ("examples",)),
    Section("methods", "九、方法说明", (), ("sources", "gaps", "models")),
)
# Added only when the week has a verified briefing written by the office's model (reports.briefing).
BRIEFING_SECTION = Section("briefing", "附：大模型撰写的周要报（已核验）")
REPLY_QUERY = "答复基础查询"
CHART_TITLES = {
    "daily": "每日声量（按渠道）",
    "heat": "热点议题热度构成",
    "trend": "热点议题每日走势",
    "sentiment_channel": "各渠道情感构成",
    "sentiment_category": "各诉求分类情感构成",
    "categories": "诉求分类声量（本周与上周）",
    "reply_components": "答复质量各分项均值（本周与上周）",
    "effects": "处置事件前后负面占比",
}


def evidence_ref(table_no: int, row_no: int) -> str:
    """The evidence key of a table row, e.g. ``E3-2`` (table 3, row 2), used in every format."""
    return f"E{table_no}-{row_no}"


def format_value(value: Any, kind: ColumnKind) -> str:
    """A cell as text for DOCX and PDF (XLSX keeps the raw number)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "num":
        number = float(value)
        return f"{int(number):,}" if number.is_integer() else f"{number:,.2f}"
    if kind == "float":
        return f"{float(value):,.2f}"
    if kind == "score":
        return f"{float(value):.4f}"
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"
    if kind == "hours":
        return f"{float(value):.1f} 小时"
    if kind == "datetime":
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)
    return str(value)


def column_widths(
    table: ReportTable, number: int, total: float, measure: Callable[[str], float]
) -> list[float]:
    """Column widths (table columns plus the evidence key) adding up to ``total``.

    Numbers and evidence keys get their full width, since they must not wrap (their headers may);
    text columns share the rest, each at least six characters wide when it needs that much.
    ``measure`` gives the width of a cell's text including its padding, in the caller's unit.
    """
    natural, fixed = [], []
    for i, col in enumerate(table.columns):
        cells = [measure(format_value(r[i], col.kind)) for r in table.rows]
        if col.kind == "text":
            natural.append(max([*cells, measure(col.label)]))
            fixed.append(False)
        else:
            natural.append(max([*cells, min(measure(col.label), max([*cells, measure("中中")]))]))
            fixed.append(True)
    natural.append(max(measure(evidence_ref(number, len(table.rows) or 1)), measure("证据")))
    fixed.append(True)
    rigid = sum(w for w, f in zip(natural, fixed, strict=True) if f)
    flexible = sum(w for w, f in zip(natural, fixed, strict=True) if not f)
    if rigid >= total or flexible == 0 or rigid + flexible <= total:
        return [w * total / sum(natural) for w in natural]  # all on one line, or nothing to trade
    room = total - rigid
    floors = [0.0 if f else min(w, measure("中" * 6)) for w, f in zip(natural, fixed, strict=True)]
    extra = [0.0 if f else w - m for w, m, f in zip(natural, floors, fixed, strict=True)]
    spare = room - sum(floors)
    if spare <= 0:
        return [w if f else m * room / sum(floors) for w, m, f in zip(natural, floors, fixed, strict=True)]
    return [
        w if f else m + e * spare / sum(extra)
        for w, m, e, f in zip(natural, floors, extra, fixed, strict=True)
    ]
