"""Spike detector settings, the ``Spike`` episode record and the grouping of firing buckets into episodes.

Shared by the count detector (``analytics/detect.py``) and the share detector
(``analytics/detect_share.py``): both produce a scored frame with one row per bucket and columns
value, baseline, z, ratio, fired (and window, the number of buckets summed into value);
:func:`spikes_from_scores` turns its firing rows into :class:`Spike` episodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics.seasonal import step_of

logger = logging.getLogger(__name__)

_WEEK = pd.Timedelta(days=7)


class SpikeParamsError(ValueError):
    """A ``SpikeParams`` value is out of range or the series cannot be bucketed."""


@dataclass(frozen=True)
class SpikeParams:
    """Detector settings (defaults chosen with ``bench/alerts_backtest.py``, see ``analytics/detect.py``).

    Attributes:
        detector: "scan" (default: exact count-tail scan over the windows, against the seasonal
            and the one-step expectation, ``analytics/scan.py``) or "zscore" (the earlier
            multi-scale robust z-score detector, ``analytics/detect.py``).
        method: "ewma" (winsorised EWMA mean/variance of same-phase history) or "mad" (median/MAD of
            same-phase history in the previous ``lookback_days``).
        window: buckets summed into the shortest evaluated window (1 = the bucket alone).
        n_scales: number of nested windows tested at every bucket: the last ``window``,
            ``2 * window``, ..., ``n_scales * window`` buckets, each against its own seasonal
            baseline, at Sidak-split levels; 1 = the single-window detector.
        lookback_days: history used by the "mad" baseline (and the share baseline).
        season: "hour" (same hour of day), "week" (same hour/day of week), "none" (previous buckets)
            or "auto" ("hour" for sub-daily buckets, "week" for daily ones).
        z_threshold: z-score needed to fire, as a normal tail probability per bucket ("zscore":
            Sidak-split over the windows; "scan": for the largest of its tests); None: derived from
            ``alarms_per_week``.
        alarms_per_week: false-alarm budget used when ``z_threshold`` is None: each bucket may fire
            by chance with probability ``alarms_per_week * bucket / week``, so hourly and daily series
            get the same expected number of chance alarms per week.
        ratio_threshold: value / baseline needed to fire.
        min_count: minimum evaluated value (window volume) needed to fire.
        min_history: minimum number of same-phase history values before a bucket is scored.
        ewma_halflife: half-life of the "ewma" baseline, in same-phase samples (also sets the
            memory of the pooled dispersion: ``ewma_halflife`` seasonal periods).
        dispersion_floor: use the series' own pooled dispersion index (variance / mean of its earlier
            windows) rather than Poisson noise: "zscore" floors the scale at
            ``sqrt(dispersion * (baseline + 1))`` instead of ``sqrt(baseline + 1)``; "scan" divides the
            deviance by it.
        autoregressive: "scan" only: also test the newest window against the one-step expectation
            (seasonal baseline corrected by the lag-1 autocorrelation of the residuals).
        sparse_scales: "scan" only: on sparse buckets, windows of up to ``sparse_scales * window``
            buckets are tested, each longer one while the next shorter window expects fewer than
            ``sparse_count`` items (busy buckets keep the ``n_scales`` windows).
        sparse_count: expected items a window must reach before no longer window is added.
        overdispersion: "scan" only: "nb2" (variance = mean + k * mean**2, the level's wander ``k``
            pooled over the series' earlier windows) or "quasi" (variance = dispersion * mean, one
            dispersion for every level).
        tail: "scan" only: the window's statistic: "negbin" (exact negative-binomial upper tail,
            the Gamma-Poisson predictive), "midp" (its mid-p version) or "glr" (signed root of
            the quasi-Poisson deviance, the earlier statistic).
        calibration: "scan" with the "negbin" tail and the alarm budget only: "exact" (the
            threshold of each sparse bucket, one where longer windows are tested, without a
            one-step test is set from the exact chance that any of its windows fires on counts as
            expected, ``analytics/exact_size.py``) or "normal" (every bucket from the normal
            approximation of its largest test).
        wander_prior: "scan", "nb2" only: items a pseudo-window with no excess variance is worth
            when the level's wander ``k`` is estimated (``seasonal.pooled_overdispersion``):
            windows expecting far fewer items than this barely move ``k`` from 0 (Poisson).
        wander_memory: "scan", "nb2" only: memory of ``k`` in multiples of the baseline's
            (``ewma_halflife`` seasonal periods).
        share_min_delta: minimum rise of the share over its baseline (``detect_share_spike`` only).
        merge_gap: firing buckets separated by at most this many quiet buckets form one episode.
        freq: bucket size (pandas offset string); inferred from the index when None.
    """

    method: Literal["ewma", "mad"] = "ewma"
    window: int = 1
    lookback_days: int = 28
    season: Literal["auto", "hour", "week", "none"] = "auto"
    z_threshold: float | None = None
    ratio_threshold: float = 1.5
    min_count: float = 5.0
    min_history: int = 4
    ewma_halflife: float = 7.0
    share_min_delta: float = 0.15
    merge_gap: int = 3
    freq: str | None = None
    n_scales: int = 2
    alarms_per_week: float = 1.0
    dispersion_floor: bool = True
    detector: Literal["scan", "zscore"] = "scan"
    autoregressive: bool = True
    sparse_scales: int = 6
    sparse_count: float = 5.0
    overdispersion: Literal["nb2", "quasi"] = "nb2"
    tail: Literal["negbin", "glr", "midp"] = "negbin"
    calibration: Literal["exact", "normal"] = "exact"
    wander_prior: float = 4.0
    wander_memory: float = 4.0

    def __post_init__(self) -> None:
        if self.method not in ("ewma", "mad"):
            raise SpikeParamsError(f"method must be 'ewma' or 'mad', got {self.method!r}")
        if self.detector not in ("scan", "zscore"):
            raise SpikeParamsError(f"detector must be 'scan' or 'zscore', got {self.detector!r}")
        if self.season not in ("auto", "hour", "week", "none"):
            raise SpikeParamsError(f"season must be auto|hour|week|none, got {self.season!r}")
        if self.window < 1 or self.lookback_days < 1 or self.min_history < 1 or self.merge_gap < 0:
            raise SpikeParamsError("window, lookback_days and min_history must be >= 1, merge_gap >= 0")
        if self.n_scales < 1 or self.alarms_per_week <= 0:
            raise SpikeParamsError("need n_scales >= 1 and alarms_per_week > 0")
        if (self.z_threshold is not None and self.z_threshold <= 0) or self.ratio_threshold < 1:
            raise SpikeParamsError("need z_threshold > 0 (or None) and ratio_threshold >= 1")
        if self.sparse_scales < 1 or self.sparse_count < 0:
            raise SpikeParamsError("need sparse_scales >= 1 and sparse_count >= 0")
        if self.tail not in ("negbin", "glr", "midp") or self.overdispersion not in ("nb2", "quasi"):
            raise SpikeParamsError("tail must be negbin|glr|midp and overdispersion nb2|quasi")
        if self.calibration not in ("exact", "normal"):
            raise SpikeParamsError(f"calibration must be 'exact' or 'normal', got {self.calibration!r}")
        if self.wander_prior < 0 or self.wander_memory <= 0:
            raise SpikeParamsError("need wander_prior >= 0 and wander_memory > 0")
        if self.min_count < 0 or self.ewma_halflife <= 0:
            raise SpikeParamsError("need min_count >= 0 and ewma_halflife > 0")

    @property
    def windows(self) -> tuple[int, ...]:
        """Window lengths tested, in buckets, shortest first."""
        return tuple(self.window * k for k in range(1, self.n_scales + 1))

    @property
    def scan_windows(self) -> tuple[int, ...]:
        """Window lengths the scan may test on sparse buckets, shortest first."""
        return tuple(self.window * k for k in range(1, max(self.n_scales, self.sparse_scales) + 1))

    def alarm_probability(self, step: pd.Timedelta) -> float:
        """Per-bucket false-alarm probability for buckets of size ``step``.

        The normal tail of ``z_threshold`` when it is set, else ``alarms_per_week * step / week``.
        """
        if self.z_threshold is not None:
            return float(norm.sf(self.z_threshold))
        tail = self.alarms_per_week * (step / _WEEK)
        if tail >= 0.5:
            raise SpikeParamsError(
                f"alarms_per_week={self.alarms_per_week} allows an alarm every other bucket"
            )
        return float(tail)


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
        z: z-score at ``at`` (of the reported window, for counts).
        peak: largest evaluated value in the episode.
        window: buckets summed into ``value`` (the window that gave the strongest evidence at ``at``).
        expected: what the reporting test expected in that window (the seasonal or one-step
            expectation; ``baseline`` when the detector has no separate one).
        p_value: chance of a value at least this high when ``expected`` holds: the upper tail
            probability behind ``z`` (its normal tail, ``norm.sf(z)``).
    """

    start: pd.Timestamp
    at: pd.Timestamp
    end: pd.Timestamp
    value: float
    baseline: float
    ratio: float
    z: float
    peak: float
    window: int = 1
    expected: float | None = None
    p_value: float | None = None


def newest_block_adds_evidence(
    z: np.ndarray, value: np.ndarray, expected: np.ndarray, block: int, nested: int
) -> np.ndarray:
    """Mask for nested windows 1..``nested``-1 (each ``block`` buckets longer than the one before).

    A longer window counts only if its newest block adds evidence: the newest block is above its
    expectation, and dropping it (the next shorter window, ending one block earlier) scores lower.
    ``z``, ``value`` and ``expected`` are ``[window, bucket]`` arrays, shortest window first.
    """
    trimmed = np.full_like(z[: nested - 1], np.nan)
    trimmed[:, block:] = z[: nested - 1, :-block]
    return (value[0] > expected[0]) & ~(trimmed >= z[1:nested])


def reported_windows(
    tests: np.ndarray,
    fires: np.ndarray,
    z: np.ndarray,
    columns: tuple[str, ...],
    sizes: list[int],
    index: pd.Index,
) -> pd.DataFrame:
    """One row per bucket describing its reported test: the firing one with the highest z, else the
    highest z overall (ties: the first, i.e. shortest). ``tests`` is ``[test, column, bucket]``."""
    fired = fires.any(axis=0)
    finite = np.where(np.isfinite(z), z, -np.inf)
    pick = np.argmax(np.where(fired, np.where(fires, finite, -np.inf), finite), axis=0)
    cols = np.arange(tests.shape[2])
    frame = pd.DataFrame({c: tests[pick, i, cols] for i, c in enumerate(columns)}, index=index)
    frame["fired"] = fired
    frame["window"] = np.asarray(sizes)[pick]
    return frame


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


def _windows_of(scored: pd.DataFrame, params: SpikeParams) -> np.ndarray:
    if "window" in scored.columns:
        return scored["window"].fillna(params.window).to_numpy(dtype=int)
    return np.full(len(scored), params.window, dtype=int)


def spikes_from_scores(scored: pd.DataFrame, params: SpikeParams | None = None) -> list[Spike]:
    """Group the firing buckets of ``score_buckets``/``score_share`` output into episodes.

    Firing buckets separated by at most ``params.merge_gap`` quiet buckets (or by missing buckets)
    belong to one episode. An episode starts at the first bucket of the window that first fired.
    """
    params = params or SpikeParams()
    step = step_of(scored.index)
    state = _merge_state(scored, params.merge_gap)
    fired = scored["fired"].to_numpy(dtype=bool)
    windows = _windows_of(scored, params)
    cols = {c: scored[c].to_numpy(dtype=float) for c in ("value", "baseline", "ratio", "z")}
    cols["expected"] = scored["expected"].to_numpy(dtype=float) if "expected" in scored else cols["baseline"]
    cols["p"] = norm.sf(cols["z"])
    # Episode boundaries: rising and falling edges of the state.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], state.astype(np.int8), [0]))))
    spikes: list[Spike] = []
    for t, u in zip(edges[::2], edges[1::2], strict=True):
        rows = np.flatnonzero(fired[t:u]) + t
        first, last = int(rows[0]), int(rows[-1])
        spikes.append(
            Spike(
                start=scored.index[first] - (int(windows[first]) - 1) * step,
                at=scored.index[first],
                end=scored.index[last],
                value=float(cols["value"][first]),
                baseline=float(cols["baseline"][first]),
                ratio=float(cols["ratio"][first]),
                z=float(cols["z"][first]),
                peak=float(np.nanmax(cols["value"][rows])),
                window=int(windows[first]),
                expected=float(cols["expected"][first]),
                p_value=float(cols["p"][first]),
            )
        )
    return spikes
