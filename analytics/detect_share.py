"""Share spikes: the negative share of a window against the pooled share of the lookback (pure).

An exact binomial tail P(X >= neg | n, p0) against the pooled share p0 of the previous
``lookback_days`` (reported as a normal quantile z), a minimum volume and a minimum rise. Windows
are single-scale (``SpikeParams.window``): ``n_scales``, ``alarms_per_week`` and ``dispersion_floor``
do not apply. Without ``z_threshold`` the test uses z >= 3 (:data:`SHARE_Z_DEFAULT`), not the count
detector's budget: p0 may rest on as few as ``10 * min_count`` items, which makes chance alarms more
frequent than the binomial tail says.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from analytics.seasonal import DAY, BucketGridError, regularize_counts
from analytics.spikes import Spike, SpikeParams, SpikeParamsError, spikes_from_scores

logger = logging.getLogger(__name__)

SHARE_Z_DEFAULT = 3.0


def score_share(neg: pd.Series, total: pd.Series, params: SpikeParams | None = None) -> pd.DataFrame:
    """Score the share ``neg / total`` of each bucket against the pooled share of the lookback.

    p0 is the pooled share of the previous ``lookback_days`` (clipped to [0.02, 0.98] so an
    all-neutral history still has a variance), scored once that history holds at least
    ``10 * min_count`` items. z is the normal quantile of the exact binomial tail
    P(X >= neg | n, p0), so small buckets are not over-alarmed by a normal approximation.
    A bucket fires when n >= min_count, z >= z_threshold (default 3) and p - p0 >= share_min_delta.

    Returns:
        DataFrame with columns value (share), baseline (p0), n, z, ratio, fired, window.
    """
    params = params or SpikeParams()
    try:
        n, step = regularize_counts(total, params.freq)
        k, _ = regularize_counts(neg, params.freq)
    except BucketGridError as err:
        raise SpikeParamsError(str(err)) from err
    k = k.reindex(n.index)
    w = params.window
    n_w = n.rolling(w, min_periods=w).sum() if w > 1 else n
    k_w = k.rolling(w, min_periods=w).sum() if w > 1 else k
    span = max(1, int(round(params.lookback_days * DAY / step)))
    hist_n = n.rolling(span, min_periods=1).sum().shift(w)
    hist_k = k.rolling(span, min_periods=1).sum().shift(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        p0 = (hist_k / hist_n).where(hist_n >= 10 * max(params.min_count, 1.0))
        p = k_w / n_w
        p0c = p0.clip(0.02, 0.98)
        tail = binom.sf(np.ceil(k_w.to_numpy()) - 1, np.round(n_w.to_numpy()), p0c.to_numpy())
        z = pd.Series(norm.isf(np.clip(tail, 1e-300, 1.0)), index=n.index).where(p0.notna() & n_w.notna())
        ratio = p / p0c
    z_min = SHARE_Z_DEFAULT if params.z_threshold is None else params.z_threshold
    fired = (n_w >= params.min_count) & (z >= z_min) & (p - p0 >= params.share_min_delta)
    return pd.DataFrame(
        {
            "value": p,
            "baseline": p0,
            "n": n_w,
            "z": z,
            "ratio": ratio,
            "fired": fired.fillna(False),
            "window": w,
        }
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
