"""The weekly report as a PDF (reportlab), from the same content and charts as the Word file.

Chinese is drawn with a system TrueType CJK font embedded as a subset (Debian's
``fonts-wqy-microhei``: a .ttc collection, opened with ``subfontIndex``); lines break between any
two Chinese characters (``wordWrap="CJK"``). Untrusted document text is escaped before it reaches
reportlab's paragraph mark-up.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from reports.fonts import find_pdf_font
from reports.model import (
    CHART_TITLES,
    ReportTable,
    WeeklyReport,
    column_widths,
    evidence_ref,
    format_value,
)

log = logging.getLogger(__name__)
FONT = "MinshengCJK"
NUMERIC = ("int", "num", "float", "score", "pct", "hours")
WIDTH = A4[0] - 4 * cm
CELL_SIZE, CELL_PAD = 7.5, 6.0


def register_font() -> str:
    """Register the CJK font with reportlab once and return its name."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        font = find_pdf_font()
        pdfmetrics.registerFont(TTFont(FONT, str(font.path), subfontIndex=font.index))
    return FONT


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK", spaceAfter=4)
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=10
        ),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontSize=14,
            leading=20,
            spaceBefore=12,
            spaceAfter=6,
            textColor=colors.HexColor("#1F3864"),
        ),
        "body": base,
        "caption": ParagraphStyle(
            "caption", parent=base, fontSize=9, leading=13, alignment=TA_CENTER, spaceBefore=4
        ),
        "note": ParagraphStyle(
            "note", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#595959")
        ),
        "table": ParagraphStyle(
            "table", parent=base, fontSize=9, leading=13, alignment=TA_CENTER, spaceBefore=4, keepWithNext=1
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=CELL_SIZE, leading=9.5, spaceAfter=0),
        "num": ParagraphStyle(
            "num", parent=base, fontSize=CELL_SIZE, leading=9.5, spaceAfter=0, alignment=TA_RIGHT
        ),
        "head": ParagraphStyle("head", parent=base, fontSize=CELL_SIZE, leading=9.5, spaceAfter=0),
    }


def _col_widths(table: ReportTable, number: int) -> list[float]:
    return column_widths(
        table, number, WIDTH, lambda text: stringWidth(text, FONT, CELL_SIZE) + 2 * CELL_PAD + 1.5
    )


def _table(report: WeeklyReport, key: str, number: int, st: dict[str, ParagraphStyle]) -> list[object]:
    table = report.tables[key]
    out: list[object] = [Paragraph(escape(f"表{number}  {table.title}"), st["table"])]
    head = [Paragraph(escape(c.label), st["head"]) for c in table.columns] + [Paragraph("证据", st["head"])]
    data = [head]
    for r, (values, ev) in enumerate(zip(table.rows, table.evidence, strict=True), start=1):
        cells = [
            Paragraph(escape(format_value(v, c.kind)), st["num" if c.kind in NUMERIC else "cell"])
            for v, c in zip(values, table.columns, strict=True)
        ]
        data.append(cells + [Paragraph(evidence_ref(number, r) if ev is not None else "", st["cell"])])
    grid = LongTable(data, colWidths=_col_widths(table, number), repeatRows=1, hAlign="CENTER")
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8EA9C1")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DCE6F1")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    out.append(grid)
    if not table.rows:
        out.append(Paragraph("（本周无记录）", st["note"]))
    if table.note:
        out.append(Paragraph(escape(f"注：{table.note}"), st["note"]))
    out.append(Spacer(1, 6))
    return out


def _footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 8)
    canvas.setFillColor(colors.HexColor("#595959"))
    canvas.drawCentredString(A4[0] / 2, 1.2 * cm, f"{doc.title} · 第 {doc.page} 页")
    canvas.restoreState()


def render_pdf(report: WeeklyReport, charts: dict[str, bytes], path: Path, meta: dict[str, str]) -> Path:
    """Write the report to ``path`` as an A4 PDF and return the path.

    Raises:
        CjkFontError: when no TrueType Chinese font is installed.
    """
    st = _styles(register_font())
    story: list[object] = [
        Paragraph(escape(report.title), st["title"]),
        Paragraph(
            escape(f"统计时段：{report.period_label}（{report.timezone}），对比周：{report.previous_week}"),
            st["body"],
        ),
        *(Paragraph(escape(f"{k}：{v}"), st["note"]) for k, v in meta.items()),
        Paragraph("每个表的最后一列为证据编号，对应 Excel 版「证据附录」中的筛选条件与文档 ID。", st["note"]),
    ]
    numbers = report.numbered_tables()
    figure_no = 0
    for sec in report.sections:
        story.append(Paragraph(escape(sec.title), st["h1"]))
        story.extend(Paragraph(escape(s), st["body"]) for s in report.narrative.get(sec.key, []))
        for chart in sec.charts:
            if chart not in charts:
                continue
            figure_no += 1
            img = Image(io.BytesIO(charts[chart]))
            scale = (16 * cm) / img.imageWidth
            img.drawWidth, img.drawHeight = 16 * cm, img.imageHeight * scale
            img.keepWithNext = True  # never part a chart from its caption
            story += [
                img,
                Paragraph(escape(f"图{figure_no}  {CHART_TITLES.get(chart, chart)}"), st["caption"]),
            ]
        for key in sec.tables:
            if key in numbers:
                story.extend(_table(report, key, numbers[key], st))
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=report.title,
        author="民声 Minsheng",
        subject=f"{report.week} {report.period_label}",
    )
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    log.debug("pdf written", extra={"path": str(path)})
    return path
