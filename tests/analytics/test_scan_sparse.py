"""Scan detector on sparse series: bursts at 3x a low level are caught, chance alarms stay in budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import nbinom, norm, poisson

from analytics.detect import SpikeParams, evaluate_latest, score_buckets, spikes_from_scores
from analytics.scan import observed_sums, tail_probability, tail_z
from analytics.seasonal import pooled_overdispersion

WEEK = 168


def sparse_series(weeks: int, level: float, seed: int) -> tuple[pd.Series, np.ndarray]:
    """Hourly Poisson counts around ``level`` with a strong daily cycle (quiet nights), and their mean."""
    idx = pd.date_range("2025-03-03", periods=weeks * WEEK, freq="h", tz="UTC")
    lam = level * (1.0 + 0.8 * np.sin(2 * np.pi * (idx.hour.to_numpy() - 8) / 24))
    return pd.Series(np.random.default_rng(seed).poisson(lam).astype(float), index=idx), lam


def flat_series(weeks: int, level: float, seed: int, missing: float = 0.1) -> pd.Series:
    """Flat hourly Poisson counts with a share ``missing`` of hours not captured (NaN)."""
    idx = pd.date_range("2025-03-03", periods=weeks * WEEK, freq="h", tz="UTC")
    rng = np.random.default_rng(seed)
    x = rng.poisson(level, len(idx)).astype(float)
    x[rng.random(len(idx)) < missing] = np.nan
    return pd.Series(x, index=idx)


def test_three_times_burst_on_a_sparse_seasonal_series_is_caught() -> None:
    """Six-hour bursts at 3x a level of 2 items an hour (busy hours): nearly all caught, early."""
    caught: list[int] = []
    n = 0
    for seed in (21, 31, 41, 51):
        s, lam = sparse_series(16, 2.0, seed=seed)
        starts = np.arange(6 * WEEK + 9, len(s) - 24, 61)  # 9:00 first, then drifting over the day
        starts = starts[lam[starts] >= 2.0]  # hours whose usual level is at least 2
        burst = s.copy()
        rng = np.random.default_rng(seed + 1)
        for t in starts:
            burst.iloc[t : t + 6] += rng.poisson(2.0 * lam[t : t + 6])
        fired = score_buckets(burst, SpikeParams())["fired"].to_numpy()
        delays = [np.flatnonzero(fired[t : t + 6]) for t in starts]
        caught += [int(d[0]) for d in delays if d.size]
        n += len(starts)
    assert n >= 60
    assert len(caught) / n >= 0.85
    assert np.median(caught) <= 1.0


@pytest.mark.parametrize("level", [0.1, 0.3, 0.5, 1.0])
def test_flat_sparse_poisson_series_stays_within_the_budget(level: float) -> None:
    """Flat Poisson counts at one item an hour or less, 10 % of hours missing, weeks 5-12: <= 1 alarm a week.

    (A sparse series' warm-up is excluded: its baseline starts from the median of the first values,
    which is low for skewed counts.)
    """
    counts = []
    for seed in range(3):
        s = flat_series(12, level, seed=seed + int(level * 100))
        spikes = spikes_from_scores(score_buckets(s, SpikeParams()), SpikeParams())
        counts.append(sum(sp.at >= s.index[4 * WEEK] for sp in spikes))
    assert np.mean(counts) / 8 <= 1.0


@pytest.mark.parametrize(("level", "floor"), [(0.5, 0.45), (1.0, 0.62)])
def test_sparse_three_times_bursts_are_caught_as_often_as_the_backtest_says(
    level: float, floor: float
) -> None:
    """Six-hour 3x bursts on flat Poisson series of 0.5 and 1 item an hour, 10 % of hours missing.

    ``bench/alerts_backtest.py`` (held out) catches a little over half of the 3x bursts under 2 items
    an hour on real series; on these Poisson series the detector catches 0.51 and 0.68 (the floors
    leave room for the seeds). The landed issue-20 detector (normal threshold, no wander prior)
    caught 0.40 and 0.65, the quasi-Poisson GLR over two windows before it 0.35 and 0.56.
    """
    hits = []
    for seed in range(3):
        s = flat_series(12, level, seed=seed)
        rng = np.random.default_rng(100 + seed)
        starts = np.arange(5 * WEEK + 7, len(s) - 12, 61)
        for t in starts:
            s.iloc[t : t + 6] += rng.poisson(2.0 * level, 6)  # missing hours stay missing
        fired = score_buckets(s, SpikeParams())["fired"].to_numpy()
        hits += [bool(fired[t : t + 6].any()) for t in starts]
    assert len(hits) >= 50
    assert np.mean(hits) >= floor


def test_a_missing_hour_inside_a_window_leaves_the_rest_of_it() -> None:
    """Items in the hours around a crawler gap add up: the window skips the missing hour."""
    idx = pd.date_range("2025-03-03", periods=6 * WEEK, freq="h", tz="UTC")
    s = pd.Series(np.random.default_rng(5).poisson(0.3, len(idx)).astype(float), index=idx)
    s.iloc[-6:] = [0.0, 0.0, 3.0, np.nan, 1.0, 3.0]  # 7 items in the last 4 hours, one not captured
    spike = evaluate_latest(s, SpikeParams())
    assert spike is not None and spike.value == 7.0 and spike.window >= 4


def test_sparse_series_test_windows_long_enough_to_hold_a_few_items() -> None:
    """Nine items over six hours at 0.3 an hour: no two hours reach min_count, the six-hour sum does."""
    idx = pd.date_range("2025-03-03", periods=6 * WEEK, freq="h", tz="UTC")
    s = pd.Series(np.random.default_rng(6).poisson(0.3, len(idx)).astype(float), index=idx)
    s.iloc[-12:] = [0.0] * 6 + [1.0, 2.0, 2.0, 1.0, 2.0, 1.0]
    assert evaluate_latest(s, SpikeParams(sparse_scales=2)) is None
    spike = evaluate_latest(s, SpikeParams())
    assert spike is not None and spike.window == 6 and spike.value == 9.0
    # busy series keep the two short windows: their shortest window already expects min_count items
    busy = pd.Series(np.random.default_rng(7).poisson(8.0, len(idx)).astype(float), index=idx)
    assert set(score_buckets(busy, SpikeParams())["window"].dropna().unique()) <= {1, 2}


def test_reported_chance_is_the_tail_probability_of_the_reported_window() -> None:
    idx = pd.date_range("2025-03-03", periods=6 * WEEK, freq="h", tz="UTC")
    s = pd.Series(np.random.default_rng(8).poisson(1.0, len(idx)).astype(float), index=idx)
    s.iloc[-1] = 9.0
    spike = evaluate_latest(s, SpikeParams())
    assert spike is not None and spike.p_value is not None and spike.expected is not None
    assert spike.p_value == pytest.approx(norm.sf(spike.z))
    scored = score_buckets(s, SpikeParams())
    row = scored.iloc[-1]
    variance = (row["scale"] ** 2) / row["expected"]
    exact = tail_probability(np.array([row["value"]]), np.array([row["expected"]]), np.array([variance]))
    assert spike.p_value == pytest.approx(float(exact[0]), rel=1e-6)


def test_tail_probability_is_the_exact_count_tail() -> None:
    s = np.array([0.0, 3.0, 9.0, np.nan])
    e = np.full(4, 2.0)
    # variance = mean: Poisson
    np.testing.assert_allclose(tail_probability(s, e, np.ones(4))[:3], poisson.sf(s[:3] - 1, 2.0))
    # variance 1.5 x mean: negative binomial with that mean and variance (Gamma-Poisson)
    r, q = 2.0 / 0.5, 1 / 1.5
    got = tail_probability(s, e, np.full(4, 1.5))
    np.testing.assert_allclose(got[:3], nbinom.sf(s[:3] - 1, r, q))
    assert nbinom.mean(r, q) == pytest.approx(2.0) and nbinom.var(r, q) == pytest.approx(3.0)
    assert np.isnan(got[3])
    mid = tail_probability(s, e, np.ones(4), mid=True)
    np.testing.assert_allclose(mid[:3], poisson.sf(s[:3] - 1, 2.0) - 0.5 * poisson.pmf(s[:3], 2.0))
    np.testing.assert_allclose(tail_z(s, e, np.ones(4))[1:3], norm.isf(poisson.sf(s[1:3] - 1, 2.0)))
    # an uncertain level widens the tail: the same count is less surprising
    assert got[2] > tail_probability(s, e, np.ones(4))[2]


def test_pooled_overdispersion_tells_poisson_from_a_wandering_level() -> None:
    rng = np.random.default_rng(9)
    n = 24 * 7 * 8
    mean = np.full(n, 4.0)
    flat = rng.poisson(mean).astype(float)
    wander = rng.poisson(mean * rng.gamma(1 / 0.3, 0.3, n)).astype(float)  # level CV^2 = 0.3
    k_flat = pooled_overdispersion(flat, mean, 24 * 7)[-1]
    k_wander = pooled_overdispersion(wander, mean, 24 * 7)[-1]
    assert k_flat < 0.03
    assert 0.05 < k_wander < 0.3  # winsorised at 1.6 sd: a low estimate, events do not set it


def test_observed_sums_skip_missing_buckets() -> None:
    v = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    got = observed_sums(v, np.isfinite(v), 3)
    np.testing.assert_allclose(got, [np.nan, np.nan, np.nan, 6.0, 9.0])
