"""答复质量 and 处置与成效 in the weekly report, on SQLite and PostgreSQL: the files hold the seed's numbers.

Expected figures are computed here in plain Python from the seeded records: reply scores with the
pure scorer (not read back from ``reply_scores``), effects from the seeded documents (not from the
rollups the report reads).
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from docx import Document
from pypdf import PdfReader
from sqlalchemy import Engine

from analytics.effect import EffectEstimate, estimate_effect
from kernel.settings import Settings
from reports.model import WeeklyReport
from reports.replies import MIN_UNIT_REPLIES, UNKNOWN_UNIT, reply_weights
from reports.tables import UNKNOWN_CATEGORY, UNKNOWN_REGION
from reports.weekly import add_followup, generate_weekly_report
from tests.reports.conftest import END, MOBILE, PREV, START, WEEK, by_first, parse_ranges, sheet_rows
from tests.reports.followup_seed import CORRECTED_CATEGORY, RARE_UNIT, FollowupFacts, SeedReply, seed_followup
from tests.seed import SeedDoc, SeedFacts

HOURS = 72


@pytest.fixture
def followup(seeded: tuple[Engine, SeedFacts], settings: Settings) -> tuple[Engine, SeedFacts, FollowupFacts]:
    engine, facts = seeded
    return engine, facts, seed_followup(engine, facts, settings)


def mean(values: list[float], digits: int) -> float:
    return round(sum(values) / len(values), digits)


def assert_groups(rows: list[dict[str, Any]], label: str, want: dict[str, tuple[int, float]]) -> None:
    """The sheet's groups, counts and mean totals are the expected ones."""
    got = {r[label]: (r["答复数"], r["平均总分"]) for r in rows}
    assert set(got) == set(want)
    for name, (n, avg) in want.items():
        assert got[name][0] == n and got[name][1] == pytest.approx(avg), name


def expected_groups(replies: list[SeedReply], key: str) -> dict[str, tuple[int, float]]:
    """Group label -> (scored replies, mean total), the way the report labels and pools groups."""
    unknown = {"unit": UNKNOWN_UNIT, "category": UNKNOWN_CATEGORY, "province": UNKNOWN_REGION}[key]
    names = [getattr(r, key) or unknown for r in replies]
    counts = Counter(names)
    small = sorted(n for n in counts if key == "unit" and n != unknown and counts[n] < MIN_UNIT_REPLIES)
    out = {}
    for name in counts:
        if name not in small:
            out[name] = [r.score.total for r, n in zip(replies, names, strict=True) if n == name]
    if small:
        label = f"其他单位（{len(small)} 个，各不足 {MIN_UNIT_REPLIES} 条）"
        out[label] = [r.score.total for r, n in zip(replies, names, strict=True) if n in small]
    return {k: (len(v), mean(v, 2)) for k, v in out.items()}


def first_copies(facts: SeedFacts, event: dict[str, Any], start: datetime, end: datetime) -> list[SeedDoc]:
    docs = [d for d in facts.docs if d.tagged and d.dup_of is None and start <= d.published_at < end]
    if event.get("topic_id") is not None:
        return [d for d in docs if d.topic_id == event["topic_id"]]
    docs = [d for d in docs if d.category == event["category"]]
    return [d for d in docs if d.province == event["province"]] if event.get("province") else docs


def expected_effect(
    facts: SeedFacts, event: dict[str, Any]
) -> tuple[int, list[SeedDoc], list[SeedDoc], EffectEstimate]:
    """(window hours, documents before, after, estimate) from the seeded documents themselves."""
    at = event["at"]
    until = max(d.published_at for d in facts.docs if d.tagged) + timedelta(seconds=5)  # seed's tagged_at
    seen = (min(until, at + timedelta(hours=HOURS)) - at).total_seconds() / 3600
    window = HOURS if seen >= HOURS else max(1, int(seen))
    docs = first_copies(facts, event, at - timedelta(hours=window), at + timedelta(hours=window))
    hourly = pd.DataFrame(
        {"n": 1, "neg": [int(d.sentiment == "negative") for d in docs]},
        index=pd.DatetimeIndex([pd.Timestamp(d.published_at).floor("h") for d in docs]),
    )
    est = estimate_effect(hourly, at, event["kind"], window)
    return window, [d for d in docs if d.published_at < at], [d for d in docs if d.published_at >= at], est


def test_reply_quality_and_effects_in_the_files(
    followup: tuple[Engine, SeedFacts, FollowupFacts], settings: Settings, tmp_path: Path
) -> None:
    engine, facts, ff = followup
    docx, xlsx, pdf = generate_weekly_report(engine, settings, WEEK, ["docx", "xlsx", "pdf"], tmp_path)
    scored, last_scored = ff.scored(), ff.scored(PREV, START)
    assert len(ff.answered()) == len(scored) + 1  # the late reply waits for the scorer

    summary = by_first(sheet_rows(xlsx, "答复质量概况（按答复时间，本周与上周对比）"))
    assert summary["答复数"]["本周"] == len(ff.answered())
    assert summary["答复数"]["上周"] == len(ff.answered(PREV, START))
    assert (summary["已评分"]["本周"], summary["待评分"]["本周"]) == (len(scored), 1)
    assert summary["平均总分"]["本周"] == pytest.approx(mean([r.score.total for r in scored], 2))
    assert summary["平均总分"]["上周"] == pytest.approx(mean([r.score.total for r in last_scored], 2))
    for key, label in (("relevance", "相关性"), ("completeness", "完整性"), ("policy", "政策依据")):
        values = [r.score.components()[key] for r in scored]
        assert summary[f"平均{label}"]["本周"] == pytest.approx(mean(values, 3), abs=1e-9)
    delay = statistics.median(r.score.delay_days for r in scored)
    assert summary["答复用时（中位数）"]["本周"] == pytest.approx(round(delay, 2))

    units = sheet_rows(xlsx, "答复质量排名（按承办单位）")
    assert_groups(units, "承办单位", expected_groups(scored, "unit"))
    ranked = [r for r in units if r["排名"] is not None]
    assert [r["排名"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert [r["平均总分"] for r in ranked] == sorted((r["平均总分"] for r in ranked), reverse=True)
    assert all(r["答复数"] >= MIN_UNIT_REPLIES for r in ranked)
    assert sum(r["答复数"] for r in units) == len(scored)
    categories = sheet_rows(xlsx, "答复质量排名（按诉求分类）")
    assert_groups(categories, "诉求分类", expected_groups(scored, "category"))
    assert any(r["诉求分类"] == CORRECTED_CATEGORY for r in categories)  # the analyst's correction wins
    regions = sheet_rows(xlsx, "答复质量排名（按地域）")
    assert_groups(regions, "地域", expected_groups(scored, "province"))

    worst = sheet_rows(xlsx, "得分最低的 5 条答复：分项得分")
    lowest = sorted(scored, key=lambda r: (r.score.total, r.doc.id))[:5]
    assert [r["文档ID"] for r in worst] == [r.doc.id for r in lowest]
    for row, reply in zip(worst, lowest, strict=True):
        assert row["总分"] == pytest.approx(reply.score.total)
        assert row["完整性"] == pytest.approx(round(reply.score.completeness, 2))
        assert row["语气"] == pytest.approx(round(reply.score.tone, 2))
    texts = sheet_rows(xlsx, "得分最低的 5 条答复：留言与答复摘要")
    assert [r["文档ID"] for r in texts] == [r.doc.id for r in lowest]
    assert not any(MOBILE.search(r["答复摘要（已脱敏）"] + r["留言摘要（已脱敏）"]) for r in texts)

    appendix = by_first(sheet_rows(xlsx, "证据附录"))
    top_unit = ranked[0]
    assert parse_ranges(appendix[top_unit["证据编号"]]["文档ID"]) == {
        r.doc.id for r in scored if r.unit == top_unit["承办单位"]
    }
    assert parse_ranges(appendix[worst[0]["证据编号"]]["文档ID"]) == {lowest[0].doc.id}
    pooled = next(r for r in units if str(r["承办单位"]).startswith("其他单位"))
    assert RARE_UNIT in appendix[pooled["证据编号"]]["筛选条件"]  # below the threshold: pooled, not ranked

    in_week = sorted((e for e in ff.events if START <= e["at"] < END), key=lambda e: e["at"])
    events = sheet_rows(xlsx, "本周处置事件")
    assert [r["事件编号"] for r in events] == [e["id"] for e in in_week]  # last week's event is left out
    effects = by_first(sheet_rows(xlsx, "处置成效（事件前后对比）"))
    summaries = []
    for event in in_week:
        window, before, after, est = expected_effect(facts, event)
        row = effects[event["id"]]
        assert (row["前后各（小时）"], row["事件前（条）"], row["事件后（条）"]) == (
            window,
            len(before),
            len(after),
        )
        if before and after:
            assert row["负面占比·前"] == pytest.approx(
                sum(d.sentiment == "negative" for d in before) / len(before)
            )
            assert row["负面占比·后"] == pytest.approx(
                sum(d.sentiment == "negative" for d in after) / len(after)
            )
        assert parse_ranges(appendix[row["证据编号"]]["文档ID"]) == {d.id for d in before + after}
        summaries.append(est.summary)
    assert effects[in_week[-1]["id"]]["前后各（小时）"] < HOURS  # a day before the data end: windows shrink

    doc = Document(str(docx))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings[5:] == ["六、答复质量", "七、处置与成效", "八、代表性文档", "九、方法说明"]
    body = "\n".join(p.text for p in doc.paragraphs)
    assert all(s in body for s in summaries), summaries  # the plain-words effect of every event
    assert (
        f"已评分 {len(scored)} 条" in body
        and f"平均总分 {mean([r.score.total for r in scored], 2):.1f}" in body
    )
    cells = {
        row.cells[0].text: [c.text for c in row.cells]
        for table in doc.tables
        for row in table.rows
        if row.cells[0].text in ("平均总分", "已评分")
    }
    assert cells["已评分"][2] == f"{len(scored)}"
    assert cells["平均总分"][2] == f"{summary['平均总分']['本周']:.2f}"

    text = "".join(page.extract_text() for page in PdfReader(str(pdf)).pages)
    assert "六、答复质量" in text and "七、处置与成效" in text and "得分最低的 5 条答复" in text

    runs = []
    for _ in range(2):  # same data, same numbers, evidence and sentences
        report = WeeklyReport(WEEK, "", "Asia/Shanghai", START, END, base_query="")
        add_followup(report, engine, reply_weights(settings), START, END, PREV)
        runs.append(report)
    assert runs[0].figures() == runs[1].figures() and runs[0].narrative == runs[1].narrative
    assert [t.evidence for t in runs[0].tables.values()] == [t.evidence for t in runs[1].tables.values()]
