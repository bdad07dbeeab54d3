"""Rendering details: the CJK font, charts that really draw Chinese, the Word template, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
from docx import Document

from reports import fonts
from reports.model import Column, Evidence, ReportTable, WeeklyReport
from reports.render_docx import TEMPLATE, build_template
from reports.render_xlsx import clip_ids, id_ranges, render_xlsx, sheet_title
from reports.weekly import ReportError, last_complete_week, parse_week, previous_week, week_bounds
from tests.reports.conftest import NOW, parse_ranges

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@pytest.fixture
def no_font_cache() -> Iterator[None]:
    fonts.find_cjk_font.cache_clear()
    fonts.find_pdf_font.cache_clear()
    yield
    fonts.find_cjk_font.cache_clear()
    fonts.find_pdf_font.cache_clear()


def test_a_cjk_font_is_found(no_font_cache: None) -> None:
    font = fonts.find_cjk_font()
    assert font.family in fonts.PREFERRED_FAMILIES and font.path.exists()
    assert fonts.find_pdf_font().truetype


def test_missing_cjk_font_fails_clearly(monkeypatch: pytest.MonkeyPatch, no_font_cache: None) -> None:
    monkeypatch.setattr(fonts, "_candidates", list)
    with pytest.raises(fonts.CjkFontError, match="fonts-wqy-microhei"):
        fonts.find_cjk_font()
    with pytest.raises(fonts.CjkFontError, match="TrueType"):
        fonts.find_pdf_font()


def test_template_is_committed_and_restylable(tmp_path: Path) -> None:
    assert TEMPLATE.exists(), "reports/templates/weekly.docx must ship with the code"
    for path in (TEMPLATE, build_template(tmp_path / "t.docx")):
        doc = Document(str(path))
        assert not doc.paragraphs and not doc.tables  # styles only: the renderer fills the body
        for name, east_asia in (
            ("Normal", "宋体"),
            ("Heading 1", "黑体"),
            ("Title", "黑体"),
            ("表注", "宋体"),
        ):
            rfonts = doc.styles[name].element.rPr.rFonts
            assert rfonts.get(f"{W}eastAsia") == east_asia, name
            assert rfonts.get(f"{W}eastAsiaTheme") is None, name  # a theme font would override it
        assert "报告表格" in [s.name for s in doc.styles]


def test_iso_weeks() -> None:
    assert parse_week("2026-W47") == (2026, 47)
    assert previous_week("2026-W01") == "2025-W52"
    start, end = week_bounds("2026-W01", "Asia/Shanghai")
    assert start.date() == date(2025, 12, 29) and (end - start).days == 7
    assert str(start.utcoffset()) == "8:00:00"
    assert last_complete_week(NOW, "Asia/Shanghai") == "2026-W46"  # NOW is inside W47
    for bad in ("2026-47", "2026-W54", "W47", ""):
        with pytest.raises(ReportError):
            parse_week(bad)


def test_id_ranges_round_trip() -> None:
    ids = [9, 1, 2, 3, 7, 10, 3]
    assert id_ranges(ids) == "1-3,7,9-10"
    assert parse_ranges(id_ranges(ids)) == set(ids)
    text, cut = clip_ids(list(range(0, 40_000, 2)))
    assert cut and len(text) <= 32_000 and not text.endswith(",")
    used: set[str] = set()
    assert sheet_title(3, "a/b[c]:d*e?", used) == "03 abcde"
    assert sheet_title(3, "a/b[c]:d*e?", used) != "03 abcde"


def test_weekly_xlsx_never_turns_text_into_formulas(tmp_path: Path) -> None:
    hostile = ['=HYPERLINK("http://x","点我")', "+1+1", "-2", "@SUM(A1)", "=1+1\x07"]
    report = WeeklyReport(
        week="2026-W47",
        previous_week="2026-W46",
        timezone="Asia/Shanghai",
        start=datetime(2026, 11, 15, 16, tzinfo=UTC),
        end=datetime(2026, 11, 22, 16, tzinfo=UTC),
        base_query="SELECT 1",
        narrative={"overview": ["=cmd|' /C calc'!A0"]},
    )
    table = report.add(ReportTable("daily", "=每日", [Column("day", "=日期"), Column("n", "声量", "int")]))
    for i, text in enumerate(hostile):
        table.add([text, i], Evidence(filter=f"title = '{text}'", document_ids=(i,)))
    table.note = "=注"
    book = openpyxl.load_workbook(render_xlsx(report, tmp_path / "w.xlsx", {"=生成人": "=ana"}))
    formulas = [
        (ws.title, c.coordinate, c.value)
        for ws in book
        for row in ws.iter_rows()
        for c in row
        if c.data_type == "f"
    ]
    assert formulas == []
    sheet = book[book.sheetnames[1]]
    assert [sheet.cell(row=r, column=1).value for r in range(2, 7)] == hostile[:4] + ["=1+1"]
    assert [sheet.cell(row=r, column=2).value for r in range(2, 7)] == [0, 1, 2, 3, 4]  # numbers stay numbers
    assert sheet.cell(row=1, column=1).value == "=日期"
