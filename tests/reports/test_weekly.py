"""The weekly report from a seeded database, on SQLite and PostgreSQL: the files hold the seed's numbers."""

from __future__ import annotations

import io
import subprocess
import warnings
from collections import Counter
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from PIL import Image, ImageStat
from pypdf import PdfReader
from sqlalchemy import Engine, select

from kernel.labels import CHANNELS as CHANNEL_LABELS
from kernel.settings import Settings
from reports.charts import CHARTS
from reports.data import load_documents
from reports.render_xlsx import render_xlsx
from reports.tables import sentiment_table
from reports.weekly import build_weekly_report, generate_weekly_report
from storage import schema as s
from tests.reports.conftest import (
    END,
    MOBILE,
    NOW,
    PREV,
    START,
    WEEK,
    by_first,
    parse_ranges,
    sheet_rows,
    week_docs,
)
from tests.seed import SeedFacts, seed_database


def test_generated_files_hold_the_seed_numbers(
    seeded: tuple[Engine, SeedFacts], settings: Settings, tmp_path: Path
) -> None:
    engine, facts = seeded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = generate_weekly_report(
            engine, settings, WEEK, ["docx", "xlsx", "pdf"], tmp_path, requested_by="ana"
        )
    missing = [str(w.message) for w in caught if "missing from" in str(w.message).lower()]
    assert not missing, missing  # a Chinese glyph drawn as an empty box in a chart is a failure
    assert [p.name for p in paths] == [f"minsheng-weekly-{WEEK}.{ext}" for ext in ("docx", "xlsx", "pdf")]
    xlsx = paths[1]
    cur, prev = week_docs(facts), week_docs(facts, PREV, START)
    tagged = [d for d in cur if d.tagged]

    kpi = by_first(sheet_rows(xlsx, "核心指标"))
    assert kpi["文档总量"]["本周"] == len(cur) and kpi["文档总量"]["上周"] == len(prev)
    for channel, label in CHANNEL_LABELS.items():
        assert kpi[f"声量·{label}"]["本周"] == sum(d.channel == channel for d in cur)
        assert kpi[f"声量·{label}"]["上周"] == sum(d.channel == channel for d in prev)
    assert kpi["去重后事件数"]["本周"] == sum(d.dup_of is None for d in cur)
    negative = sum(d.sentiment == "negative" for d in tagged)
    assert kpi["负面占比"]["本周"] == pytest.approx(round(100 * negative / len(tagged), 2))
    assert kpi["预警数"]["本周"] == len(facts.alerts) == 4  # every seeded alert fired in the week
    assert kpi["其中严重预警"]["本周"] == 1
    assert kpi["确认用时（中位数）"]["本周"] == pytest.approx(0.25)  # acknowledged 15 minutes after firing
    assert all(isinstance(r["本周"], (int, float)) for r in kpi.values() if r["本周"] is not None)
    assert isinstance(kpi["文档总量"]["变化率"], float)

    daily = sheet_rows(xlsx, "每日声量")
    assert [r["合计"] for r in daily] == [
        sum(
            START + (END - START) * i / 7 <= d.published_at < START + (END - START) * (i + 1) / 7 for d in cur
        )
        for i in range(7)
    ]

    by_channel = by_first(sheet_rows(xlsx, "情感分布（按渠道）"))
    for channel, label in CHANNEL_LABELS.items():
        mine = [d for d in tagged if d.channel == channel]
        assert by_channel[label]["负面"] == sum(d.sentiment == "negative" for d in mine)
        assert by_channel[label]["已标注"] == len(mine)
        assert by_channel[label]["负面占比"] == pytest.approx(
            sum(d.sentiment == "negative" for d in mine) / len(mine)
        )

    emotions = by_first(sheet_rows(xlsx, "情绪分布（按渠道）"))
    assert emotions[CHANNEL_LABELS["hotline"]]["愤怒"] == sum(
        d.emotion == "angry" for d in tagged if d.channel == "hotline"
    )

    categories = by_first(sheet_rows(xlsx, "诉求分类"))
    expected = Counter(d.category for d in tagged if d.category)
    assert {k: v["本周"] for k, v in categories.items()} == dict(expected)

    hot = sheet_rows(xlsx, "热点议题排行")
    assert hot, "the seeded topics must rank"
    assert [r["热度（0–100）"] for r in hot] == sorted((r["热度（0–100）"] for r in hot), reverse=True)
    for row in hot:
        assert row["本周"] == sum(d.topic_id == row["话题编号"] for d in tagged)
        assert row["议题"] == facts.topics[row["话题编号"]]["label"]
    parts = sheet_rows(xlsx, "热度构成")
    for row in parts:  # the contributions add up to the heat: the explanation is complete
        assert sum(v for k, v in row.items() if k not in ("议题", "热度", "证据编号")) == pytest.approx(
            row["热度"], abs=0.05
        )

    alerts = sheet_rows(xlsx, "本周预警")
    assert len(alerts) == 4
    assert sorted(r["确认人"] for r in alerts if r["确认人"]) == ["duty1", "duty1"]
    assert [r["确认用时"] for r in alerts if r["确认人"]] == [pytest.approx(0.25)] * 2

    examples = sheet_rows(xlsx, "代表性文档")
    seeded_ids = {d.id for d in cur}
    assert examples and all(r["文档ID"] in seeded_ids for r in examples)
    assert not any(MOBILE.search(r["内容摘要（已脱敏）"]) for r in examples)

    appendix = by_first(sheet_rows(xlsx, "证据附录"))
    total = appendix[kpi["文档总量"]["证据编号"]]
    assert parse_ranges(total["文档ID"]) == seeded_ids
    assert parse_ranges(total["上周文档ID"]) == {d.id for d in prev}
    neg_ref = appendix[by_channel[CHANNEL_LABELS["news"]]["证据编号"]]
    assert parse_ranges(neg_ref["文档ID"]) == {d.id for d in tagged if d.channel == "news"}

    # The Word file: the template's styles, the same numbers, charts as images.
    doc = Document(str(paths[0]))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings[:2] == ["一、总览", "二、热点议题"] and headings[-1] == "九、方法说明"
    kpi_table = doc.tables[0]
    cells = {row.cells[0].text: [c.text for c in row.cells] for row in kpi_table.rows}
    assert cells["文档总量"][2] == f"{len(cur):,}" and cells["文档总量"][3] == f"{len(prev):,}"
    assert len(doc.inline_shapes) == len(CHARTS)
    for shape in doc.inline_shapes:  # every chart is a real, non-empty image
        blob = doc.part.related_parts[shape._inline.graphic.graphicData.pic.blipFill.blip.embed].blob
        image = Image.open(io.BytesIO(blob))
        assert image.format == "PNG" and image.width > 600
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 15
    rfonts = doc.styles["Normal"].element.rPr.rFonts
    assert rfonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == "宋体"

    # The PDF: Chinese text extractable, first pages not blank.
    reader = PdfReader(str(paths[2]))
    first = reader.pages[0].extract_text()
    assert "民声舆情周报" in first and "一、总览" in first and "核心指标" in first
    fonts = {str(f["/BaseFont"]) for p in reader.pages[:2] for f in p["/Resources"]["/Font"].values()}
    assert any("WenQuanYi" in f or "CJK" in f or "Hei" in f for f in fonts), fonts
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "2", "-png", str(paths[2]), str(tmp_path / "pg")],
        check=True,
    )
    pages = sorted(tmp_path.glob("pg-*.png"))
    assert len(pages) == 2
    for page in pages:
        stat = ImageStat.Stat(Image.open(page).convert("L"))
        assert stat.stddev[0] > 20, f"{page.name} looks blank"

    with engine.connect() as conn:
        run = conn.execute(select(s.report_runs)).one()
    assert (run.week, run.status, run.requested_by) == (WEEK, "ok", "ana")
    assert run.paths == [str(p) for p in paths] and run.finished_at is not None


def test_same_week_twice_gives_the_same_numbers(
    seeded: tuple[Engine, SeedFacts], settings: Settings, tmp_path: Path
) -> None:
    engine, _ = seeded
    first, second = build_weekly_report(engine, settings, WEEK), build_weekly_report(engine, settings, WEEK)
    assert first.figures() == second.figures()
    assert [t.evidence for t in first.tables.values()] == [t.evidence for t in second.tables.values()]
    assert first.narrative == second.narrative
    wa = load_workbook(render_xlsx(first, tmp_path / "a.xlsx", {"生成时间": "1"}))
    wb = load_workbook(render_xlsx(second, tmp_path / "b.xlsx", {"生成时间": "2"}))
    assert wa.sheetnames == wb.sheetnames
    for name in wa.sheetnames[1:]:  # the cover sheet holds the generation time
        assert list(wa[name].values) == list(wb[name].values), name


def test_analyst_corrections_override_the_model(seeded: tuple[Engine, SeedFacts]) -> None:
    engine, facts = seeded
    before = sentiment_table(
        load_documents(engine, START, END), load_documents(engine, PREV, START), "channel"
    )
    neutral = next(
        d for d in week_docs(facts) if d.tagged and d.sentiment == "neutral" and d.channel == "gov"
    )
    with engine.begin() as conn:
        for value in ("positive", "negative"):  # the newest correction wins
            conn.execute(
                s.corrections.insert().values(
                    document_id=neutral.id, field="sentiment", value=value, user="ana", created_at=END
                )
            )
    after = sentiment_table(
        load_documents(engine, START, END), load_documents(engine, PREV, START), "channel"
    )
    label = CHANNEL_LABELS["gov"]
    assert after.lookup(label, "negative") == before.lookup(label, "negative") + 1
    assert after.lookup(label, "neutral") == before.lookup(label, "neutral") - 1
    assert after.lookup(label, "positive") == before.lookup(label, "positive")


def test_stale_rollups_are_reported_in_the_methods(sqlite_engine: Engine, settings: Settings) -> None:
    seed_database(sqlite_engine, NOW)
    fresh = build_weekly_report(sqlite_engine, settings, WEEK)
    assert not any("汇总尚未刷新" in line for line in fresh.narrative["methods"])
    with sqlite_engine.begin() as conn:
        conn.execute(s.rollups.delete().where(s.rollups.c.channel == "news"))
    stale = build_weekly_report(sqlite_engine, settings, WEEK)
    assert any("汇总尚未刷新" in line for line in stale.narrative["methods"])
    assert stale.tables["kpi"].figures() == fresh.tables["kpi"].figures()  # counted from documents


def test_methods_note_gives_the_encoder_tiers_share(
    seeded: tuple[Engine, SeedFacts], settings: Settings
) -> None:
    engine, facts = seeded
    tagged = [d for d in week_docs(facts) if d.tagged]
    encoded = [d.id for d in tagged if d.channel == "gov"]
    assert 0 < len(encoded) < len(tagged)
    with engine.begin() as conn:
        conn.execute(s.doc_tags.update().where(s.doc_tags.c.document_id.in_(encoded)).values(tier="encoder"))
    note = build_weekly_report(engine, settings, WEEK).tables["models"].note
    share = len(encoded) / len(tagged)
    assert f"本周已标注的 {len(tagged):,} 条文档中，{len(encoded):,} 条（{share:.1%}）" in note
    assert "来自编码模型（encoder）" in note
