"""Seasonality-aware spike detection on bucketed counts (pure: pandas in, dataclasses out).

Every bucket ``t`` is compared with a baseline built only from earlier buckets of the same seasonal
phase (same hour of day for hourly data, same weekday for daily data, see ``SpikeParams.season``):

- ``method="mad"``: baseline = median of the phase values in the previous ``lookback_days``;
  scale = 1.4826 * MAD of the same values.
- ``method="ewma"``: baseline and scale = exponentially weighted mean and standard deviation of the
  previous phase values (half-life ``ewma_halflife`` samples), started from the median/MAD of the
  first ``min_history`` values of each phase. Values enter the average winsorised at baseline +
  3 scale, so a burst does not lift its own baseline. This is the default: on the real-series
  backtest (``bench/alerts_backtest.py``) it gave more recall than "mad" at the same false-alarm rate.

Both scales are floored by the Poisson scale ``sqrt(baseline + 1)``: with counts, a quiet series whose
history happens to be flat must not alarm on a single extra item. A bucket *fires* when

    value >= min_count  and  z = (value - baseline) / scale >= z_threshold
    and  ratio = value / max(baseline, 1) >= ratio_threshold

Firing buckets separated by at most ``merge_gap`` quiet buckets form one ``Spike`` (missing buckets in
between do not split it either), so one event gives one alert.
``detect_share_spike`` does the same for a proportion (negative share): an exact binomial tail
against the pooled share of the lookback (reported as a z quantile), a minimum volume and a minimum rise.

Missing buckets are NaN (no observation, e.g. a crawler gap) and are skipped; callers whose
missing buckets mean "zero items" must fill them with 0 first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

logger = logging.getLogger(__name__)

_MAD_TO_SIGMA = 1.4826
_DAY = pd.Timedelta(days=1)


class SpikeParamsError(ValueError):
    """A ``SpikeParams`` value is out of range or the series cannot be bucketed."""


@dataclass(frozen=True)
class SpikeParams:
    """Detector settings (defaults chosen with ``bench/alerts_backtest.py``).

    Attributes:
        method: "mad" (median/MAD of same-phase history) or "ewma" (winsorised EWMA mean/variance).
        window: number of buckets summed into the evaluated value (1 = the bucket alone).
        lookback_days: history used by the "mad" baseline (and the share baseline).
        season: "hour" (same hour of day), "week" (same hour/day of week), "none" (previous buckets)
            or "auto" ("hour" for sub-daily buckets, "week" for daily ones).
        z_threshold: robust z-score needed to fire.
        ratio_threshold: value / baseline needed to fire.
        min_count: minimum evaluated value (volume) needed to fire.
        min_history: minimum number of same-phase history values before a bucket is scored.
        ewma_halflife: half-life of the "ewma" baseline, in same-phase samples.
        share_min_delta: minimum rise of the share over its baseline (``detect_share_spike`` only).
        merge_gap: firing buckets separated by at most this many quiet buckets form one episode.
        freq: bucket size (pandas offset string); inferred from the index when None.
    """

    method: Literal["mad", "ewma"] = "ewma"
    window: int = 1
    lookback_days: int = 28
    season: Literal["auto", "hour", "week", "none"] = "auto"
    z_threshold: float = 3.0
    ratio_threshold: float = 1.5
    min_count: float = 5.0
    min_history: int = 4
    ewma_halflife: float = 7.0
    share_min_delta: float = 0.15
    merge_gap: int = 3
    freq: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("mad", "ewma"):
            raise SpikeParamsError(f"method must be 'mad' or 'ewma', got {self.method!r}")
        if self.season not in ("auto", "hour", "week", "none"):
            raise SpikeParamsError(f"season must be auto|hour|week|none, got {self.season!r}")
        if self.window < 1 or self.lookback_days < 1 or self.min_history < 1 or self.merge_gap < 0:
            raise SpikeParamsError("window, lookback_days and min_history must be >= 1, merge_gap >= 0")
        if self.z_threshold <= 0 or self.ratio_threshold < 1 or self.min_count < 0 or self.ewma_halflife <= 0:
            raise SpikeParamsError(
                "need z_threshold > 0, ratio_threshold >= 1, min_count >= 0, ewma_halflife > 0"
            )


@dataclass(frozen=True)
class Spike:
    """One anomalous episode.

    Attributes:
        start: first bucket of the window that first fired (the episode start).
        at: detection time, the bucket at which the detector fired (for ``evaluate_latest``: the last bucket).
        end: last firing bucket of the episode.
        value: evaluated value at ``at`` (window sum, or share for share spikes).
        baseline: expected value at ``at``.
        ratio: value / baseline (baseline floored at 1 for counts).
        z: robust z-score at ``at``.
        peak: largest evaluated value in the episode.
    """

    start: pd.Timestamp
    at: pd.Timestamp
    end: pd.Timestamp
    value: float
    baseline: float
    ratio: float
    z: float
    peak: float


def _regularize(series: pd.Series, freq: str | None) -> tuple[pd.Series, pd.Timedelta]:
    """Sort, sum duplicate stamps and reindex on a regular UTC grid (missing buckets become NaN)."""
    if not isinstance(series.index, pd.DatetimeIndex):
        raise SpikeParamsError("series needs a DatetimeIndex")
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
        raise SpikeParamsError("cannot infer a positive bucket size from the index")
    if len(s):
        s = s.reindex(pd.date_range(s.index[0], s.index[-1], freq=step))
    return s, step


def _step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    return pd.Timedelta(index.freq) if index.freq is not None else pd.Timedelta(hours=1)


def _period(step: pd.Timedelta, season: str) -> int:
    """Seasonal lag in buckets for the chosen season."""
    if season == "auto":
        season = "hour" if step < _DAY else "week"
    span = {"hour": _DAY, "week": 7 * _DAY, "none": step}[season]
    return max(1, int(round(span / step)))


def _windowed(s: pd.Series, window: int) -> np.ndarray:
    return s.rolling(window, min_periods=window).sum().to_numpy() if window > 1 else s.to_numpy()


def _mad_baseline(x: np.ndarray, period: int, n_lags: int, min_history: int) -> tuple[np.ndarray, np.ndarray]:
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
        scale[ok] = _MAD_TO_SIGMA * np.nanmedian(np.abs(sub - med[:, None]), axis=1)
    return base, scale


def _ewma_baseline(
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
                var[done] = (_MAD_TO_SIGMA * np.median(np.abs(warm[:, done] - med), axis=0)) ** 2
        seen += valid
    return base.ravel()[:n], scale.ravel()[:n]


def score_buckets(series: pd.Series, params: SpikeParams | None = None) -> pd.DataFrame:
    """Score every bucket against its seasonal baseline.

    Args:
        series: counts per bucket on a UTC ``DatetimeIndex`` (naive stamps are taken as UTC).
        params: detector settings.

    Returns:
        DataFrame on the regular bucket grid with columns value, baseline, scale, z, ratio, fired.
        ``baseline`` is NaN while the history is too short, ``value`` is NaN for missing buckets.
    """
    params = params or SpikeParams()
    s, step = _regularize(series, params.freq)
    period = _period(step, params.season)
    x = _windowed(s, params.window)
    if params.method == "mad":
        n_lags = max(1, int(round(params.lookback_days * _DAY / step)) // period)
        base, scale = _mad_baseline(x, period, n_lags, params.min_history)
    else:
        base, scale = _ewma_baseline(x, period, params.ewma_halflife, params.min_history)
    with np.errstate(invalid="ignore"):
        scale = np.fmax(scale, np.sqrt(np.fmax(base, 0.0) + 1.0))
        z = (x - base) / scale
        ratio = x / np.fmax(base, 1.0)
        fired = (x >= params.min_count) & (z >= params.z_threshold) & (ratio >= params.ratio_threshold)
    return pd.DataFrame(
        {"value": x, "baseline": base, "scale": scale, "z": z, "ratio": ratio, "fired": fired}, index=s.index
    )


def _merge_state(scored: pd.DataFrame, merge_gap: int) -> np.ndarray:
    """Firing state per bucket: missing buckets carry the previous state, short quiet gaps are bridged."""
    fired = scored["fired"].to_numpy(dtype=bool)
    valid = scored["value"].notna().to_numpy()
    carried = pd.Series(np.where(valid, fired.astype(float), np.nan)).ffill().fillna(0.0)
    state = carried.to_numpy() > 0.5
    if merge_gap > 0 and state.any():
        on = np.flatnonzero(state)
        for a, b in zip(on[:-1], on[1:], strict=True):
            if 1 < b - a <= merge_gap + 1:
                state[a:b] = True
    return state


def spikes_from_scores(scored: pd.DataFrame, params: SpikeParams | None = None) -> list[Spike]:
    """Group the firing buckets of ``score_buckets``/``score_share`` output into episodes.

    Firing buckets separated by at most ``params.merge_gap`` quiet buckets (or by missing buckets)
    belong to one episode.
    """
    params = params or SpikeParams()
    step = _step_of(scored.index)
    state = _merge_state(scored, params.merge_gap)
    fired = scored["fired"].to_numpy(dtype=bool)
    cols = {c: scored[c].to_numpy(dtype=float) for c in ("value", "baseline", "ratio", "z")}
    # Episode boundaries: rising and falling edges of the state.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], state.astype(np.int8), [0]))))
    spikes: list[Spike] = []
    for t, u in zip(edges[::2], edges[1::2], strict=True):
        rows = np.flatnonzero(fired[t:u]) + t
        first, last = int(rows[0]), int(rows[-1])
        spikes.append(
            Spike(
                start=scored.index[first] - (params.window - 1) * step,
                at=scored.index[first],
                end=scored.index[last],
                value=float(cols["value"][first]),
                baseline=float(cols["baseline"][first]),
                ratio=float(cols["ratio"][first]),
                z=float(cols["z"][first]),
                peak=float(np.nanmax(cols["value"][rows])),
            )
        )
    return spikes


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
    )


def evaluate_latest(series: pd.Series, params: SpikeParams | None = None) -> Spike | None:
    """Tell whether the last bucket is anomalous (the alert engine's question).

    The "mad" method only needs ``lookback_days`` of history (the rest is cut off here); "ewma"
    uses everything passed, so a few half-lives (e.g. 8 weeks of hourly counts) is plenty.

    Returns:
        A ``Spike`` whose ``at`` is the last bucket and ``start`` the start of the ongoing episode,
        or None when the last bucket does not fire (or is missing).
    """
    params = params or SpikeParams()
    if params.method == "mad" and len(series):
        # The MAD baseline only looks lookback_days back, so a tail is enough (EWMA needs it all).
        cutoff = series.index.max() - pd.Timedelta(days=params.lookback_days + 3)
        series = series[series.index >= cutoff]
    return _latest(score_buckets(series, params), params)


def score_share(neg: pd.Series, total: pd.Series, params: SpikeParams | None = None) -> pd.DataFrame:
    """Score the share ``neg / total`` of each bucket against the pooled share of the lookback.

    p0 is the pooled share of the previous ``lookback_days`` (clipped to [0.02, 0.98] so an
    all-neutral history still has a variance), scored once that history holds at least
    ``10 * min_count`` items. z is the normal quantile of the exact binomial tail
    P(X >= neg | n, p0), so small buckets are not over-alarmed by a normal approximation.
    A bucket fires when n >= min_count, z >= z_threshold and p - p0 >= share_min_delta.
    """
    params = params or SpikeParams()
    n, step = _regularize(total, params.freq)
    k, _ = _regularize(neg, params.freq)
    k = k.reindex(n.index)
    w = params.window
    n_w = n.rolling(w, min_periods=w).sum() if w > 1 else n
    k_w = k.rolling(w, min_periods=w).sum() if w > 1 else k
    span = max(1, int(round(params.lookback_days * _DAY / step)))
    hist_n = n.rolling(span, min_periods=1).sum().shift(w)
    hist_k = k.rolling(span, min_periods=1).sum().shift(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        p0 = (hist_k / hist_n).where(hist_n >= 10 * max(params.min_count, 1.0))
        p = k_w / n_w
        p0c = p0.clip(0.02, 0.98)
        tail = binom.sf(np.ceil(k_w.to_numpy()) - 1, np.round(n_w.to_numpy()), p0c.to_numpy())
        z = pd.Series(norm.isf(np.clip(tail, 1e-300, 1.0)), index=n.index).where(p0.notna() & n_w.notna())
        ratio = p / p0c
    fired = (n_w >= params.min_count) & (z >= params.z_threshold) & (p - p0 >= params.share_min_delta)
    return pd.DataFrame(
        {"value": p, "baseline": p0, "n": n_w, "z": z, "ratio": ratio, "fired": fired.fillna(False)}
    )


def detect_share_spike(neg: pd.Series, total: pd.Series, params: SpikeParams | None = None) -> list[Spike]:
    """Find episodes where the negative share jumps above its recent level.

    Args:
        neg: negative items per bucket.
        total: all items per bucket (same index grid as ``neg``).
        params: detector settings (uses min_count, z_threshold, share_min_delta, lookback_days, window).

    Returns:
        Spikes whose value/baseline are shares in [0, 1].
    """
    params = params or SpikeParams()
    return spikes_from_scores(score_share(neg, total, params), params)
