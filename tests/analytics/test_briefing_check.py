"""The figure extractor and the sentence verifier: what passes, what is removed, and why."""

from __future__ import annotations

import pytest

from analytics.briefing_check import check_sentence, cited_ids, split_sentences, verify_text
from analytics.figures import extract_figures, parse_chinese_number

FACTS = {
    "F1": "报告期：2026-11-16 至 2026-11-22（2026-W47）；对比期：2026-11-09 至 2026-11-15。",
    "F2": "文档总量：本期 12,345 条；上期 11,000 条；变化 +1,345 条；变化率 +12.23%。",
    "F3": "负面占比：本期 35.24%，上期 32.10%，变化 +3.14 个百分点。",
    "F4": "热点议题第 1 位「电梯故障」：热度 72.31 分，本期 120 条，上期 40 条，环比 +200.00%，是上期的 3.00 倍。",
    "F5": "诉求分类·城乡建设：本期 412 条；负面占比 41.50%；涉及地域 7 个；涉及渠道 4 个。",
    "F6": "议程优先级第 2 位：「环境保护 × 广州市」，得分 55.00 分。",
}
DOCS = {4711: "市民张**反映：天河区小区电梯多次故障停运。"}
ENTITIES = ["城乡建设", "环境保护", "广州市", "天河区", "广东省", "微博"]


def check(sentence: str) -> str:
    return check_sentence("态势概述", sentence, FACTS, DOCS, ENTITIES, FACTS["F1"]).reason


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("1,234 条", 1234, "count"),
        ("1.2万条", 12_000, "count"),
        ("3千件", 3000, "count"),
        ("十二起", 12, "count"),
        ("两千三百件", 2300, "count"),
        ("35.2%", 35.2, "pct"),
        ("百分之三十五", 35, "pct"),
        ("3.1 个百分点", 3.1, "pp"),
        ("三点五倍", 3.5, "times"),
        ("第一位", 1, "rank"),
        ("排名第2", 2, "rank"),
        ("前三位", 3, "rank"),
        ("11月22日", 1122, "date"),
        ("2026-11-22", 20261122, "date"),
        ("2026-W47", 202647, "week"),
        ("4.5 小时", 4.5, "hours"),
        ("72.3 分", 72.3, "score"),
        ("得分 55", 55, "plain"),
    ],
)
def test_figures_are_read_with_their_unit(text: str, value: float, unit: str) -> None:
    (fig,) = extract_figures(text)
    assert (fig.value, fig.unit) == (pytest.approx(value), unit)


@pytest.mark.parametrize(
    "text",
    [
        "拨打12345热线",
        "第一时间处置",
        "一些问题",
        "统一部署",
        "十分严重",
        "千万不能",
        "前一日",
        "一起努力",
        "[F12][D4711]",
        "1. 加强巡查",
        "热度（0–100）",
        "得分(0-1)",
    ],
)
def test_words_and_markers_are_not_figures(text: str) -> None:
    assert extract_figures(text) == []


def test_chinese_numerals() -> None:
    assert parse_chinese_number("一万二千") == 12_000
    assert parse_chinese_number("十五") == 15
    assert parse_chinese_number("二〇二六") == 2026


@pytest.mark.parametrize(
    "sentence",
    [
        "本周共收集文档 12,345 条，较上周增加 12.2%[F2]。",
        "本周文档约 1.2 万条[F2]。",
        "文档总量上期为 11,000 条，本期较上期增加 1,345 条，增长 12.2%[F2]。",
        "负面占比 35.2%，较上周上升 3.1 个百分点[F3]。",
        "负面占比约35%[F3]。",
        "「电梯故障」热度 72.3 分，位列第一，声量是上期的 3 倍[F4]。",
        "热度排名第一的议题是「电梯故障」[F4]。",
        "城乡建设类诉求 412 条，负面占比 41.5%[F5]。",
        "城乡建设类诉求涉及地域 7 个、渠道 4 个[F5]。",
        "「电梯故障」热度（0–100）为 72.31 分[F4]。",
        "环境保护 × 广州市的议程优先级排名第二[F6]。",
        "本报告期为 11月16日 至 11月22日[F2]。",
        "天河区有市民反映电梯多次故障停运[D4711]。",
        "建议相关部门加强巡查。",
        "「电梯故障」声量 120 条 [F4]；城乡建设类 412 条【F5】。",
    ],
)
def test_correct_sentences_pass(sentence: str) -> None:
    assert check(sentence) == ""


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("本周共收集文档 12,346 条[F2]。", "数字「12,346 条」"),
        ("本周文档约 1.3 万条[F2]。", "数字「1.3 万条」"),
        ("本周文档约 1.2 千条[F2]。", "数字「1.2 千条」"),
        ("负面占比 412%[F3]。", "数字「412%」"),
        ("城乡建设类诉求 41.5 条[F5]。", "数字「41.5 条」"),
        ("负面占比上升 3.14%[F3]。", "数字「3.14%」"),
        ("环境保护类诉求 412 条[F5]。", "「环境保护」不在所引事实中"),
        ("城乡建设类诉求集中在广东省[F5]。", "「广东省」不在所引事实中"),
        ("本周文档 12,345 条[F99]。", "不存在的事实 [F99]"),
        ("有市民反映燃气泄漏[D9999]。", "[D9999] 不是本期提供的文档"),
        ("本周文档 12,345 条。", "未引用事实"),
        ("城乡建设类诉求最多。", "未引用事实"),
        ("「电梯故障」位列第二[F4]。", "数字「第二"),
        ("本报告期截至 11月23日[F2]。", "数字「11月23日」"),
        ("城乡建设类诉求 412 条，较上周增加十二起[F5]。", "数字「十二起」"),
        # a figure is matched under the label it is stated with: 7 个 is the regions, not the channels
        ("城乡建设类诉求涉及渠道 7 个[F5]。", "数字「7 个」"),
        ("文档总量本期为 11,000 条[F2]。", "数字「11,000 条」"),  # this and last period swapped
        # a fact's whole number is exact: 6.9 个 is not 7 个 rounded
        ("城乡建设类诉求涉及地域 6.9 个[F5]。", "数字「6.9 个」"),
        ("城乡建设类诉求的负面占比为 35.24%[F3, F5]。", "数字「35.24%」"),
    ],
)
def test_wrong_sentences_are_removed_with_the_reason(sentence: str, reason: str) -> None:
    assert reason in check(sentence)


def test_citations_after_the_full_stop_stay_with_their_sentence() -> None:
    parts = split_sentences("【态势概述】\n文档 12,345 条。[F2] 负面占比 35.2%。[F3]")
    assert [(s, cited_ids(t)) for s, t in parts] == [("态势概述", ("F2",)), ("态势概述", ("F3",))]


def test_verify_text_publishes_kept_sentences_and_lists_the_removed() -> None:
    text = (
        "## 态势概述\n本周文档 12,345 条[F2]。负面占比 35.2%[F3]。\n"
        "## 重点议题\n「电梯故障」热度 80 分[F4]。城乡建设类诉求 412 条[F5]。\n"
        "## 处置建议\n建议加强电梯安全巡查。"
    )
    result = verify_text(text, FACTS, DOCS, ENTITIES, FACTS["F1"])
    assert [r.text for r in result.removed] == ["「电梯故障」热度 80 分[F4]。"]
    assert result.checked_figures == 3 and not result.fallback
    published = result.published_text()
    assert "【态势概述】" in published and "【处置建议】\n建议加强电梯安全巡查。" in published
    assert published.endswith(
        "【未通过核验】\n1. 「电梯故障」热度 80 分[F4]。（原因：数字「80 分」与所引事实不符）"
    )


def test_too_many_failures_fall_back() -> None:
    text = "本周文档 99 条[F2]。负面占比 99%[F3]。城乡建设类诉求 412 条[F5]。"
    result = verify_text(text, FACTS, DOCS, ENTITIES, max_failed_share=0.3)
    assert len(result.removed) == 2 and result.fallback
    assert verify_text("", FACTS, DOCS).fallback  # nothing to publish
