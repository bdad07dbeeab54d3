"""Short-horizon volume forecast with prediction intervals (statsmodels ETS, pure).

Model ladder, chosen by how much history there is (``period`` = 24 for hourly, 7 for daily buckets):

1. at least ``3 * period`` buckets: ETS(A, Ad, A), additive errors, damped additive trend and additive
   seasonality, heuristic initial states (fast: no seasonal states to optimise);
2. at least ``min_points`` buckets: ETS(A, N, N), i.e. simple exponential smoothing;
3. otherwise (or when a fit fails): the mean of the history with a normal interval whose variance is
   max(sample variance, mean), the Poisson floor for counts.

Intervals come from ``ETSResults.get_prediction`` (closed form). Counts cannot be negative, so mean
and bounds are clipped at 0. Missing buckets count as 0 items. Warnings raised while fitting
(ConvergenceWarning, overflow RuntimeWarning...) are caught here and logged, never re-emitted.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

logger = logging.getLogger(__name__)

_DAY = pd.Timedelta(days=1)


class ForecastInputError(ValueError):
    """The series cannot be forecast (no DatetimeIndex, no data, bad level)."""


def _regular(series: pd.Series, freq: str | None) -> tuple[pd.Series, pd.Timedelta]:
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ForecastInputError("series needs a DatetimeIndex")
    s = pd.to_numeric(series, errors="coerce").astype("float64").dropna()
    if s.empty:
        raise ForecastInputError("series has no values")
    idx = s.index.tz_localize("UTC") if s.index.tz is None else s.index.tz_convert("UTC")
    s = pd.Series(s.to_numpy(), index=idx).groupby(level=0).sum().sort_index()
    if freq is not None:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    elif len(s) > 1:
        step = pd.Series(s.index).diff().dropna().min()
    else:
        step = pd.Timedelta(hours=1)
    grid = pd.date_range(s.index[0], s.index[-1], freq=step)
    return s.reindex(grid, fill_value=0.0), step


def _fit_ets(y: np.ndarray, horizon: int, alpha: float, period: int | None) -> tuple[pd.DataFrame, str]:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    if period:
        kwargs = {"trend": "add", "damped_trend": True, "seasonal": "add", "seasonal_periods": period}
        name = f"ets(A,Ad,A,{period})"
    else:
        kwargs = {}
        name = "ets(A,N,N)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ETSModel(pd.Series(y), error="add", initialization_method="heuristic", **kwargs)
        fitted = model.fit(disp=False)
        frame = fitted.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(alpha=alpha)
    if caught:
        logger.debug("%s fit emitted %d warning(s): %s", name, len(caught), caught[0].message)
    return frame.rename(columns={"pi_lower": "lower", "pi_upper": "upper"}), name


def _naive(y: np.ndarray, horizon: int, alpha: float) -> pd.DataFrame:
    mean = float(np.mean(y))
    var = max(float(np.var(y, ddof=1)) if len(y) > 1 else 0.0, mean)
    half = float(norm.ppf(1 - alpha / 2)) * np.sqrt(var)
    return pd.DataFrame(
        {"mean": [mean] * horizon, "lower": [mean - half] * horizon, "upper": [mean + half] * horizon}
    )


def forecast_volume(
    series: pd.Series,
    horizon: int | None = None,
    level: float = 0.9,
    freq: str | None = None,
    min_points: int = 8,
) -> pd.DataFrame:
    """Forecast the next ``horizon`` buckets of a topic's volume.

    Args:
        series: items per bucket on a DatetimeIndex (naive stamps are taken as UTC).
        horizon: buckets to forecast (default 24 for sub-daily buckets, 7 for daily ones).
        level: coverage of the prediction interval, e.g. 0.9.
        freq: bucket size (pandas offset string); inferred from the index when None.
        min_points: fewest buckets for an ETS model (below: the naive mean model).

    Returns:
        DataFrame with columns ts, mean, lower, upper (``attrs["model"]`` names the model used).
    """
    if not 0.0 < level < 1.0:
        raise ForecastInputError(f"level must be in (0, 1), got {level}")
    s, step = _regular(series, freq)
    period = int(round(_DAY / step)) if step < _DAY else (7 if step == _DAY else 0)
    horizon = horizon or (24 if step < _DAY else 7)
    y = s.to_numpy()
    alpha = 1.0 - level
    frame, name = None, "naive-mean"
    candidates: list[int | None] = []
    if period > 1 and len(y) >= 3 * period:
        candidates.append(period)
    if len(y) >= min_points:
        candidates.append(None)
    if np.ptp(y) == 0:
        candidates = []  # a constant history has nothing to smooth
    for cand in candidates:
        try:
            out, cand_name = _fit_ets(y, horizon, alpha, cand)
        except (ValueError, np.linalg.LinAlgError) as exc:
            logger.info("ETS fit failed (%s), trying a simpler model", exc)
            continue
        if np.isfinite(out[["mean", "lower", "upper"]].to_numpy()).all():
            frame, name = out, cand_name
            break
    if frame is None:
        frame = _naive(y, horizon, alpha)
    ts = pd.date_range(s.index[-1] + step, periods=horizon, freq=step)
    result = pd.DataFrame(
        {
            "ts": ts,
            "mean": np.clip(frame["mean"].to_numpy(dtype=float), 0.0, None),
            "lower": np.clip(frame["lower"].to_numpy(dtype=float), 0.0, None),
            "upper": np.clip(frame["upper"].to_numpy(dtype=float), 0.0, None),
        }
    )
    result.attrs["model"] = name
    return result
