"""Exact false-alarm probability of the scan's nested windows on small counts (pure numpy/scipy).

The scan (``analytics/scan.py``) fires a bucket when one of its nested windows (the last 1, 2, ...
``K`` blocks) holds a count whose upper tail probability is at most a per-window level ``a`` (and
at least ``min_count`` items). The per-bucket false-alarm probability, the chance that *any* window
fires when the counts are as expected, must stay within the budget ``alpha``. For large counts the
tests are close to jointly normal and ``a`` follows from the normal quantile of their maximum; for
small counts the tails jump by whole items, the largest count below ``a`` is often far less likely
than ``a`` (and ``min_count`` cuts it further), so that threshold leaves much of the budget unspent
exactly where a few extra items decide.

:func:`exact_levels` computes the chance of firing exactly and raises ``a`` until it reaches the
budget: under "as expected" the windows' counts are partial sums of independent block counts, so
the chance that no window reaches its cutoff is a short dynamic programme over the running sum
(states 0 .. largest cutoff - 1, one convolution per block). The block counts are negative binomial
with the largest variance/mean ratio of the bucket's windows (Poisson when it is 1), so every
window's sum is at least as spread as its own test assumes and the chance is, if anything,
overstated; blocks are taken as independent (positively correlated residuals make nested windows
agree more often, so their union fires less). Conditions the DP leaves out (the newest block must
add evidence) only remove alarms. The scan applies it on sparse buckets only (see
``analytics/scan.py``); buckets whose cutoffs pass :data:`MAX_CUTOFF` keep the normal threshold.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.stats import nbinom, poisson

logger = logging.getLogger(__name__)

MAX_CUTOFF = 48  # counts enumerated per window; buckets whose cutoffs go beyond keep the normal threshold
SEARCH_BELOW = 1e-2  # search the per-window level between alpha * SEARCH_BELOW ...
SEARCH_ABOVE = 8.0  # ... and alpha * SEARCH_ABOVE (at most TOP_LEVEL)
TOP_LEVEL = 0.5
ITERATIONS = 10  # bisection steps on the log of the level (resolution: a factor of about 1.007)


def highest_level(alpha: float) -> float:
    """The most liberal per-window level searched for a budget ``alpha``."""
    return min(alpha * SEARCH_ABOVE, TOP_LEVEL)


def count_tails(expected: np.ndarray, dispersion: np.ndarray, size: int) -> np.ndarray:
    """``P(S >= c)`` for c = 0 .. size - 1: [window, bucket, c], the tails of ``analytics.scan.tail_probability``.

    ``S`` is negative binomial with mean ``expected`` and variance ``dispersion * expected`` where
    the dispersion exceeds 1, a Poisson count scaled by it where it is at most 1.
    """
    c = np.arange(size, dtype=float)
    e, v = expected[..., None], dispersion[..., None]
    over = np.broadcast_to(v > 1.0 + 1e-9, expected.shape + (size,))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = e / np.fmax(v - 1.0, 1e-12)
        nb = nbinom.sf(c - 1.0, r, 1.0 / v)
        k = np.ceil(c / v - 1e-9)
        po = poisson.sf(k - 1.0, e / v)
    out = np.where(over, nb, po)
    return np.where(np.isfinite(out), out, 1.0)


def block_pmf(mean: np.ndarray, dispersion: np.ndarray, size: int) -> np.ndarray:
    """``P(X = d)`` for d = 0 .. size - 1 of a block count: [block, bucket, d].

    Negative binomial with mean ``mean`` and variance ``dispersion * mean`` (``dispersion`` per
    bucket, > 1), Poisson where the dispersion is 1; an empty block (mean 0) is 0 for sure.
    """
    d = np.arange(size, dtype=float)
    m = np.fmax(mean, 0.0)[..., None]
    v = np.broadcast_to(dispersion, mean.shape)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        nb = nbinom.pmf(d, m / np.fmax(v - 1.0, 1e-12), 1.0 / v)
        po = poisson.pmf(d, m)
    out = np.where(v > 1.0 + 1e-9, nb, po)
    out = np.where(m > 0, out, (d == 0).astype(float))
    return np.where(np.isfinite(out), out, 0.0)


def firing_chance(pmf: np.ndarray, cutoffs: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Chance that some partial sum reaches its cutoff: ``P(S_j >= cutoff_j for some active j)``.

    ``pmf`` is [block, bucket, d] (block 0 the newest; d = 0 .. size - 1, the rest of the mass lies
    beyond), ``cutoffs`` and ``active`` are [block, bucket]: window j+1 sums blocks 0..j and, when
    active, fires at ``cutoffs[j]`` items or more. Cutoffs of active windows must be below size, so
    mass that leaves the enumerated states before a bucket's last active window fires there.
    """
    n_blocks, n, size = pmf.shape
    alive = np.zeros((n, size))
    alive[:, 0] = 1.0
    states = np.arange(size)
    last = np.where(active.any(axis=0), n_blocks - 1 - np.argmax(active[::-1], axis=0), -1)
    for j in range(int(last.max()) + 1):
        nxt = np.zeros_like(alive)
        for d in range(size):
            weight = pmf[j, :, d]
            if weight.max() < 1e-300:
                continue
            nxt[:, d:] += alive[:, : size - d] * weight[:, None]
        kill = active[j][:, None] & (states[None, :] >= cutoffs[j][:, None])
        nxt = np.where(kill, 0.0, nxt)
        alive = np.where((j <= last)[:, None], nxt, alive)
    return 1.0 - alive.sum(axis=1)


def exact_levels(
    expected: np.ndarray,
    dispersion: np.ndarray,
    floor: np.ndarray,
    active: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """Per-window tail level ``a`` of each bucket whose exact chance of firing is at most ``alpha``.

    Args:
        expected: [window, bucket] expectation of the nested windows (window k sums blocks 0..k-1).
        dispersion: [window, bucket] variance/mean ratio each window's tail uses.
        floor: [window, bucket] smallest count that may fire (``min_count``, the ratio condition).
        active: [window, bucket] the windows tested at the bucket.
        alpha: per-bucket false-alarm probability.

    Returns:
        ``a`` per bucket (a window fires when its tail probability is at most ``a``), the largest
        found whose exact chance of firing is at most ``alpha``; NaN where it is not computed (no
        window tested, an expectation missing up to the last tested window, or a cutoff beyond
        :data:`MAX_CUTOFF`): those keep the normal threshold.
    """
    n_windows, n = expected.shape
    out = np.full(n, np.nan)
    last = np.where(active.any(axis=0), n_windows - 1 - np.argmax(active[::-1], axis=0), -1)
    upto = np.arange(n_windows)[:, None] <= last[None, :]  # windows whose blocks the DP walks
    with np.errstate(invalid="ignore"):
        ok = (last >= 0) & ~(upto & ~np.isfinite(expected)).any(axis=0)
        ok &= ~(active & ~(dispersion > 0)).any(axis=0)
    if not ok.any():
        return out
    limit = MAX_CUTOFF + 1
    idx = np.flatnonzero(ok)
    act = active[:, idx]
    exp_ = np.where(upto[:, idx], expected[:, idx], 0.0)
    disp = np.where(act, np.fmax(dispersion[:, idx], 1.0), 1.0)
    low = np.ceil(np.fmax(floor[:, idx], 0.0) - 1e-9)
    tails = count_tails(exp_, disp, limit)  # [window, bucket, c]

    def cutoffs(level: np.ndarray) -> np.ndarray:
        c = (tails > level[None, :, None]).sum(axis=2)  # first count whose tail is <= level
        return np.where(act, np.maximum(c, low), limit)

    lowest = np.log(alpha * SEARCH_BELOW)
    start = cutoffs(np.full(len(idx), np.exp(lowest)))
    enumerable = (~act | (start < limit)).all(axis=0)  # else: normal threshold
    if not enumerable.any():
        return out
    keep = np.flatnonzero(enumerable)
    idx, act, exp_, disp, low = idx[keep], act[:, keep], exp_[:, keep], disp[:, keep], low[:, keep]
    size = int(np.where(act, start[:, keep], 0).max()) + 1
    tails = tails[:, keep, :size]
    increments = np.fmax(np.diff(np.vstack([np.zeros(len(idx)), exp_]), axis=0), 0.0)
    pmf = block_pmf(increments, np.max(disp, axis=0), size)

    def chance(log_level: np.ndarray) -> np.ndarray:
        return firing_chance(pmf, np.minimum(cutoffs(np.exp(log_level)), size), act)

    lo = np.full(len(idx), lowest)
    hi = np.full(len(idx), np.log(highest_level(alpha)))
    good = chance(lo) <= alpha
    for _ in range(ITERATIONS):
        mid = 0.5 * (lo + hi)
        fits = chance(mid) <= alpha
        lo = np.where(fits, mid, lo)
        hi = np.where(fits, hi, mid)
    out[idx[good]] = np.exp(lo[good])
    return out
