"""Scan detector on flows of new items (what hourly ``n_unique`` is): the one-step test stays off."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.detect import SpikeParams, score_buckets
from analytics.scan import RHO_MIN, residual_autocorrelation, seasonal_expectation
from analytics.seasonal import regularize_counts

WEEK = 168


def flow_series(weeks: int, level: float, seed: int) -> pd.Series:
    """Independent hourly Poisson counts with a daily cycle (quiet nights), like new titles per hour."""
    idx = pd.date_range("2025-03-03", periods=weeks * WEEK, freq="h", tz="UTC")
    lam = level * (1.0 + 0.9 * np.sin(2 * np.pi * (idx.hour.to_numpy() - 8) / 24))
    return pd.Series(np.random.default_rng(seed).poisson(lam).astype(float), index=idx)


def stock_series(weeks: int, level: float, seed: int) -> pd.Series:
    """Items staying about six hours: the running sum of a flow (a board's entries), strongly persistent."""
    flow = flow_series(weeks, level / 6.0, seed)
    return flow.rolling(6, min_periods=1).sum()


def one_step_share(s: pd.Series) -> float:
    """Share of buckets where the scan's one-step test would run (residual autocorrelation >= RHO_MIN)."""
    params = SpikeParams()
    x, step = regularize_counts(s, "h")
    mu = seasonal_expectation(x.to_numpy(), 24, step, params)
    rho = residual_autocorrelation(x.to_numpy(), mu, params.ewma_halflife * 24, min_periods=48)
    return float((rho[4 * WEEK :] >= RHO_MIN).mean())


def test_one_step_test_stays_off_on_a_flow_and_runs_on_a_stock() -> None:
    """A flow's residuals are uncorrelated, a stock's are not: only the stock gets the one-step test."""
    assert one_step_share(flow_series(8, 4.0, seed=3)) < 0.01
    assert one_step_share(stock_series(8, 12.0, seed=3)) > 0.9


def test_scan_on_a_flow_scores_the_same_with_and_without_the_one_step_test() -> None:
    """On a flow with bursts, ``autoregressive`` changes no firing bucket (the test never switches on)."""
    s = flow_series(10, 2.0, seed=5)
    rng = np.random.default_rng(6)
    for t in range(5 * WEEK + 10, len(s) - 6, 97):
        s.iloc[t : t + 6] += rng.poisson(4.0, 6)
    with_step = score_buckets(s, SpikeParams())["fired"].to_numpy()
    without = score_buckets(s, SpikeParams(autoregressive=False))["fired"].to_numpy()
    assert with_step.sum() >= 10
    assert np.array_equal(with_step, without)
