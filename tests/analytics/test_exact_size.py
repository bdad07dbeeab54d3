"""Exact false-alarm calibration of the scan on small counts (analytics/exact_size.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import nbinom

from analytics.detect import SpikeParams, score_buckets
from analytics.exact_size import block_pmf, count_tails, exact_levels, firing_chance
from analytics.seasonal import pooled_overdispersion

ALPHA = 1.0 / 168  # one chance alarm a week on hourly buckets
WEEK = 168


def cutoffs_at(level: float, expected: np.ndarray, dispersion: float, floor: float) -> np.ndarray:
    """Smallest count of each window whose tail is at most ``level`` (at least ``floor``)."""
    tails = count_tails(expected[:, None], np.full((len(expected), 1), dispersion), 80)[:, 0, :]
    return np.maximum((tails > level).sum(axis=1), int(floor))


@pytest.mark.parametrize(
    ("rates", "dispersion", "active"),
    [
        ([0.3] * 6, 1.05, [1, 1, 1, 1, 1, 1]),
        ([1.0, 1.0, 0.0, 1.0, 1.0], 1.3, [1, 1, 1, 1, 1]),  # a missing bucket: an empty block
        ([0.5] * 6, 1.2, [1, 1, 1, 0, 0, 1]),  # windows 4 and 5 not tested
    ],
)
def test_firing_chance_is_the_monte_carlo_chance(
    rates: list[float], dispersion: float, active: list[int]
) -> None:
    rates_ = np.array(rates)
    act = np.array(active, dtype=bool)
    expected = np.cumsum(rates_)
    cut = cutoffs_at(0.004, expected, dispersion, 5.0)
    rng = np.random.default_rng(3)
    n = 1_000_000
    blocks = np.where(
        rates_ > 0,
        nbinom.rvs(
            np.fmax(rates_, 1e-9) / (dispersion - 1.0),
            1.0 / dispersion,
            size=(n, len(rates_)),
            random_state=rng,
        ),
        0,
    )
    sums = np.cumsum(blocks, axis=1)
    simulated = (sums[:, act] >= cut[act]).any(axis=1).mean()
    pmf = block_pmf(rates_[:, None], np.array([dispersion]), 40)
    exact = firing_chance(pmf, np.where(act, cut, 40)[:, None], act[:, None])[0]
    assert exact == pytest.approx(simulated, rel=0.04)


@pytest.mark.parametrize("rate", [0.2, 0.5, 1.0, 1.5])
def test_exact_level_spends_the_budget_and_no_more(rate: float) -> None:
    """The chance of firing at the level found is within the budget; the next looser step exceeds it."""
    n_windows = 6
    expected = rate * np.arange(1, n_windows + 1)
    dispersion = 1.05
    active = expected < 5.0 + rate  # the scan's rule: longer windows while the shorter expects < 5
    active[:2] = True
    e, d = expected[:, None], np.full((n_windows, 1), dispersion)
    floor = np.full((n_windows, 1), 5.0)
    level = exact_levels(e, d, floor, active[:, None], ALPHA)[0]
    assert np.isfinite(level)
    pmf = block_pmf(np.full((n_windows, 1), rate), np.array([dispersion]), 60)
    cut = cutoffs_at(level, expected, dispersion, 5.0)

    def chance(c: np.ndarray) -> float:
        return float(firing_chance(pmf, np.where(active, c, 60)[:, None], active[:, None])[0])

    assert chance(cut) <= ALPHA
    # the next step: the active window whose cutoff falls first as the level rises
    tails = count_tails(e, d, 60)[:, 0, :]
    steps = [(tails[w, cut[w] - 1], w) for w in np.flatnonzero(active) if cut[w] - 1 >= 5]
    _, w = min(steps)
    looser = cut.copy()
    looser[w] -= 1
    assert chance(looser) > ALPHA
    # most of the budget is used (the normal approximation left about half of it unspent)
    assert chance(cut) >= 0.6 * ALPHA


def test_exact_calibration_fires_more_on_sparse_bursts_and_stays_in_budget() -> None:
    """Flat Poisson series at 0.5 items an hour: 3x six-hour bursts caught more often than with the
    normal threshold, and chance alarms on the same series without bursts within one a week."""
    idx = pd.date_range("2025-03-03", periods=16 * WEEK, freq="h", tz="UTC")
    caught = {"exact": 0, "normal": 0}
    alarms = {"exact": 0, "normal": 0}
    n_bursts = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        quiet = pd.Series(rng.poisson(0.5, len(idx)).astype(float), index=idx)
        burst = quiet.copy()
        starts = np.arange(5 * WEEK + 7, len(idx) - 12, 173)
        for t in starts:
            burst.iloc[t : t + 6] += rng.poisson(1.0, 6)
        n_bursts += len(starts)
        for mode in ("exact", "normal"):
            params = SpikeParams(calibration=mode)
            fired = score_buckets(burst, params)["fired"].to_numpy()
            caught[mode] += sum(bool(fired[t : t + 6].any()) for t in starts)
            calm = score_buckets(quiet, params)["fired"].to_numpy()[4 * WEEK :]
            alarms[mode] += int((np.diff(calm.astype(int)) == 1).sum())
    assert caught["exact"] > caught["normal"] + 0.05 * n_bursts
    weeks = 4 * 12
    assert alarms["exact"] / weeks <= 1.0
    assert alarms["exact"] >= alarms["normal"]  # the budget left unspent before is used


def test_wander_prior_shrinks_k_by_the_share_of_information_the_windows_carry() -> None:
    """At a constant expectation e the prior scales the estimate by e**2 / (e**2 + prior**2)."""
    rng = np.random.default_rng(12)
    n = 24 * 7 * 8
    for level, share in ((20.0, 400 / 416), (5.0, 25 / 41)):
        mean = np.full(n, level)
        counts = rng.poisson(mean * rng.gamma(1 / 0.2, 0.2, n)).astype(float)
        bare = pooled_overdispersion(counts, mean, 24 * 7 * 4)[-1]
        shrunk = pooled_overdispersion(counts, mean, 24 * 7 * 4, prior=4.0)[-1]
        assert bare > 0.05
        assert shrunk == pytest.approx(bare * share, rel=1e-6)


def test_bursts_in_a_quiet_series_history_no_longer_make_its_level_look_unstable() -> None:
    """Six-hour 3x bursts every six days on 0.8 items an hour: the six-hour windows' k, estimated
    from a history that holds the earlier bursts, with the default prior and memory (4 items, four
    weeks) against none and one week (the landed detector)."""
    bare, shrunk = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        n = 24 * 7 * 10
        rate = np.full(n, 0.8)
        counts = rng.poisson(rate).astype(float)
        for t in range(24 * 7 * 4, n, 24 * 6):
            counts[t : t + 6] += rng.poisson(1.6, 6)
        sums = pd.Series(counts).rolling(6).sum().to_numpy()
        expected = pd.Series(rate).rolling(6).sum().to_numpy()
        bare.append(np.percentile(pooled_overdispersion(sums, expected, 24 * 7)[24 * 7 * 5 :], 90))
        default = SpikeParams()
        k = pooled_overdispersion(sums, expected, 24 * 7 * default.wander_memory, default.wander_prior)
        shrunk.append(np.percentile(k[24 * 7 * 5 :], 90))
    assert np.mean(bare) > 0.015
    assert np.mean(shrunk) < 0.3 * np.mean(bare)
