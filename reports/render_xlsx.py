"""The weekly report as an Excel workbook: one sheet per table, real numbers, an evidence appendix.

Sheets: ``说明`` (week, period, summary, the base query), then one sheet per table named after
its number and title (header in row 1, numbers stored as numbers with a display format, the last
column the evidence key), then ``证据附录``: one row per table row with the filter, the document
ids (as id ranges) and the alert ids it rests on. Text is always written as text
(:mod:`kernel.spreadsheet`): a topic label or title starting with ``=`` never becomes a formula.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from kernel.spreadsheet import append_row, set_cell
from reports.model import ColumnKind, Evidence, WeeklyReport, evidence_ref

log = logging.getLogger(__name__)
NUMBER_FORMATS: dict[ColumnKind, str] = {
    "int": "#,##0",
    "num": "#,##0.##",
    "float": "#,##0.00",
    "score": "0.0000",
    "pct": "0.0%",
    "hours": "0.00",
    "datetime": "yyyy-mm-dd hh:mm",
}
CELL_LIMIT = 32_000  # Excel holds at most 32,767 characters per cell
HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
EVIDENCE_SHEET = "证据附录"


def id_ranges(ids: Sequence[int]) -> str:
    """Sorted ids written compactly: ``1-4,7,9-10``."""
    parts: list[str] = []
    values = sorted(set(ids))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(parts)


def clip_ids(ids: Sequence[int]) -> tuple[str, bool]:
    """Id ranges cut to what one cell holds; True when cut (the filter then reproduces the list)."""
    text = id_ranges(ids)
    if len(text) <= CELL_LIMIT:
        return text, False
    return text[: text.rfind(",", 0, CELL_LIMIT)], True


def sheet_title(number: int, title: str, used: set[str]) -> str:
    """A valid, unique sheet name (31 characters, no ``[]:*?/\\``)."""
    base = re.sub(r"[\[\]:*?/\\]", "", f"{number:02d} {title}")[:31]
    name, k = base, 2
    while name in used:
        name = f"{base[:28]}~{k}"
        k += 1
    used.add(name)
    return name


def _excel_value(value: Any, kind: ColumnKind, tz: str) -> Any:
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime):
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)  # Excel has no time zones
    if kind in NUMBER_FORMATS and kind != "datetime":
        return float(value) if kind != "int" else int(value)
    return value


def _fit_columns(ws: Any, widths: list[int]) -> None:
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w, 8), 60)


def render_xlsx(report: WeeklyReport, path: Path, meta: dict[str, str]) -> Path:
    """Write the workbook to ``path`` and return it."""
    wb = Workbook()
    cover = wb.active
    cover.title = "说明"
    cover_rows: list[tuple[str, Any]] = [
        ("报告", report.title),
        ("周次", report.week),
        ("时段", f"{report.period_label}（{report.timezone}）"),
        ("对比周", report.previous_week),
        *((k, v) for k, v in meta.items()),
        (
            "证据",
            f"每个表的最后一列为证据编号，对应「{EVIDENCE_SHEET}」中的筛选条件与文档 ID；筛选条件作用于下方的基础查询。",
        ),
        ("基础查询", report.base_query),
        ("上周基础查询", report.previous_query),
        *report.queries.items(),
        (
            "筛选说明",
            "筛选条件作用于基础查询的结果列；以〔查询名〕开头的筛选条件作用于上方同名查询（上周文档ID对应"
            "「上周」同名查询）；sentiment / emotion / category 取分析员更正后的值"
            "（corrections 表中该文档该字段最新一条优先于模型标签）。「上周文档ID」对应上周基础查询。",
        ),
    ]
    for sec in report.sections:
        for i, sentence in enumerate(report.narrative.get(sec.key, [])):
            cover_rows.append((sec.title if i == 0 else "", sentence))
    for row in cover_rows:
        append_row(cover, row)
    cover.column_dimensions["A"].width = 16
    cover.column_dimensions["B"].width = 110
    for cell in cover["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    numbers = report.numbered_tables()
    used = {cover.title, EVIDENCE_SHEET}
    evidence_rows: list[tuple[str, str, int, Any, Evidence]] = []
    for key, no in numbers.items():
        table = report.tables[key]
        ws = wb.create_sheet(sheet_title(no, table.title, used))
        append_row(ws, [c.label for c in table.columns] + ["证据编号"])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = HEADER_FILL
        widths = [len(c.label) * 2 + 2 for c in table.columns] + [10]
        for r, (values, ev) in enumerate(zip(table.rows, table.evidence, strict=True), start=1):
            ref = evidence_ref(no, r) if ev is not None else None
            append_row(
                ws,
                [_excel_value(v, c.kind, report.timezone) for v, c in zip(values, table.columns, strict=True)]
                + [ref],
            )
            for c_idx, col in enumerate(table.columns, start=1):
                cell = ws.cell(row=r + 1, column=c_idx)
                if col.kind in NUMBER_FORMATS:
                    cell.number_format = NUMBER_FORMATS[col.kind]
                if col.kind == "text" and isinstance(cell.value, str):
                    widths[c_idx - 1] = max(widths[c_idx - 1], min(len(cell.value) * 2, 60))
            if ev is not None and ref is not None:
                evidence_rows.append((ref, table.title, r, values[0], ev))
        ws.freeze_panes = "A2"
        _fit_columns(ws, widths)
        if table.note:
            set_cell(ws, ws.max_row + 2, 1, f"注：{table.note}")

    ev_ws = wb.create_sheet(EVIDENCE_SHEET)
    append_row(
        ev_ws,
        [
            "证据编号",
            "表",
            "行",
            "行标签",
            "筛选条件",
            "文档数",
            "文档ID",
            "预警ID",
            "上周文档数",
            "上周文档ID",
            "说明",
        ],
    )
    for cell in ev_ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for ref, title, r, label, ev in evidence_rows:
        ids, cut = clip_ids(ev.document_ids)
        prev_ids, prev_cut = clip_ids(ev.previous_ids)
        note = "文档ID过多已截断：以筛选条件作用于基础查询可得完整列表" if cut or prev_cut else None
        append_row(
            ev_ws,
            [
                ref,
                title,
                r,
                label,
                ev.filter,
                len(ev.document_ids),
                ids or None,
                id_ranges(ev.alert_ids) or None,
                len(ev.previous_ids) if ev.previous_ids else None,
                prev_ids or None,
                note,
            ],
        )
    ev_ws.freeze_panes = "A2"
    _fit_columns(ev_ws, [10, 28, 6, 20, 50, 10, 60, 16, 10, 60, 30])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    log.debug("xlsx written", extra={"path": str(path), "sheets": len(wb.sheetnames)})
    return path
