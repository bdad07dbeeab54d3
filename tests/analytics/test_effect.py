"""Effect estimates: real changes are found, noise is called noise, the wording is right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from analytics.effect import estimate_effect

EVENT = datetime(2026, 11, 10, 12, tzinfo=UTC)


def series(before: tuple[float, float], after: tuple[float, float], seed: int = 1) -> pd.DataFrame:
    """Hourly counts with Poisson volume and binomial negatives, before/after EVENT."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(EVENT - timedelta(hours=96), EVENT + timedelta(hours=96), freq="h", inclusive="left")
    rate = np.where(idx < EVENT, before[0], after[0])
    share = np.where(idx < EVENT, before[1], after[1])
    n = rng.poisson(rate)
    return pd.DataFrame({"n": n, "neg": rng.binomial(n, share)}, index=idx)


def test_detects_a_fall_in_negative_share() -> None:
    est = estimate_effect(series((20, 0.61), (20, 0.38)), EVENT, "官方回应", hours=72)
    assert est.neg_share_change is not None and est.neg_share_ci is not None
    assert abs(est.neg_share_change + 0.23) < 0.05
    assert est.neg_share_ci[1] < 0
    assert est.summary.startswith("回应后 72 小时内负面占比由 6") and "降至 3" in est.summary


def test_no_change_is_reported_as_such() -> None:
    est = estimate_effect(series((15, 0.4), (15, 0.4), seed=3), EVENT, "现场处置", hours=48)
    assert est.neg_share_ci is not None and est.neg_share_ci[0] < 0 < est.neg_share_ci[1]
    assert "无明显变化" in est.summary and est.summary.startswith("现场处置后 48 小时内")


def test_volume_ratio_and_missing_data() -> None:
    est = estimate_effect(series((10, 0.5), (30, 0.5)), EVENT)
    assert est.volume_ratio is not None and 2.5 < est.volume_ratio < 3.5
    assert "倍" in est.summary
    empty = estimate_effect(series((0, 0.5), (10, 0.5)), EVENT)
    assert "数据不足" in empty.summary
