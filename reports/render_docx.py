"""The weekly report as a Word document, written into the office's template.

The template ``reports/templates/weekly.docx`` holds only styles (``Title``, ``Heading 1/2``,
``Normal``, ``Caption``, ``报告表格``, ``表注``), page set-up and a footer with page numbers; an
office restyles the report by editing those styles in Word and saving the file in place. Its body
is discarded: the renderer appends the content with the template's styles. Recreate the template
from scratch with ``python -m reports.render_docx --template``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from reports.model import CHART_TITLES, WeeklyReport, column_widths, evidence_ref, format_value

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).resolve().parent / "templates" / "weekly.docx"
TABLE_STYLE = "报告表格"
NOTE_STYLE = "表注"
BODY_FONT, HEADING_FONT, LATIN_FONT = "宋体", "黑体", "Arial"
NUMERIC = ("int", "num", "float", "score", "pct", "hours")
TABLE_FONT_PT = 8.5
CELL_PAD_PT = 14.0  # Word's default left + right cell margins (0.19 cm each) plus slack


def _set_fonts(style: Any, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Set a style's Latin and East Asian fonts (python-docx only sets the Latin one itself)."""
    style.font.name = latin
    rpr = style.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)  # theme fonts would win over the names set here
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        rfonts.set(qn(attr), latin)
    rfonts.set(qn("w:eastAsia"), east_asia)


def _page_number_footer(section: Any) -> None:
    para = section.footer.paragraphs[0]
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para.add_run("民声舆情周报 · 第 ")
    run = para.add_run()
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        run._r.append(el)
    para.add_run(" 页")


def build_template(path: Path = TEMPLATE) -> Path:
    """Create the template: A4 portrait, Chinese fonts on every style the report uses."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.2)
    section.top_margin = section.bottom_margin = Cm(2.2)
    styles = doc.styles
    defaults = styles.element.find(qn("w:docDefaults"))
    rpr_default = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = rpr_default.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr_default.append(lang)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    normal = styles["Normal"]
    _set_fonts(normal, BODY_FONT)
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(4)
    normal.paragraph_format.line_spacing = 1.25
    for name, size, colour in (
        ("Title", 20, "1F3864"),
        ("Heading 1", 15, "1F3864"),
        ("Heading 2", 12, "2E5597"),
    ):
        style = styles[name]
        _set_fonts(style, HEADING_FONT)
        style.font.size = Pt(size)
        style.font.bold = True
        style.font.color.rgb = RGBColor.from_string(colour)
        style.paragraph_format.space_before = Pt(14 if name == "Heading 1" else 8)
        style.paragraph_format.space_after = Pt(6)
    caption = styles["Caption"]
    _set_fonts(caption, HEADING_FONT)
    caption.font.size = Pt(9.5)
    caption.font.italic = False
    caption.font.color.rgb = RGBColor.from_string("333333")
    note = styles.add_style(NOTE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    note.base_style = normal
    _set_fonts(note, BODY_FONT)
    note.font.size = Pt(8.5)
    note.font.color.rgb = RGBColor.from_string("595959")
    table_style = styles.add_style(TABLE_STYLE, WD_STYLE_TYPE.TABLE)
    table_style.base_style = styles["Table Grid"]
    _set_fonts(table_style, BODY_FONT)
    table_style.font.size = Pt(TABLE_FONT_PT)
    table_style.paragraph_format.space_after = Pt(0)
    table_style.paragraph_format.line_spacing = 1.0
    _page_number_footer(section)
    body = doc.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def _shade(cell: Any, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tc_pr.append(shd)


def text_width_pt(text: str, size: float = TABLE_FONT_PT) -> float:
    """Estimated width of ``text`` in points (CJK full width, Latin about half), plus cell padding."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
    return (wide + 0.66 * (len(text) - wide)) * size + CELL_PAD_PT


def _row_flags(row: Any, header: bool = False) -> None:
    """Never split a row across pages; repeat the header row on every page."""
    tr_pr = row._tr.get_or_add_trPr()
    for tag in ("w:cantSplit", "w:tblHeader") if header else ("w:cantSplit",):
        flag = OxmlElement(tag)
        flag.set(qn("w:val"), "true")
        tr_pr.append(flag)


def _add_table(doc: Any, report: WeeklyReport, key: str, number: int) -> None:
    table = report.tables[key]
    caption = doc.add_paragraph(f"表{number}  {table.title}", style="Caption")
    caption.paragraph_format.keep_with_next = True
    section = doc.sections[-1]
    usable = (section.page_width - section.left_margin - section.right_margin) / 12700  # EMU -> pt
    widths = column_widths(table, number, usable, text_width_pt)
    grid = doc.add_table(rows=1, cols=len(table.columns) + 1)
    grid.style = doc.styles[TABLE_STYLE]
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    _row_flags(grid.rows[0], header=True)
    for cell, label in zip(grid.rows[0].cells, [c.label for c in table.columns] + ["证据"], strict=True):
        cell.text = label
        cell.paragraphs[0].runs[0].bold = True
        _shade(cell, "DCE6F1")
    for r, (values, ev) in enumerate(zip(table.rows, table.evidence, strict=True), start=1):
        row = grid.add_row()
        _row_flags(row)
        cells = row.cells
        for cell, value, col in zip(cells, values, table.columns, strict=False):
            cell.text = format_value(value, col.kind)
            if col.kind in NUMERIC:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
        cells[-1].text = evidence_ref(number, r) if ev is not None else ""
    for column, width in zip(grid.columns, widths, strict=True):
        for cell in column.cells:  # Word reads the cell widths, LibreOffice the grid: set both
            cell.width = Pt(width)
        column.width = Pt(width)
    if not table.rows:
        doc.add_paragraph("（本周无记录）", style=NOTE_STYLE)
    if table.note:
        doc.add_paragraph(f"注：{table.note}", style=NOTE_STYLE)


def render_docx(
    report: WeeklyReport,
    charts: dict[str, bytes],
    path: Path,
    meta: dict[str, str],
    template: Path = TEMPLATE,
) -> Path:
    """Write the report to ``path`` using ``template``'s styles and return the path."""
    doc = Document(str(template))
    body = doc.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    doc.add_paragraph(report.title, style="Title")
    doc.add_paragraph(f"统计时段：{report.period_label}（{report.timezone}），对比周：{report.previous_week}")
    for k, v in meta.items():
        doc.add_paragraph(f"{k}：{v}", style=NOTE_STYLE)
    doc.add_paragraph(
        "每个表的最后一列为证据编号，对应 Excel 版「证据附录」中的筛选条件与文档 ID。", style=NOTE_STYLE
    )
    numbers = report.numbered_tables()
    figure_no = 0
    for sec in report.sections:
        doc.add_heading(sec.title, level=1)
        for sentence in report.narrative.get(sec.key, []):
            doc.add_paragraph(sentence)
        for chart in sec.charts:
            if chart not in charts:
                continue
            figure_no += 1
            doc.add_picture(io.BytesIO(charts[chart]), width=Cm(16))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            doc.paragraphs[-1].paragraph_format.keep_with_next = True  # the chart stays with its caption
            doc.add_paragraph(f"图{figure_no}  {CHART_TITLES.get(chart, chart)}", style="Caption")
        for key in sec.tables:
            if key in numbers:
                _add_table(doc, report, key, numbers[key])
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    log.debug("docx written", extra={"path": str(path)})
    return path


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import sys

    if "--template" in sys.argv:
        print(build_template())
