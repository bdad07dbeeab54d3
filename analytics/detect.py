"""Seasonality-aware, multi-scale spike detection on bucketed counts (pure: pandas in, dataclasses out).

Two detectors share this interface (``SpikeParams.detector``): "scan" (the default), the
likelihood-ratio scan of ``analytics/scan.py``, and "zscore", described here. Both score nested
windows against seasonal baselines at a per-bucket false-alarm probability; the scan uses a
quasi-Poisson likelihood-ratio z instead of a Wald z, also tests the newest window against a
one-step expectation on persistent series, and sets one threshold for the largest of its
correlated tests instead of splitting the probability over them (see ``bench/alerts_backtest.py``).

At every bucket ``t`` the detector tests ``n_scales`` nested windows ending at ``t``: the last
``window`` buckets, the last ``2 * window``, ... (1 and 2 buckets by default). Each window sum is
compared with a baseline built only from earlier window sums of the same seasonal phase (same hour of
day for hourly data, same weekday for daily data, see ``SpikeParams.season``;
``analytics/seasonal.py`` holds the estimators):

- ``method="ewma"`` (default): baseline and scale = winsorised exponentially weighted mean and
  standard deviation of the previous phase values (half-life ``ewma_halflife`` samples).
- ``method="mad"``: baseline = median of the phase values in the previous ``lookback_days``;
  scale = 1.4826 * MAD of the same values.

Count floor: the scale is at least ``sqrt(dispersion * (baseline + 1))``, so a quiet series whose
history happens to be flat does not alarm on a single extra item. ``dispersion`` is the variance/mean
ratio of the series' own window sums, pooled over all phases (``dispersion_floor``; 1 = Poisson):
real counts are overdispersed, and sums of neighbouring buckets of a persistent series (a hot-search
topic stays on the board for hours) vary far more than Poisson sums.

z = (value - baseline) / scale. A window fires when

    value >= min_count  and  z >= its threshold  and  ratio = value / max(baseline, 1) >= ratio_threshold

and, for windows longer than ``window``, its newest block adds evidence (the window one block shorter
ending one block earlier scores lower, and the newest block is above its own baseline), so the quiet
buckets after a burst do not keep it firing. Thresholds: the per-bucket false-alarm probability
(``alarms_per_week * bucket / week``, or the normal tail of an explicit ``z_threshold``) is split
over the windows with Sidak, ``1 - (1 - a) ** (1 / n_scales)`` each. With an explicit ``z_threshold``
the threshold is its normal quantile (``n_scales=1``: exactly ``z_threshold``); with the budget it is the
predictive quantile of a value against a mean and standard deviation estimated from ``n`` earlier
values: Student t with ``n - 1`` degrees of freedom times ``sqrt(1 + 1/n)`` where the estimated
standard deviation sets the scale, the normal quantile times ``sqrt(1 + 1/n)`` where the pooled floor
does. The bucket reports its firing window with the highest z (or, when none fires, the highest z).

Why several windows: a burst adding a few items to each of several buckets of a sparse series is weak
bucket by bucket but plain in its sum (2 days at 3x a level of 1 item: 6 items expected against 2).

Firing buckets separated by at most ``merge_gap`` quiet buckets form one ``Spike`` (missing buckets in
between do not split it either), so one event gives one alert. Share spikes (``detect_share_spike``)
live in ``analytics/detect_share.py`` and are re-exported here.

Missing buckets are NaN (no observation, e.g. a crawler gap) and are skipped, as are windows that
contain one; callers whose missing buckets mean "zero items" must fill them with 0 first.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from analytics.detect_share import detect_share_spike, score_share
from analytics.scan import score_scan
from analytics.seasonal import (
    DAY,
    BucketGridError,
    effective_samples,
    ewma_baseline,
    mad_baseline,
    pooled_dispersion,
    regularize_counts,
    seasonal_period,
    window_sums,
)
from analytics.spikes import (
    Spike,
    SpikeParams,
    SpikeParamsError,
    newest_block_adds_evidence,
    reported_windows,
    spikes_from_scores,
)

__all__ = [
    "Spike",
    "SpikeParams",
    "SpikeParamsError",
    "detect_share_spike",
    "detect_spikes",
    "evaluate_latest",
    "score_buckets",
    "score_share",
    "spikes_from_scores",
    "window_thresholds",
]

logger = logging.getLogger(__name__)

_COLUMNS = ("value", "baseline", "scale", "z", "ratio")


def _history_size(params: SpikeParams, step: pd.Timedelta, period: int) -> float:
    """Number of same-phase values behind a baseline: EWMA effective samples, or the MAD's lags."""
    if params.method == "mad":
        return max(2.0, float(int(round(params.lookback_days * DAY / step)) // period))
    return effective_samples(params.ewma_halflife)


def window_thresholds(params: SpikeParams, step: pd.Timedelta, period: int) -> tuple[float, float]:
    """z-scores each of the ``n_scales`` windows must reach: (scale at the floor, scale estimated).

    See the module docstring; both are equal (normal quantiles) with an explicit ``z_threshold``.
    """
    if params.z_threshold is not None and params.n_scales == 1:
        return params.z_threshold, params.z_threshold
    level = -np.expm1(np.log1p(-params.alarm_probability(step)) / params.n_scales)
    if params.z_threshold is not None:
        return float(norm.isf(level)), float(norm.isf(level))
    n = _history_size(params, step, period)
    inflate = np.sqrt(1.0 + 1.0 / n)
    return float(inflate * norm.isf(level)), float(inflate * student_t.isf(level, n - 1.0))


def _window_scores(s: pd.Series, w: int, period: int, step: pd.Timedelta, params: SpikeParams) -> np.ndarray:
    """Rows value, baseline, scale, z, ratio and estimated (1: the scale is not the floor) of w-sums."""
    x = window_sums(s, w)
    if params.method == "mad":
        n_lags = max(1, int(round(params.lookback_days * DAY / step)) // period)
        base, scale = mad_baseline(x, period, n_lags, params.min_history)
    else:
        base, scale = ewma_baseline(x, period, params.ewma_halflife, params.min_history)
    phi = pooled_dispersion(x, base, params.ewma_halflife * period) if params.dispersion_floor else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = np.sqrt(phi * (np.fmax(base, 0.0) + 1.0))
        estimated = scale > floor
        scale = np.fmax(scale, floor)
        z = (x - base) / scale
        ratio = x / np.fmax(base, 1.0)
    return np.vstack([x, base, scale, z, ratio, estimated])


def score_buckets(series: pd.Series, params: SpikeParams | None = None) -> pd.DataFrame:
    """Score every bucket: the nested windows ending there against their seasonal baselines.

    ``params.detector`` "scan" hands the regular series to :func:`analytics.scan.score_scan`.

    Args:
        series: counts per bucket on a UTC ``DatetimeIndex`` (naive stamps are taken as UTC).
        params: detector settings.

    Returns:
        DataFrame on the regular bucket grid with columns value, baseline, scale, z, ratio, fired and
        window (buckets summed into value), describing the reported window of each bucket (see the
        module docstring). ``baseline`` is NaN while the history is too short, ``value`` is NaN for
        missing buckets.
    """
    params = params or SpikeParams()
    try:
        s, step = regularize_counts(series, params.freq)
    except BucketGridError as err:
        raise SpikeParamsError(str(err)) from err
    period = seasonal_period(step, params.season)
    if params.detector == "scan":
        return score_scan(s, step, period, params)
    windows = params.windows
    # scores[k, row, t]: rows of _window_scores for window k
    scores = np.stack([_window_scores(s, w, period, step, params) for w in windows])
    x, base, _, z, ratio, estimated = scores.transpose(1, 0, 2)
    at_floor, at_estimate = window_thresholds(params, step, period)
    with np.errstate(invalid="ignore"):
        ok = (x >= params.min_count) & (ratio >= params.ratio_threshold) & np.isfinite(z)
        ok[1:] &= newest_block_adds_evidence(z, x, base, params.window, len(windows))
        fires = ok & (z >= np.where(estimated > 0.5, at_estimate, at_floor))
    return reported_windows(scores, fires, z, _COLUMNS, list(windows), s.index)


def detect_spikes(series: pd.Series, params: SpikeParams | None = None) -> list[Spike]:
    """Find all anomalous episodes in a bucketed count series.

    Args:
        series: counts per bucket (hourly or daily) on a UTC ``DatetimeIndex``.
        params: detector settings.

    Returns:
        Spikes in time order; each reports the first firing bucket as its detection time.
    """
    params = params or SpikeParams()
    return spikes_from_scores(score_buckets(series, params), params)


def _latest(scored: pd.DataFrame, params: SpikeParams) -> Spike | None:
    if scored.empty or not bool(scored["fired"].iloc[-1]):
        return None
    last = spikes_from_scores(scored, params)[-1]
    row = scored.iloc[-1]
    return Spike(
        start=last.start,
        at=scored.index[-1],
        end=scored.index[-1],
        value=float(row["value"]),
        baseline=float(row["baseline"]),
        ratio=float(row["ratio"]),
        z=float(row["z"]),
        peak=last.peak,
        window=int(row["window"]),
        expected=float(row["expected"]) if "expected" in row.index else float(row["baseline"]),
        p_value=float(norm.sf(row["z"])),
    )


def evaluate_latest(series: pd.Series, params: SpikeParams | None = None) -> Spike | None:
    """Tell whether the last bucket is part of an anomalous window (the alert engine's question).

    The "mad" method only needs ``lookback_days`` of history (the rest is cut off here); "ewma"
    uses everything passed, so a few half-lives (e.g. 8 weeks of hourly counts) is plenty.

    Returns:
        A ``Spike`` whose ``at`` is the last bucket, ``start`` the start of the ongoing episode and
        ``value``/``baseline``/``ratio``/``z`` those of the window that fired (its last ``window``
        buckets); None when the last bucket does not fire (or is missing).
    """
    params = params or SpikeParams()
    if params.method == "mad" and len(series):
        # The MAD baseline only looks lookback_days back (plus the longest window, at most a day a
        # bucket), so a tail is enough; EWMA needs it all.
        days = params.lookback_days + 3 + max(params.scan_windows)
        series = series[series.index >= series.index.max() - pd.Timedelta(days=days)]
    return _latest(score_buckets(series, params), params)
