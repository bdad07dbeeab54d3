"""Scan detector: the largest quasi-Poisson likelihood-ratio statistic over the last 1..K windows (pure).

At every bucket ``t`` the windows of the last ``window``, ``2 * window``, ... ``n_scales * window``
buckets are tested, each as the sum ``S`` of its counts against the sum ``E`` of what was expected
in them. The statistic of a window is the signed root of the quasi-Poisson deviance,

    z = sign(S - E) * sqrt(2 * (S * ln(S / E) - (S - E)) / phi),

the generalised likelihood-ratio (GLR) test of "the rate rose by some factor over the window"
(factor at its maximum-likelihood value S / E) against "as expected", with ``phi`` the variance/mean
ratio measured on the series' own earlier windows of that length. It is close to standard normal
under "as expected" even for small counts, where the Wald z of ``analytics/detect.py`` has a heavy
upper tail. A bucket fires when some window has

    z >= threshold  and  S >= min_count  and  S / max(seasonal baseline, 1) >= ratio_threshold

with one threshold per bucket: the chance that the *largest* of its tests reaches it under "as
expected" is the per-bucket false-alarm probability (``alarms_per_week * bucket / week``, or the tail
of an explicit ``z_threshold``). The tests' z are taken as jointly normal with the correlation they
have when the seasonal residuals are AR(1) with the series' measured lag-1 autocorrelation
(:func:`null_correlation`), and the quantile of their maximum is computed once per correlation by
fixed-seed Monte Carlo (:func:`max_normal_quantile`). Nested windows of a persistent series are
strongly correlated, so this is far less strict than splitting the probability over the tests. As
in the z detector, a longer window counts only if its newest block adds evidence, so the quiet
buckets after a burst do not keep it firing.

Two expectations are tested (the second only with ``autoregressive``):

- seasonal: ``mu_t``, the baseline of the same seasonal phase (``analytics/seasonal.py``: winsorised
  EWMA, or the median for ``method="mad"``), with the dispersion floored at 1 (at least Poisson);
- one step ahead, where the series is persistent (``rho >= RHO_MIN``):
  ``mu_t + rho * (x_{t-1} - mu_{t-1})``, i.e. the seasonal baseline corrected by the lag-1
  autocorrelation ``rho`` of the series' seasonal residuals (measured on its own history, clipped
  to [0, 0.9]). Persistent series (a hot-search board holds a topic for hours; lag-1
  autocorrelation 0.7-0.9) vary little from one hour to the next although their level wanders far
  from the seasonal mean: against the one-step expectation the noise is smaller (dispersion 0.55-0.7
  on the busy hot-search series, about 1 on the sparse ones; its floor is
  :data:`STEP_DISPERSION_FLOOR`), and a burst's first bucket stands out. For flows of new items (问政 messages: rho 0-0.25) the one-step noise is
  hardly smaller (``1 - rho**2`` of the seasonal), so the test is left out there.

The seasonal test covers all ``n_scales`` windows (evidence that accumulates over a sustained rise in
a flow of new items); the one-step test covers the shortest window (the jump at a burst's onset: in a
persistent series its later buckets are explained by the previous one; a GLS-weighted two-bucket
version was tried and added nothing at the same false-alarm rate). All of them share the
false-alarm probability.

Why sparse hot-search board series stay hard (``bench/alerts_backtest.py``, tuning half): their
null wanders like a burst does. Even a threshold chosen per series *in hindsight*, so that its
uninjected series gives at most one alarm a week, lifts the recall at 3x only from 0.74 to 0.80
(lowering ``min_count`` then loses: at one entry an hour, jumps of 3-4 entries are common without a
burst). An INAR(1) (thinned stock) variance for the one-step test (0.714), longer seasonal windows
(0.726 / 0.713) and GLS-weighted one-step tests over up to four windows (+0.006 on the tuning half,
more false alarms on the held-out one) did not help.

What the alert rules watch is a flow, not the board stock: hourly ``n_unique`` counts first copies,
so the board gives the titles first sighted each hour (the flow series of the backtest). There the
residual lag-1 autocorrelation is 0.04-0.14, so the one-step test never switches on (``RHO_MIN``),
and 2/3 of the bursts fall in hours with under 2 new titles (night hours, the keyword series at 0.4-0.5
an hour), where even the Poisson oracle catches only 0.55 at 3x (0.70 over all flow bursts). On the
tuning half, starting the per-phase EWMA from the mean of its first values instead of the median
changed nothing on the flows (recall 0.579, 0.48 false alarms a week) and added false alarms on
问政 (0.36 -> 0.41 a week), so the median start stays; ``min_count`` 4 or 3 trades alarms for recall
(0.613 at 0.59 a week, 0.628 at 0.76) and is a setting, not a property of the detector.

The baseline's own estimation error is allowed for by inflating the dispersion by ``1 + 1 / n``
with ``n`` the number of same-phase values behind a baseline.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics.seasonal import (
    DAY,
    effective_samples,
    ewma_baseline,
    mad_baseline,
    pooled_dispersion,
    window_sums,
)
from analytics.spikes import SpikeParams, newest_block_adds_evidence, reported_windows

logger = logging.getLogger(__name__)

MIN_RATE = 0.05  # expected items per bucket never below this: a phase empty so far is not impossible
MAX_RHO = 0.9
STEP_DISPERSION_FLOOR = 0.5
N_DRAWS = 400_000  # Monte Carlo draws behind a threshold (fixed seed: thresholds are reproducible)
DRAW_SEED = 20_240_601
RHO_MIN = 0.5  # below it the one-step noise is > 75 % of the seasonal (1 - rho**2): not worth a test


def history_size(params: SpikeParams, step: pd.Timedelta, period: int) -> float:
    """Number of same-phase values behind a baseline: EWMA effective samples, or the MAD's lags."""
    if params.method == "mad":
        return max(2.0, float(int(round(params.lookback_days * DAY / step)) // period))
    return effective_samples(params.ewma_halflife)


def seasonal_expectation(x: np.ndarray, period: int, step: pd.Timedelta, params: SpikeParams) -> np.ndarray:
    """Expected count per bucket from the same phase's history (NaN while it is too short)."""
    if params.method == "mad":
        n_lags = max(1, int(round(params.lookback_days * DAY / step)) // period)
        mu, _ = mad_baseline(x, period, n_lags, params.min_history)
    else:
        mu, _ = ewma_baseline(x, period, params.ewma_halflife, params.min_history)
    return np.where(np.isfinite(mu), np.fmax(mu, MIN_RATE), np.nan)


def residual_autocorrelation(x: np.ndarray, mu: np.ndarray, halflife: float, min_periods: int) -> np.ndarray:
    """Lag-1 autocorrelation of the standardised seasonal residuals, from the buckets before each one.

    An EWMA (half-life ``halflife`` buckets) of the products of neighbouring residuals over one of the
    squared residuals; residuals are clipped at 3, so one burst does not make a series look persistent.
    0 until ``min_periods`` pairs are seen; clipped to [0, :data:`MAX_RHO`].
    """
    with np.errstate(invalid="ignore"):
        r = pd.Series(np.clip((x - mu) / np.sqrt(mu + 0.5), -3.0, 3.0))
    pairs = r * r.shift(1)
    cov = pairs.ewm(halflife=halflife, ignore_na=True, min_periods=min_periods).mean().shift(1)
    var = (r * r).where(pairs.notna()).ewm(halflife=halflife, ignore_na=True).mean().shift(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (cov / var).to_numpy()
    return np.clip(np.where(np.isfinite(rho), rho, 0.0), 0.0, MAX_RHO)


def one_step_expectation(x: np.ndarray, mu: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``mu_t + rho_t * (x_{t-1} - mu_{t-1})``, at least ``0.1 * mu_t``; ``mu_t`` after a missing bucket."""
    prev = np.concatenate(([np.nan], x[:-1] - mu[:-1]))
    carried = rho * np.where(np.isfinite(prev), prev, 0.0)
    return np.where(np.isfinite(mu), np.fmax(mu + carried, 0.1 * mu), np.nan)


def glr_z(observed: np.ndarray, expected: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """Signed root of the quasi-Poisson deviance of ``observed`` against ``expected`` (NaN stays NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.maximum(observed, 0.0)  # NaN (a missing bucket) stays NaN
        log_term = np.where(s > 0, s * np.log(np.fmax(s, 1e-300) / expected), 0.0)
        deviance = np.fmax(2.0 * (log_term - (s - expected)), 0.0) / dispersion
        return np.sign(s - expected) * np.sqrt(deviance)


def null_correlation(rho: float, n_windows: int, window: int, one_step: bool) -> np.ndarray:
    """Correlation of the tests' statistics under "as expected", residuals being AR(1) with lag-1 ``rho``.

    Tests: the sums of the last ``window``, ..., ``n_windows * window`` residuals, then (``one_step``)
    the sum of the last ``window`` one-step innovations ``r_t - rho * r_{t-1}``.
    """
    span = n_windows * window + 1
    positions = np.arange(span)
    sigma = rho ** np.abs(np.subtract.outer(positions, positions)).astype(float)
    rows = [np.where(positions >= span - k * window, 1.0, 0.0) for k in range(1, n_windows + 1)]
    if one_step:
        innovation = np.where(positions >= span - window, 1.0, 0.0)
        innovation[span - window - 1 : span - 1] -= rho
        rows.append(innovation)
    a = np.array(rows)
    cov = a @ sigma @ a.T
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


@functools.lru_cache(maxsize=1024)
def max_normal_quantile(level: float, rho: float, n_windows: int, window: int, one_step: bool) -> float:
    """c with P(max of the tests' z >= c) = ``level`` (fixed-seed Monte Carlo; one test: exact)."""
    corr = null_correlation(rho, n_windows, window, one_step)
    if len(corr) == 1:
        return float(norm.isf(level))
    chol = np.linalg.cholesky(corr + 1e-12 * np.eye(len(corr)))
    draws = np.random.default_rng(DRAW_SEED).standard_normal((N_DRAWS, len(corr)))
    top = (draws @ chol.T).max(axis=1)
    return float(np.quantile(top, 1.0 - level))


def scan_thresholds(
    params: SpikeParams, step: pd.Timedelta, rho: np.ndarray, one_step: np.ndarray
) -> np.ndarray:
    """z a bucket's largest test statistic must reach: its chance of doing so is the false-alarm probability.

    The per-bucket probability (``SpikeParams.alarm_probability``) is the chance that the *largest* of
    the bucket's tests reaches the threshold, the tests' z being jointly normal with the correlation
    of :func:`null_correlation` (at ``rho`` rounded to 0.05). With an explicit ``z_threshold`` and a
    single test, exactly ``z_threshold``.
    """
    n = len(params.windows)
    if params.z_threshold is not None and n == 1 and not one_step.any():
        return np.full(len(rho), params.z_threshold)
    level = params.alarm_probability(step)
    grid = np.round(np.clip(rho, 0.0, MAX_RHO) * 20.0) / 20.0
    out = np.empty(len(rho))
    for r, flag in {(float(r), bool(f)) for r, f in zip(grid, one_step, strict=True)}:
        sel = (grid == r) & (one_step == flag)
        out[sel] = max_normal_quantile(level, r, n, params.window, flag)
    return out


def _test_windows(
    x: np.ndarray,
    expected: np.ndarray,
    mu: np.ndarray,
    windows: tuple[int, ...],
    floor: float,
    memory: float,
    inflate: float,
    params: SpikeParams,
) -> np.ndarray:
    """Rows value, baseline, expected, scale, z, ratio of each window: array [window, row, bucket]."""
    out = []
    for w in windows:
        s = window_sums(pd.Series(x), w)
        e = window_sums(pd.Series(expected), w)
        base = window_sums(pd.Series(mu), w)
        phi = pooled_dispersion(s, e, memory, floor) if params.dispersion_floor else np.ones_like(s)
        phi = phi * inflate
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = s / np.fmax(base, 1.0)
        out.append(np.vstack([s, base, e, np.sqrt(phi * e), glr_z(s, e, phi), ratio]))
    return np.stack(out)


_ROWS = ("value", "baseline", "expected", "scale", "z", "ratio")


def score_scan(s: pd.Series, step: pd.Timedelta, period: int, params: SpikeParams) -> pd.DataFrame:
    """Score every bucket of a regular count series (see the module docstring).

    Args:
        s: counts on a regular UTC grid (``analytics.seasonal.regularize_counts``), NaN = missing.
        step: bucket size.
        period: seasonal period in buckets.
        params: detector settings.

    Returns:
        DataFrame on ``s.index`` with columns value, baseline (seasonal expectation of the window),
        expected (what the reporting test expected), scale, z, ratio, fired and window (buckets
        summed), describing each bucket's firing test with the highest z (else the highest z).
    """
    x = s.to_numpy(dtype=float)
    mu = seasonal_expectation(x, period, step, params)
    memory = params.ewma_halflife * period
    inflate = 1.0 + 1.0 / history_size(params, step, period)
    windows = params.windows
    blocks = [_test_windows(x, mu, mu, windows, 1.0, memory, inflate, params)]
    sizes = list(windows)
    rho = residual_autocorrelation(x, mu, memory, min_periods=2 * period)
    persistent = (rho >= RHO_MIN) if params.autoregressive else np.zeros(len(x), dtype=bool)
    if params.autoregressive:
        step_ahead = np.where(persistent, one_step_expectation(x, mu, rho), np.nan)
        blocks.append(
            _test_windows(x, step_ahead, mu, windows[:1], STEP_DISPERSION_FLOOR, memory, inflate, params)
        )
        sizes.append(windows[0])
    tests = np.concatenate(blocks)  # [test, row, bucket]
    value, _, expected, _, z, ratio = tests.transpose(1, 0, 2)
    threshold = scan_thresholds(params, step, rho, persistent)
    n, w = len(windows), params.window
    with np.errstate(invalid="ignore"):
        ok = (value >= params.min_count) & (ratio >= params.ratio_threshold) & np.isfinite(z)
        if n > 1:  # the nested windows only, not the one-step test after them
            ok[1:n] &= newest_block_adds_evidence(z, value, expected, w, n)
        fires = ok & (z >= threshold)
    return reported_windows(tests, fires, z, _ROWS, sizes, s.index)
