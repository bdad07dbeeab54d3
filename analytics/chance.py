"""How unusual a count is, in words a duty officer reads at a glance (pure).

The spike detector reports, with every firing window, the chance that a count at least this high
turns up by chance when the usual level holds (``Spike.p_value``: the tail probability behind its
test statistic, see ``analytics/scan.py``). :func:`describe_count` turns it, with the count and the
expectation, into one sentence:

    本小时 9 条，按近 14 天同时段预计 3 条，偶然出现的概率约千分之一

:func:`chance_words` rounds the probability to one significant figure on the scale people say
aloud (百分之 / 千分之 / 万分之 / 十万分之 / 百万分之); below one in a million it says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

_DIGITS = "零一二三四五六七八九"
# (denominator, its name), largest chance first; a chance is said on the first scale where it is >= 1
_SCALES = (
    (100, "百分之"),
    (1_000, "千分之"),
    (10_000, "万分之"),
    (100_000, "十万分之"),
    (1_000_000, "百万分之"),
)


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals (``十二``, ``三十``, ``四十五``)."""
    if not 1 <= n <= 99:
        raise ValueError(f"chinese_number: {n} is outside 1..99")
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _DIGITS[ones]
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def chance_words(p: float) -> str:
    """``约千分之一`` for 0.001: the chance rounded to one significant figure, in words.

    Chances of 1 % and more are said in percent, rounded to whole percent (``约百分之十二``);
    under one in a million: ``不到百万分之一``.
    """
    if not math.isfinite(p) or p < 0 or p > 1:
        raise ValueError(f"chance_words: {p!r} is not a probability")
    if p >= 0.995:
        return "几乎必然"
    if p >= 0.01:
        return "约百分之" + chinese_number(max(1, round(p * 100)))
    for i in range(1, len(_SCALES)):
        denominator, name = _SCALES[i]
        count = round(p * denominator)
        if count >= 10:  # 0.0096 rounds to ten in a thousand: one in a hundred
            return f"约{_SCALES[i - 1][1]}一"
        if count >= 1:
            return f"约{name}{_DIGITS[count]}"
    return "不到百万分之一"


def format_count(x: float) -> str:
    """An expected count as people say it: ``3``, ``0.4``, ``12``, ``不到 0.1``."""
    if x < 0.05:
        return "不到 0.1"
    if x >= 10:
        return f"{x:.0f}"
    return f"{x:.1f}".removesuffix(".0")


def describe_count(value: float, expected: float, hours: int, lookback_days: int, p: float) -> str:
    """``本小时 9 条，按近 14 天同时段预计 3 条，偶然出现的概率约千分之一``.

    Args:
        value: items counted in the window.
        expected: items expected in it from the same hours of earlier days.
        hours: the window's length (1: the current hour).
        lookback_days: the history the expectation rests on.
        p: chance of at least ``value`` items when ``expected`` holds (the detector's tail probability).
    """
    when = "本小时" if hours == 1 else f"最近 {hours} 小时"
    return (
        f"{when} {value:.0f} 条，按近 {lookback_days} 天同时段预计 {format_count(expected)} 条，"
        f"偶然出现的概率{chance_words(p)}"
    )


def describe_evidence(evidence: Mapping[str, Any]) -> str | None:
    """:func:`describe_count` from a stored volume alert's evidence (None when it lacks the numbers).

    Volume alerts store value, expected, window_hours, lookback_days and p_value with their evidence;
    alerts stored before the tail probability was kept have no ``p_value``.
    """
    try:
        return describe_count(
            float(evidence["value"]),
            float(evidence["expected"]),
            int(evidence["window_hours"]),
            int(evidence["lookback_days"]),
            float(evidence["p_value"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
