"""Scan detector (analytics/scan.py): synthetic seasonal series with and without known bursts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, poisson

from analytics.detect import SpikeParams, evaluate_latest, score_buckets, spikes_from_scores
from analytics.scan import (
    glr_z,
    max_normal_quantile,
    null_correlation,
    residual_autocorrelation,
)

WEEK = 168


def daily_cycle(hours: int, level: float) -> tuple[pd.DatetimeIndex, np.ndarray]:
    idx = pd.date_range("2025-01-06", periods=hours, freq="h", tz="UTC")
    return idx, level * (1.0 + 0.6 * np.sin(2 * np.pi * (idx.hour.to_numpy() - 6) / 24))


def poisson_series(weeks: int, level: float, seed: int) -> tuple[pd.Series, np.ndarray]:
    """Hourly Poisson counts with a daily cycle, and their expectation."""
    idx, lam = daily_cycle(weeks * WEEK, level)
    return pd.Series(np.random.default_rng(seed).poisson(lam).astype(float), index=idx), lam


def persistent_series(
    weeks: int, level: float, seed: int, survive: float = 0.75
) -> tuple[pd.Series, np.ndarray]:
    """A stock like the hot-search board: items arrive (Poisson) and each stays with chance ``survive``."""
    idx, lam = daily_cycle(weeks * WEEK, level)
    rng = np.random.default_rng(seed)
    x = np.zeros(len(idx))
    on = 0
    for t, rate in enumerate(lam * (1.0 - survive)):
        on = rng.binomial(on, survive) + rng.poisson(rate)
        x[t] = on
    return pd.Series(x, index=idx), lam


def add_burst(s: pd.Series, lam: np.ndarray, start: int, hours: int, mult: float, seed: int) -> pd.Series:
    """``mult`` times the expectation over ``hours`` buckets: Poisson((mult - 1) * lam) extra items."""
    out = s.copy()
    extra = np.random.default_rng(seed).poisson((mult - 1.0) * lam[start : start + hours])
    out.iloc[start : start + hours] += extra
    return out


def alarms_per_week(s: pd.Series, params: SpikeParams) -> float:
    scored = score_buckets(s, params)
    weeks = scored["baseline"].notna().sum() / WEEK
    return len(spikes_from_scores(scored, params)) / weeks


@pytest.mark.parametrize("make", [poisson_series, persistent_series])
def test_chance_alarms_within_the_budget(make) -> None:
    """Twenty weeks without bursts: at most one alarm a week (the budget), min_count and ratio off."""
    s, _ = make(20, 4.0, seed=3)
    params = SpikeParams(min_count=0, ratio_threshold=1.0)
    assert alarms_per_week(s, params) <= 1.0
    # the budget moves the threshold: a ten times looser budget alarms clearly more often
    assert alarms_per_week(s, SpikeParams(min_count=0, ratio_threshold=1.0, alarms_per_week=10.0)) > 2.0


@pytest.mark.parametrize("make", [poisson_series, persistent_series])
def test_three_times_burst_is_caught_within_two_buckets(make) -> None:
    s, lam = make(8, 6.0, seed=5)
    start = 7 * WEEK + 10  # 10:00, a busy hour
    burst = add_burst(s, lam, start, 6, 3.0, seed=6)
    params = SpikeParams()
    scored = score_buckets(burst, params)
    first = np.flatnonzero(scored["fired"].to_numpy()[start : start + 6])
    assert first.size and first[0] <= 1
    assert not score_buckets(s, params)["fired"].iloc[start : start + 6].any()  # no burst, no alarm


def test_one_step_test_catches_bursts_on_persistent_series() -> None:
    """On a stock, bursts at 3x a sparse level: the one-step expectation finds clearly more of them."""
    s, lam = persistent_series(20, 1.5, seed=7)
    starts = np.arange(5 * WEEK + 13, len(s) - 24, 53)  # every 53 h: all hours of the day
    burst = s.copy()
    for i, t in enumerate(starts):
        burst = add_burst(burst, lam, t, 6, 3.0, seed=100 + i)

    def recall(params: SpikeParams) -> float:
        fired = score_buckets(burst, params)["fired"].to_numpy()
        return float(np.mean([fired[t : t + 6].any() for t in starts]))

    with_step, seasonal_only = recall(SpikeParams()), recall(SpikeParams(autoregressive=False))
    assert with_step >= seasonal_only + 0.1
    assert alarms_per_week(s, SpikeParams()) <= 1.0  # not bought with chance alarms


def test_ongoing_burst_reports_its_start_and_seasonal_baseline() -> None:
    s, lam = poisson_series(6, 5.0, seed=9)
    end = len(s) - 1
    burst = add_burst(s, lam, end - 1, 2, 4.0, seed=10)
    spike = evaluate_latest(burst, SpikeParams())
    assert spike is not None and spike.at == s.index[end]
    assert spike.start in (s.index[end - 1], s.index[end])
    window = spike.window
    assert spike.value == pytest.approx(burst.iloc[end - window + 1 :].sum())
    assert spike.baseline == pytest.approx(lam[end - window + 1 :].sum(), rel=0.35)
    assert evaluate_latest(s, SpikeParams()) is None


def test_glr_z_follows_the_exact_poisson_tail() -> None:
    for expected, observed in [(0.5, 4.0), (3.0, 10.0), (20.0, 36.0)]:
        exact = norm.isf(poisson.sf(observed - 1, expected))
        z = float(glr_z(np.array([observed]), np.array([expected]), np.array([1.0]))[0])
        assert z == pytest.approx(exact, abs=0.35)
        wald = (observed - expected) / np.sqrt(expected)
        assert z < wald  # the Wald z overstates a small count's surprise
    z = glr_z(np.array([2.0, np.nan, 8.0]), np.array([4.0, 4.0, 4.0]), np.array([1.0, 1.0, 2.0]))
    assert z[0] < 0 and np.isnan(z[1])
    assert z[2] == pytest.approx(
        float(glr_z(np.array([8.0]), np.array([4.0]), np.array([1.0]))[0]) / np.sqrt(2)
    )


def test_correlation_of_the_tests_under_ar1_noise() -> None:
    independent = null_correlation(0.0, 2, 1, one_step=True)
    assert independent[0, 1] == pytest.approx(np.sqrt(0.5))
    assert independent[0, 2] == pytest.approx(1.0)  # rho 0: the one-step test is the seasonal one
    rho = 0.75
    persistent = null_correlation(rho, 2, 1, one_step=True)
    assert persistent[0, 1] == pytest.approx(np.sqrt((1 + rho) / 2))
    assert persistent[0, 2] == pytest.approx(np.sqrt(1 - rho**2))


def test_threshold_of_the_largest_test() -> None:
    level = 1.0 / WEEK
    single = max_normal_quantile(level, 0.0, 1, 1, False)
    assert single == pytest.approx(norm.isf(level))
    pair = max_normal_quantile(level, 0.0, 2, 1, False)  # correlation 0.71
    sidak = norm.isf(-np.expm1(np.log1p(-level) / 2))
    assert single < pair < sidak
    assert max_normal_quantile(level, 0.9, 2, 1, False) < pair  # more correlated: closer to one test


def test_residual_autocorrelation_tells_stocks_from_flows() -> None:
    flow, lam = poisson_series(10, 4.0, seed=11)
    stock, _ = persistent_series(10, 4.0, seed=11)
    rho_flow = residual_autocorrelation(flow.to_numpy(), lam, WEEK, 48)[-1]
    rho_stock = residual_autocorrelation(stock.to_numpy(), lam, WEEK, 48)[-1]
    assert rho_flow < 0.15 and 0.6 < rho_stock < 0.9


def test_explicit_z_threshold_is_the_single_window_threshold() -> None:
    s, _ = poisson_series(5, 5.0, seed=12)
    params = SpikeParams(
        z_threshold=2.5, n_scales=1, sparse_scales=1, autoregressive=False, min_count=0, ratio_threshold=1.0
    )
    scored = score_buckets(s, params)
    ok = scored["z"].notna() & scored["baseline"].notna()
    assert ((scored["z"] >= 2.5) == scored["fired"])[ok].all()
    assert scored["fired"].any()
