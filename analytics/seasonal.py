"""Seasonal baselines for bucketed counts (pure numpy/pandas helpers of the spike detectors).

Every bucket ``t`` gets a baseline (expected value) and a scale (standard deviation) estimated only
from earlier buckets of the same seasonal phase (same hour of day, same weekday, ...):

- :func:`mad_baseline`: median and 1.4826 * MAD of the previous ``n_lags`` same-phase values.
- :func:`ewma_baseline`: exponentially weighted mean and standard deviation of the earlier
  same-phase values, started from the median/MAD of the first ``min_history`` values of each
  phase; values enter winsorised at mean + 3 sd, so a burst does not lift its own baseline.
- :func:`pooled_dispersion`: variance/mean ratio of the earlier buckets against their baselines,
  pooled over all phases (the count floor of the detectors).

Missing buckets are NaN: they are neither scored nor used as history.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826
WINSOR_NB2 = 2.5  # squared deviations capped at 2.5 variances (1.6 sd): see pooled_overdispersion
DAY = pd.Timedelta(days=1)


class BucketGridError(ValueError):
    """The series cannot be put on a regular bucket grid (no DatetimeIndex, no positive step)."""


def regularize_counts(series: pd.Series, freq: str | None) -> tuple[pd.Series, pd.Timedelta]:
    """Sort, sum duplicate stamps and reindex on a regular UTC grid (missing buckets become NaN).

    Args:
        series: values on a ``DatetimeIndex`` (naive stamps are taken as UTC).
        freq: bucket size as a pandas offset string; inferred as the smallest stamp gap when None.

    Returns:
        The regular series and its bucket size.
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise BucketGridError("series needs a DatetimeIndex")
    s = pd.to_numeric(series, errors="coerce").astype("float64")
    idx = s.index.tz_localize("UTC") if s.index.tz is None else s.index.tz_convert("UTC")
    s = pd.Series(s.to_numpy(), index=idx).groupby(level=0).sum(min_count=1).sort_index()
    if freq is not None:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    elif len(s) >= 2:
        step = pd.Series(s.index).diff().dropna().min()
    else:
        step = pd.Timedelta(hours=1)
    if step <= pd.Timedelta(0):
        raise BucketGridError("cannot infer a positive bucket size from the index")
    if len(s):
        s = s.reindex(pd.date_range(s.index[0], s.index[-1], freq=step))
    return s, step


def step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Bucket size of a regular grid made by :func:`regularize_counts` (1 hour when unknown)."""
    return pd.Timedelta(index.freq) if index.freq is not None else pd.Timedelta(hours=1)


def seasonal_period(step: pd.Timedelta, season: str) -> int:
    """Seasonal lag in buckets: "hour" = one day, "week" = one week, "none" = one bucket.

    "auto" means "hour" for sub-daily buckets and "week" for daily or coarser ones.
    """
    if season == "auto":
        season = "hour" if step < DAY else "week"
    span = {"hour": DAY, "week": 7 * DAY, "none": step}[season]
    return max(1, int(round(span / step)))


def window_sums(s: pd.Series, window: int) -> np.ndarray:
    """Sum of the last ``window`` buckets at every bucket (NaN when one of them is missing)."""
    return s.rolling(window, min_periods=window).sum().to_numpy() if window > 1 else s.to_numpy()


def mad_baseline(x: np.ndarray, period: int, n_lags: int, min_history: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-based scale of the previous ``n_lags`` same-phase values (NaN: too little history)."""
    n = len(x)
    lags = np.full((n, n_lags), np.nan)
    for k in range(1, n_lags + 1):
        shift = k * period
        if shift < n:
            lags[shift:, k - 1] = x[: n - shift]
    base = np.full(n, np.nan)
    scale = np.full(n, np.nan)
    ok = np.isfinite(lags).sum(axis=1) >= min_history
    if ok.any():
        sub = lags[ok]
        med = np.nanmedian(sub, axis=1)
        base[ok] = med
        scale[ok] = MAD_TO_SIGMA * np.nanmedian(np.abs(sub - med[:, None]), axis=1)
    return base, scale


def ewma_baseline(
    x: np.ndarray, period: int, halflife: float, min_history: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-phase EWMA mean/std of earlier values; all phases of one cycle are updated at once.

    Each phase starts from the median and MAD of its first ``min_history`` values, so the first
    scored buckets do not rest on a single observation.
    """
    alpha = 1.0 - 0.5 ** (1.0 / halflife)
    n = len(x)
    cycles = -(-n // period)
    flat = np.full(cycles * period, np.nan)
    flat[:n] = x
    grid = flat.reshape(cycles, period)
    base = np.full_like(grid, np.nan)
    scale = np.full_like(grid, np.nan)
    mean = np.zeros(period)
    var = np.zeros(period)
    seen = np.zeros(period, dtype=int)
    warm = np.full((min_history, period), np.nan)
    for c in range(cycles):
        v = grid[c]
        valid = np.isfinite(v)
        ready = valid & (seen >= min_history)
        base[c, ready] = mean[ready]
        scale[c, ready] = np.sqrt(var[ready])
        sd = np.maximum(np.sqrt(var), np.sqrt(np.maximum(mean, 0.0) + 1.0))
        diff = np.where(ready, np.minimum(v, mean + 3.0 * sd) - mean, 0.0)
        mean = np.where(ready, mean + alpha * diff, mean)
        var = np.where(ready, (1.0 - alpha) * (var + alpha * diff * diff), var)
        filling = valid & (seen < min_history)
        if filling.any():
            cols = np.flatnonzero(filling)
            warm[seen[cols], cols] = v[cols]
            done = cols[seen[cols] == min_history - 1]
            if done.size:
                med = np.median(warm[:, done], axis=0)
                mean[done] = med
                var[done] = (MAD_TO_SIGMA * np.median(np.abs(warm[:, done] - med), axis=0)) ** 2
        seen += valid
    return base.ravel()[:n], scale.ravel()[:n]


def effective_samples(halflife: float) -> float:
    """Effective number of samples behind an EWMA of half-life ``halflife`` samples, (2 - a) / a."""
    alpha = 1.0 - 0.5 ** (1.0 / halflife)
    return (2.0 - alpha) / alpha


def pooled_dispersion(x: np.ndarray, mean: np.ndarray, halflife: float, floor: float = 1.0) -> np.ndarray:
    """Dispersion index var / mean of earlier buckets, pooled over all seasonal phases (>= ``floor``).

    The squared Pearson residuals ``(x - mean)**2 / mean`` of the earlier buckets are averaged with
    an EWMA of half-life ``halflife`` buckets (missing buckets skipped). One pooled value per bucket is
    far steadier than a per-phase variance from a few dozen samples, whose noise gives the z-scores
    heavy tails. Residuals beyond 3 times a first-pass estimate are winsorised, so a burst does not
    lift the dispersion it is tested against. Quasi-Poisson model: variance = dispersion * mean.
    ``floor`` 1 keeps at least Poisson noise; one-step predictions of a persistent series (see
    ``analytics/scan.py``) are truly under-dispersed, so they use a lower floor.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = (x - mean) ** 2 / np.fmax(mean, 0.5)
    r = pd.Series(resid)
    rough = r.ewm(halflife=halflife, ignore_na=True).mean().shift(1).to_numpy()
    capped = pd.Series(np.minimum(resid, 9.0 * np.fmax(rough, floor)))  # NaN (missing) stays NaN
    phi = capped.ewm(halflife=halflife, ignore_na=True).mean().shift(1).to_numpy()
    return np.fmax(np.where(np.isfinite(phi), phi, 1.0), floor)


def pooled_overdispersion(x: np.ndarray, mean: np.ndarray, halflife: float, prior: float = 0.0) -> np.ndarray:
    """Squared coefficient of variation ``k`` of the level, pooled over all phases (negative-binomial model).

    Counts are taken as Poisson around a level that wanders by a factor of variance ``k``
    (variance = mean + k * mean**2, the Gamma-Poisson / NB2 model): at a low level the Poisson
    part dominates, at a high one the wander. ``k`` is the EWMA (half-life ``halflife`` buckets) of
    the earlier buckets' excess variance ``(x - mean)**2 - mean`` over that of ``mean**2 + prior**2``;
    squared residuals are winsorised at :data:`WINSOR_NB2` times a first-pass variance, so the few
    genuine events of a sparse series do not set its noise. On the tuning half of
    ``bench/alerts_backtest.py`` (scan with the exact tail; recall of 3x bursts under 2 items per
    bucket, worst series' false alarms a week) caps of 9 / 4 / 2.5 / 2 variances give 0.443 / 0.493 /
    0.527 / 0.557 at 0.66 / 0.71 / 0.80 / 0.91: 2.5 keeps the previous detector's 0.80.

    ``prior`` (items): the wander is told from Poisson noise only by windows that expect many items.
    A window expecting ``e`` items carries ``e**2`` in the denominator against the prior's
    ``prior**2``, a pseudo-window of ``prior`` expected items with no excess variance: where the
    windows expect far fewer items than ``prior``, ``k`` stays near 0 (Poisson) unless the excess
    is large, and one chance cluster of a few items in a quiet series no longer makes its level look
    unstable for weeks (one bucket with 3 items where 0.3 were expected lifted ``k`` by about 0.15
    without it). Where they expect far more, the data decide. At least 0 (0 while unknown).
    """
    with np.errstate(invalid="ignore"):
        m2 = np.where(np.isfinite(x), mean * mean, np.nan)
        sq = (x - mean) ** 2
    rough_num = pd.Series(sq - mean).ewm(halflife=halflife, ignore_na=True).mean().shift(1).to_numpy()
    rough_den = pd.Series(m2).ewm(halflife=halflife, ignore_na=True).mean().shift(1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rough_k = np.fmax(np.where(rough_den > 0, rough_num / rough_den, 0.0), 0.0)
        cap = WINSOR_NB2 * (mean + np.nan_to_num(rough_k) * mean * mean)
    capped = np.minimum(sq, np.fmax(cap, WINSOR_NB2)) - mean
    num = pd.Series(capped).ewm(halflife=halflife, ignore_na=True).mean().shift(1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        k = num / (rough_den + prior * prior)
    return np.fmax(np.where(np.isfinite(k), k, 0.0), 0.0)
