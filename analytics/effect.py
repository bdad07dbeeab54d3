"""Before/after effect of an event (政策出台 / 现场处置 / 官方回应) on an issue's public reaction.

Given hourly counts of an issue (total and negative) around an event, compare the window after
the event with the same-length window before it:

* negative share: difference of two proportions with a Newcombe (Wilson-score) 95% interval;
* volume: ratio of hourly rates with a 95% interval from the Poisson log-rate normal approximation;

and say it in plain Chinese ("回应后 72 小时内负面占比由 61% 降至 38%"). A change whose interval
covers zero is reported as "无明显变化".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep

EVENT_KINDS: tuple[str, ...] = ("政策出台", "现场处置", "官方回应")
KIND_VERB = {"政策出台": "政策出台后", "现场处置": "现场处置后", "官方回应": "回应后"}


@dataclass(frozen=True)
class EffectEstimate:
    """Before/after figures for one event."""

    hours: int
    n_before: int
    n_after: int
    neg_share_before: float | None
    neg_share_after: float | None
    neg_share_change: float | None
    neg_share_ci: tuple[float, float] | None
    volume_ratio: float | None
    volume_ratio_ci: tuple[float, float] | None
    summary: str


def _window(frame: pd.DataFrame, start: datetime, end: datetime) -> tuple[int, int]:
    part = frame[(frame.index >= start) & (frame.index < end)]
    return int(part["n"].sum()), int(part["neg"].sum())


def estimate_effect(
    frame: pd.DataFrame, event_at: datetime, kind: str = "官方回应", hours: int = 72
) -> EffectEstimate:
    """Compare ``hours`` after ``event_at`` with the ``hours`` before it.

    Args:
        frame: hourly rows indexed by UTC bucket with columns ``n`` (documents) and ``neg``
            (negative documents).
        event_at: when the event happened (aware).
        kind: the event kind, used in the wording.
        hours: window length on each side.
    """
    n0, k0 = _window(frame, event_at - timedelta(hours=hours), event_at)
    n1, k1 = _window(frame, event_at, event_at + timedelta(hours=hours))
    verb = KIND_VERB.get(kind, "事件后")
    share0 = k0 / n0 if n0 else None
    share1 = k1 / n1 if n1 else None
    change = ci = None
    if n0 and n1:
        change = share1 - share0  # type: ignore[operator]
        low, high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
        ci = (float(low), float(high))
    ratio = ratio_ci = None
    if n0 and n1:
        ratio = n1 / n0
        se = math.sqrt(1 / n1 + 1 / n0)
        ratio_ci = (ratio * math.exp(-1.96 * se), ratio * math.exp(1.96 * se))
    summary = describe(verb, hours, share0, share1, ci, ratio, ratio_ci, n0, n1)
    return EffectEstimate(hours, n0, n1, share0, share1, change, ci, ratio, ratio_ci, summary)


def describe(
    verb: str,
    hours: int,
    share0: float | None,
    share1: float | None,
    ci: tuple[float, float] | None,
    ratio: float | None,
    ratio_ci: tuple[float, float] | None,
    n0: int,
    n1: int,
) -> str:
    """The estimate in plain Chinese."""
    if not n0 or not n1:
        return f"{verb} {hours} 小时内数据不足（前 {n0} 条，后 {n1} 条），无法比较"
    assert (
        share0 is not None
        and share1 is not None
        and ci is not None
        and ratio is not None
        and ratio_ci is not None
    )
    pp = (share1 - share0) * 100
    if ci[0] > 0 or ci[1] < 0:
        trend = "升至" if pp > 0 else "降至"
        neg = f"负面占比由 {share0:.0%} {trend} {share1:.0%}（{pp:+.0f} 个百分点，95% 区间 {ci[0] * 100:+.0f} ~ {ci[1] * 100:+.0f}）"
    else:
        neg = f"负面占比 {share0:.0%} → {share1:.0%}，无明显变化（95% 区间 {ci[0] * 100:+.0f} ~ {ci[1] * 100:+.0f} 个百分点）"
    if ratio_ci[0] > 1 or ratio_ci[1] < 1:
        vol = f"声量为事件前的 {ratio:.1f} 倍（95% 区间 {ratio_ci[0]:.1f} ~ {ratio_ci[1]:.1f}）"
    else:
        vol = "声量无明显变化"
    return f"{verb} {hours} 小时内{neg}；{vol}。"
