"""The duty officer's wording of how unusual a count is (analytics.chance)."""

from __future__ import annotations

import pytest
from scipy.stats import poisson

from analytics.chance import chance_words, chinese_number, describe_count, format_count


@pytest.mark.parametrize(
    ("p", "words"),
    [
        (0.001, "约千分之一"),
        (0.00126, "约千分之一"),
        (0.0004, "约万分之四"),
        (0.03, "约百分之三"),
        (0.12, "约百分之十二"),
        (0.0097, "约百分之一"),  # ten in a thousand is one in a hundred
        (0.000096, "约万分之一"),
        (3e-6, "约百万分之三"),
        (4e-7, "不到百万分之一"),
        (0.0, "不到百万分之一"),
    ],
)
def test_chance_words_rounds_to_one_figure_on_a_spoken_scale(p: float, words: str) -> None:
    assert chance_words(p) == words


def test_chance_words_refuses_what_is_not_a_probability() -> None:
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="not a probability"):
            chance_words(bad)


def test_chinese_numbers() -> None:
    assert [chinese_number(n) for n in (1, 10, 12, 20, 45, 99)] == [
        "一",
        "十",
        "十二",
        "二十",
        "四十五",
        "九十九",
    ]
    with pytest.raises(ValueError):
        chinese_number(100)


def test_expected_counts_as_people_say_them() -> None:
    assert [format_count(x) for x in (3.0, 0.44, 12.4, 0.01, 2.96)] == ["3", "0.4", "12", "不到 0.1", "3"]


def test_describe_count_reads_like_the_example_and_uses_the_given_tail() -> None:
    p = float(poisson.sf(8, 3.0))  # P(at least 9 | 3 expected) = 0.0038
    assert (
        describe_count(9, 3.0, 1, 14, p) == "本小时 9 条，按近 14 天同时段预计 3 条，偶然出现的概率约千分之四"
    )
    assert describe_count(9, 3.0, 1, 14, 0.001).endswith("偶然出现的概率约千分之一")
    assert describe_count(12, 4.2, 3, 28, 2e-5).startswith("最近 3 小时 12 条，按近 28 天同时段预计 4.2 条")
